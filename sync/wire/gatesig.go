package wire

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"kido.dev/kido"
)

// AdmissionSigDomain starts the message a gate signs for each of its
// records (docs/mesh.md, "Signed records"): unlike every other domain
// kido signs or hashes under, so a record signature never stands for
// anything else.
const AdmissionSigDomain = "kido admission sig v1\x00"

// Verdicts of VerifyAdmission.
var (
	ErrUnsignedRecord = errors.New("wire: the record carries no signature")
	ErrBadRecordSig   = errors.New("wire: the record is not signed by its gate's key")
)

// AdmissionSignedMessage returns the bytes a gate signs for admission a:
// AdmissionSigDomain, then AdmissionHash(a) as 64 lowercase hex digits.
// The hash covers every field but Hash and Sig, so the signature covers
// the record's whole content, its gate and seq included.
func AdmissionSignedMessage(a kido.Admission) []byte {
	return append([]byte(AdmissionSigDomain), AdmissionHash(a)...)
}

// SignAdmission returns a with Hash set to its content hash and Sig to
// key's signature over it.
func SignAdmission(key ed25519.PrivateKey, a kido.Admission) kido.Admission {
	a.Hash = AdmissionHash(a)
	a.Sig = ed25519.Sign(key, AdmissionSignedMessage(a))
	return a
}

// VerifyAdmission checks that a.Hash is the hash of a's content and that
// a.Sig is pub's signature over it. It returns ErrUnsignedRecord when Sig
// is empty and an error wrapping ErrBadRecordSig for anything else that
// is not exactly that (a key of the wrong size included).
func VerifyAdmission(pub ed25519.PublicKey, a kido.Admission) error {
	if len(a.Sig) == 0 {
		return ErrUnsignedRecord
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: gate key of %d bytes", ErrBadRecordSig, len(pub))
	}
	if a.Hash != AdmissionHash(a) {
		return fmt.Errorf("%w: its hash is not that of its content", ErrBadRecordSig)
	}
	if len(a.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, AdmissionSignedMessage(a), a.Sig) {
		return ErrBadRecordSig
	}
	return nil
}

// MaxMeshAddr bounds a mesh address in bytes.
const MaxMeshAddr = 261 // a 253-byte DNS name, a colon, five digits, brackets

// CheckMeshAddr checks a gate's mesh address as the server takes it from
// a heartbeat and a gate takes it from the gate list: host:port exactly as
// net.JoinHostPort writes it, the host an IP address or a DNS name of
// letters, digits, hyphens and dots, the port 1 to 65535 in decimal
// without leading zeros. Nothing else (no scheme, path, spaces, zone or
// user part) passes, since a peer dials it.
func CheckMeshAddr(addr string) error {
	if addr == "" || len(addr) > MaxMeshAddr {
		return fmt.Errorf("wire: mesh address of %d bytes, want 1 to %d", len(addr), MaxMeshAddr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("wire: mesh address %q is not host:port", addr)
	}
	if net.JoinHostPort(host, port) != addr {
		return fmt.Errorf("wire: mesh address %q is not in the form host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("wire: mesh address %q: port must be 1 to 65535", addr)
	}
	if net.ParseIP(host) == nil && !dnsName(host) {
		return fmt.Errorf("wire: mesh address %q: host is neither an IP address nor a DNS name", addr)
	}
	return nil
}

// dnsName reports whether s is a DNS name of labels of 1 to 63 letters,
// digits and hyphens, neither starting nor ending with a hyphen, at most
// 253 bytes.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
