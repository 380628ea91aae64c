package storetest

import (
	"errors"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// flagTests cover what the server's upload checks need of a store
// (docs/sync-protocol.md §3.6): flagged admissions, the gate's upload
// state, revocation positions and voids.
var flagTests = []storeTest{
	{"UploadFlagged", testUploadFlagged},
	{"UploadState", testUploadState},
	{"RevocationPositions", testRevocationPositions},
	{"VoidGate", testVoidGate},
}

// manualAdmission returns gate g's manual admission seq of tk, with a
// staff reason.
func manualAdmission(g uint32, seq uint64, tk wire.IssuedTicket) kido.Admission {
	a := admission(g, seq, tk)
	a.Kind, a.Text, a.Reason = kido.KindManual, "", "phone dead, ID checked"
	a.Hash = wire.AdmissionHash(a)
	return a
}

// A flagged admission is stored whole and acknowledged, listed in Flagged
// with its status and reason, and is nowhere else: not in the change log,
// the counted admissions or a snapshot.
func testUploadFlagged(t *testing.T, f *fixture) {
	ev := f.liveEvent("Fes")
	tks := f.issue(ev, "b", 3)
	g := f.gate(ev.ID, "North")
	good, refused, suspect := admission(g.ID, 1, tks[0]), admission(g.ID, 2, tks[1]), manualAdmission(g.ID, 3, tks[2])
	flags := map[uint64]wire.Flag{
		2: {Seq: 2, Status: wire.StatusRefused, Reason: "ticket does not verify"},
		3: {Seq: 3, Status: wire.StatusSuspect, Reason: "tier 1 is not taken at gate"},
	}
	var resp wire.UploadResponse
	cs := f.appended(ev.ID, func() {
		var err error
		resp, err = f.s.Upload(f.ctx, ev.ID, g.ID, &wire.UploadRequest{Admissions: []kido.Admission{good, refused, suspect}}, flags, t0)
		if err != nil {
			t.Fatalf("Upload: %v", err)
		}
	})
	if resp.Acked != 3 || resp.Stored != 3 || len(resp.Flagged) != 2 || resp.Flagged[0] != flags[2] || resp.Flagged[1] != flags[3] {
		t.Errorf("Upload: %+v, want all 3 stored and acknowledged, 2 flagged", resp)
	}
	if got := objectsOf(t, cs, func(c wire.Change) *kido.Admission { return c.Admission }); len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("change log got %+v, want only the counted admission", got)
	}
	// A retry is a duplicate whatever flags it comes with.
	resp, err := f.s.Upload(f.ctx, ev.ID, g.ID, &wire.UploadRequest{Admissions: []kido.Admission{good, refused, suspect}}, nil, t0)
	if err != nil || resp.Duplicates != 3 || len(resp.Flagged) != 0 {
		t.Errorf("retry: %+v, %v", resp, err)
	}
	er, err := f.s.EventRecords(f.ctx, ev.ID)
	if err != nil {
		t.Fatalf("EventRecords: %v", err)
	}
	checkAdmissions(t, "EventRecords.Admissions", er.Admissions, []kido.Admission{good})
	if len(er.Flagged) != 2 {
		t.Fatalf("EventRecords.Flagged: %+v", er.Flagged)
	}
	checkAdmissions(t, "EventRecords.Flagged", []kido.Admission{er.Flagged[0].Admission, er.Flagged[1].Admission}, []kido.Admission{refused, suspect})
	for i, want := range []wire.Flag{flags[2], flags[3]} {
		if fl := er.Flagged[i]; fl.Status != want.Status || fl.Why != want.Reason {
			t.Errorf("EventRecords.Flagged[%d]: %s %q, want %s %q", i, fl.Status, fl.Why, want.Status, want.Reason)
		}
	}
	sts, err := f.s.GateStatuses(f.ctx, ev.ID)
	if err != nil || len(sts) != 1 || sts[0].Suspect != 1 || sts[0].Voided != 0 {
		t.Errorf("GateStatuses: %+v, %v; want 1 suspect", sts, err)
	}
	snap, err := f.s.Snapshot(f.ctx, g.ID)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	checkAdmissions(t, "Snapshot.Admissions", snap.Admissions, []kido.Admission{good})
}

// UploadState gives the gate, its event, its enrolment time and its
// stored admissions, flagged ones included, in the seq range asked for.
func testUploadState(t *testing.T, f *fixture) {
	ev := f.liveEvent("Fes")
	tks := f.issue(ev, "b", 4)
	g := f.gate(ev.ID, "North")
	st, err := f.s.UploadState(f.ctx, ev.ID, g.ID, 1, 0)
	if err != nil || st.Gate.ID != g.ID || st.Gate.Direction != kido.DirectionEntry || st.Event.ID != ev.ID || !st.Enrolled.IsZero() || len(st.Before) != 0 {
		t.Fatalf("UploadState before enrolment: %+v, %v", st, err)
	}
	f.enroll("North")
	as := []kido.Admission{admission(g.ID, 1, tks[0]), manualAdmission(g.ID, 2, tks[1]), admission(g.ID, 3, tks[2]), admission(g.ID, 4, tks[3])}
	flags := map[uint64]wire.Flag{2: {Seq: 2, Status: wire.StatusSuspect, Reason: "x"}}
	if _, err := f.s.Upload(f.ctx, ev.ID, g.ID, &wire.UploadRequest{Admissions: as}, flags, t0); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	st, err = f.s.UploadState(f.ctx, ev.ID, g.ID, 2, 3)
	if err != nil {
		t.Fatalf("UploadState: %v", err)
	}
	if !st.Enrolled.Equal(t0.Add(time.Hour)) {
		t.Errorf("Enrolled %v, want %v", st.Enrolled, t0.Add(time.Hour))
	}
	checkAdmissions(t, "UploadState.Before", st.Before, as[1:3])
	if len(st.Before) == 2 && st.Before[0].Seq != 2 {
		t.Errorf("Before not in seq order: %+v", st.Before)
	}
	other := f.liveEvent("Other")
	if _, err := f.s.UploadState(f.ctx, other.ID, g.ID, 1, 1); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("UploadState of another event's gate: %v, want ErrNotFound", err)
	}
}

// Revoked and KeyRevoked are the positions of the revocations' changes.
func testRevocationPositions(t *testing.T, f *fixture) {
	ev := f.liveEvent("Fes")
	tks := f.issue(ev, "b", 2)
	serials := []uint32{tks[0].Serial, tks[1].Serial}
	is, err := f.s.IssuedTickets(f.ctx, ev.ID, serials)
	if err != nil || is[tks[0].Serial].Revoked != 0 || is[tks[0].Serial].KeyRevoked != 0 {
		t.Fatalf("IssuedTickets before any revocation: %+v, %v", is, err)
	}
	if _, err := f.s.Revoke(f.ctx, ev.ID, wire.Selection{Serials: serials[:1]}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	ticketPos := f.head(ev.ID).Pos
	keys, _ := f.s.Keys(f.ctx, ev.ID)
	if _, err := f.s.RevokeKey(f.ctx, ev.ID, keys[0].ID); err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	keyPos := f.head(ev.ID).Pos
	is, err = f.s.IssuedTickets(f.ctx, ev.ID, serials)
	if err != nil {
		t.Fatalf("IssuedTickets: %v", err)
	}
	if got := is[tks[0].Serial]; got.Revoked != ticketPos || got.KeyRevoked != keyPos {
		t.Errorf("revoked ticket: Revoked %d KeyRevoked %d, want %d, %d", got.Revoked, got.KeyRevoked, ticketPos, keyPos)
	}
	if got := is[tks[1].Serial]; got.Revoked != 0 || got.KeyRevoked != keyPos {
		t.Errorf("valid ticket: Revoked %d KeyRevoked %d, want 0, %d", got.Revoked, got.KeyRevoked, keyPos)
	}
}

// VoidGate needs a revoked gate; it voids the admissions it covers, keeps
// the void and appends a void change.
func testVoidGate(t *testing.T, f *fixture) {
	ev := f.liveEvent("Fes")
	tks := f.issue(ev, "b", 3)
	g, other := f.gate(ev.ID, "North"), f.gate(ev.ID, "South")
	as := []kido.Admission{admission(g.ID, 1, tks[0]), admission(g.ID, 2, tks[1]), admission(g.ID, 3, tks[2])}
	f.upload(ev.ID, g.ID, wire.UploadRequest{Admissions: as})
	kept := admission(other.ID, 1, tks[0])
	f.upload(ev.ID, other.ID, wire.UploadRequest{Admissions: []kido.Admission{kept}})
	v := kido.Void{Event: ev.ID, Gate: g.ID, From: as[1].Corrected, Reason: "tablet stolen", By: "ops", Created: t0.Add(2 * time.Hour)}
	if _, _, err := f.s.VoidGate(f.ctx, v); !errors.Is(err, server.ErrConflict) {
		t.Errorf("VoidGate of a gate not revoked: %v, want ErrConflict", err)
	}
	if _, _, err := f.s.VoidGate(f.ctx, kido.Void{Event: ev.ID, Gate: 999, From: t0}); !errors.Is(err, server.ErrNotFound) {
		t.Errorf("VoidGate of an unknown gate: %v, want ErrNotFound", err)
	}
	if _, err := f.s.RevokeGate(f.ctx, ev.ID, g.ID, t0); err != nil {
		t.Fatalf("RevokeGate: %v", err)
	}
	var n int
	cs := f.appended(ev.ID, func() {
		var err error
		if _, n, err = f.s.VoidGate(f.ctx, v); err != nil {
			t.Fatalf("VoidGate: %v", err)
		}
	})
	if n != 2 {
		t.Errorf("VoidGate voided %d, want 2", n)
	}
	vs := objectsOf(t, cs, func(c wire.Change) *kido.Void { return c.Void })
	if len(vs) != 1 || vs[0].Gate != g.ID || !vs[0].From.Equal(v.From) || vs[0].Reason != v.Reason || vs[0].By != v.By {
		t.Errorf("void change %+v, want %+v", vs, v)
	}
	er, err := f.s.EventRecords(f.ctx, ev.ID)
	if err != nil {
		t.Fatalf("EventRecords: %v", err)
	}
	checkAdmissions(t, "EventRecords.Admissions", er.Admissions, []kido.Admission{as[0], kept})
	if len(er.Flagged) != 2 || er.Flagged[0].Status != wire.StatusVoided || er.Flagged[1].Seq != 3 {
		t.Errorf("EventRecords.Flagged: %+v", er.Flagged)
	}
	if len(er.Voids) != 1 || er.Voids[0].Reason != v.Reason || !er.Voids[0].Created.Equal(v.Created) {
		t.Errorf("EventRecords.Voids: %+v", er.Voids)
	}
	sts, _ := f.s.GateStatuses(f.ctx, ev.ID)
	if sts[0].Voided != 2 || sts[1].Voided != 0 {
		t.Errorf("GateStatuses: %+v", sts)
	}
	// A snapshot leaves the voided admissions out and carries the void:
	// a gate that already holds them learns not to count them.
	snap, err := f.s.Snapshot(f.ctx, other.ID)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	checkAdmissions(t, "Snapshot.Admissions", snap.Admissions, []kido.Admission{as[0], kept})
	if len(snap.Voids) != 1 || snap.Voids[0].Gate != g.ID || !snap.Voids[0].From.Equal(v.From) || snap.Voids[0].By != v.By {
		t.Errorf("Snapshot.Voids: %+v", snap.Voids)
	}
}
