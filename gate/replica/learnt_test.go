package replica

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// reopen closes r and opens its file again, as the next process does.
func reopen(t *testing.T, r *Replica) *Replica {
	t.Helper()
	r.Close()
	r, err := Open(r.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// learnt returns r.Learnt.
func learnt(t *testing.T, r *Replica) []kido.Admission {
	t.Helper()
	as, err := r.Learnt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

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
	if n, m := len(learnt(t, r)), count(t, r, "SELECT count(*) FROM admissions"); n != 3 || m != 0 {
		t.Errorf("learnt %d, admissions %d; want 3 and 0", n, m)
	}
	for i, a := range []kido.Admission{in, out, other} {
		want := a
		want.At, want.Hash = time.Time{}, a.Hash[:2*wire.CheckLen]
		if got := learnt(t, r)[i]; !reflect.DeepEqual(got, want) {
			t.Errorf("learnt record %d:\n%+v, want\n%+v", i, got, want)
		}
	}

	for _, ch := range []*wire.Changes{compact(t, "c2", page...), changesOf("c2", page...)} {
		if ap, err := r.ApplyChanges(ctx, ch); err != nil || ap.Admissions != (Merge{Known: 3}) {
			t.Errorf("the same records again: %+v, %v; want 3 known", ap.Admissions, err)
		}
	}
	if n, m := len(learnt(t, r)), count(t, r, "SELECT count(*) FROM admissions"); n != 3 || m != 0 {
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

// TestLearntRunsOtherProcess: the runs each process holds in memory follow
// the pages another process commits, so a record that process learned is
// known here, not learned twice, and another record under its key is
// kept as a conflict.
func TestLearntRunsOtherProcess(t *testing.T) {
	r, _ := newReplica(t, 50, gatetest.GateBoth)
	other, err := Open(r.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	at := time.Now().Add(-time.Minute)
	page := func(cursor string, seqs ...uint64) *wire.Changes {
		var cs []wire.Change
		for _, seq := range seqs {
			a := admission(gatetest.GateEntry, seq, uint32(10+seq), at)
			cs = append(cs, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
		}
		return compact(t, cursor, cs...)
	}
	apply := func(rep *Replica, ch *wire.Changes) Merge {
		t.Helper()
		ap, err := rep.ApplyChanges(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		return ap.Admissions
	}
	// Each process holds runs: r's first page, then other's.
	if m := apply(r, page("c1", 1, 2, 3)); m.Added != 3 {
		t.Fatalf("first page: %+v", m)
	}
	if m := apply(other, page("c2", 4, 5, 6)); m.Added != 3 {
		t.Fatalf("page at the other process: %+v", m)
	}
	// r has not seen other's page: its runs must catch up before merging.
	if m := apply(r, page("c3", 5, 6, 7)); m.Added != 1 || m.Known != 2 || m.Conflicting != 0 {
		t.Errorf("page over the other process's: %+v, want 1 added, 2 known", m)
	}
	changed := admission(gatetest.GateEntry, 4, 99, at)
	if m := apply(other, compact(t, "c4", wire.Change{Kind: wire.ChangeAdmission, Admission: &changed})); m.Conflicting != 1 || m.Added != 0 {
		t.Errorf("another record under a key r learned: %+v, want 1 conflicting", m)
	}
	if m := apply(other, page("c5", 7)); m.Known != 1 || m.Added != 0 {
		t.Errorf("seq 7, learned by r: %+v, want known", m)
	}
	if n := len(learnt(t, r)); n != 7 {
		t.Errorf("%d learnt records, want 7 (seqs 1 to 7 once each)", n)
	}
}

// TestLearntIndex: positions by serial, latest first, for serials held in
// the slice and in the map.
func TestLearntIndex(t *testing.T) {
	var x learntIndex
	x.addPage(3, []learntRec{{serial: 5}, {serial: nearSerials + 9}, {serial: 5}})
	x.addPage(7, []learntRec{{serial: 0}, {serial: nearSerials + 9}, {serial: 70}})
	for _, c := range []struct {
		serial uint32
		want   [][2]int64
	}{{5, [][2]int64{{3, 2}, {3, 0}}}, {nearSerials + 9, [][2]int64{{7, 1}, {3, 1}}}, {0, [][2]int64{{7, 0}}}, {70, [][2]int64{{7, 2}}}, {6, nil}, {1 << 30, nil}} {
		if got := x.positions(c.serial); !slices.Equal(got, c.want) {
			t.Errorf("positions(%d) = %v, want %v", c.serial, got, c.want)
		}
	}
	if x.upTo != 7 {
		t.Errorf("upTo %d, want 7", x.upTo)
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

// TestMigrateV9 opens a replica of schema 9, whose records from compact
// pages are in admissions: it gets learnt, decides with both tables, and
// puts later ones in learnt.
func TestMigrateV9(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	a := admission(gatetest.GateEntry, 1, 3, time.Now().Add(-time.Hour))
	old := a
	old.Hash = a.Hash[:2*wire.CheckLen]
	toV9(t, r)
	if _, err := r.conn.ExecContext(ctx, "INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash) VALUES (?, 1, 3, ?, 'entry', 0, ?, '', ?)",
		a.Gate, a.Tier, toNanos(a.Corrected), old.Hash); err != nil {
		t.Fatal(err)
	}
	r = reopen(t, r)
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("record of a compact page before the upgrade: %s, want already used", d.Reason)
	}
	b := admission(gatetest.GateEntry, 2, 4, time.Now().Add(-time.Hour))
	ap, err := r.ApplyChanges(ctx, compact(t, "c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &a}, wire.Change{Kind: wire.ChangeAdmission, Admission: &b}))
	if err != nil || ap.Admissions != (Merge{Added: 1, Known: 1}) {
		t.Fatalf("merge %+v, %v; want 1 added, 1 known", ap.Admissions, err)
	}
	if n := len(learnt(t, r)); n != 1 {
		t.Errorf("learnt %d rows, want 1", n)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("record learned after the upgrade: %s, want already used", d.Reason)
	}
}

// TestLearntMergeModel applies random pages, compact and JSON, of
// admissions from a few gates with keys repeated within and across pages,
// runs broken and overlapping, some keys carrying another record, and
// compares every answer's merge and the final replica with a model: the
// first record of a key is held, the same again is known, another is
// conflicting and kept once.
func TestLearntMergeModel(t *testing.T) {
	r, _ := newReplica(t, 10, gatetest.GateBoth)
	rnd := rand.New(rand.NewPCG(16, 1))
	at := time.Now().Add(-time.Hour).UTC()
	record := func(g uint32, seq uint64, variant int) kido.Admission {
		a := admission(g, seq, uint32(seq)*10+uint32(variant), at.Add(time.Duration(seq)*time.Second))
		if variant == 2 {
			a.Kind = kido.KindExit
			a.Hash = wire.AdmissionHash(a)
		}
		return a
	}
	type key struct {
		gate uint32
		seq  uint64
	}
	held := map[key]kido.Admission{}
	conflicts := map[[3]uint64]bool{} // gate, seq, serial of the conflicting record
	for page := range 60 {
		var cs []wire.Change
		var want Merge
		seen := map[key]kido.Admission{}
		for n := rnd.IntN(300); len(cs) < n; {
			g := []uint32{gatetest.GateBoth, gatetest.GateEntry, 9, 11}[rnd.IntN(4)]
			lo := uint64(1 + rnd.IntN(400))
			for seq := lo; seq < lo+uint64(1+rnd.IntN(40)) && len(cs) < n; seq++ {
				if rnd.IntN(8) == 0 {
					continue // a gap: the page's run breaks
				}
				variant := 0
				if rnd.IntN(20) == 0 {
					variant = 1 + rnd.IntN(2)
				}
				a := record(g, seq, variant)
				cs = append(cs, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
				k := key{g, seq}
				h, ok := held[k]
				if !ok {
					h, ok = seen[k]
				}
				switch {
				case !ok:
					want.Added++
					seen[k] = a
				case wire.SameRecord(h.Hash, a.Hash):
					want.Known++
				default:
					want.Conflicting++
					conflicts[[3]uint64{uint64(g), seq, uint64(a.Serial)}] = true
				}
			}
		}
		maps.Copy(held, seen)
		ch := compact(t, fmt.Sprint("c", page), cs...)
		if page%5 == 4 {
			ch = changesOf(fmt.Sprint("c", page), cs...)
		}
		ap, err := r.ApplyChanges(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if ap.Admissions != want {
			t.Fatalf("page %d: merge %+v, want %+v", page, ap.Admissions, want)
		}
	}
	// Every held record once, in admissions or learnt, and every
	// conflicting one once.
	got := map[key]string{}
	for _, a := range learnt(t, r) {
		got[key{a.Gate, a.Seq}] += a.Hash[:16]
	}
	rows, err := r.conn.QueryContext(ctx, "SELECT gate, seq, substr(hash, 1, 16) FROM admissions")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k key
		var h string
		rows.Scan(&k.gate, &k.seq, &h)
		got[k] += h
	}
	rows.Close()
	if len(got) != len(held) {
		t.Errorf("%d keys held, want %d", len(got), len(held))
	}
	for k, a := range held {
		if got[k] != a.Hash[:16] {
			t.Errorf("key %v holds %q, want %q", k, got[k], a.Hash[:16])
		}
	}
	if n := count(t, r, "SELECT count(*) FROM conflicting_admissions"); n != len(conflicts) {
		t.Errorf("%d conflicting records, want %d", n, len(conflicts))
	}
	// Decisions see them all: each serial's history is its held and
	// conflicting records.
	for k, a := range held {
		if k.seq%17 != 0 {
			continue
		}
		h, err := r.History(ctx, a.Serial)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, b := range held {
			if b.Serial == a.Serial {
				want++
			}
		}
		for c := range conflicts {
			if uint32(c[2]) == a.Serial {
				want++
			}
		}
		if len(h) != want {
			t.Errorf("serial %d: %d passages, want %d", a.Serial, len(h), want)
		}
	}
}

// TestTallyLatestPassage: a ticket is inside when its latest passage, own
// or learnt, is not an exit.
func TestTallyLatestPassage(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false) // own entry, then own exit
	scan(t, r, f.Ticket(2), true)
	at := time.Now().Add(-2 * time.Hour)
	in3 := admission(9, 1, 3, at) // learnt entry, then own exit
	in4 := admission(9, 2, 4, at) // learnt entry and exit
	out4 := admission(9, 3, 4, at.Add(time.Hour))
	out4.Kind = kido.KindExit
	out4.Hash = wire.AdmissionHash(out4)
	in5 := admission(9, 4, 5, at) // learnt entry only
	var cs []wire.Change
	for _, a := range []*kido.Admission{&in3, &in4, &out4, &in5} {
		cs = append(cs, wire.Change{Kind: wire.ChangeAdmission, Admission: a})
	}
	if _, err := r.ApplyChanges(ctx, compact(t, "c1", cs...)); err != nil {
		t.Fatal(err)
	}
	scan(t, r, f.Ticket(3), true)
	tally, err := r.Tally(ctx)
	if err != nil || tally.Admitted != 4 || tally.Inside != 1 {
		t.Errorf("tally %+v, %v; want 4 admitted, 1 inside (serial 5)", tally, err)
	}
	st, err := r.Status(ctx)
	if err != nil || st.Admitted != 4 || st.Passages != 7 {
		t.Errorf("status admitted %d, passages %d (%v); want 4 and 7", st.Admitted, st.Passages, err)
	}
}

// TestLearntUndone: an undo annuls another gate's entry wherever each of
// the two is kept, learnt (from a compact page) or in admissions (from a
// JSON page; undos always are): the holder is admitted again here, and
// Tally, Status and Find no longer count the entry.
func TestLearntUndone(t *testing.T) {
	now := time.Now()
	entry := admission(7, 42, 5, now.Add(-time.Minute))
	undo := kido.Undo(entry, 43, now, now)
	undo.Hash = wire.AdmissionHash(undo)
	page := func(t *testing.T, compacted bool, cursor string, a kido.Admission) *wire.Changes {
		if compacted {
			return compact(t, cursor, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
		}
		return changesOf(cursor, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
	}
	for _, c := range []struct {
		name                  string
		entryCompact, undoCmp bool
		learntEntry           int // the entry learnt (1) or in admissions (0)
	}{
		{"both compact", true, true, 1},
		{"entry json, undo compact", false, true, 0},
		{"entry compact, undo json", true, false, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, f := newReplica(t, 50, gatetest.GateBoth)
			counts := func(when string, admitted, passages int) {
				t.Helper()
				if tally, err := r.Tally(ctx); err != nil || tally.Admitted != admitted || tally.Inside != admitted {
					t.Errorf("%s: tally %+v, %v; want %d admitted and inside", when, tally, err, admitted)
				}
				if st, err := r.Status(ctx); err != nil || st.Admitted != admitted || st.Passages != passages {
					t.Errorf("%s: status admitted %d, passages %d (%v); want %d, %d", when, st.Admitted, st.Passages, err, admitted, passages)
				}
				if ms, err := r.Find(ctx, "5", 1); err != nil || len(ms) != 1 || ms[0].Entries != admitted {
					t.Errorf("%s: find %+v, %v; want %d entries", when, ms, err, admitted)
				}
			}
			if _, err := r.ApplyChanges(ctx, page(t, c.entryCompact, "c1", entry)); err != nil {
				t.Fatal(err)
			}
			counts("before the undo", 1, 1)
			if _, err := r.ApplyChanges(ctx, page(t, c.undoCmp, "c2", undo)); err != nil {
				t.Fatal(err)
			}
			if n, m := len(learnt(t, r)), count(t, r, "SELECT count(*) FROM admissions"); n != c.learntEntry || m != 2-c.learntEntry {
				t.Errorf("learnt %d, admissions %d; want %d and %d (the undo in admissions)", n, m, c.learntEntry, 2-c.learntEntry)
			}
			counts("after the undo", 0, 2)
			if d := scan(t, r, f.Ticket(5), false); d.Reason != gate.OK {
				t.Errorf("after the undo: %s, want admitted", d.Reason)
			}
			counts("admitted here", 1, 3)
		})
	}
}

// TestMeshLearnLearnt: a peer's signed copy of a record learnt from a
// compact page becomes relayable (the vector and MeshSince count it) and
// counts once; a peer's other record under a learnt key is kept beside
// it.
func TestMeshLearnLearnt(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	at := time.Now().Add(-time.Minute)
	signed := []kido.Admission{peerRecord(f, gatetest.GateEntry, 1, 5, at), peerRecord(f, gatetest.GateEntry, 2, 6, at), peerRecord(f, gatetest.GateEntry, 3, 7, at)}
	var cs []wire.Change
	for _, a := range signed[:2] {
		a.Sig = nil
		cs = append(cs, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
	}
	if _, err := r.ApplyChanges(ctx, compact(t, "c1", cs...)); err != nil {
		t.Fatal(err)
	}
	if n := len(learnt(t, r)); n != 2 {
		t.Fatalf("learnt %d, want 2", n)
	}
	if v, err := r.MeshVector(ctx); err != nil || len(v) != 0 {
		t.Errorf("vector %v, %v; want none (learnt records carry no signature)", v, err)
	}
	if n, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, signed); err != nil || n != 1 || refused != nil {
		t.Fatalf("MeshLearn = %d, %v, %v; want 1 new (seq 3)", n, refused, err)
	}
	want := map[uint32]uint64{gatetest.GateEntry: 3}
	if v, err := r.MeshVector(ctx); err != nil || fmtVector(v) != fmtVector(want) {
		t.Errorf("vector %v, %v; want %v", v, err, want)
	}
	got, err := r.MeshSince(ctx, gatetest.GateEntry, 0, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("MeshSince = %+v, %v; want seqs 1 to 3", got, err)
	}
	pub := gatetest.GateKey(gatetest.GateEntry).Public().(ed25519.PublicKey)
	for i, a := range got {
		if err := wire.VerifyAdmission(pub, a); err != nil || a.Seq != uint64(i+1) {
			t.Errorf("MeshSince gave seq %d (want %d): %v", a.Seq, i+1, err)
		}
	}
	if n, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, signed); err != nil || n != 0 || refused != nil {
		t.Errorf("MeshLearn again = %d, %v, %v; want nothing new", n, refused, err)
	}
	// Each passage counts once.
	if st, err := r.Status(ctx); err != nil || st.Passages != 3 || st.Admitted != 3 {
		t.Errorf("status passages %d, admitted %d (%v); want 3 and 3", st.Passages, st.Admitted, err)
	}
	if h, err := r.History(ctx, 5); err != nil || len(h) != 1 {
		t.Errorf("history of 5: %+v, %v; want one passage", h, err)
	}
	if ms, err := r.Find(ctx, "6", 1); err != nil || len(ms) != 1 || ms[0].Entries != 1 {
		t.Errorf("find 6: %+v, %v; want one entry", ms, err)
	}

	// Another signed record under a learnt key: kept beside it, refused
	// as such, and both count.
	other := peerRecord(f, gatetest.GateEntry, 2, 8, at)
	if n, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{other}); err != nil || n != 0 || len(refused) != 1 || !errors.Is(refused[0], ErrRecordKeptBy) {
		t.Errorf("MeshLearn of another record = %d, %v, %v; want it kept beside", n, refused, err)
	}
	if st, err := r.Status(ctx); err != nil || st.Conflicting != 1 {
		t.Errorf("conflicting %d (%v), want 1", st.Conflicting, err)
	}
	if d := scan(t, r, f.Ticket(8), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("the other record's ticket: %s, want already used", d.Reason)
	}
	if v, err := r.MeshVector(ctx); err != nil || fmtVector(v) != fmtVector(map[uint32]uint64{gatetest.GateEntry: 3}) {
		t.Errorf("vector after the conflict %v, %v; want gate %d at 3", v, err, gatetest.GateEntry)
	}
}
