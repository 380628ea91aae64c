package replica

import (
	"path/filepath"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// TestCorrectionsChangeDecisions: corrections of the event, a tier's rule,
// a retired tier, a replaced ticket and this gate's own direction reach
// the replica through the feed, in the compact form (version 2) and in
// JSON, and the very next scan is decided with them.
func TestCorrectionsChangeDecisions(t *testing.T) {
	r, f := newReplica(t, 60, gatetest.GateBoth)
	if d := scan(t, r, f.Ticket(3), false); d.Reason != gate.OK {
		t.Fatalf("before: %s", d.Reason)
	}
	// Serial 20 is VIP, serial 5 GA; 61 replaces 5 (GA).
	vip := f.Snapshot.Tiers[gatetest.TierVIP-1]
	vip.Retired = true
	ga := f.Snapshot.Tiers[gatetest.TierGA-1]
	ga.Entries = 2 // mid-event: the entry made before counts against the new rule
	ev := f.Snapshot.Event
	ev.Name = "Summer Fes (corrected)"
	old := f.Snapshot.Roster[4]
	old.Revoked, old.ReplacedBy = true, 61
	ch := compact(t, "c1",
		wire.Change{Kind: wire.ChangeEvent, Event: &ev},
		wire.Change{Kind: wire.ChangeTier, Tier: &vip},
		wire.Change{Kind: wire.ChangeTier, Tier: &ga},
		wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 61, Tier: gatetest.TierGA, Holder: old.Holder}},
		wire.Change{Kind: wire.ChangeRoster, Roster: &old},
	)
	if _, err := r.ApplyChanges(ctx, ch); err != nil {
		t.Fatal(err)
	}
	d := scan(t, r, f.Ticket(5), false)
	if d.Reason != gate.Replaced || d.ReplacedBy != 61 || d.Message() != "replaced by serial 61" {
		t.Errorf("replaced ticket: %s, replaced by %d, %q", d.Reason, d.ReplacedBy, d.Message())
	}
	if d := scan(t, r, f.Ticket(61), false); d.Reason != gate.OK {
		t.Errorf("its replacement: %s", d.Reason)
	}
	if d := scan(t, r, f.Ticket(20), false); d.Reason != gate.TierRetired || d.Message() != gate.TierRetired.Text() {
		t.Errorf("retired tier: %s %q", d.Reason, d.Message())
	}
	if d := scan(t, r, f.Ticket(20), true); d.Reason != gate.ExitRecorded {
		t.Errorf("retired tier's exit: %s, want it recorded", d.Reason)
	}
	for i, want := range []gate.Reason{gate.OK, gate.AlreadyUsed} {
		if d := scan(t, r, f.Ticket(3), false); d.Reason != want {
			t.Errorf("GA now 2 entries, scan %d more: %s, want %s", i+1, d.Reason, want)
		}
	}
	st, err := r.Status(ctx)
	if err != nil || st.Event.Name != ev.Name {
		t.Errorf("event name after the correction: %q, %v", st.Event.Name, err)
	}

	// This gate turned into an exit gate: a plain scan records an exit.
	self := f.Snapshot.Gate
	self.Name, self.Direction = "North 1 (exit)", kido.DirectionExit
	if _, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeGate, Gate: &self})); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(7), false); d.Reason != gate.ExitRecorded || d.Kind != kido.KindExit {
		t.Errorf("after the gate became an exit: %s %s", d.Reason, d.Kind)
	}
	if st, _ := r.Status(ctx); st.Gate.Name != self.Name || st.Gate.Direction != kido.DirectionExit {
		t.Errorf("gate after the correction: %q %s", st.Gate.Name, st.Gate.Direction)
	}
}

// TestSnapshotCarriesCorrections: a gate enrolled, or resnapshotting,
// after a tier was retired and a ticket replaced decides the same way.
func TestSnapshotCarriesCorrections(t *testing.T) {
	now := time.Now()
	f := gatetest.New(20, gatetest.GateBoth, now)
	f.Snapshot.Tiers[gatetest.TierVIP-1].Retired = true
	f.Snapshot.Roster[4].Revoked, f.Snapshot.Roster[4].ReplacedBy = true, 21
	r, err := Create(filepath.Join(t.TempDir(), "replica.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(5), false); d.Reason != gate.Replaced || d.ReplacedBy != 21 {
		t.Errorf("replaced ticket: %s %d", d.Reason, d.ReplacedBy)
	}
	if d := scan(t, r, f.Ticket(10), false); d.Reason != gate.TierRetired {
		t.Errorf("retired tier: %s", d.Reason)
	}
}
