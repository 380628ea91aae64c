package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kido.db")
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Identity(ctx); !errors.Is(err, server.ErrNotFound) {
		t.Fatalf("empty store: got %v, want ErrNotFound", err)
	}
	priv, _ := ticket.GenerateKey(nil)
	k := server.SealedKey{Public: priv.Public(), Sealed: []byte("sealed")}
	if _, err := s.SetIdentity(ctx, k); err != nil {
		t.Fatal(err)
	}
	ev, err := s.CreateEvent(ctx, wire.EventCreate{Name: "Fes", Start: time.Unix(0, 0), End: time.Unix(3600, 0)}, k, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Identity(ctx)
	if err != nil || !got.Public.Equal(k.Public) || string(got.Sealed) != "sealed" {
		t.Fatalf("identity after reopen: %+v, %v", got, err)
	}
	// A second identity never replaces the first.
	other, _ := ticket.GenerateKey(nil)
	if got, _ := s.SetIdentity(ctx, server.SealedKey{Public: other.Public(), Sealed: []byte("x")}); !got.Public.Equal(k.Public) {
		t.Fatal("SetIdentity replaced the identity")
	}
	evs, err := s.Events(ctx, nil)
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID {
		t.Fatalf("events after reopen: %v, %v", evs, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kido.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("got %v, want a schema version error", err)
	}
}

// TestProbeFailsWhenWritesFail: a database that answers reads but refuses
// writes (as a read-only file does) passes Ping and fails Probe.
func TestProbeFailsWhenWritesFail(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kido.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Probe(ctx); err != nil {
		t.Fatalf("probe of a writable database: %v", err)
	}
	// The writer pool has one connection: this holds for every later write.
	if _, err := s.w.Exec("PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping of a database that refuses writes: %v, want it to pass (reads work)", err)
	}
	if err := s.Probe(ctx); err == nil || !strings.Contains(err.Error(), "attempt to write a readonly database") {
		t.Errorf("probe of a database that refuses writes: got %v, want the write refused", err)
	}
}

// TestUpgradesVersion2 opens a database of schema version 2, which has no
// probe row yet.
func TestUpgradesVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kido.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schema, schemaV2, "PRAGMA user_version = 2"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Probe(context.Background()); err != nil {
		t.Errorf("probe after the upgrade: %v", err)
	}
	var v int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("user_version %d, %v; want %d", v, err, schemaVersion)
	}
}
