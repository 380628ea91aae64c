package replica

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// steppedClock is a device clock that tests move by hand.
type steppedClock struct{ ns atomic.Int64 }

func (c *steppedClock) now() time.Time       { return time.Unix(0, c.ns.Load()) }
func (c *steppedClock) step(d time.Duration) { c.ns.Add(int64(d)) }
func newSteppedClock(t time.Time) *steppedClock {
	c := &steppedClock{}
	c.ns.Store(t.UnixNano())
	return c
}

// TestUndo: the gate's last admission is annulled by an undo record,
// durable (it survives reopening), uploaded, counted nowhere; the same
// ticket is admitted again; a second undo, an undo of an exit, and one
// after kido.UndoWindow are refused and record nothing.
func TestUndo(t *testing.T) {
	clock := newSteppedClock(time.Now())
	r, f := newReplicaWith(t, 50, gatetest.GateBoth, clock.now(), Options{Now: clock.now})
	if _, _, err := r.Undo(ctx); !errors.Is(err, kido.ErrUndoNothing) {
		t.Fatalf("undo before any admission: %v, want ErrUndoNothing", err)
	}
	first := scan(t, r, f.Ticket(2), false)
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.AlreadyUsed {
		t.Fatalf("second scan: %s", d.Reason)
	}
	tally := func() Tally {
		t.Helper()
		tl, err := r.Tally(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	if tl := tally(); tl.Admitted != 1 || tl.Inside != 1 {
		t.Fatalf("tally before undo %+v", tl)
	}
	last, err := r.LastOwn(ctx)
	if err != nil || last.Why != nil || last.Admission.Seq != first.Seq || last.Left != kido.UndoWindow || last.Holder == "" {
		t.Fatalf("LastOwn = %+v, %v; want seq %d undoable for %s with its holder", last, err, first.Seq, kido.UndoWindow)
	}
	clock.step(90 * time.Second)
	undone, undo, err := r.Undo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if undone.Admission.Seq != first.Seq || undo.Undoes != first.Seq || undo.Seq != first.Seq+1 || undo.Kind != kido.KindUndo || undo.Serial != 2 {
		t.Errorf("undid %+v with %+v", undone.Admission, undo)
	}
	if undo.Hash != wire.AdmissionHash(undo) {
		t.Errorf("undo hash %s is not its content hash", undo.Hash)
	}

	// Durable: a reopened replica holds it.
	path := r.Path()
	r.Close()
	if r, err = Open(path, Options{Now: clock.now}); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if tl := tally(); tl.Admitted != 0 || tl.Inside != 0 {
		t.Errorf("tally after undo %+v, want nothing admitted or inside", tl)
	}
	if st, _ := r.Status(ctx); st.Admitted != 0 {
		t.Errorf("status admitted %d after undo", st.Admitted)
	}
	if ms, _ := r.Find(ctx, "2", 50); len(ms) == 0 {
		t.Error("find 2: nothing")
	} else {
		for _, m := range ms {
			if m.Serial == 2 && m.Entries != 0 {
				t.Errorf("find: serial 2 has %d entries after undo", m.Entries)
			}
		}
	}
	req, err := r.NextUpload(ctx, 10)
	if err != nil || len(req.Admissions) != 2 || !reflect.DeepEqual(req.Admissions[1], undo) {
		t.Fatalf("upload %+v, %v; want the admission and the undo", req, err)
	}
	if err := req.Check(); err != nil {
		t.Errorf("the upload breaks the protocol: %v", err)
	}
	if _, _, err := r.Undo(ctx); !errors.Is(err, kido.ErrUndoTwice) {
		t.Errorf("second undo: %v, want ErrUndoTwice", err)
	}

	// The same ticket is admitted again, and that admission can be undone.
	again := scan(t, r, f.Ticket(2), false)
	if again.Reason != gate.OK {
		t.Fatalf("rescan after undo: %s, want admitted", again.Reason)
	}
	if tl := tally(); tl.Admitted != 1 || tl.Inside != 1 {
		t.Errorf("tally after readmission %+v", tl)
	}

	// Too late: one nanosecond past the window.
	clock.step(kido.UndoWindow + time.Nanosecond)
	before := dump(t, r)
	if _, _, err := r.Undo(ctx); !errors.Is(err, kido.ErrUndoLate) {
		t.Errorf("undo after %s: %v, want ErrUndoLate", kido.UndoWindow, err)
	}
	if l, _ := r.LastOwn(ctx); l.Why == nil || l.Left != 0 {
		t.Errorf("LastOwn after the window: %+v", l)
	}
	if after := dump(t, r); after != before {
		t.Error("a refused undo changed the replica")
	}
	// An exit is never undone.
	if d := scan(t, r, f.Ticket(2), true); d.Reason != gate.ExitRecorded {
		t.Fatalf("exit: %s", d.Reason)
	}
	before = dump(t, r)
	if _, _, err := r.Undo(ctx); !errors.Is(err, kido.ErrUndoExit) {
		t.Errorf("undo of an exit: %v, want ErrUndoExit", err)
	}
	if after := dump(t, r); after != before {
		t.Error("a refused undo changed the replica")
	}
}

// TestUndoFromFeed: an undo of another gate, learned from the feed in
// either encoding or from a snapshot, lets the holder in here.
func TestUndoFromFeed(t *testing.T) {
	now := time.Now()
	entry := admission(7, 42, 5, now.Add(-time.Minute))
	undo := kido.Undo(entry, 43, now, now)
	undo.Hash = wire.AdmissionHash(undo)
	ch := func(a kido.Admission) wire.Change { return wire.Change{Kind: wire.ChangeAdmission, Admission: &a} }
	for name, apply := range map[string]func(*Replica, *gatetest.Fixture) error{
		"json": func(r *Replica, _ *gatetest.Fixture) error {
			if _, err := r.ApplyChanges(ctx, changesOf("c1", ch(entry))); err != nil {
				return err
			}
			if d := scan(t, r, gatetest.New(0, 0, now).Ticket(5), false); d.Reason != gate.AlreadyUsed {
				t.Errorf("before the undo: %s, want already_used", d.Reason)
			}
			_, err := r.ApplyChanges(ctx, changesOf("c2", ch(undo)))
			return err
		},
		"compact": func(r *Replica, _ *gatetest.Fixture) error {
			_, err := r.ApplyChanges(ctx, compact(t, "c1", ch(entry), ch(undo)))
			return err
		},
		"snapshot": func(r *Replica, f *gatetest.Fixture) error {
			snap := f.Snapshot
			snap.Admissions = []kido.Admission{entry, undo}
			snap.Cursor = "c3"
			return r.Apply(ctx, &snap, "")
		},
	} {
		t.Run(name, func(t *testing.T) {
			r, f := newReplica(t, 50, gatetest.GateBoth)
			if err := apply(r, f); err != nil {
				t.Fatal(err)
			}
			if d := scan(t, r, f.Ticket(5), false); d.Reason != gate.OK {
				t.Errorf("after the undo: %s, want admitted", d.Reason)
			}
		})
	}
	// An undo that names no earlier seq is refused with its answer.
	r, _ := newReplica(t, 50, gatetest.GateBoth)
	bad := undo
	bad.Undoes = bad.Seq
	bad.Hash = wire.AdmissionHash(bad)
	if _, err := r.ApplyChanges(ctx, changesOf("c9", ch(bad))); !errors.Is(err, ErrBadChange) {
		t.Errorf("undo of itself: %v, want ErrBadChange", err)
	}
}

// TestMigrateV5: a replica of schema 5 (admissions without undos) is
// rebuilt with its admissions kept, and then takes an undo.
func TestMigrateV5(t *testing.T) {
	clock := newSteppedClock(time.Now())
	r, f := newReplicaWith(t, 10, gatetest.GateBoth, clock.now(), Options{Now: clock.now})
	scan(t, r, f.Ticket(2), false)
	scan(t, r, f.Ticket(3), false)
	path := r.Path()
	toV5(t, r)
	keys := func() string {
		t.Helper()
		var s string
		if err := r.conn.QueryRowContext(ctx, "SELECT group_concat(gate || '/' || seq || '/' || kind || '/' || hash, ' ') FROM admissions").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := keys()
	r.Close()
	r, err := Open(path, Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var v int
	r.conn.QueryRowContext(ctx, "SELECT schema FROM state").Scan(&v)
	if v != schemaVersion {
		t.Errorf("schema %d after upgrade, want %d", v, schemaVersion)
	}
	if got := keys(); got != want {
		t.Errorf("admissions after upgrade %s, want %s", got, want)
	}
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("after upgrade: %s, want already_used", d.Reason)
	}
	if _, _, err := r.Undo(ctx); err != nil {
		t.Fatalf("undo after upgrade: %v", err)
	}
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.OK {
		t.Errorf("after undo: %s, want admitted", d.Reason)
	}
}

// toV7 turns r into a replica of schema 7: no retired tiers or
// replacement serials (and, first, schema 8's: toV8).
func toV7(t *testing.T, r *Replica) {
	t.Helper()
	toV8(t, r)
	for _, q := range []string{"ALTER TABLE tiers DROP COLUMN retired", "ALTER TABLE roster DROP COLUMN replaced_by", "UPDATE state SET schema = 7"} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// toV6 turns r into a replica of schema 6: no gate keys, mesh addresses,
// revocation times or record signatures (and, first, schema 7's: toV7).
func toV6(t *testing.T, r *Replica) {
	t.Helper()
	toV7(t, r)
	for _, q := range []string{"ALTER TABLE gates DROP COLUMN pub", "ALTER TABLE gates DROP COLUMN mesh", "ALTER TABLE gates DROP COLUMN revoked_at",
		"ALTER TABLE admissions DROP COLUMN sig", "UPDATE state SET schema = 6"} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// toV5 turns r's admission tables into those of schema 5: no undo kind,
// no undoes column (and, first, schema 6's: toV6).
func toV5(t *testing.T, r *Replica) {
	t.Helper()
	toV6(t, r)
	v5 := admissionColumnsV4 + `
	reason    TEXT NOT NULL DEFAULT '',`
	cols := "gate, seq, serial, tier, kind, at, corrected, text, hash, reason"
	for _, q := range []string{
		"CREATE TABLE a5 (" + v5 + " PRIMARY KEY (gate, seq)) WITHOUT ROWID",
		"INSERT INTO a5 SELECT " + cols + " FROM admissions",
		"DROP TABLE admissions", "ALTER TABLE a5 RENAME TO admissions",
		"CREATE INDEX admissions_serial ON admissions (serial)",
		"CREATE TABLE c5 (" + v5 + " PRIMARY KEY (gate, seq, hash)) WITHOUT ROWID",
		"INSERT INTO c5 SELECT " + cols + " FROM conflicting_admissions",
		"DROP TABLE conflicting_admissions", "ALTER TABLE c5 RENAME TO conflicting_admissions",
		"CREATE INDEX conflicting_admissions_serial ON conflicting_admissions (serial)",
		"UPDATE state SET schema = 5",
	} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
