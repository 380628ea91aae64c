package postgres

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
	"kido.dev/kido/sync/wire"
)

// TestCopySQLiteKeepsCorrections: a copied store keeps a retired tier and
// the record of corrections, and records the next one after them.
func TestCopySQLiteKeepsCorrections(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kido.db")
	lite, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.SetIdentity(ctx, signingKey(t, "identity")); err != nil {
		t.Fatal(err)
	}
	ev, err := lite.CreateEvent(ctx, wire.EventCreate{Name: "A", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "A"), t0)
	if err != nil {
		t.Fatal(err)
	}
	tier, err := lite.AddTier(ctx, ev.ID, "VIP", 1)
	if err != nil {
		t.Fatal(err)
	}
	retire := func(tr kido.Tier, _ []kido.Tier) (kido.Tier, error) { tr.Retired = true; return tr, nil }
	if _, err := lite.EditTier(ctx, ev.ID, tier.ID, retire, "alice", t0); err != nil {
		t.Fatal(err)
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
	ts, err := pg.Tiers(ctx, ev.ID)
	if err != nil || len(ts) != 1 || !ts[0].Retired {
		t.Fatalf("copied tiers %+v, %v; want VIP retired", ts, err)
	}
	rename := func(e kido.Event, _ server.Entries) (kido.Event, error) { e.Name = "A2"; return e, nil }
	if _, err := pg.EditEvent(ctx, ev.ID, rename, "bob", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	es, err := pg.Edits(ctx, ev.ID)
	if err != nil || len(es) != 2 || es[0].By != "alice" || es[0].Object != wire.EditTier || es[1].By != "bob" || es[1].ID <= es[0].ID {
		t.Fatalf("edits after the copy: %+v, %v; want alice's copied, then bob's after it", es, err)
	}
}
