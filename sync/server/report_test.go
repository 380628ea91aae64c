package server_test

import (
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/internal/ruletest"
	"kido.dev/kido/sync/server"
)

// TestDoubleEntriesFollowRuleTable: the server marks as excess exactly the
// admissions the shared table does (internal/ruletest; the gate's decision
// is tested against it too), whatever order the store gives them in.
func TestDoubleEntriesFollowRuleTable(t *testing.T) {
	for _, c := range ruletest.Cases {
		er := &server.EventRecords{Event: kido.Event{ID: 1}, Holders: map[uint32]string{7: "山田 太郎"}}
		for _, tier := range c.KnownTiers() {
			er.Tiers = append(er.Tiers, tier)
		}
		for i := len(c.Passages) - 1; i >= 0; i-- { // newest first
			p := c.Passages[i]
			er.Admissions = append(er.Admissions, kido.Admission{Gate: p.Gate, Seq: p.Seq, Serial: 7, Tier: c.Tier, Kind: p.Kind, At: p.At, Corrected: p.At})
		}
		wantConflict := false
		for _, x := range c.Excess {
			wantConflict = wantConflict || x
		}
		cs := server.DoubleEntries(er)
		if (len(cs) == 1) != wantConflict || len(cs) > 1 {
			t.Errorf("%s: %d conflicts, want a conflict: %v", c.Name, len(cs), wantConflict)
			continue
		}
		if !wantConflict {
			continue
		}
		as := cs[0].Admissions
		if len(as) != len(c.Passages) {
			t.Fatalf("%s: conflict lists %d admissions, want %d", c.Name, len(as), len(c.Passages))
		}
		for i, a := range as {
			if a.Passage() != c.Passages[i] || a.Excess != c.Excess[i] {
				t.Errorf("%s: admission %d: %+v excess %v, want %+v excess %v", c.Name, i, a.Passage(), a.Excess, c.Passages[i], c.Excess[i])
			}
		}
	}
}
