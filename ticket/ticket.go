package ticket

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/big"
)

// Format constants for version 1; see docs/ticket-format.md.
const (
	// Version is the only format version this package issues and accepts.
	Version = 1

	// SignedLen is the length of the signed part of a binary ticket:
	// version(1) key id(4) event(4) serial(4) tier(1).
	SignedLen = 1 + KeyIDLen + 4 + 4 + 1
	// BinaryLen is the length of a whole binary ticket: the signed part
	// followed by a 64-byte Ed25519 signature.
	BinaryLen = SignedLen + ed25519.SignatureSize

	// TextLen is the length of the canonical text form: two digits of
	// version, then the 77 bytes after the version byte as one big-endian
	// unsigned integer written in exactly 186 decimal digits.
	TextLen = 2 + bodyDigits

	bodyLen    = BinaryLen - 1
	bodyDigits = 186 // ceil(77 * 8 * log10(2))

	// Domain is prefixed to the signed bytes so that a kido signature can
	// never be valid for any other Ed25519 message.
	Domain = "kido ticket signature v1\x00"
)

// Claims are the fields a ticket asserts.
type Claims struct {
	Event  uint32 // event id, assigned by the server
	Serial uint32 // unique within the event
	Tier   uint8  // tier id within the event
}

// A Ticket is a parsed, not necessarily verified, kido ticket.
type Ticket struct {
	Claims
	KeyID     KeyID
	Signature [ed25519.SignatureSize]byte
}

// Sign issues a ticket for c signed by key. It is safe for concurrent use
// and panics if key is the zero PrivateKey (a programming mistake).
func Sign(key PrivateKey, c Claims) *Ticket {
	t := &Ticket{Claims: c, KeyID: key.Public().ID()}
	sig := ed25519.Sign(key.key, t.SignedMessage())
	copy(t.Signature[:], sig)
	return t
}

// signedBytes returns the signed part of the binary form.
func (t *Ticket) signedBytes() []byte {
	b := make([]byte, SignedLen, BinaryLen)
	b[0] = Version
	copy(b[1:5], t.KeyID[:])
	binary.BigEndian.PutUint32(b[5:9], t.Event)
	binary.BigEndian.PutUint32(b[9:13], t.Serial)
	b[13] = t.Tier
	return b
}

// SignedMessage returns exactly the bytes the signature covers: Domain
// followed by the first SignedLen bytes of the binary form.
func (t *Ticket) SignedMessage() []byte {
	return append([]byte(Domain), t.signedBytes()...)
}

// MarshalBinary returns the BinaryLen-byte binary form.
func (t *Ticket) MarshalBinary() ([]byte, error) {
	return append(t.signedBytes(), t.Signature[:]...), nil
}

// UnmarshalBinary parses the binary form. It is strict: exactly BinaryLen
// bytes and version 1.
func (t *Ticket) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] != Version {
		return fmt.Errorf("%w: version %d", ErrUnsupportedVersion, b[0])
	}
	if len(b) != BinaryLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), BinaryLen)
	}
	copy(t.KeyID[:], b[1:5])
	t.Event = binary.BigEndian.Uint32(b[5:9])
	t.Serial = binary.BigEndian.Uint32(b[9:13])
	t.Tier = b[13]
	copy(t.Signature[:], b[SignedLen:])
	return nil
}

// String returns the canonical text form, the exact content of the QR code.
func (t *Ticket) String() string {
	b, _ := t.MarshalBinary()
	digits := new(big.Int).SetBytes(b[1:]).Text(10)
	out := make([]byte, 0, TextLen)
	out = append(out, '0'+Version/10, '0'+Version%10)
	for i := len(digits); i < bodyDigits; i++ {
		out = append(out, '0')
	}
	return string(append(out, digits...))
}

var bodyLimit = new(big.Int).Lsh(big.NewInt(1), 8*bodyLen)

// Parse parses the canonical text form of a ticket. It does not verify the
// signature; see Keyring.Verify. Anything but the canonical form (surrounding
// space, a different length, a non-digit, a value too large for the binary
// form) is rejected: scanner noise is for the caller to trim before calling.
func Parse(text string) (*Ticket, error) {
	if len(text) < 2 {
		return nil, fmt.Errorf("%w: %d characters, want %d", ErrMalformed, len(text), TextLen)
	}
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: character %d is not a digit", ErrMalformed, i+1)
		}
	}
	if v := int(text[0]-'0')*10 + int(text[1]-'0'); v != Version {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupportedVersion, v)
	}
	if len(text) != TextLen {
		return nil, fmt.Errorf("%w: %d digits, want %d", ErrMalformed, len(text), TextLen)
	}
	n, ok := new(big.Int).SetString(text[2:], 10)
	if !ok || n.Cmp(bodyLimit) >= 0 {
		return nil, fmt.Errorf("%w: value out of range", ErrMalformed)
	}
	b := make([]byte, BinaryLen)
	b[0] = Version
	n.FillBytes(b[1:])
	t := new(Ticket)
	if err := t.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return t, nil
}
