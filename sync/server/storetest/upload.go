package storetest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// uploadTests cover storing uploads (docs/sync-protocol.md §3.4, §3.5),
// the refused-uploads log and what reports are computed from.
var uploadTests = []storeTest{
	{"Upload", testUpload},
	{"UploadKeysArePerGate", testUploadKeysPerGate},
	{"UploadOfUnknownGate", testUploadUnknownGate},
	{"StoredHashes", testStoredHashes},
	{"RecordRefused", testRecordRefused},
	{"EventRecords", testEventRecords},
}

// checkAdmissions compares admissions as sets keyed by (gate, seq): each
// must come back with the same content, times at the same instants, and
// so with the hash of its content.
func checkAdmissions(t *testing.T, what string, got, want []kido.Admission) {
	t.Helper()
	key := func(a kido.Admission) string { return fmt.Sprintf("%d/%d", a.Gate, a.Seq) }
	byKey := map[string]kido.Admission{}
	for _, a := range got {
		if _, dup := byKey[key(a)]; dup {
			t.Errorf("%s: admission %s twice", what, key(a))
		}
		byKey[key(a)] = a
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d admissions, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, found := byKey[key(w)]
		same := g.Gate == w.Gate && g.Seq == w.Seq && g.Serial == w.Serial && g.Tier == w.Tier && g.Kind == w.Kind &&
			g.At.Equal(w.At) && g.Corrected.Equal(w.Corrected) && g.Text == w.Text && g.Hash == w.Hash && g.Undoes == w.Undoes
		if !found || !same || wire.AdmissionHash(g) != g.Hash {
			t.Errorf("%s: admission %s = %+v, %v; want %+v", what, key(w), g, found, w)
		}
	}
}

// sameResponse compares upload answers; ServerTime is the caller's, and
// the quarantined records are compared as a set.
func sameResponse(got, want wire.UploadResponse) bool {
	order := func(a, b wire.RecordRef) int {
		return cmp.Or(cmp.Compare(a.Record, b.Record), cmp.Compare(a.Seq, b.Seq))
	}
	q := slices.SortedFunc(slices.Values(got.Quarantined), order)
	wq := slices.SortedFunc(slices.Values(want.Quarantined), order)
	return got.Acked == want.Acked && got.AuditAcked == want.AuditAcked && got.Highest == want.Highest &&
		got.AuditHighest == want.AuditHighest && got.Stored == want.Stored && got.Duplicates == want.Duplicates &&
		slices.Equal(q, wq) && got.Error == "" && got.Code == "" && got.Hint == ""
}

// testUpload walks one gate through the cases of §3.4 and §3.5, in order:
// each step's answer depends on the steps before it.
func testUpload(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b", 6)
	g := f.gate(a.ID, "North")
	other := f.gate(a.ID, "South")
	adm := func(seq uint64) kido.Admission { return admission(g.ID, seq, tks[seq-1]) }
	// conflicting reuses seq with another ticket: same key, other hash.
	conflicting := admission(g.ID, 2, tks[5])
	conflictingAudit := audit(g.ID, 1, "bad_signature")
	quarantined := func(refs ...wire.RecordRef) []wire.RecordRef { return refs }
	steps := []struct {
		name    string
		req     wire.UploadRequest
		want    wire.UploadResponse
		changed []kido.Admission // admissions appended to the change log
	}{
		{"empty, before anything", wire.UploadRequest{}, wire.UploadResponse{}, nil},
		{"new records", wire.UploadRequest{Admissions: []kido.Admission{adm(1), adm(2)}, Audits: []wire.AuditRecord{audit(g.ID, 1, "already_used")}},
			wire.UploadResponse{Acked: 2, AuditAcked: 1, Highest: 2, AuditHighest: 1, Stored: 3}, []kido.Admission{adm(1), adm(2)}},
		{"the same again", wire.UploadRequest{Admissions: []kido.Admission{adm(1), adm(2)}, Audits: []wire.AuditRecord{audit(g.ID, 1, "already_used")}},
			wire.UploadResponse{Acked: 2, AuditAcked: 1, Highest: 2, AuditHighest: 1, Duplicates: 3}, nil},
		{"after a gap, stored, not acknowledged", wire.UploadRequest{Admissions: []kido.Admission{adm(4)}, Audits: []wire.AuditRecord{audit(g.ID, 3, "expired")}},
			wire.UploadResponse{Acked: 2, AuditAcked: 1, Highest: 4, AuditHighest: 3, Stored: 2}, []kido.Admission{adm(4)}},
		{"the gap filled", wire.UploadRequest{Admissions: []kido.Admission{adm(3), adm(4)}, Audits: []wire.AuditRecord{audit(g.ID, 2, "revoked")}},
			wire.UploadResponse{Acked: 4, AuditAcked: 3, Highest: 4, AuditHighest: 3, Stored: 2, Duplicates: 1}, []kido.Admission{adm(3)}},
		{"empty: the acknowledgement", wire.UploadRequest{}, wire.UploadResponse{Acked: 4, AuditAcked: 3, Highest: 4, AuditHighest: 3}, nil},
		{"a reused seq with other content", wire.UploadRequest{Admissions: []kido.Admission{conflicting, adm(5)}},
			wire.UploadResponse{Acked: 5, AuditAcked: 3, Highest: 5, AuditHighest: 3, Stored: 1, Quarantined: quarantined(wire.RecordRef{Record: wire.RecordAdmission, Seq: 2})},
			[]kido.Admission{adm(5)}},
		{"the conflicting record again: still reported, kept once", wire.UploadRequest{Admissions: []kido.Admission{conflicting, adm(5)}},
			wire.UploadResponse{Acked: 5, AuditAcked: 3, Highest: 5, AuditHighest: 3, Duplicates: 1, Quarantined: quarantined(wire.RecordRef{Record: wire.RecordAdmission, Seq: 2})},
			nil},
		{"a reused audit seq with other content", wire.UploadRequest{Audits: []wire.AuditRecord{conflictingAudit}},
			wire.UploadResponse{Acked: 5, AuditAcked: 3, Highest: 5, AuditHighest: 3, Quarantined: quarantined(wire.RecordRef{Record: wire.RecordAudit, Seq: 1})},
			nil},
	}
	for _, st := range steps {
		var got wire.UploadResponse
		changes := f.appended(a.ID, func() { got = f.upload(a.ID, g.ID, st.req) })
		if !sameResponse(got, st.want) {
			t.Errorf("%s: Upload = %+v, want %+v", st.name, got, st.want)
		}
		checkAdmissions(t, st.name+": changes appended", objectsOf(t, changes, admissionOf), st.changed)
	}

	// The first record under a key stays; the others are in quarantine,
	// counted once each, and in nothing a report or a gate reads.
	stored := []kido.Admission{adm(1), adm(2), adm(3), adm(4), adm(5)}
	checkStatuses(t, f, a.ID, []wire.GateStatus{
		{Gate: g, Pending: -1, Acked: 5, AuditAcked: 3, Quarantined: 2},
		{Gate: other, Pending: -1},
	})
	er, err := f.s.EventRecords(f.ctx, a.ID)
	ok(t, "EventRecords", err)
	if er.Quarantined != 2 {
		t.Errorf("EventRecords.Quarantined = %d, want 2", er.Quarantined)
	}
	checkAdmissions(t, "EventRecords admissions", er.Admissions, stored)
	snap, err := f.s.Snapshot(f.ctx, other.ID)
	ok(t, "Snapshot", err)
	checkAdmissions(t, "Snapshot admissions", snap.Admissions, stored)
	all, _ := f.feed(a.ID, server.Cursor{})
	all = slices.DeleteFunc(all, func(c wire.Change) bool { return c.Admission == nil })
	checkAdmissions(t, "admissions in the feed", objectsOf(t, all, admissionOf), stored)
	hashes, err := f.s.StoredHashes(f.ctx, g.ID, 2, 2)
	ok(t, "StoredHashes", err)
	if hashes[2] != adm(2).Hash {
		t.Errorf("StoredHashes of the quarantined seq = %v, want the first record's hash", hashes)
	}
}

// testUploadKeysPerGate checks that the idempotency key is (gate, seq):
// two gates' seq 1 are two records, acknowledged separately.
func testUploadKeysPerGate(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b", 3)
	g1, g2 := f.gate(a.ID, "North"), f.gate(a.ID, "South")
	r1 := f.upload(a.ID, g1.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g1.ID, 1, tks[0]), admission(g1.ID, 2, tks[1])}})
	r2 := f.upload(a.ID, g2.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g2.ID, 1, tks[2])}, Audits: []wire.AuditRecord{audit(g2.ID, 1, "expired")}})
	if want := (wire.UploadResponse{Acked: 2, Highest: 2, Stored: 2}); !sameResponse(r1, want) {
		t.Errorf("gate 1's Upload = %+v, want %+v", r1, want)
	}
	if want := (wire.UploadResponse{Acked: 1, Highest: 1, AuditAcked: 1, AuditHighest: 1, Stored: 2}); !sameResponse(r2, want) {
		t.Errorf("gate 2's Upload = %+v, want %+v", r2, want)
	}
	checkStatuses(t, f, a.ID, []wire.GateStatus{
		{Gate: g1, Pending: -1, Acked: 2},
		{Gate: g2, Pending: -1, Acked: 1, AuditAcked: 1},
	})
}

func testUploadUnknownGate(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "b", 1)
	g := f.gate(a.ID, "North")
	for _, c := range []struct {
		what     string
		ev, gate uint32
	}{
		{"an unknown gate", a.ID, 999},
		{"a gate of another event", b.ID, g.ID},
	} {
		req := wire.UploadRequest{Admissions: []kido.Admission{admission(c.gate, 1, tks[0])}}
		changes := f.appended(c.ev, func() {
			_, err := f.s.Upload(f.ctx, c.ev, c.gate, &req, nil, t0)
			wantErr(t, "Upload as "+c.what, err, server.ErrNotFound)
		})
		if len(changes) != 0 {
			t.Errorf("refused Upload as %s appended %s", c.what, kinds(changes))
		}
		hashes, err := f.s.StoredHashes(f.ctx, c.gate, 1, 1)
		ok(t, "StoredHashes", err)
		if len(hashes) != 0 {
			t.Errorf("refused Upload as %s stored %v", c.what, hashes)
		}
	}
}

func testStoredHashes(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b", 4)
	g1, g2 := f.gate(a.ID, "North"), f.gate(a.ID, "South")
	var as []kido.Admission
	for seq := uint64(1); seq <= 3; seq++ {
		as = append(as, admission(g1.ID, seq, tks[seq-1]))
	}
	f.upload(a.ID, g1.ID, wire.UploadRequest{Admissions: as, Audits: []wire.AuditRecord{audit(g1.ID, 5, "expired")}})
	f.upload(a.ID, g2.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g2.ID, 2, tks[3])}})
	cases := []struct {
		gate     uint32
		from, to uint64
		want     map[uint64]string
	}{
		{g1.ID, 1, 3, map[uint64]string{1: as[0].Hash, 2: as[1].Hash, 3: as[2].Hash}},
		{g1.ID, 2, 2, map[uint64]string{2: as[1].Hash}},
		{g1.ID, 3, 10, map[uint64]string{3: as[2].Hash}},
		{g1.ID, 4, 10, map[uint64]string{}}, // audit seq 5 is no admission
		{g2.ID, 1, 3, map[uint64]string{2: admission(g2.ID, 2, tks[3]).Hash}},
		{999, 1, 3, map[uint64]string{}},
	}
	for _, c := range cases {
		got, err := f.s.StoredHashes(f.ctx, c.gate, c.from, c.to)
		ok(t, "StoredHashes", err)
		if len(got) != len(c.want) {
			t.Errorf("StoredHashes(%d, %d, %d) = %v, want %v", c.gate, c.from, c.to, got, c.want)
			continue
		}
		for seq, h := range c.want {
			if got[seq] != h {
				t.Errorf("StoredHashes(%d, %d, %d) = %v, want %v", c.gate, c.from, c.to, got, c.want)
			}
		}
	}
}

// testRecordRefused checks the refused-uploads log: a gate's retries of a
// refused record add nothing, and a refusal stores and acknowledges
// nothing.
func testRecordRefused(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g1, g2 := f.gate(a.ID, "North"), f.gate(a.ID, "South")
	ok(t, "RecordRefused of none", f.s.RecordRefused(f.ctx, nil))
	ref := func(g uint32, seq uint64, hash string) server.Refusal {
		return server.Refusal{Event: a.ID, Gate: g, Record: wire.RecordAdmission, Seq: seq, Hash: hash, Error: "server: admission 1: serial 9 was never issued", Received: t0}
	}
	batches := [][]server.Refusal{
		{ref(g1.ID, 1, "aa")},
		{ref(g1.ID, 1, "aa")}, // the gate's retry
		{ref(g1.ID, 1, "bb"), ref(g2.ID, 1, "aa")},
	}
	changes := f.appended(a.ID, func() {
		for _, b := range batches {
			ok(t, "RecordRefused", f.s.RecordRefused(f.ctx, b))
		}
	})
	if len(changes) != 0 {
		t.Errorf("RecordRefused appended %s", kinds(changes))
	}
	checkStatuses(t, f, a.ID, []wire.GateStatus{
		{Gate: g1, Pending: -1, Refused: 2},
		{Gate: g2, Pending: -1, Refused: 1},
	})
	hashes, err := f.s.StoredHashes(f.ctx, g1.ID, 1, 1)
	ok(t, "StoredHashes", err)
	if len(hashes) != 0 {
		t.Errorf("a refused record was stored: %v", hashes)
	}
}

func testEventRecords(t *testing.T, f *fixture) {
	_, err := f.s.EventRecords(f.ctx, 999)
	wantErr(t, "EventRecords of an unknown event", err, server.ErrNotFound)
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	_, err = f.s.AddTier(f.ctx, a.ID, "VIP", 0)
	ok(t, "AddTier", err)
	ga := f.issue(a, "ga", 3) // tier 1
	vip, err := f.s.Issue(f.ctx, a.ID, wire.IssueRequest{Batch: "vip", Tickets: []wire.IssueItem{{Tier: 2, Holder: "V"}}}, signer(a.key))
	ok(t, "Issue", err)
	_, err = f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{ga[2].Serial}}, signer(a.key))
	ok(t, "Reissue", err)
	g1, g2 := f.gate(a.ID, "North"), f.gate(a.ID, "South")
	exit := admission(g2.ID, 1, ga[0])
	exit.Kind = kido.KindExit
	exit.Hash = wire.AdmissionHash(exit)
	manual := admission(g2.ID, 2, vip[0])
	manual.Kind, manual.Text = kido.KindManual, ""
	manual.Hash = wire.AdmissionHash(manual)
	as := []kido.Admission{admission(g1.ID, 1, ga[0]), admission(g1.ID, 2, ga[1])}
	f.upload(a.ID, g1.ID, wire.UploadRequest{Admissions: as, Audits: []wire.AuditRecord{audit(g1.ID, 1, "already_used"), audit(g1.ID, 2, "expired")}})
	f.upload(a.ID, g2.ID, wire.UploadRequest{Admissions: []kido.Admission{exit, manual}, Audits: []wire.AuditRecord{audit(g2.ID, 1, "bad_signature")}})
	f.upload(a.ID, g1.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g1.ID, 1, ga[1])}}) // quarantined
	btks := f.issue(b, "b", 1)
	bg := f.gate(b.ID, "B gate")
	f.upload(b.ID, bg.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(bg.ID, 1, btks[0])}, Audits: []wire.AuditRecord{audit(bg.ID, 1, "expired")}})

	er, err := f.s.EventRecords(f.ctx, a.ID)
	ok(t, "EventRecords", err)
	if !sameEvent(er.Event, a.Event) || len(er.Tiers) != 2 || !slices.EqualFunc(er.Gates, []kido.Gate{g1, g2}, sameGate) {
		t.Errorf("EventRecords event %+v, tiers %+v, gates %+v", er.Event, er.Tiers, er.Gates)
	}
	checkAdmissions(t, "EventRecords admissions", er.Admissions, append(as, exit, manual))
	if want := map[uint32]int{g1.ID: 2, g2.ID: 1}; !maps.Equal(er.Rejected, want) {
		t.Errorf("EventRecords.Rejected = %v, want %v", er.Rejected, want)
	}
	if er.Quarantined != 1 {
		t.Errorf("EventRecords.Quarantined = %d, want 1", er.Quarantined)
	}
	// Issued counts revoked tickets and reissues: 3 + 1 replacement of GA.
	if want := map[uint8]int{1: 4, 2: 1}; !maps.Equal(er.Issued, want) {
		t.Errorf("EventRecords.Issued = %v, want %v", er.Issued, want)
	}
	want := map[uint32]string{ga[0].Serial: ga[0].Holder, ga[1].Serial: ga[1].Holder, vip[0].Serial: "V"}
	if !maps.Equal(er.Holders, want) {
		t.Errorf("EventRecords.Holders = %v, want %v (admitted serials only)", er.Holders, want)
	}
}
