package postgres

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
	"kido.dev/kido/sync/wire"
)

// TestCopySQLiteKeepsCursors copies a SQLite store whose event A is idle
// while event B changed last: A's gate holds the log head, a row of B.
// After the copy that cursor must still be valid for A (no resnapshot),
// and A's next change must follow it; a copy into a used database is
// refused.
func TestCopySQLiteKeepsCursors(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kido.db")
	lite, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.SetIdentity(ctx, signingKey(t, "identity")); err != nil {
		t.Fatal(err)
	}
	evA, err := lite.CreateEvent(ctx, wire.EventCreate{Name: "A", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "A"), t0)
	if err != nil {
		t.Fatal(err)
	}
	evB, err := lite.CreateEvent(ctx, wire.EventCreate{Name: "B", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "B"), t0)
	if err != nil {
		t.Fatal(err)
	}
	pageA, err := lite.Changes(ctx, evA.ID, server.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	headB, err := lite.Changes(ctx, evB.ID, server.Cursor{}, 1000)
	if err != nil || pageA.Next != headB.Next {
		t.Fatalf("A's cursor %v, B's head %v (%v); want A's cursor at the log head, a row of B", pageA.Next, headB.Next, err)
	}
	lite.Close()

	src, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pg := open(t, pgtest.DB(t))
	if _, err := pg.CopySQLite(ctx, src); err != nil {
		t.Fatal(err)
	}
	p, err := pg.Changes(ctx, evA.ID, pageA.Next, 1000)
	if err != nil || p.Resnapshot || len(p.Changes) != 0 {
		t.Fatalf("A's copied cursor: %d changes, resnapshot %v, %v; want a valid cursor with nothing new", len(p.Changes), p.Resnapshot, err)
	}
	if _, err := pg.AddTier(ctx, evA.ID, "GA", 1); err != nil {
		t.Fatal(err)
	}
	p, err = pg.Changes(ctx, evA.ID, pageA.Next, 1000)
	if err != nil || len(p.Changes) != 1 || p.Next.Pos <= pageA.Next.Pos {
		t.Fatalf("after a change of A: %d changes, next %v, %v; want the new tier after the copied cursor %v", len(p.Changes), p.Next, err, pageA.Next)
	}
	id, err := pg.Identity(ctx)
	if err != nil || string(id.Sealed) != "sealed identity" {
		t.Errorf("copied identity %q, %v; want the SQLite store's", id.Sealed, err)
	}
	ev, err := pg.CreateEvent(ctx, wire.EventCreate{Name: "C", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "C"), t0)
	if err != nil || ev.ID != evB.ID+1 {
		t.Errorf("event created after the copy: id %d, %v; want %d", ev.ID, err, evB.ID+1)
	}
	if _, err := pg.CopySQLite(ctx, src); !errors.Is(err, server.ErrConflict) {
		t.Errorf("second copy into the same database: %v; want ErrConflict", err)
	}
}
