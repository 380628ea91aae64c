package gatedir

import (
	"errors"
	"io/fs"
	"os"
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
