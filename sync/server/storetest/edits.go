package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

var editTests = []storeTest{
	{"EditEvent", testEditEvent},
	{"EditEventSpan", testEditEventSpan},
	{"EditTier", testEditTier},
	{"EditGate", testEditGate},
	{"ReplacedInSnapshot", testReplacedInSnapshot},
}

// edits returns the event's recorded edits.
func (f *fixture) edits(ev uint32) []wire.Edit {
	f.t.Helper()
	es, err := f.s.Edits(f.ctx, ev)
	if err != nil {
		f.t.Fatalf("Edits: %v", err)
	}
	return es
}

// checkEdit compares a recorded edit with what was done.
func checkEdit(t *testing.T, e wire.Edit, ev uint32, object string, ref uint32, by string, at time.Time, before, after any) {
	t.Helper()
	if e.Event != ev || e.Object != object || e.Ref != ref || e.By != by || !e.At.Equal(at) {
		t.Errorf("edit %+v, want event %d %s %d by %q at %v", e, ev, object, ref, by, at)
	}
	if jsonOf(json.RawMessage(e.Before)) != jsonOf(before) || jsonOf(json.RawMessage(e.After)) != jsonOf(after) {
		t.Errorf("edit before %s after %s, want %s and %s", e.Before, e.After, jsonOf(before), jsonOf(after))
	}
}

// errRefused is what the suite's edit functions refuse with.
var errRefused = server.Errorf(server.ErrConflict, "", "refused by the edit")

func testEditEvent(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	at := t0.Add(time.Hour)
	var got kido.Event
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.EditEvent(f.ctx, a.ID, func(e kido.Event, entries server.Entries) (kido.Event, error) {
			if span, err := entries(); err != nil || span.N != 0 {
				t.Errorf("span of an event without admissions: %+v, %v", span, err)
			}
			e.ID = 999 // a store keeps the id whatever the edit says
			e.Name, e.Venue = "A (corrected)", "Hall 2"
			e.Start = e.Start.Add(-30 * time.Minute)
			return e, nil
		}, "alice", at)
		ok(t, "EditEvent", err)
	})
	want := a.Event
	want.Name, want.Venue, want.Start = "A (corrected)", "Hall 2", a.Start.Add(-30*time.Minute)
	if !sameEvent(got, want) {
		t.Errorf("EditEvent = %+v, want %+v", got, want)
	}
	if e := only(t, changes, wire.ChangeEvent).Event; len(changes) != 1 || !sameEvent(*e, want) {
		t.Errorf("changes of EditEvent: %s, event %+v", kinds(changes), e)
	}
	evs, err := f.s.Events(f.ctx, []uint32{a.ID})
	ok(t, "Events", err)
	if !sameEvent(evs[0], want) {
		t.Errorf("Events after EditEvent = %+v", evs[0])
	}
	es := f.edits(a.ID)
	if len(es) != 1 {
		t.Fatalf("Edits = %+v, want one", es)
	}
	checkEdit(t, es[0], a.ID, wire.EditEvent, a.ID, "alice", at, a.Event, got)
	if es := f.edits(b.ID); len(es) != 0 {
		t.Errorf("Edits of another event = %+v", es)
	}

	// An edit that changes nothing, and one refused, append and record
	// nothing; the refusal comes back as the edit gave it.
	changes = f.appended(a.ID, func() {
		same, err := f.s.EditEvent(f.ctx, a.ID, func(e kido.Event, _ server.Entries) (kido.Event, error) { return e, nil }, "alice", at)
		ok(t, "EditEvent changing nothing", err)
		if !sameEvent(same, want) {
			t.Errorf("EditEvent changing nothing = %+v", same)
		}
		_, err = f.s.EditEvent(f.ctx, a.ID, func(e kido.Event, _ server.Entries) (kido.Event, error) {
			e.Name = "never stored"
			return e, errRefused
		}, "alice", at)
		if err != errRefused {
			t.Errorf("refused EditEvent: %v, want the edit's own error", err)
		}
	})
	if len(changes) != 0 || len(f.edits(a.ID)) != 1 {
		t.Errorf("EditEvent changing nothing or refused appended %s", kinds(changes))
	}
	_, err = f.s.EditEvent(f.ctx, 9999, func(e kido.Event, _ server.Entries) (kido.Event, error) { return e, nil }, "alice", at)
	wantErr(t, "EditEvent of an unknown event", err, server.ErrNotFound)
	_, err = f.s.Edits(f.ctx, 9999)
	wantErr(t, "Edits of an unknown event", err, server.ErrNotFound)
}

// testEditEventSpan: the span an event edit is given holds the counted
// entries only, exactly.
func testEditEventSpan(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b", 3)
	g := f.gate(a.ID, "North")
	f.enroll("North")
	first, last := admission(g.ID, 1, tks[0]), admission(g.ID, 3, tks[2])
	exit := admission(g.ID, 4, tks[0])
	exit.Kind = kido.KindExit
	exit.Corrected = last.Corrected.Add(time.Hour)
	exit.Hash = wire.AdmissionHash(exit)
	f.upload(a.ID, g.ID, wire.UploadRequest{Admissions: []kido.Admission{first, admission(g.ID, 2, tks[1]), last, exit}})
	var span server.EntrySpan
	_, err := f.s.EditEvent(f.ctx, a.ID, func(e kido.Event, entries server.Entries) (kido.Event, error) {
		var err error
		span, err = entries()
		return e, err
	}, "alice", t0)
	ok(t, "EditEvent", err)
	if span.N != 3 || !span.First.Equal(first.Corrected) || !span.Last.Equal(last.Corrected) {
		t.Errorf("span %+v, want 3 entries from %v to %v", span, first.Corrected, last.Corrected)
	}
}

func testEditTier(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	vip, err := f.s.AddTier(f.ctx, a.ID, "VIP", 3)
	ok(t, "AddTier", err)
	at := t0.Add(2 * time.Hour)
	var got kido.Tier
	changes := f.appended(a.ID, func() {
		got, err = f.s.EditTier(f.ctx, a.ID, vip.ID, func(tr kido.Tier, others []kido.Tier) (kido.Tier, error) {
			if len(others) != 1 || others[0].Name != "GA" {
				t.Errorf("others of VIP: %+v, want GA alone", others)
			}
			tr.Name, tr.Entries, tr.Retired = "VIP early", 2, true
			return tr, nil
		}, "bob", at)
		ok(t, "EditTier", err)
	})
	want := kido.Tier{ID: vip.ID, Event: a.ID, Name: "VIP early", Entries: 2, Retired: true}
	if got != want {
		t.Errorf("EditTier = %+v, want %+v", got, want)
	}
	if c := only(t, changes, wire.ChangeTier).Tier; len(changes) != 1 || *c != want {
		t.Errorf("changes of EditTier: %s, tier %+v", kinds(changes), c)
	}
	ts, err := f.s.Tiers(f.ctx, a.ID)
	ok(t, "Tiers", err)
	if len(ts) != 2 || ts[1] != want || ts[0].Retired {
		t.Errorf("Tiers after EditTier = %+v", ts)
	}
	g := f.gate(a.ID, "North")
	snap, err := f.s.Snapshot(f.ctx, g.ID)
	ok(t, "Snapshot", err)
	if len(snap.Tiers) != 2 || snap.Tiers[1] != want {
		t.Errorf("snapshot tiers %+v, want VIP retired", snap.Tiers)
	}
	es := f.edits(a.ID)
	if len(es) != 1 {
		t.Fatalf("Edits = %+v", es)
	}
	checkEdit(t, es[0], a.ID, wire.EditTier, uint32(vip.ID), "bob", at, vip, want)

	changes = f.appended(a.ID, func() {
		_, err = f.s.EditTier(f.ctx, a.ID, vip.ID, func(tr kido.Tier, _ []kido.Tier) (kido.Tier, error) { return tr, errRefused }, "bob", at)
		if err != errRefused {
			t.Errorf("refused EditTier: %v", err)
		}
		_, err = f.s.EditTier(f.ctx, a.ID, 7, func(tr kido.Tier, _ []kido.Tier) (kido.Tier, error) { return tr, nil }, "bob", at)
		wantErr(t, "EditTier of an unknown tier", err, server.ErrNotFound)
		_, err = f.s.EditTier(f.ctx, 9999, 1, func(tr kido.Tier, _ []kido.Tier) (kido.Tier, error) { return tr, nil }, "bob", at)
		wantErr(t, "EditTier of an unknown event", err, server.ErrNotFound)
	})
	if len(changes) != 0 || len(f.edits(a.ID)) != 1 {
		t.Errorf("refused EditTier appended %s", kinds(changes))
	}
}

func testEditGate(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	vip, err := f.s.AddTier(f.ctx, a.ID, "VIP", 1)
	ok(t, "AddTier", err)
	g := f.gate(a.ID, "North")
	other := f.gate(a.ID, "South")
	at := t0.Add(3 * time.Hour)
	var got kido.Gate
	changes := f.appended(a.ID, func() {
		got, err = f.s.EditGate(f.ctx, a.ID, g.ID, func(x kido.Gate, tiers []kido.Tier) (kido.Gate, error) {
			if len(tiers) != 2 {
				t.Errorf("tiers given to the gate edit: %+v", tiers)
			}
			x.Name, x.Direction, x.Tiers = "North (exit)", kido.DirectionExit, kido.TierIDs{vip.ID}
			x.Revoked = true // not a correction: the store keeps the stored value
			return x, nil
		}, "carol", at)
		ok(t, "EditGate", err)
	})
	want := g
	want.Name, want.Direction, want.Tiers = "North (exit)", kido.DirectionExit, kido.TierIDs{vip.ID}
	if jsonOf(got) != jsonOf(want) {
		t.Errorf("EditGate = %+v, want %+v", got, want)
	}
	if c := only(t, changes, wire.ChangeGate).Gate; len(changes) != 1 || jsonOf(*c) != jsonOf(want) {
		t.Errorf("changes of EditGate: %s, gate %+v", kinds(changes), c)
	}
	snap, err := f.s.Snapshot(f.ctx, g.ID)
	ok(t, "Snapshot", err)
	if jsonOf(snap.Gate) != jsonOf(want) {
		t.Errorf("snapshot's gate %+v, want %+v", snap.Gate, want)
	}
	es := f.edits(a.ID)
	if len(es) != 1 {
		t.Fatalf("Edits = %+v", es)
	}
	checkEdit(t, es[0], a.ID, wire.EditGate, g.ID, "carol", at, g, want)

	changes = f.appended(a.ID, func() {
		_, err = f.s.EditGate(f.ctx, a.ID, other.ID, func(x kido.Gate, _ []kido.Tier) (kido.Gate, error) {
			x.Tiers = kido.TierIDs{9}
			return x, nil
		}, "carol", at)
		wantErr(t, "EditGate to a tier the event lacks", err, server.ErrInvalid)
		_, err = f.s.EditGate(f.ctx, a.ID, other.ID, func(x kido.Gate, _ []kido.Tier) (kido.Gate, error) { return x, errRefused }, "carol", at)
		if !errors.Is(err, errRefused) {
			t.Errorf("refused EditGate: %v", err)
		}
		_, err = f.s.EditGate(f.ctx, a.ID, 9999, func(x kido.Gate, _ []kido.Tier) (kido.Gate, error) { return x, nil }, "carol", at)
		wantErr(t, "EditGate of an unknown gate", err, server.ErrNotFound)
		b := f.liveEvent("B")
		_, err = f.s.EditGate(f.ctx, b.ID, g.ID, func(x kido.Gate, _ []kido.Tier) (kido.Gate, error) { return x, nil }, "carol", at)
		wantErr(t, "EditGate of another event's gate", err, server.ErrNotFound)
	})
	if len(changes) != 0 || len(f.edits(a.ID)) != 1 {
		t.Errorf("refused EditGate appended %s", kinds(changes))
	}
}

// testReplacedInSnapshot: a gate that takes its snapshot after a reissue
// learns what replaced the old ticket, as the feed told the others.
func testReplacedInSnapshot(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b", 2)
	got, err := f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[0].Serial}}, signer(a.key))
	ok(t, "Reissue", err)
	g := f.gate(a.ID, "North")
	snap, err := f.s.Snapshot(f.ctx, g.ID)
	ok(t, "Snapshot", err)
	replaced := entry(tks[0], true)
	replaced.ReplacedBy = got[0].Serial
	checkRoster(t, "snapshot roster", snap.Roster, []kido.RosterEntry{replaced, entry(tks[1], false), entry(got[0], false)})
}
