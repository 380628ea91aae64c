package storetest

import (
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// undoTests cover undo records (kido.KindUndo, docs/sync-protocol.md
// §3.7): stored like every admission, with the seq they undo.
var undoTests = []storeTest{
	{"UploadUndo", testUploadUndo},
}

// undoOf returns the undo of a as gate seq.
func undoOf(a kido.Admission, seq uint64) kido.Admission {
	u := kido.Undo(a, seq, a.At.Add(30*time.Second), a.Corrected.Add(30*time.Second))
	u.Hash = wire.AdmissionHash(u)
	return u
}

// An undo is stored whole (the seq it undoes kept), acknowledged, logged
// for the feed and carried in snapshots; a retry is a duplicate; a
// flagged undo is kept whole among the flagged.
func testUploadUndo(t *testing.T, f *fixture) {
	ev := f.liveEvent("Fes")
	tks := f.issue(ev, "b", 2)
	g := f.gate(ev.ID, "North")
	other := f.gate(ev.ID, "South")
	entry := admission(g.ID, 1, tks[0])
	undo := undoOf(entry, 2)
	again := admission(g.ID, 3, tks[0])
	req := &wire.UploadRequest{Admissions: []kido.Admission{entry, undo, again}}
	if err := req.Check(); err != nil {
		t.Fatalf("the suite's upload breaks the protocol: %v", err)
	}
	var resp wire.UploadResponse
	cs := f.appended(ev.ID, func() {
		var err error
		if resp, err = f.s.Upload(f.ctx, ev.ID, g.ID, req, nil, t0); err != nil {
			t.Fatalf("Upload: %v", err)
		}
	})
	if resp.Acked != 3 || resp.Stored != 3 {
		t.Errorf("Upload: %+v, want 3 stored and acknowledged", resp)
	}
	want := []kido.Admission{entry, undo, again}
	checkAdmissions(t, "change log", objectsOf(t, cs, func(c wire.Change) *kido.Admission { return c.Admission }), want)
	if resp, err := f.s.Upload(f.ctx, ev.ID, g.ID, req, nil, t0); err != nil || resp.Duplicates != 3 {
		t.Errorf("retry: %+v, %v; want 3 duplicates", resp, err)
	}
	er, err := f.s.EventRecords(f.ctx, ev.ID)
	if err != nil {
		t.Fatalf("EventRecords: %v", err)
	}
	checkAdmissions(t, "EventRecords.Admissions", er.Admissions, want)
	snap, err := f.s.Snapshot(f.ctx, other.ID)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	checkAdmissions(t, "Snapshot.Admissions", snap.Admissions, want)
	if rep := server.BuildReport(er, t0); rep.Admitted != 1 || rep.Undone != 1 || len(rep.Undos) != 1 || rep.Undos[0].Seq != 1 || rep.Undos[0].UndoSeq != 2 {
		t.Errorf("report: admitted %d, undone %d %+v; want 1 admitted, seq 1 undone by seq 2", rep.Admitted, rep.Undone, rep.Undos)
	}

	// A suspect undo is kept whole, counted nowhere.
	late := undoOf(again, 4)
	flags := map[uint64]wire.Flag{4: {Seq: 4, Status: wire.StatusSuspect, Reason: "too old to undo"}}
	if _, err := f.s.Upload(f.ctx, ev.ID, g.ID, &wire.UploadRequest{Admissions: []kido.Admission{late}}, flags, t0); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if er, err = f.s.EventRecords(f.ctx, ev.ID); err != nil || len(er.Flagged) != 1 {
		t.Fatalf("EventRecords: %+v, %v; want one flagged", er, err)
	}
	checkAdmissions(t, "EventRecords.Flagged", []kido.Admission{er.Flagged[0].Admission}, []kido.Admission{late})
	st, err := f.s.UploadState(f.ctx, ev.ID, g.ID, 1, 4)
	if err != nil {
		t.Fatalf("UploadState: %v", err)
	}
	checkAdmissions(t, "UploadState.Before", st.Before, []kido.Admission{entry, undo, again, late})
}
