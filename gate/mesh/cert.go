package mesh

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrRefusedPeer is the verdict on a peer that is not a gate of this event
// with the key this gate's replica holds for it.
var ErrRefusedPeer = errors.New("mesh: peer refused")

// claimScheme names the one URI a node's certificate carries:
// kido-gate:EVENT/GATE, both decimal without leading zeros.
const claimScheme = "kido-gate"

// certificate returns a self-signed TLS certificate for gate of event, made
// from the gate's key. Its validity window is wide and never checked: what
// a peer trusts is the key, compared with the replica's gate list, never
// the certificate's dates (a gate's clock may be wrong in an outage).
func certificate(event, gate uint32, key ed25519.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: fmt.Sprintf("kido gate %d", gate)},
		URIs:         []*url.URL{{Scheme: claimScheme, Opaque: fmt.Sprintf("%d/%d", event, gate)}},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("mesh: make certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// claim is what a peer's certificate says it is, and its key.
type claim struct {
	event, gate uint32
	key         ed25519.PublicKey
}

// parseClaim reads a peer's certificate chain: exactly one certificate with
// an Ed25519 key and exactly one kido-gate URI in canonical form.
func parseClaim(raw [][]byte) (claim, error) {
	if len(raw) != 1 {
		return claim{}, fmt.Errorf("%w: %d certificates, want exactly 1", ErrRefusedPeer, len(raw))
	}
	c, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return claim{}, fmt.Errorf("%w: certificate: %v", ErrRefusedPeer, err)
	}
	key, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return claim{}, fmt.Errorf("%w: certificate key is %T, not Ed25519", ErrRefusedPeer, c.PublicKey)
	}
	if len(c.URIs) != 1 || c.URIs[0].Scheme != claimScheme {
		return claim{}, fmt.Errorf("%w: certificate names no kido gate", ErrRefusedPeer)
	}
	ev, g, ok := strings.Cut(c.URIs[0].Opaque, "/")
	event, err1 := parseID(ev)
	gate, err2 := parseID(g)
	if !ok || err1 != nil || err2 != nil {
		return claim{}, fmt.Errorf("%w: certificate names %q, not EVENT/GATE", ErrRefusedPeer, c.URIs[0].Opaque)
	}
	return claim{event: event, gate: gate, key: key}, nil
}

// parseID reads a non-zero uint32 in canonical decimal.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("not a gate or event id: %q", s)
	}
	return uint32(n), nil
}
