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
