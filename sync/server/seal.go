package server

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// MasterKeySize is the size of the master key that seals private keys.
const MasterKeySize = chacha20poly1305.KeySize

// sealer seals private key seeds with XChaCha20-Poly1305: a random 24-byte
// nonce per seal (no counter to keep), and the public key as associated
// data, so a sealed seed moved to another key's row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(master []byte) (*sealer, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("server: master key is %d bytes, want %d", len(master), MasterKeySize)
	}
	aead, err := chacha20poly1305.NewX(master)
	if err != nil {
		return nil, fmt.Errorf("server: master key: %w", err)
	}
	return &sealer{aead}, nil
}

func sealAD(purpose string, public []byte) []byte {
	return append([]byte("kido sealed key v1\x00"+purpose+"\x00"), public...)
}

// seal returns nonce || ciphertext of secret.
func (s *sealer) seal(secret []byte, purpose string, public []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("server: seal: %w", err)
	}
	return s.aead.Seal(nonce, nonce, secret, sealAD(purpose, public)), nil
}

var errUnseal = errors.New("server: a sealed key does not open with this master key\nhint: the master key file is not the one this data directory was made with; restore it from backup")

func (s *sealer) open(sealed []byte, purpose string, public []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errUnseal
	}
	secret, err := s.aead.Open(nil, sealed[:n], sealed[n:], sealAD(purpose, public))
	if err != nil {
		return nil, errUnseal
	}
	return secret, nil
}
