// Package ruletest holds the one table of the entry rule that the root
// package's walk, the gate's decision and the server's double-entry report
// are all tested against, so that the three can never disagree.
package ruletest

import (
	"fmt"
	"strings"
	"time"

	"kido.dev/kido"
)

// Start is the time of a case's first passage; each next one is a minute
// later, so a case's passages are in canonical order.
var Start = time.Date(2027, 8, 1, 18, 0, 0, 0, time.UTC)

// A Case is one ticket's passages under its tier's rule.
type Case struct {
	Name     string
	Tiers    map[uint8]kido.EntryRule // the tiers the event (or the gate's replica) knows
	Tier     uint8                    // the ticket's tier
	Passages []kido.Passage           // in canonical order
	Excess   []bool                   // which passages are one too many
}

// Tiers known in the table: 1 single entry, 2 three entries, 3 unlimited
// with re-entry after exit. Tier 9 is known to nobody.
var tiers = map[uint8]kido.EntryRule{1: kido.EntriesSingle, 2: 3, 3: kido.EntriesUnlimited}

// Cases is the table.
var Cases = []Case{
	c("single: first entry", 1, "E1", "."),
	c("single: second entry elsewhere", 1, "E1 E2", ". x"),
	c("single: manual counts as an entry", 1, "M1 E2", ". x"),
	c("single: an exit does not refill", 1, "E1 X2 E1", ". . x"),
	c("single: every entry after the first", 1, "E1 E2 E3", ". x x"),
	c("three entries: third allowed", 2, "E1 E2 M1", ". . ."),
	c("three entries: fourth refused", 2, "E1 E2 M1 E2", ". . . x"),
	c("three entries: exits never count", 2, "E1 X1 E1 X1 E1 X1 E1", ". . . . . . x"),
	c("unlimited: re-entry after exit", 3, "E1 X2 E1 X2 E1", ". . . . ."),
	c("unlimited: entry while inside", 3, "E1 E2", ". x"),
	c("unlimited: manual while inside", 3, "E1 M2", ". x"),
	c("unlimited: exit lets in again after an excess", 3, "E1 E2 X1 E2", ". x . ."),
	c("unlimited: exit first", 3, "X1 E1 E2", ". . x"),
	c("unknown tier takes single entry", 9, "E1 E2", ". x"),
	c("unknown tier: exit does not refill", 9, "E1 X1 E1", ". . x"),
}

// c builds a case from passages written as kind and gate ("E1" an entry at
// gate 1, "X2" an exit at gate 2, "M1" a manual admission) and the excess
// marks ("." allowed, "x" excess).
func c(name string, tier uint8, passages, excess string) Case {
	ps, marks := strings.Fields(passages), strings.Fields(excess)
	if len(ps) != len(marks) {
		panic(fmt.Sprintf("ruletest: case %q: %d passages, %d marks", name, len(ps), len(marks)))
	}
	kinds := map[byte]string{'E': kido.KindEntry, 'X': kido.KindExit, 'M': kido.KindManual}
	cs := Case{Name: name, Tiers: tiers, Tier: tier}
	seqs := map[uint32]uint64{}
	for i, p := range ps {
		var g uint32
		fmt.Sscanf(p[1:], "%d", &g)
		seqs[g]++
		cs.Passages = append(cs.Passages, kido.Passage{Gate: g, Seq: seqs[g], Kind: kinds[p[0]], At: Start.Add(time.Duration(i) * time.Minute)})
		cs.Excess = append(cs.Excess, marks[i] == "x")
	}
	return cs
}

// KnownTiers returns the case's tiers as the domain type.
func (c Case) KnownTiers() map[uint8]kido.Tier {
	m := map[uint8]kido.Tier{}
	for id, r := range c.Tiers {
		m[id] = kido.Tier{ID: id, Name: fmt.Sprintf("tier %d", id), Entries: r}
	}
	return m
}
