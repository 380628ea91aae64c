package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPrivateFileModes: in a data directory that already exists, open to
// all, and under a permissive umask, the database, its -wal and -shm, the
// master key and the admin token are made 0600; a restart warns of an
// admin token or TLS key that others may read.
func TestPrivateFileModes(t *testing.T) {
	bin := buildTools(t)
	old := syscall.Umask(0o002) // the child inherits it
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, bin, data)
	for _, name := range []string{"kido.db", "kido.db-wal", "kido.db-shm", "master.key", "admin.token"} {
		st, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, m)
		}
	}
	s.stop(t, os.Interrupt)

	token := filepath.Join(data, "admin.token")
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	s = startServer(t, bin, data)
	if !strings.Contains(s.start, "file readable by others; hint: chmod 600 "+token) || !strings.Contains(s.start, "mode=0644") {
		t.Errorf("start with a 0644 admin.token logged:\n%s\nwant a warning naming it", s.start)
	}
	s.stop(t, os.Interrupt)
}
