package gatedir

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestCredential(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadCredential(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no credential yet: got %v, want fs.ErrNotExist", err)
	}
	if err := WriteCredential(dir, "kido_gate_secret"); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCredential(dir)
	if err != nil || got != "kido_gate_secret" {
		t.Errorf("read back %q, %v", got, err)
	}
	fi, err := os.Stat(Credential(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credential mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

// The gate key is stored readable by its owner only, read back as the
// same key, and forgotten with the credential.
func TestKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadKey(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no key yet: got %v, want fs.ErrNotExist", err)
	}
	if key, err := OptionalKey(dir); key != nil || err != nil {
		t.Errorf("OptionalKey without a key = %v, %v; want nil, nil", key, err)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKey(dir, key); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKey(dir)
	if err != nil || !got.Equal(key) {
		t.Errorf("read back %x, %v", got, err)
	}
	fi, err := os.Stat(Key(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := os.WriteFile(Key(dir), []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKey(dir); err == nil || !strings.Contains(err.Error(), "hint:") {
		t.Errorf("a damaged key file: %v, want an error with a hint", err)
	}
	if err := WriteCredential(dir, "secret"); err != nil {
		t.Fatal(err)
	}
	if err := Forget(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{Key(dir), Credential(dir)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Forget: %v", p, err)
		}
	}
}
