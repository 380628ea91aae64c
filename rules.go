package kido

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// EntryRule is a tier's entry rule: N ≥ 1 entries (scanned or manual; exits
// do not count), or EntriesUnlimited.
type EntryRule int

// Entry rules.
const (
	EntriesUnlimited EntryRule = 0 // any number of entries, each after an exit that follows the one before
	EntriesSingle    EntryRule = 1 // the default
)

// RuleOf returns the entry rule of tier id. A tier the caller does not know
// (a gate that has not synced since it was added) takes EntriesSingle, on
// the gate and on the server alike.
func RuleOf(tiers map[uint8]Tier, id uint8) EntryRule {
	if t, ok := tiers[id]; ok {
		return t.Entries
	}
	return EntriesSingle
}

// A Passage is one recorded admission or exit of a ticket, as the entry
// rule sees it.
type Passage struct {
	Gate uint32
	Seq  uint64
	Kind string    // KindEntry, KindExit or KindManual
	At   time.Time // trusted (corrected) time at the recording gate
}

// ComparePassages orders passages canonically: by trusted time, then gate,
// then sequence, so that the order is total and the same on every gate and
// on the server (docs/sync-protocol.md §5.1).
func ComparePassages(a, b Passage) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if a.Gate != b.Gate {
		if a.Gate < b.Gate {
			return -1
		}
		return 1
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Excess walks a ticket's passages, which must be in canonical order (see
// ComparePassages), under rule r and reports for each whether it is one
// too many:
//
//   - N entries: every entry after the Nth is excess; exits never are;
//   - EntriesUnlimited: an entry while the holder is inside (an entry
//     since the last exit) is excess; an exit lets the holder in again.
//
// This one walk is the entry rule: the gate refuses a scan whose entry
// would be excess (Refusing), and the server reports a ticket with an
// excess admission as a double entry.
func (r EntryRule) Excess(ps []Passage) []bool {
	excess := make([]bool, len(ps))
	entries, inside := 0, false
	for i, p := range ps {
		switch {
		case p.Kind == KindExit:
			inside = false
		case r == EntriesUnlimited:
			excess[i], inside = inside, true
		default:
			entries++
			excess[i] = entries > int(r)
		}
	}
	return excess
}

// Refusing says whether one more entry after a ticket's passages, given in
// any order, would be excess under r. When it would, refusing is the
// passage to name: the earliest entry under an N-entries rule, the latest
// under EntriesUnlimited (the holder is still inside); otherwise nil.
// entries are the ticket's entries (and manual admissions) in canonical
// order, for a caller that wants to say more.
func (r EntryRule) Refusing(history []Passage) (refusing *Passage, entries []Passage) {
	walk := slices.Clone(history)
	slices.SortStableFunc(walk, ComparePassages)
	for _, p := range walk {
		if p.Kind != KindExit {
			entries = append(entries, p)
		}
	}
	// The new entry comes after everything known, whatever its time: the
	// rule counts what happened, not what a clock says.
	walk = append(walk, Passage{Kind: KindEntry})
	if excess := r.Excess(walk); !excess[len(walk)-1] {
		return nil, entries
	}
	if r == EntriesUnlimited {
		return &entries[len(entries)-1], entries
	}
	return &entries[0], entries
}

// Direction is what a gate records: entries, exits, or both.
type Direction string

// Gate directions.
const (
	DirectionEntry Direction = "entry"
	DirectionExit  Direction = "exit"
	DirectionBoth  Direction = "both"
)

// ErrDirection reports an exit asked of a gate that records only entries.
var ErrDirection = errors.New("kido: this gate does not record exits")

// Valid reports whether d is one of the three directions.
func (d Direction) Valid() bool {
	return d == DirectionEntry || d == DirectionExit || d == DirectionBoth
}

// Passage is the direction policy: it returns the kind of passage a scan
// at gate g records when the scan asks for an exit (exit true) or not. An
// exit gate records exits whatever is asked; a both-ways gate records what
// is asked; an entry gate records entries and refuses an exit with an error
// wrapping ErrDirection, with a hint for staff.
func (g Gate) Passage(exit bool) (kind string, err error) {
	switch d := g.Direction; {
	case d == DirectionExit:
		return KindExit, nil
	case d == DirectionBoth && exit:
		return KindExit, nil
	case exit:
		return "", fmt.Errorf("%w: %s is an entry gate\nhint: scan without -exit, or ask the promoter to make it an exit or both-ways gate", ErrDirection, g.Name)
	}
	return KindEntry, nil
}
