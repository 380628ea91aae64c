package privfile_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"kido.dev/kido/internal/privfile"
)

func TestPrepareAndLoose(t *testing.T) {
	old := syscall.Umask(0o002) // a permissive umask, as on many desktops
	defer syscall.Umask(old)
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // the directory exists already, open to all
	p := filepath.Join(dir, "kido.db")
	if err := privfile.Prepare(p); err != nil {
		t.Fatal(err)
	}
	if m, loose, err := privfile.Loose(p); err != nil || loose || m != 0o600 {
		t.Errorf("prepared file: mode %v, loose %v, %v; want 0600", m, loose, err)
	}
	// An existing file keeps its content and mode.
	os.WriteFile(p, []byte("data"), 0o644)
	os.Chmod(p, 0o644)
	if err := privfile.Prepare(p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "data" {
		t.Errorf("Prepare changed an existing file to %q", b)
	}
	if m, loose, _ := privfile.Loose(p); !loose || m != 0o644 {
		t.Errorf("0644 file: mode %v, loose %v; want loose", m, loose)
	}
	if _, loose, err := privfile.Loose(filepath.Join(dir, "none")); loose || err != nil {
		t.Errorf("missing file: loose %v, %v", loose, err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := privfile.MkdirAll(sub); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(sub); st.Mode().Perm() != 0o700 {
		t.Errorf("made directory mode %v, want 0700", st.Mode().Perm())
	}
}
