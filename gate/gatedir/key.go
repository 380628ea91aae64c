package gatedir

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/internal/privfile"
)

// KeyFile holds the gate's Ed25519 private key, made at enrolment, mode
// 0600: its 32-byte seed as 64 lowercase hex digits and a newline. Every
// record the gate makes is signed with it, and its peers know it by its
// public key (docs/mesh.md, "Gate identity"). A gate enrolled before gate
// keys has none.
const KeyFile = "gate.key"

// Key returns the path of the key file in dir.
func Key(dir string) string { return filepath.Join(dir, KeyFile) }

// ReadKey returns the gate's private key stored in dir. A directory
// without one gives an error wrapping fs.ErrNotExist.
func ReadKey(dir string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(Key(dir))
	if err != nil {
		return nil, fmt.Errorf("gate key: %w", err)
	}
	seed, err := hex.DecodeString(string(bytes.TrimSuffix(b, []byte("\n"))))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("gate key: %s is not %d hex digits\nhint: the file is damaged; enrol the gate again with a new code from kidoctl gate add", Key(dir), 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// WriteKey stores key in dir, atomically, readable by the owner only,
// replacing any key there: only an enrolment writes it, after the server
// recorded the key, into a directory without a credential (a key left
// there belongs to no enrolment that can still sync).
func WriteKey(dir string, key ed25519.PrivateKey) error {
	err := atomicfile.WriteFile(Key(dir), privfile.Mode, func(w io.Writer) error {
		_, err := io.WriteString(w, hex.EncodeToString(key.Seed())+"\n")
		return err
	})
	if err != nil {
		return fmt.Errorf("gate key: %w", err)
	}
	return nil
}

// Forget deletes the gate's credential and key from dir, as a revoked
// gate does after wiping its replica: neither vouches for anything any
// more. A key that is not there (a gate enrolled before gate keys) is no
// error.
func Forget(dir string) error {
	err := os.Remove(Credential(dir))
	if kerr := os.Remove(Key(dir)); kerr != nil && !errors.Is(kerr, fs.ErrNotExist) {
		err = errors.Join(err, kerr)
	}
	return err
}

// OptionalKey is ReadKey for a gate that may have been enrolled before
// gate keys: nil and no error when dir holds no key.
func OptionalKey(dir string) (ed25519.PrivateKey, error) {
	key, err := ReadKey(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return key, err
}
