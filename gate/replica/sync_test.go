package replica

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

func admission(g uint32, seq uint64, serial uint32, at time.Time) kido.Admission {
	a := kido.Admission{Gate: g, Seq: seq, Serial: serial, Tier: gatetest.TierOf(serial), Kind: kido.KindEntry, At: at.UTC(), Corrected: at.UTC()}
	a.Hash = wire.AdmissionHash(a)
	return a
}

func TestNextUploadAndAck(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	for s := uint32(2); s <= 6; s++ {
		scan(t, r, f.Ticket(s), false)
	}
	scan(t, r, "garbage", false)
	scan(t, r, f.Forged(7), false)
	scan(t, r, f.Ticket(2), false) // already used: an audit record too

	req, err := r.NextUpload(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Admissions) != 4 || len(req.Audits) != 0 || req.Admissions[0].Seq != 1 {
		t.Fatalf("batch of 4: %d admissions, %d audits", len(req.Admissions), len(req.Audits))
	}
	req, _ = r.NextUpload(ctx, wire.MaxBatch)
	if len(req.Admissions) != 5 || len(req.Audits) != 3 {
		t.Fatalf("full batch: %d admissions, %d audits, want 5 and 3", len(req.Admissions), len(req.Audits))
	}
	// What the server checks must pass: hashes rebuilt from the replica's
	// rows are the records' hashes, audit texts canonical.
	if err := req.Check(); err != nil {
		t.Fatalf("upload fails the server's checks: %v", err)
	}
	if a := req.Audits[0]; a.Reason != "malformed" || a.Serial != 0 || a.Text != "garbage" {
		t.Errorf("audit record %+v", a)
	}
	if n, m, _ := r.Pending(ctx); n != 5 || m != 3 {
		t.Errorf("pending %d+%d, want 5+3", n, m)
	}

	// The server stored 1..3 and 1..2; then a server restored from a backup
	// answers lower: the gate resends from there.
	for _, step := range []struct {
		acked, audits   uint64
		wantA, wantAu   int
		wantFirstAdm    uint64
		wantFirstAudits uint64
	}{
		{3, 2, 2, 1, 4, 3},
		{1, 0, 4, 3, 2, 1},
		{5, 3, 0, 0, 0, 0},
	} {
		if err := r.AckUpload(ctx, &wire.UploadResponse{Acked: step.acked, AuditAcked: step.audits, Highest: step.acked, AuditHighest: step.audits, ServerTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		n, m, _ := r.Pending(ctx)
		req, _ := r.NextUpload(ctx, wire.MaxBatch)
		if n != step.wantA || m != step.wantAu || len(req.Admissions) != n || len(req.Audits) != m {
			t.Fatalf("acked %d/%d: pending %d+%d, batch %d+%d, want %d+%d", step.acked, step.audits, n, m, len(req.Admissions), len(req.Audits), step.wantA, step.wantAu)
		}
		if n > 0 && (req.Admissions[0].Seq != step.wantFirstAdm || req.Audits[0].Seq != step.wantFirstAudits) {
			t.Errorf("acked %d/%d: batch starts at %d/%d", step.acked, step.audits, req.Admissions[0].Seq, req.Audits[0].Seq)
		}
	}
	st, _ := r.Status(ctx)
	if st.Conflict != "" || st.LastSync.IsZero() || st.AuditAcked != 3 {
		t.Errorf("status after acks: %+v", st)
	}
}

// TestSeqConflict: a 409 names quarantined records and the server's highest
// seqs; the gate's next records go above them and keep their own old ones.
func TestSeqConflict(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	scan(t, r, f.Ticket(3), false)
	scan(t, r, "junk", false)
	resp := &wire.UploadResponse{Acked: 9, AuditAcked: 4, Highest: 9, AuditHighest: 4, ServerTime: time.Now(),
		Quarantined: []wire.RecordRef{{Record: wire.RecordAdmission, Seq: 1}, {Record: wire.RecordAdmission, Seq: 2}}, Code: wire.CodeSeqConflict}
	if err := r.AckUpload(ctx, resp); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Seq != 10 {
		t.Errorf("next seq %d after a conflict at highest 9, want 10", d.Seq)
	}
	scan(t, r, "junk again", false)
	req, _ := r.NextUpload(ctx, wire.MaxBatch)
	if len(req.Admissions) != 1 || req.Admissions[0].Seq != 10 || len(req.Audits) != 1 || req.Audits[0].Seq != 5 {
		t.Errorf("after conflict: %+v", req)
	}
	st, _ := r.Status(ctx)
	if !strings.Contains(st.Conflict, "2 of this gate's sequence numbers") || st.Own != 3 {
		t.Errorf("conflict state %q, own %d", st.Conflict, st.Own)
	}
	// A later 200 does not clear the conflict: an operator must look.
	r.AckUpload(ctx, &wire.UploadResponse{Acked: 10, AuditAcked: 5, Highest: 10, AuditHighest: 5, ServerTime: time.Now()})
	if st, _ := r.Status(ctx); st.Conflict == "" {
		t.Error("conflict state cleared by a later upload")
	}
}

func changesOf(cursor string, cs ...wire.Change) *wire.Changes {
	return &wire.Changes{Changes: cs, Cursor: cursor, ServerTime: time.Now().UTC()}
}

// TestApplyChanges applies one feed answer of every kind twice: the second
// time changes nothing, and the gate decides with what it learned.
func TestApplyChanges(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	now := time.Now()
	vip := kido.Tier{ID: gatetest.TierVIP, Event: gatetest.EventID, Name: "VIP", Entries: 1}
	revokedKey := f.Snapshot.Keys[0]
	revokedKey.Revoked = true
	self := f.Snapshot.Gate
	self.Name, self.Tiers = "North 1 (GA)", []uint8{gatetest.TierGA, gatetest.TierVIP, gatetest.TierStaff}
	newGate := kido.Gate{ID: 8, Event: gatetest.EventID, Name: "West", Direction: kido.DirectionEntry}
	ev := f.Snapshot.Event
	ev.Name = "Summer Fes 2"
	ch := changesOf("c1",
		wire.Change{Kind: wire.ChangeEvent, Event: &ev},
		wire.Change{Kind: wire.ChangeTier, Tier: &vip},
		wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 5, Tier: gatetest.TierGA, Holder: "Revoked Person", Revoked: true}},
		wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 60, Tier: gatetest.TierGA, Holder: "Late Buyer"}},
		wire.Change{Kind: wire.ChangeGate, Gate: &self},
		wire.Change{Kind: wire.ChangeGate, Gate: &newGate},
		wire.Change{Kind: wire.ChangeKey, Key: &f.Snapshot.Keys[0]}, // as it was: a no-op
		wire.Change{Kind: wire.ChangeAdmission, Admission: ptr(admission(8, 1, 6, now.Add(-time.Minute)))},
		wire.Change{Kind: wire.ChangeAdmission, Admission: ptr(admission(8, 2, 20, now.Add(-time.Minute)))},
	)
	ap, err := r.ApplyChanges(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	want := Kinds{Event: 1, Tiers: 1, Keys: 1, Gates: 2, Roster: 2, Admissions: 2}
	if ap.Kinds != want || ap.Kinds.Total() != ap.Changes || ap.Admissions.Added != 2 {
		t.Errorf("first apply: %+v, want kinds %+v adding up to %d changes", ap, want, ap.Changes)
	}
	once := dump(t, r)
	ap, err = r.ApplyChanges(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if ap.Admissions.Added != 0 || ap.Admissions.Known != 2 {
		t.Errorf("second apply: %+v", ap)
	}
	if twice := dump(t, r); stripGeneration(twice) != stripGeneration(once) {
		t.Errorf("applying the same changes twice changed the replica:\n%s\nthen\n%s", once, twice)
	}
	st, _ := r.Status(ctx)
	if st.Cursor != "c1" || st.Event.Name != "Summer Fes 2" || st.Gate.Name != "North 1 (GA)" || st.Roster != 51 {
		t.Errorf("status after changes: cursor %q event %q gate %q roster %d", st.Cursor, st.Event.Name, st.Gate.Name, st.Roster)
	}
	checks := []struct {
		text   string
		reason gate.Reason
		gate   string
	}{
		{f.Ticket(5), gate.Revoked, ""},
		{f.Ticket(6), gate.AlreadyUsed, "West"},
		{f.Ticket(20), gate.AlreadyUsed, "West"}, // VIP is single entry now
		{f.Ticket(60), gate.OK, ""},
	}
	for _, c := range checks {
		d := scan(t, r, c.text, false)
		if d.Reason != c.reason || d.PriorGateName != c.gate {
			t.Errorf("serial %d: %s at %q, want %s at %q", d.Serial, d.Reason, d.PriorGateName, c.reason, c.gate)
		}
	}
	// A key revocation reaches the keyring.
	if _, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeKey, Key: &revokedKey})); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(7), false); d.Reason != gate.KeyRevoked {
		t.Errorf("after key revocation: %s", d.Reason)
	}
}

func ptr[T any](v T) *T { return &v }

func stripGeneration(dump string) string {
	// state's first line holds the generation, which a config change bumps
	// every time by design; everything else must be equal.
	_, rest, _ := strings.Cut(dump, "\n")
	return rest
}

func TestApplyChangesRefusesBadAnswers(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	before := dump(t, r)
	other := f.Snapshot.Tiers[0]
	other.Event = 99
	bad := admission(8, 1, 3, time.Now())
	bad.Hash = strings.Repeat("0", 64)
	// Times past 2262 would wrap as Unix nanoseconds; kido bounds them.
	future := admission(8, 2, 3, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	ancient := admission(8, 3, 3, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC))
	farEvent := f.Snapshot.Event
	farEvent.End = time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC)
	farKey := f.Snapshot.Keys[0]
	farAfter := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	farKey.NotAfter = &farAfter
	for name, ch := range map[string]*wire.Changes{
		"no cursor":         changesOf("", wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 1}}),
		"resnapshot":        {Resnapshot: true, ServerTime: time.Now()},
		"other event":       changesOf("c9", wire.Change{Kind: wire.ChangeTier, Tier: &other}),
		"unknown kind":      changesOf("c9", wire.Change{Kind: "seat", Roster: &kido.RosterEntry{Serial: 1}}),
		"kind without data": changesOf("c9", wire.Change{Kind: wire.ChangeTier}),
		"two objects":       changesOf("c9", wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 1}, Tier: &other}),
		"bad hash":          changesOf("c9", wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 1}}, wire.Change{Kind: wire.ChangeAdmission, Admission: &bad}),
		"admission in 9999": changesOf("c9", wire.Change{Kind: wire.ChangeAdmission, Admission: &future}),
		"admission in 0001": changesOf("c9", wire.Change{Kind: wire.ChangeAdmission, Admission: &ancient}),
		"event end in 2262": changesOf("c9", wire.Change{Kind: wire.ChangeEvent, Event: &farEvent}),
		"key until 3000":    changesOf("c9", wire.Change{Kind: wire.ChangeKey, Key: &farKey}),
		"server time 2400":  {Cursor: "c9", ServerTime: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := r.ApplyChanges(ctx, ch); !errors.Is(err, ErrBadChange) {
			t.Errorf("%s: got %v, want ErrBadChange", name, err)
		}
	}
	if after := dump(t, r); after != before {
		t.Errorf("a refused answer changed the replica")
	}
}

// TestFeedEchoesOwnAdmissions covers §4.2 for the gate's own records: the
// same one is ignored, a lost one comes back and lifts the next seq, a
// different one is kept beside the local one and counts for decisions.
func TestFeedEchoesOwnAdmissions(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	d := scan(t, r, f.Ticket(2), false)
	own, _ := r.OwnAdmissions(ctx, 0, 0)
	now := time.Now()
	lost := admission(gatetest.GateBoth, 2, 3, now.Add(-time.Hour))        // from before a restore
	other := admission(gatetest.GateBoth, d.Seq, 4, now.Add(-2*time.Hour)) // a clone's record under seq 1
	ap, err := r.ApplyChanges(ctx, changesOf("c1",
		wire.Change{Kind: wire.ChangeAdmission, Admission: &own[0]},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &lost},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &other},
	))
	if err != nil {
		t.Fatal(err)
	}
	if ap.Admissions != (Merge{Added: 1, Known: 1, Conflicting: 1}) {
		t.Errorf("merge %+v", ap.Admissions)
	}
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.AlreadyUsed || !d.Here {
		t.Errorf("restored own admission: %s here=%v", d.Reason, d.Here)
	}
	if d := scan(t, r, f.Ticket(4), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("server's conflicting record not seen by decisions: %s", d.Reason)
	}
	if d := scan(t, r, f.Ticket(5), false); d.Seq != 3 {
		t.Errorf("next seq %d, want 3 (above the restored 2)", d.Seq)
	}
	got, _ := r.OwnAdmissions(ctx, 0, 0)
	if got[0].Hash != own[0].Hash || got[0].Serial != 2 {
		t.Errorf("own record overwritten: %+v", got[0])
	}
	if st, _ := r.Status(ctx); st.Conflicting != 1 {
		t.Errorf("conflicting %d, want 1", st.Conflicting)
	}
}

// TestAlreadyUsedNamesEarliestAcrossGates: after a partition both gates
// admitted the ticket; once each learns the other's, both name the
// earliest by corrected time.
func TestAlreadyUsedNamesEarliestAcrossGates(t *testing.T) {
	t0 := time.Now()
	a, f := newReplicaAt(t, 20, gatetest.GateBoth, t0)
	b, _ := newReplicaAt(t, 20, gatetest.GateEntry, t0.Add(time.Second)) // b's admission is the later one
	scan(t, a, f.Ticket(2), false)
	scan(t, b, f.Ticket(2), false)
	ownA, _ := a.OwnAdmissions(ctx, 0, 0)
	ownB, _ := b.OwnAdmissions(ctx, 0, 0)
	for _, x := range []struct {
		r   *Replica
		add kido.Admission
	}{{a, ownB[0]}, {b, ownA[0]}} {
		if _, err := x.r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &x.add})); err != nil {
			t.Fatal(err)
		}
	}
	for name, r := range map[string]*Replica{"a": a, "b": b} {
		d := scan(t, r, f.Ticket(2), false)
		if d.Reason != gate.AlreadyUsed || d.Prior.Gate != gatetest.GateBoth || !d.Prior.At.Equal(ownA[0].Corrected) {
			t.Errorf("gate %s: %s naming %+v, want gate %d at %v", name, d.Reason, d.Prior, gatetest.GateBoth, ownA[0].Corrected)
		}
	}
}

func TestResnapshotAppliesInChunksAndCleansUp(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	// An Apply that died after staging leaves a stage table behind.
	stale, err := r.beginStage(ctx, gatetest.GateBoth, f.Snapshot.Server.ID)
	if err != nil {
		t.Fatal(err)
	}
	big := gatetest.New(2*applyChunk+17, gatetest.GateBoth, time.Now())
	big.Snapshot.Admissions = gatetest.Admissions(applyChunk+3, time.Now())
	big.Snapshot.Cursor = "c77"
	if err := r.Apply(ctx, &big.Snapshot, ""); err != nil {
		t.Fatal(err)
	}
	var tables int
	r.conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'roster_stage_%'").Scan(&tables)
	st, _ := r.Status(ctx)
	if tables != 0 || st.Roster != 2*applyChunk+17 || st.Passages != applyChunk+4 || st.Cursor != "c77" {
		t.Errorf("after resnapshot: %d stage tables (stale %s), roster %d, passages %d, cursor %q", tables, stale, st.Roster, st.Passages, st.Cursor)
	}
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("own admission lost in the resnapshot: %s", d.Reason)
	}
	if ms, _ := r.Find(ctx, "ORD-010000", 5); len(ms) != 1 {
		t.Errorf("search after resnapshot: %d matches", len(ms))
	}
}

func TestWipe(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	if err := r.Wipe(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(r.Path())
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left after wipe: %v", ents)
	}
	if _, err := r.Scan(ctx, gate.Line{Text: f.Ticket(3)}, false); !errors.Is(err, gate.ErrRevoked) {
		t.Errorf("scan after wipe: %v", err)
	}
}

// rosterIndexNames lists the roster's own indexes whose names are like
// pattern (each stage's carry a suffix).
func rosterIndexNames(t *testing.T, r *Replica, pattern string) []string {
	t.Helper()
	rows, err := r.conn.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'roster' AND sql IS NOT NULL AND name LIKE ?", pattern)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var idx []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		idx = append(idx, n)
	}
	return idx
}

// toV9 turns a replica into what schema version 9 wrote: no learnt
// tables.
func toV9(t *testing.T, r *Replica) {
	t.Helper()
	for _, q := range []string{"DROP TABLE learnt_pages", "DROP TABLE learnt_runs", "DROP TABLE learnt_signed", "UPDATE state SET schema = 9"} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// toV8 turns a replica into what schema version 8 wrote: no readings, no
// word index, a search column of name, order and serial (and, first,
// schema 9's: toV9).
func toV8(t *testing.T, r *Replica) {
	t.Helper()
	toV9(t, r)
	idx := rosterIndexNames(t, r, "roster_reading%")
	if len(idx) != 1 {
		t.Fatalf("roster has reading indexes %v, want one", idx)
	}
	for _, q := range []string{"DROP TABLE roster_words", "DROP TABLE roster_words_count", "DROP INDEX " + idx[0],
		"ALTER TABLE roster DROP COLUMN reading", "ALTER TABLE roster DROP COLUMN reading_key", "ALTER TABLE roster DROP COLUMN doc",
		"ALTER TABLE roster ADD COLUMN search TEXT NOT NULL DEFAULT ''",
		"UPDATE roster SET search = name_key || char(10) || order_key || char(10) || serial", "UPDATE state SET schema = 8"} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigrateV8: a replica of schema 8 is upgraded with a word index of
// every name, so a name is found from its middle, and takes readings from
// the feed.
func TestMigrateV8(t *testing.T) {
	r, _ := newReplica(t, 60, gatetest.GateBoth)
	path := r.Path()
	toV8(t, r)
	r.Close()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ms, err := r.Find(ctx, "じろう 13", 10)
	if err != nil || len(ms) != 1 || ms[0].Serial != 13 {
		t.Fatalf("Find inside a name after upgrade: %+v, %v; want serial 13", ms, err)
	}
	// A reading comes, then another replaces it: the entry is found by the
	// reading it has, once, and no longer by the one it had.
	re := kido.RosterEntry{Serial: 13, Tier: gatetest.TierOf(13), Holder: ms[0].Holder, Reading: "ヤマモト サブロウ", OrderRef: ms[0].OrderRef}
	for i, reading := range []string{"ヤマモト サブロウ", "ヤマシタ サブロウ"} {
		re.Reading = reading
		if _, err := r.ApplyChanges(ctx, changesOf(fmt.Sprintf("c%d", i), wire.Change{Kind: wire.ChangeRoster, Roster: &re})); err != nil {
			t.Fatal(err)
		}
	}
	if ms, err := r.Find(ctx, "したさぶ", 10); err != nil || len(ms) != 1 || ms[0].Serial != 13 || ms[0].Reading != re.Reading {
		t.Errorf("Find by the new reading: %+v, %v; want serial 13 with its reading", ms, err)
	}
	if ms, err := r.Find(ctx, "もとさぶ", 10); err != nil || len(ms) != 0 {
		t.Errorf("Find by the replaced reading: %+v, %v; want none", ms, err)
	}
}

// toV3 turns a replica into what schema version 3 wrote: no name and order
// keys, search keys folded without kana, variant or punctuation folding,
// no staff reasons and no voids.
func toV3(t *testing.T, r *Replica) {
	t.Helper()
	toV5(t, r)
	idx := rosterIndexNames(t, r, "%")
	if len(idx) != 2 {
		t.Fatalf("roster has indexes %v, want the name and order indexes", idx)
	}
	// Version 5's staff reasons and voids go first.
	qs := []string{"DROP TABLE voids", "ALTER TABLE admissions DROP COLUMN reason", "ALTER TABLE conflicting_admissions DROP COLUMN reason",
		"UPDATE roster SET search = holder || char(10) || lower(order_ref) || char(10) || serial"}
	for _, n := range idx {
		qs = append(qs, "DROP INDEX "+n)
	}
	qs = append(qs, "ALTER TABLE roster DROP COLUMN name_key", "ALTER TABLE roster DROP COLUMN order_key", "UPDATE state SET schema = 3")
	for _, q := range qs {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestMigrateV3: a replica of schema 3 is upgraded with every roster entry
// folded again, so a search typed in hiragana finds a katakana name and the
// name index serves it.
func TestMigrateV3(t *testing.T) {
	r, _ := newReplica(t, 60, gatetest.GateBoth)
	path := r.Path()
	var v int
	if r.conn.QueryRowContext(ctx, "SELECT schema FROM state").Scan(&v); v != schemaVersion {
		t.Fatalf("a new replica has schema %d, want %d", v, schemaVersion)
	}
	toV3(t, r)
	r.Close()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ms, err := r.Find(ctx, "たなかじろう 13", 10)
	if err != nil || len(ms) != 1 || ms[0].Serial != 13 {
		t.Fatalf("Find after upgrade: %+v, %v; want serial 13", ms, err)
	}
	var plan, detail string
	var id, parent, notused int
	rows, err := r.conn.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT serial FROM roster WHERE name_key >= 'a' AND name_key < 'b'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		rows.Scan(&id, &parent, &notused, &detail)
		plan += detail + "; "
	}
	rows.Close()
	if !strings.Contains(plan, "INDEX") {
		t.Errorf("name search plan %q uses no index", plan)
	}
}

// TestMigrateV1 opens a replica made by the schema before sync: it is
// upgraded in place, keeps everything, and syncs; a newer schema is refused.
func TestMigrateV1(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	scan(t, r, "junk", false)
	path := r.Path()
	// Turn it into what the version-1 code wrote.
	toV3(t, r)
	for _, q := range []string{
		"DROP TABLE conflicting_admissions",
		"ALTER TABLE state DROP COLUMN seq_floor", "ALTER TABLE state DROP COLUMN audit_floor",
		"ALTER TABLE state DROP COLUMN conflict", "ALTER TABLE state DROP COLUMN refused",
		"ALTER TABLE state DROP COLUMN contact", "ALTER TABLE state DROP COLUMN contact_error",
		"ALTER TABLE state DROP COLUMN stage", "ALTER TABLE state DROP COLUMN clock_scan", "UPDATE state SET schema = 1",
	} {
		if _, err := r.conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r.Close()
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("after upgrade: %s", d.Reason)
	}
	if n, m, err := r.Pending(ctx); err != nil || n != 1 || m != 2 {
		t.Errorf("pending after upgrade: %d+%d %v", n, m, err)
	}
	var v int
	r.conn.QueryRowContext(ctx, "SELECT schema FROM state").Scan(&v)
	r.conn.ExecContext(ctx, "UPDATE state SET schema = ?", schemaVersion+1)
	r.Close()
	if v != schemaVersion {
		t.Errorf("schema %d after upgrade", v)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, gate.ErrVersion) || !strings.Contains(err.Error(), "newer kido-gate") {
		t.Errorf("newer schema: %v", err)
	}
}

// TestSnapshotTimesBounded: a snapshot with a time outside the years
// 2000–2199 is refused before anything is applied.
func TestSnapshotTimesBounded(t *testing.T) {
	r, f := newReplica(t, 10, gatetest.GateBoth)
	before := dump(t, r)
	for name, edit := range map[string]func(s *wire.Snapshot){
		"event start in 0001": func(s *wire.Snapshot) { s.Event.Start = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) },
		"event end in 9999":   func(s *wire.Snapshot) { s.Event.End = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) },
		"server time in 2300": func(s *wire.Snapshot) { s.ServerTime = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"admission in 2263": func(s *wire.Snapshot) {
			s.Admissions = []kido.Admission{admission(8, 1, 3, time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC))}
		},
	} {
		snap := f.Snapshot
		snap.Admissions = slices.Clone(snap.Admissions)
		edit(&snap)
		if err := r.Apply(ctx, &snap, "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "outside the years 2000 to 2199") {
			t.Errorf("%s: got %v, want refused", name, err)
		}
	}
	if after := dump(t, r); after != before {
		t.Errorf("a refused snapshot changed the replica")
	}
}

// TestNanosNeverWrap: a device clock outside kido's years is stored at
// their edge, never wrapped into another century.
func TestNanosNeverWrap(t *testing.T) {
	for _, c := range []struct{ in, want time.Time }{
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), kido.MaxTime.Add(-time.Nanosecond)},
		{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), kido.MinTime},
		{time.Date(2027, 8, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 8, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := fromNanos(toNanos(c.in)); !got.Equal(c.want) {
			t.Errorf("fromNanos(toNanos(%s)) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestCreateIsPrivate: a replica made in a directory open to all, under a
// permissive umask, and its -wal and -shm files, are readable by their
// owner only: they hold the roster's names.
func TestCreateIsPrivate(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "replica.db")
	f := gatetest.New(5, gatetest.GateBoth, time.Now())
	r, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(p), m)
		}
	}
}

// TestVoidStopsCountingAStolenGate: passages of a gate an operator voided
// from a time on stop counting against the holders once the void arrives,
// by the feed or by a snapshot; passages before it still count, and the
// voided admissions are kept.
func TestVoidStopsCountingAStolenGate(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	now := time.Now()
	stolen := kido.Gate{ID: 8, Event: gatetest.EventID, Name: "West", Direction: kido.DirectionEntry, Revoked: true}
	theft := now.Add(-30 * time.Minute)
	before, after := admission(8, 1, 6, theft.Add(-time.Minute)), admission(8, 2, 24, theft)
	burnt := admission(8, 3, 22, now.Add(-time.Minute))
	if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeGate, Gate: &stolen},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &before}, wire.Change{Kind: wire.ChangeAdmission, Admission: &after},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &burnt})); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(24), false); d.Reason != gate.AlreadyUsed {
		t.Fatalf("before the void: %s, want already_used", d.Reason)
	}
	v := kido.Void{Event: gatetest.EventID, Gate: 8, From: theft, Reason: "tablet stolen", By: "ops", Created: now}
	ap, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeVoid, Void: &v}))
	if err != nil {
		t.Fatal(err)
	}
	if ap.Kinds.Voids != 1 || ap.Kinds.Total() != 1 {
		t.Errorf("applied %+v, want one void", ap.Kinds)
	}
	if d := scan(t, r, f.Ticket(24), false); d.Reason != gate.OK {
		t.Errorf("passage at the void's from time: %s, want admitted", d.Reason)
	}
	if d := scan(t, r, f.Ticket(6), false); d.Reason != gate.AlreadyUsed || d.PriorGateName != "West" {
		t.Errorf("passage before the void: %s at %q, want already_used at West", d.Reason, d.PriorGateName)
	}
	// The same void again changes nothing; the voided admissions stay.
	once := dump(t, r)
	if _, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeVoid, Void: &v})); err != nil {
		t.Fatal(err)
	}
	if twice := dump(t, r); stripGeneration(twice) != stripGeneration(once) {
		t.Errorf("applying a void twice changed the replica")
	}
	if st, _ := r.Status(ctx); st.Passages != 4 {
		t.Errorf("%d passages, want 4 (3 learned, 1 admitted): voided admissions are kept", st.Passages)
	}

	// A replica that learns of the void from a snapshot, holding the
	// voided admission already (the snapshot leaves it out).
	r2, f2 := newReplica(t, 50, gatetest.GateBoth)
	if _, err := r2.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeGate, Gate: &stolen}, wire.Change{Kind: wire.ChangeAdmission, Admission: &burnt})); err != nil {
		t.Fatal(err)
	}
	snap := f2.Snapshot
	snap.Gates = append(slices.Clone(snap.Gates), stolen)
	snap.Voids = []kido.Void{v}
	snap.Cursor = "c3"
	if err := r2.Apply(ctx, &snap, ""); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r2, f2.Ticket(22), false); d.Reason != gate.OK {
		t.Errorf("after a snapshot with the void: %s, want admitted", d.Reason)
	}

	// A void without a gate or a from time, or for another event, is
	// refused with the whole answer.
	for name, bad := range map[string]kido.Void{
		"no gate":      {Event: gatetest.EventID, From: theft},
		"no from":      {Event: gatetest.EventID, Gate: 8},
		"no event":     {Gate: 8, From: theft},
		"from in 2300": {Event: gatetest.EventID, Gate: 8, From: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		"other event":  {Event: 99, Gate: 8, From: theft},
	} {
		if _, err := r.ApplyChanges(ctx, changesOf("c9", wire.Change{Kind: wire.ChangeVoid, Void: &bad})); !errors.Is(err, ErrBadChange) {
			t.Errorf("%s: %v, want ErrBadChange", name, err)
		}
	}
	bad := snap
	bad.Voids = []kido.Void{{Event: gatetest.EventID, Gate: 8}}
	if err := r2.Apply(ctx, &bad, ""); err == nil {
		t.Errorf("a snapshot with a void without a from time was applied")
	}
}

// compact passes changes through the version 2 feed encoding, as a gate
// receives them: admissions come back with a check instead of their hash,
// and without text or device time.
func compact(t *testing.T, cursor string, cs ...wire.Change) *wire.Changes {
	t.Helper()
	b, err := wire.MarshalFeed(&wire.Changes{Changes: cs, Cursor: cursor, ServerTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := wire.UnmarshalFeed(b)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// TestFeedChecksOnly: admissions from a compact page (a check, no text)
// merge as full ones do, compared by their check; decisions see them; an
// own record learned back that way is never uploaded (it has no text to
// send, and the server holds it); the same conflicting record arriving in
// both forms is kept once.
func TestFeedChecksOnly(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	d := scan(t, r, f.Ticket(2), false)
	own, _ := r.OwnAdmissions(ctx, 0, 0)
	now := time.Now()
	lost := admission(gatetest.GateBoth, 2, 3, now.Add(-time.Hour))
	other := admission(gatetest.GateBoth, d.Seq, 4, now.Add(-2*time.Hour))
	elsewhere := admission(gatetest.GateEntry, 7, 6, now.Add(-3*time.Hour))
	ap, err := r.ApplyChanges(ctx, compact(t, "c1",
		wire.Change{Kind: wire.ChangeAdmission, Admission: &own[0]},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &lost},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &other},
		wire.Change{Kind: wire.ChangeAdmission, Admission: &elsewhere},
	))
	if err != nil {
		t.Fatal(err)
	}
	if ap.Admissions != (Merge{Added: 2, Known: 1, Conflicting: 1}) {
		t.Errorf("merge %+v", ap.Admissions)
	}
	for _, serial := range []uint32{3, 4, 6} {
		if d := scan(t, r, f.Ticket(serial), false); d.Reason != gate.AlreadyUsed {
			t.Errorf("ticket %d: %s, want already used", serial, d.Reason)
		}
	}
	if d := scan(t, r, f.Ticket(5), false); d.Seq != 3 {
		t.Errorf("next seq %d, want 3 (above the restored 2)", d.Seq)
	}
	up, err := r.NextUpload(ctx, wire.MaxBatch)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Admissions) != 2 || up.Admissions[0].Seq != 1 || up.Admissions[1].Seq != 3 || up.Check() != nil {
		t.Errorf("upload %+v (%v), want seqs 1 and 3, each whole", up.Admissions, up.Check())
	}
	if n, _, _ := r.Pending(ctx); n != 2 {
		t.Errorf("pending %d, want 2", n)
	}
	// The server's conflicting record again, whole this time: kept once.
	if _, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeAdmission, Admission: &other})); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Status(ctx); st.Conflicting != 1 {
		t.Errorf("conflicting %d, want 1", st.Conflicting)
	}
}

// TestMergeInChunks: a page longer than one insert statement's chunk,
// with keys already held in the middle of one, counts every admission
// once, as added, known or conflicting.
func TestMergeInChunks(t *testing.T) {
	r, _ := newReplica(t, 10, gatetest.GateBoth)
	at := time.Now().Add(-time.Hour)
	var first []wire.Change
	for seq := uint64(120); seq < 130; seq++ {
		a := admission(9, seq, uint32(1000+seq), at)
		first = append(first, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
	}
	if _, err := r.ApplyChanges(ctx, changesOf("c1", first...)); err != nil {
		t.Fatal(err)
	}
	var page []wire.Change
	for seq := uint64(1); seq <= 250; seq++ {
		a := admission(9, seq, uint32(1000+seq), at)
		if seq == 125 {
			a = admission(9, seq, 7, at) // another record under a held key
		}
		page = append(page, wire.Change{Kind: wire.ChangeAdmission, Admission: &a})
	}
	ap, err := r.ApplyChanges(ctx, compact(t, "c2", page...))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Merge{Added: 240, Known: 9, Conflicting: 1}); ap.Admissions != want {
		t.Errorf("merge %+v, want %+v", ap.Admissions, want)
	}
}
