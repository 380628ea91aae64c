package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	for _, perm := range []os.FileMode{0o600, 0o644} {
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		if err := WriteFile(path, perm, writeString("old\n")); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, perm, writeString("new\n")); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != "new\n" {
			t.Errorf("content %q, %v; want %q", got, err, "new\n")
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != perm {
			t.Errorf("mode %v, %v; want %v", fi.Mode().Perm(), err, perm)
		}
		if names := entries(t, dir); len(names) != 1 {
			t.Errorf("directory holds %q, want only f", names)
		}
	}
}

// TestWriteFileFailure: whatever fails, the file keeps its old content and
// no temporary file is left behind.
func TestWriteFileFailure(t *testing.T) {
	boom := errors.New("boom")
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, 0o600, writeString("old\n")); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("after a failed write the file holds %q, want the old content", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q after a failed write, want only f", names)
	}

	// The rename fails: the target is a directory that is not empty.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, 0o600, writeString("x")); err == nil {
		t.Error("rename over a directory: no error")
	}
	if names := entries(t, dir); len(names) != 2 {
		t.Errorf("directory holds %q after a failed rename, want f and d", names)
	}
}
