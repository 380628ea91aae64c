package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Enrolment code layout: 24 decimal digits, shown in six groups of four.
// The first EnrollSecretDigits are a random single-use secret, whose first
// EnrollCodeIDDigits also name the code for the server's count of failed
// attempts (EnrollCode.ID); the next FingerprintDigits are the server's
// Fingerprint, the last a Damm check digit over the 23 before it, so that
// a typo (one wrong digit or two swapped neighbours) is caught on the gate
// before anything is sent. docs/api.md works out why 16 random digits
// cannot be guessed within a code's lifetime.
const (
	EnrollSecretDigits = 16
	EnrollCodeIDDigits = 4
	FingerprintDigits  = 7
	EnrollCodeDigits   = EnrollSecretDigits + FingerprintDigits + 1
)

// ErrBadEnrollCode: the text is not a well-formed enrolment code.
var ErrBadEnrollCode = errors.New("wire: bad enrolment code")

// EnrollCode is a parsed enrolment code.
type EnrollCode struct {
	Secret      string // EnrollSecretDigits digits
	Fingerprint string // FingerprintDigits digits: the server's Fingerprint
}

// ID returns the digits that name the code: the first EnrollCodeIDDigits
// of its secret. A server counts failed attempts by them, so a code
// guessed at too often stops working however many codes are outstanding.
func (c EnrollCode) ID() string { return c.Secret[:EnrollCodeIDDigits] }

// String returns the code as space-separated groups of four digits.
func (c EnrollCode) String() string {
	d := c.Secret + c.Fingerprint
	d += string(rune('0' + damm(d)))
	var b strings.Builder
	for i := 0; i < len(d); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d[i:min(i+4, len(d))])
	}
	return b.String()
}

// ParseEnrollCode parses a code as a person types it: ASCII or full-width
// digits, with any spaces or hyphens between them.
func ParseEnrollCode(s string) (EnrollCode, error) {
	var d []byte
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d = append(d, byte(r))
		case r >= '０' && r <= '９':
			d = append(d, byte('0'+r-'０'))
		case r == ' ' || r == '-' || r == '\u3000':
		default:
			return EnrollCode{}, fmt.Errorf("%w: %q is not a digit", ErrBadEnrollCode, r)
		}
	}
	if len(d) != EnrollCodeDigits {
		return EnrollCode{}, fmt.Errorf("%w: %d digits, want %d", ErrBadEnrollCode, len(d), EnrollCodeDigits)
	}
	if damm(string(d[:EnrollCodeDigits-1])) != int(d[EnrollCodeDigits-1]-'0') {
		return EnrollCode{}, fmt.Errorf("%w: check digit does not match (a typo?)", ErrBadEnrollCode)
	}
	return EnrollCode{
		Secret:      string(d[:EnrollSecretDigits]),
		Fingerprint: string(d[EnrollSecretDigits : EnrollCodeDigits-1]),
	}, nil
}

// Fingerprint returns the FingerprintDigits decimal digits that name a
// server identity key (the 32 raw bytes of its Ed25519 public key):
// SHA-256("kido server fingerprint v1\x00" || key), first eight bytes as a
// big-endian integer, modulo 10^FingerprintDigits.
func Fingerprint(identity []byte) string {
	h := sha256.Sum256(append([]byte("kido server fingerprint v1\x00"), identity...))
	return fmt.Sprintf("%0*d", FingerprintDigits, binary.BigEndian.Uint64(h[:8])%10_000_000)
}

// VerifyEnrollResponse checks what a gate must check before trusting an
// enrolment answer: that identity (the server key named by resp.Server.ID,
// as raw bytes) has the fingerprint in the code, and that it signed
// EnrollSignedMessage for this request's nonce.
func VerifyEnrollResponse(resp *EnrollResponse, identity []byte, nonce string, code EnrollCode) error {
	if len(identity) != ed25519.PublicKeySize {
		return errors.New("wire: server identity key has the wrong size")
	}
	if Fingerprint(identity) != code.Fingerprint || resp.Server.Fingerprint != code.Fingerprint {
		return errors.New("wire: the server's identity does not match the enrolment code")
	}
	sig, err := base64.StdEncoding.DecodeString(resp.Signature)
	if err != nil || !ed25519.Verify(identity, EnrollSignedMessage(nonce, resp.Gate.ID, resp.Credential), sig) {
		return errors.New("wire: enrolment answer is not signed by the server's identity key")
	}
	return nil
}

// damm returns the Damm check digit of a string of ASCII digits.
func damm(digits string) int {
	interim := 0
	for i := 0; i < len(digits); i++ {
		interim = int(dammTable[interim][digits[i]-'0'])
	}
	return interim
}

// dammTable is the totally anti-symmetric quasigroup of order 10 from
// H. M. Damm's thesis (2004).
var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}
