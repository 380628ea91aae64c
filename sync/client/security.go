package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Security is how the clients of a command may reach the server: the
// -insecure-http and -ca flags of kido-gate and kidoctl.
type Security struct {
	// InsecureHTTP allows http:// to a host that is not loopback. Without
	// it such a URL is refused: anyone on the path could read the tokens
	// and credentials sent, and answer in the server's place (gates check
	// the signatures of the answers they apply, docs/sync-protocol.md §13,
	// but not of the others).
	InsecureHTTP bool
	// CAFile is a PEM file of the CA certificates to trust for https://
	// instead of the system's, for a server whose certificate a private
	// CA signed. Empty: the system's.
	CAFile string
}

// IsLoopback reports whether host (a name or an address, without port)
// is this machine: "localhost" or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// Check refuses a server URL these settings do not allow: http:// to a
// host that is not loopback, without InsecureHTTP.
func (s Security) Check(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "http" || s.InsecureHTTP || IsLoopback(u.Hostname()) {
		return nil // New reports a malformed URL
	}
	return &Error{
		Message: fmt.Sprintf("client: refusing plain http:// to %s, which is not this machine: anyone on the network path could read the credentials sent and answer in the server's place", u.Host),
		Hint:    "use https:// (kido-server -tls-cert/-tls-key, -ca FILE for a private CA); on a network you trust completely, add -insecure-http",
		verdict: ErrBadRequest,
	}
}

// Transport returns a transport like http.DefaultTransport that trusts
// CAFile's certificates instead of the system's when CAFile is set.
func (s Security) Transport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.CAFile == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("client: -ca: %v", err), Hint: "give the CA certificate file (PEM) that signed the server's certificate", verdict: ErrBadRequest}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &Error{Message: fmt.Sprintf("client: -ca %s holds no PEM certificate", s.CAFile), Hint: "give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)", verdict: ErrBadRequest}
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// HTTPClient returns an http.Client over Transport with the timeout given
// (0: none).
func (s Security) HTTPClient(timeout time.Duration) (*http.Client, error) {
	tr, err := s.Transport()
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// certProblem returns a message and hint naming what is wrong with the
// server's certificate, when err is a certificate verification failure.
func certProblem(base string, err error) (msg, hint string, ok bool) {
	var unknown x509.UnknownAuthorityError
	var name x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Sprintf("client: the certificate of %s is signed by an authority this machine does not trust", base),
			"if the server's certificate comes from a private CA, give that CA's certificate with -ca FILE", true
	case errors.As(err, &name):
		return fmt.Sprintf("client: the certificate of %s is not valid for that host name: %v", base, name.Error()),
			"use a server URL with a host name the certificate names (kido-server's -tls-cert), or a certificate that names this one", true
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("client: the certificate of %s is outside its validity period: %s", base, invalid.Detail),
			fmt.Sprintf("renew the server's certificate and restart kido-server; if it is valid, check this machine's clock (it reads %s)", time.Now().UTC().Format(time.RFC3339)), true
	case errors.As(err, &invalid):
		return fmt.Sprintf("client: the certificate of %s is not valid: %v", base, invalid.Error()),
			"the server's certificate cannot serve TLS to clients; issue it again for TLS server use", true
	}
	return "", "", false
}
