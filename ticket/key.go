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
// SHA-256(KeyIDDomain || public key). Four bytes keep the QR code small; a
// collision between two keys of one event is refused by the issuer, and a
// forged ticket still needs a valid signature under the key the id names.
type KeyID [KeyIDLen]byte

// KeyIDDomain is hashed before the public key to derive a KeyID.
const KeyIDDomain = "kido key id v1\x00"

// String returns the key id as eight lowercase hex digits.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ParseKeyID parses eight hex digits.
func ParseKeyID(s string) (KeyID, error) {
	var id KeyID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyIDLen {
		return id, fmt.Errorf("ticket: key id %q is not 8 hex digits", s)
	}
	if hex.EncodeToString(b) != s {
		return id, fmt.Errorf("ticket: key id %q is not in canonical form\nhint: write it in lowercase", s)
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
	h.Write([]byte(KeyIDDomain))
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

// keyTextLen is the length of a key's text form without its prefix:
// base32 of 32 key bytes and 4 checksum bytes.
var keyTextLen = b32.EncodedLen(32 + 4)

func decodeKey(prefix, s string) ([]byte, error) {
	body := s[len(prefix):] // the caller checked the prefix, in any case
	if len(body) != keyTextLen {
		return nil, fmt.Errorf("%d characters after the prefix, want %d\nhint: the key looks truncated or joined with other text; copy it again", len(body), keyTextLen)
	}
	b, err := b32.DecodeString(strings.ToUpper(body))
	if err != nil {
		return nil, errors.New("character outside the base32 alphabet (A-Z, 2-7)\nhint: check for a typo; 0, 1, 8 and 9 never occur in a key")
	}
	key, sum := b[:32], b[32:]
	if !bytes.Equal(sum, keyChecksum(prefix, key)) {
		return nil, errors.New("checksum mismatch\nhint: check for a typo or a truncated copy")
	}
	// Canonical form only: re-encoding must give back the input exactly
	// (letter case, unused trailing bits).
	if encodeKey(prefix, key) != s {
		return nil, errors.New("not in canonical form\nhint: public keys are lowercase, private keys uppercase")
	}
	return key, nil
}

// hasPrefixFold reports whether s starts with prefix in any letter case, so
// that a key of the wrong kind is recognised even if its case was changed.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ParsePublicKey parses the text form of a public key. Surrounding white
// space is ignored; anything else but the canonical form is refused, and a
// private key is refused with a message that says so.
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case hasPrefixFold(s, PrivateKeyPrefix):
		return PublicKey{}, errors.New("ticket: this is a private key, not a public key\nhint: never paste a private key here; give the kidopub1… form")
	case !hasPrefixFold(s, PublicKeyPrefix):
		return PublicKey{}, fmt.Errorf("ticket: not a kido public key (want prefix %q)", PublicKeyPrefix)
	}
	b, err := decodeKey(PublicKeyPrefix, s)
	if err != nil {
		return PublicKey{}, fmt.Errorf("ticket: public key: %v", err)
	}
	return NewPublicKey(b)
}

// ParsePrivateKey parses the text form of a private key, like
// ParsePublicKey; a public key is refused with a message that says so.
func ParsePrivateKey(s string) (PrivateKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case hasPrefixFold(s, PublicKeyPrefix):
		return PrivateKey{}, errors.New("ticket: this is a public key, not a private key\nhint: signing needs the KIDO-SECRET-KEY-1… form")
	case !hasPrefixFold(s, PrivateKeyPrefix):
		return PrivateKey{}, fmt.Errorf("ticket: not a kido private key (want prefix %q)", PrivateKeyPrefix)
	}
	b, err := decodeKey(PrivateKeyPrefix, s)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("ticket: private key: %v", err)
	}
	return NewPrivateKeyFromSeed(b)
}
