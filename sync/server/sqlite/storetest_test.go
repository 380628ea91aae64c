package sqlite

import (
	"path/filepath"
	"testing"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/storetest"
)

// TestStore runs the Store conformance suite on real database files in
// WAL mode, each subtest on a new one.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) server.Store {
		s, err := Open(filepath.Join(t.TempDir(), "kido.db"))
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal mode %q, %v; want wal", mode, err)
		}
		return s
	})
}
