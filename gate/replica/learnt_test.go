package replica

import (
	"errors"
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// count returns the result of a count query on r's connection.
func count(t *testing.T, r *Replica, q string) int {
	t.Helper()
	var n int
	if err := r.conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestLearntApart: other gates' admissions from a compact page are kept in
// learnt, not in admissions, and every reader counts them as before:
// decisions, history, find, status, tally. The same records again, in
// either form, are known; another record under a learnt key is kept beside
// it, once.
func TestLearntApart(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	at := time.Now().Add(-time.Hour).UTC()
	in := admission(gatetest.GateEntry, 1, 3, at)
	out := admission(gatetest.GateEntry, 2, 3, at.Add(time.Minute))
	out.Kind = kido.KindExit
	out.Hash = wire.AdmissionHash(out)
	other := admission(9, 1, 4, at)
	page := []wire.Change{{Kind: wire.ChangeAdmission, Admission: &in}, {Kind: wire.ChangeAdmission, Admission: &out}, {Kind: wire.ChangeAdmission, Admission: &other}}
	ap, err := r.ApplyChanges(ctx, compact(t, "c1", page...))
	if err != nil {
		t.Fatal(err)
	}
	if ap.Admissions != (Merge{Added: 3}) {
		t.Errorf("merge %+v, want 3 added", ap.Admissions)
	}
	if n, m := count(t, r, "SELECT count(*) FROM learnt"), count(t, r, "SELECT count(*) FROM admissions"); n != 3 || m != 0 {
		t.Errorf("learnt %d, admissions %d; want 3 and 0", n, m)
	}
	var chk string
	r.conn.QueryRowContext(ctx, "SELECT printf('%016x', chk) FROM learnt WHERE gate = ? AND seq = 1", gatetest.GateEntry).Scan(&chk)
	if !wire.SameRecord(chk, in.Hash) {
		t.Errorf("stored check %s, hash %s", chk, in.Hash)
	}

	for _, ch := range []*wire.Changes{compact(t, "c2", page...), changesOf("c2", page...)} {
		if ap, err := r.ApplyChanges(ctx, ch); err != nil || ap.Admissions != (Merge{Known: 3}) {
			t.Errorf("the same records again: %+v, %v; want 3 known", ap.Admissions, err)
		}
	}
	if n, m := count(t, r, "SELECT count(*) FROM learnt"), count(t, r, "SELECT count(*) FROM admissions"); n != 3 || m != 0 {
		t.Errorf("after the same records again: learnt %d, admissions %d; want 3 and 0", n, m)
	}

	// Serial 4 was admitted at gate 9, serial 3 went in and out.
	if d := scan(t, r, f.Ticket(4), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("ticket admitted elsewhere: %s, want already used", d.Reason)
	}
	hist, err := r.History(ctx, 3)
	if err != nil || len(hist) != 2 || hist[0].Kind != kido.KindEntry || hist[1].Kind != kido.KindExit {
		t.Errorf("history %+v, %v; want the entry and the exit", hist, err)
	}
	ms, err := r.Find(ctx, "3", 1)
	if err != nil || len(ms) != 1 || ms[0].Entries != 1 || ms[0].Exits != 1 || !ms[0].Last.Equal(out.Corrected) {
		t.Errorf("find %+v, %v; want one entry, one exit, last %s", ms, err, out.Corrected)
	}
	st, err := r.Status(ctx)
	if err != nil || st.Passages != 3 || st.Admitted != 2 || st.Own != 0 {
		t.Errorf("status passages %d, admitted %d, own %d (%v); want 3, 2, 0", st.Passages, st.Admitted, st.Own, err)
	}
	tally, err := r.Tally(ctx)
	if err != nil || tally.Admitted != 2 || tally.Inside != 1 {
		t.Errorf("tally %+v, %v; want 2 admitted, 1 inside (serial 3 went out)", tally, err)
	}

	// Another record under a learnt key, whole or as a check: kept once.
	twin := admission(9, 1, 5, at)
	for i, ch := range []*wire.Changes{changesOf("c3", wire.Change{Kind: wire.ChangeAdmission, Admission: &twin}), compact(t, "c4", wire.Change{Kind: wire.ChangeAdmission, Admission: &twin})} {
		if ap, err := r.ApplyChanges(ctx, ch); err != nil || ap.Admissions != (Merge{Conflicting: 1}) {
			t.Errorf("answer %d: %+v, %v; want 1 conflicting", i, ap.Admissions, err)
		}
	}
	if st, _ := r.Status(ctx); st.Conflicting != 1 {
		t.Errorf("conflicting %d, want 1", st.Conflicting)
	}
	if d := scan(t, r, f.Ticket(5), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("ticket of the conflicting record: %s, want already used", d.Reason)
	}
}

// TestLearntSeenByOtherProcess: a replica that built its index by serial
// sees rows another connection (kido-gate run's sync loop beside a
// kido-gate scan process) wrote afterwards.
func TestLearntSeenByOtherProcess(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	if d := scan(t, r, f.Ticket(2), false); !d.Admit {
		t.Fatalf("first scan: %s", d.Reason)
	}
	other, err := Open(r.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	a := admission(gatetest.GateEntry, 1, 6, time.Now().Add(-time.Minute))
	if _, err := other.ApplyChanges(ctx, compact(t, "c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &a})); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(6), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("ticket admitted at another gate, learned by another process: %s, want already used", d.Reason)
	}
	// And the other way: the process that applied sees a later page too.
	b := admission(gatetest.GateEntry, 2, 7, time.Now().Add(-time.Minute))
	if _, err := r.ApplyChanges(ctx, compact(t, "c2", wire.Change{Kind: wire.ChangeAdmission, Admission: &b})); err != nil {
		t.Fatal(err)
	}
	for _, rep := range []*Replica{r, other} {
		if h, err := rep.History(ctx, 7); err != nil || len(h) != 1 {
			t.Errorf("history of 7: %+v, %v; want the one entry", h, err)
		}
	}
}

// TestLearntIndex: rows by serial, latest first, for serials held in the
// slice and in the map.
func TestLearntIndex(t *testing.T) {
	var x learntIndex
	serials := []uint32{5, nearSerials + 9, 5, 0, nearSerials + 9, 70}
	for i, s := range serials {
		x.add(int64(i+1), s)
	}
	for _, c := range []struct {
		serial uint32
		want   []int64
	}{{5, []int64{3, 1}}, {nearSerials + 9, []int64{5, 2}}, {0, []int64{4}}, {70, []int64{6}}, {6, nil}, {1 << 30, nil}} {
		if got := x.rows(c.serial); !slices.Equal(got, c.want) {
			t.Errorf("rows(%d) = %v, want %v", c.serial, got, c.want)
		}
	}
	if x.upTo != 6 {
		t.Errorf("upTo %d, want 6", x.upTo)
	}
}

// TestBadCheckRefused: a check-only admission whose check is not 16
// lowercase hex digits is refused whole.
func TestBadCheckRefused(t *testing.T) {
	r, _ := newReplica(t, 10, gatetest.GateBoth)
	before := dump(t, r)
	for _, h := range []string{"zzzzzzzzzzzzzzzz", "ABCDEF0123456789", "+123456789abcdef"} {
		a := admission(9, 1, 3, time.Now())
		a.Hash = h
		if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &a})); !errors.Is(err, ErrBadChange) {
			t.Errorf("check %q: %v, want ErrBadChange", h, err)
		}
	}
	if dump(t, r) != before {
		t.Errorf("a refused answer changed the replica")
	}
}

// TestMigrateV5 opens a replica of schema 5, whose records from compact
// pages are in admissions: it gets learnt, decides with both tables, and
// puts later ones in learnt.
func TestMigrateV5(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	a := admission(gatetest.GateEntry, 1, 3, time.Now().Add(-time.Hour))
	old := a
	old.Hash = a.Hash[:2*wire.CheckLen]
	for _, q := range []string{"DROP TABLE learnt", "UPDATE state SET schema = 5"} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.conn.ExecContext(ctx, "INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash) VALUES (?, 1, 3, ?, 'entry', 0, ?, '', ?)",
		a.Gate, a.Tier, toNanos(a.Corrected), old.Hash); err != nil {
		t.Fatal(err)
	}
	path := r.Path()
	r.Close()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("record of a compact page before the upgrade: %s, want already used", d.Reason)
	}
	b := admission(gatetest.GateEntry, 2, 4, time.Now().Add(-time.Hour))
	ap, err := r.ApplyChanges(ctx, compact(t, "c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &a}, wire.Change{Kind: wire.ChangeAdmission, Admission: &b}))
	if err != nil || ap.Admissions != (Merge{Added: 1, Known: 1}) {
		t.Fatalf("merge %+v, %v; want 1 added, 1 known", ap.Admissions, err)
	}
	if n := count(t, r, "SELECT count(*) FROM learnt"); n != 1 {
		t.Errorf("learnt %d rows, want 1", n)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("record learned after the upgrade: %s, want already used", d.Reason)
	}
}
