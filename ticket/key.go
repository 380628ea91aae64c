package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeyIDLen is the length of a key id in bytes.
const KeyIDLen = 4

// A KeyID names a signing key inside a ticket: the first four bytes of
// SHA-256("kido key id v1\x00" || public key).
type KeyID [KeyIDLen]byte

// String returns the key id as eight lowercase hex digits.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID parses eight hex digits.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyIDLen {
		return id, fmt.Errorf("ticket: key id %q is not 8 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Text-form prefixes. They differ in case and content so that a key pasted
// in the wrong place is refused with a message that says what it is.
const (
	PublicKeyPrefix  = "kidopub1"
	PrivateKeyPrefix = "KIDO-SECRET-KEY-1"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// A PublicKey verifies kido tickets.
type PublicKey struct{ key ed25519.PublicKey }

// A PrivateKey signs kido tickets. Its String method prints the secret.
type PrivateKey struct{ key ed25519.PrivateKey }

// GenerateKey returns a new private key using entropy from rand
// (crypto/rand.Reader when rand is nil).
func GenerateKey(rand io.Reader) (PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	return PrivateKey{priv}, nil
}

// NewPrivateKeyFromSeed returns the private key for a 32-byte Ed25519 seed.
func NewPrivateKeyFromSeed(seed []byte) (PrivateKey, error) {
	if len(seed) != ed25519.SeedSize {
		return PrivateKey{}, fmt.Errorf("ticket: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return PrivateKey{ed25519.NewKeyFromSeed(seed)}, nil
}

// NewPublicKey wraps a 32-byte Ed25519 public key.
func NewPublicKey(b []byte) (PublicKey, error) {
	if len(b) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("ticket: public key is %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return PublicKey{ed25519.PublicKey(bytes.Clone(b))}, nil
}

// Public returns the public half of k.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{k.key.Public().(ed25519.PublicKey)}
}

// Seed returns the 32-byte seed of k.
func (k PrivateKey) Seed() []byte { return k.key.Seed() }

// String returns the text form of the private key: the secret itself.
func (k PrivateKey) String() string { return encodeKey(PrivateKeyPrefix, k.key.Seed()) }

// Bytes returns the 32-byte Ed25519 public key.
func (k PublicKey) Bytes() []byte { return bytes.Clone(k.key) }

// ID returns the key id placed in tickets signed by k.
func (k PublicKey) ID() KeyID {
	h := sha256.New()
	h.Write([]byte("kido key id v1\x00"))
	h.Write(k.key)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// Equal reports whether k and o are the same key.
func (k PublicKey) Equal(o PublicKey) bool { return k.key.Equal(o.key) }

// String returns the text form of the public key.
func (k PublicKey) String() string { return encodeKey(PublicKeyPrefix, k.key) }

// The text form is prefix + base32(key || checksum), checksum being the
// first four bytes of SHA-256(prefix || key): a typo or a truncated paste is
// caught before the key is used.
func encodeKey(prefix string, key []byte) string {
	s := b32.EncodeToString(append(bytes.Clone(key), keyChecksum(prefix, key)...))
	if prefix == PublicKeyPrefix {
		s = strings.ToLower(s)
	}
	return prefix + s
}

func keyChecksum(prefix string, key []byte) []byte {
	h := sha256.Sum256(append([]byte(prefix), key...))
	return h[:4]
}

func decodeKey(prefix, s string) ([]byte, error) {
	body := strings.ToUpper(strings.TrimPrefix(s, prefix))
	b, err := b32.DecodeString(body)
	if err != nil || len(b) != 32+4 {
		return nil, errors.New("wrong length or character")
	}
	key, sum := b[:32], b[32:]
	if !bytes.Equal(sum, keyChecksum(prefix, key)) {
		return nil, errors.New("checksum mismatch (typo or truncated copy?)")
	}
	// Canonical form only: re-encoding must give back the input exactly.
	if encodeKey(prefix, key) != s {
		return nil, errors.New("not in canonical form")
	}
	return key, nil
}

// ParsePublicKey parses the text form of a public key.
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, PrivateKeyPrefix):
		return PublicKey{}, errors.New("ticket: this is a private key, not a public key\nhint: never paste a private key here; give the kidopub1… form")
	case !strings.HasPrefix(s, PublicKeyPrefix):
		return PublicKey{}, fmt.Errorf("ticket: not a kido public key (want prefix %q)", PublicKeyPrefix)
	}
	b, err := decodeKey(PublicKeyPrefix, s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("ticket: public key: %v", err)
	}
	return NewPublicKey(b)
}

// ParsePrivateKey parses the text form of a private key.
func ParsePrivateKey(s string) (PrivateKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, PublicKeyPrefix):
		return PrivateKey{}, errors.New("ticket: this is a public key, not a private key\nhint: signing needs the KIDO-SECRET-KEY-1… form")
	case !strings.HasPrefix(s, PrivateKeyPrefix):
		return PrivateKey{}, fmt.Errorf("ticket: not a kido private key (want prefix %q)", PrivateKeyPrefix)
	}
	b, err := decodeKey(PrivateKeyPrefix, s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("ticket: private key: %v", err)
	}
	return NewPrivateKeyFromSeed(b)
}
