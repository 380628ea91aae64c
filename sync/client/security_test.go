package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecurityCheck(t *testing.T) {
	for _, tt := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"http://127.0.0.1:8700", false, true},
		{"http://127.5.6.7:8700", false, true},
		{"http://localhost:8700", false, true},
		{"http://[::1]:8700", false, true},
		{"https://10.0.0.5:8700", false, true},
		{"https://tickets.example.org", false, true},
		{"http://10.0.0.5:8700", false, false},
		{"http://tickets.example.org", false, false},
		{"http://127.0.0.1.example.org", false, false}, // a name, not the loopback address
		{"http://localhost.example.org:8700", false, false},
		{"http://[::ffff:10.0.0.5]:8700", false, false},
		{"http://10.0.0.5:8700", true, true},
	} {
		err := Security{InsecureHTTP: tt.insecure}.Check(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%s, insecure %v) = %v, want ok %v", tt.url, tt.insecure, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "hint: use https://") || !strings.Contains(err.Error(), "-insecure-http")) {
			t.Errorf("Check(%s): %v, want a hint naming https:// and -insecure-http", tt.url, err)
		}
	}
}

// selfSigned makes a CA-capable certificate for 127.0.0.1 valid from
// notBefore to notAfter, and writes it (PEM) to a file.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kido test CA"},
		NotBefore: notBefore, NotAfter: notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok","server_time":"2027-08-01T00:00:00Z"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestCertificateErrors: -ca trusts a private CA, and a certificate that
// fails names its problem in the hint, not "is kido-server running".
func TestCertificateErrors(t *testing.T) {
	now := time.Now()
	good, goodCA := selfSigned(t, now.Add(-time.Hour), now.Add(24*time.Hour))
	expired, expiredCA := selfSigned(t, now.Add(-48*time.Hour), now.Add(-time.Hour))
	srv, old := tlsServer(t, good), tlsServer(t, expired)
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) // the certificate names only the address

	for _, tt := range []struct {
		name, url, ca string
		want          string // in the error; "" for success
	}{
		{"private CA given", srv.URL, goodCA, ""},
		{"private CA not given", srv.URL, "", "hint: if the server's certificate comes from a private CA, give that CA's certificate with -ca FILE"},
		{"name mismatch", byName, goodCA, "not valid for that host name"},
		{"expired", old.URL, expiredCA, "outside its validity period"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := Security{CAFile: tt.ca}.HTTPClient(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(tt.url, "", hc)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Do(context.Background(), http.MethodGet, "/v1/health", nil, nil, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			t.Log(err)
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "running") {
				t.Errorf("got %v\nwant ErrUnreachable naming %q, not asking whether the server runs", err, tt.want)
			}
		})
	}
}

func TestCAFileErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o644)
	for _, f := range []string{filepath.Join(t.TempDir(), "missing.pem"), notPEM} {
		if _, err := (Security{CAFile: f}).Transport(); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("-ca %s: got %v, want a refusal with a hint", f, err)
		}
	}
}
