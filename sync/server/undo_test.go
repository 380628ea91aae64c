package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// undo makes gate g's undo of its admission a, at trusted time at.
func (g *gateDev) undo(a kido.Admission, at time.Time) kido.Admission {
	g.seq++
	u := kido.Undo(a, g.seq, at, at)
	u.Hash = wire.AdmissionHash(u)
	return u
}

// An undo within the window is stored, reaches other gates' feeds, and
// takes its admission out of the report and the double entries; the
// export shows it undone. An undo that a correct gate could not have
// recorded (of an unknown seq, not the last record, of an exit, too late,
// twice) is stored as suspect and annuls nothing.
func TestUndoUpload(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 8)
	north := f.gateWith(t, ev, wire.GateCreate{Name: "North 1", Direction: kido.DirectionBoth})
	south := f.gate(t, ev, "South 1")

	wrong := north.admission(tks[0], kido.KindEntry, admitTime)
	undo := north.undo(wrong, admitTime.Add(90*time.Second))
	// The same holder enters at South later: no double entry.
	ans := north.upload(t, wire.UploadRequest{Admissions: []kido.Admission{wrong, undo}})
	if r := ans.upload(t); ans.status != http.StatusOK || r.Acked != undo.Seq || len(r.Flagged) != 0 {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	found := false
	for _, c := range south.changes(t, "0.0", 0).Changes {
		if c.Kind == wire.ChangeAdmission && c.Admission.Gate == north.id && c.Admission.Seq == undo.Seq {
			found = c.Admission.Kind == kido.KindUndo && c.Admission.Undoes == wrong.Seq
		}
	}
	if !found {
		t.Error("the undo is not in South's feed")
	}
	// The compact encoding carries the seq it undoes too.
	page, err := wire.UnmarshalFeed(south.getPage(t, "0.0", wire.FeedV2Type, wire.ChangesV2SignedMessage).body)
	if err != nil {
		t.Fatal(err)
	}
	found = false
	for _, c := range page.Changes {
		if c.Kind == wire.ChangeAdmission && c.Admission.Gate == north.id && c.Admission.Seq == undo.Seq {
			found = c.Admission.Kind == kido.KindUndo && c.Admission.Undoes == wrong.Seq && wire.SameRecord(c.Admission.Hash, undo.Hash)
		}
	}
	if !found {
		t.Error("the undo is not in South's compact feed with the seq it undoes")
	}
	if a := south.upload(t, wire.UploadRequest{Admissions: []kido.Admission{south.admission(tks[0], kido.KindEntry, admitTime.Add(time.Hour))}}); a.status != 200 {
		t.Fatalf("South: %d %s", a.status, a.body)
	}
	if cs, err := f.admin.Conflicts(ctx, ev); err != nil || len(cs) != 0 {
		t.Errorf("conflicts %+v, %v; want none: the first entry was undone", cs, err)
	}

	// Suspect undos, each after a fresh admission of its own.
	exit := north.admission(tks[2], kido.KindExit, admitTime)
	late := north.admission(tks[3], kido.KindEntry, admitTime)
	first := north.admission(tks[4], kido.KindEntry, admitTime)
	second := north.admission(tks[5], kido.KindEntry, admitTime)
	mid := north.admission(tks[6], kido.KindEntry, admitTime)
	cases := []struct {
		name, why string
		batch     []kido.Admission
	}{
		{"unknown seq", "not the gate's last record", []kido.Admission{func() kido.Admission {
			u := north.undo(wrong, admitTime)
			north.seq += 100 // seqs the server never saw
			u.Seq, u.Undoes = north.seq, north.seq-1
			u.Hash = wire.AdmissionHash(u)
			return u
		}()}},
		{"exit", "exit", []kido.Admission{exit, north.undo(exit, admitTime)}},
		{"too late", "too old", []kido.Admission{late, north.undo(late, admitTime.Add(kido.UndoWindow+kido.DefaultLeeway+time.Second))}},
		{"twice", "already undone", func() []kido.Admission {
			u := north.undo(first, admitTime) // a good undo, then one of it
			u2 := north.undo(u, admitTime)    // an undo of the undo
			u2.Kind, u2.Undoes, u2.Serial, u2.Tier = kido.KindUndo, u.Seq, first.Serial, first.Tier
			u2.Hash = wire.AdmissionHash(u2)
			return []kido.Admission{first, u, u2}
		}()},
		{"not the last", "not the gate's last record", func() []kido.Admission {
			return []kido.Admission{second, mid, north.undo(second, admitTime)}
		}()},
	}
	for _, c := range cases {
		ans := north.upload(t, wire.UploadRequest{Admissions: c.batch})
		r := ans.upload(t)
		last := c.batch[len(c.batch)-1]
		if ans.status != http.StatusOK || len(r.Flagged) != 1 || r.Flagged[0].Seq != last.Seq || r.Flagged[0].Status != wire.StatusSuspect || !strings.Contains(r.Flagged[0].Reason, c.why) {
			t.Errorf("%s: %d %s; want seq %d suspect %q", c.name, ans.status, ans.body, last.Seq, c.why)
		}
	}

	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	// Counted: South's entry, late, second, mid (exit apart); the two
	// undos that passed annul wrong and first.
	if rep.Admitted != 4 || rep.Exits != 1 || rep.Undone != 2 || len(rep.Undos) != 2 || rep.Undos[0].Seq != wrong.Seq || rep.Undos[0].UndoSeq != undo.Seq || rep.Suspect != len(cases) {
		t.Errorf("report: admitted %d, exits %d, undone %d %+v, suspect %d", rep.Admitted, rep.Exits, rep.Undone, rep.Undos, rep.Suspect)
	}
	as, err := f.admin.Admissions(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if undone := a.Gate == north.id && (a.Seq == wrong.Seq || a.Seq == first.Seq); undone != (a.Status == wire.StatusUndone) {
			t.Errorf("export: seq %d of gate %d status %q", a.Seq, a.Gate, a.Status)
		}
	}
}
