package kido

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
	Gate   uint32
	Seq    uint64
	Kind   string    // KindEntry, KindExit, KindManual, or KindUndo (which Counted takes out)
	At     time.Time // trusted (corrected) time at the recording gate
	Undoes uint64    // KindUndo: the seq of the same gate's passage it annuls
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

// Takes reports whether gate g admits tickets of tier: every tier when g
// names none.
func (g Gate) Takes(tier uint8) bool {
	return len(g.Tiers) == 0 || slices.Contains(g.Tiers, tier)
}

// Records reports whether gate g, working correctly, can record a passage
// of kind: entries and manual admissions at an entry or both-ways gate,
// exits at an exit or both-ways gate. It is Passage seen from the record:
// the server flags what a gate could not have recorded.
func (g Gate) Records(kind string) bool {
	switch kind {
	case KindEntry, KindManual:
		return g.Direction == DirectionEntry || g.Direction == DirectionBoth
	case KindExit:
		return g.Direction == DirectionExit || g.Direction == DirectionBoth
	case KindUndo: // it annuls an entry or manual admission of the same gate
		return g.Direction == DirectionEntry || g.Direction == DirectionBoth
	}
	return false
}

// DefaultLeeway is how far outside the event window an entry is still
// accepted, for clocks that disagree a little and doors that open early.
const DefaultLeeway = 5 * time.Minute

// Window says where trusted time t falls against event e's window widened
// by leeway on both sides: -1 before, 1 after, 0 within. A zero Start or
// End leaves that side open. Entries and manual admissions are taken only
// within; exits are recorded whenever they happen.
func (e Event) Window(t time.Time, leeway time.Duration) int {
	if !e.Start.IsZero() && t.Before(e.Start.Add(-leeway)) {
		return -1
	}
	if !e.End.IsZero() && t.After(e.End.Add(leeway)) {
		return 1
	}
	return 0
}

// Manual admissions are bounded per gate: in any ManualWindow of trusted
// time, a gate may admit by hand ManualFloor tickets plus as many as it
// scanned in (entries). A burst above that is far beyond what staff at a
// working gate do by hand, and what a stolen credential does.
const (
	ManualWindow = 10 * time.Minute
	ManualFloor  = 20
)

// ManualBurst reports whether manual admissions at one gate within one
// ManualWindow, beside scanned entries there, are a burst (see
// ManualWindow).
func ManualBurst(manual, scanned int) bool { return manual > ManualFloor+scanned }

// MaxReason is the most bytes of a manual admission's staff reason.
const MaxReason = 200

// HasReason reports whether a manual admission's staff reason says
// something: not empty, not only white space. A gate refuses to admit by
// hand without one, and the server holds a manual admission without one as
// suspect.
func HasReason(reason string) bool { return strings.TrimSpace(reason) != "" }

// Void is an operator's decision that a revoked gate's admissions from a
// time on do not count: the gate was stolen or misused (kidoctl gate void).
// It is kept with who made it, when and why, and travels through the
// delta feed.
type Void struct {
	Event   uint32    `json:"event"`
	Gate    uint32    `json:"gate"`
	From    time.Time `json:"from"` // trusted time: admissions at or after it are void
	Reason  string    `json:"reason"`
	By      string    `json:"by"` // the name of the admin token that voided
	Created time.Time `json:"created"`
}

// Covers reports whether void v takes admission a out of every count: a
// passage of v's gate at or after v.From, by the gate's trusted time.
func (v Void) Covers(a Admission) bool {
	return v.CoversPassage(Passage{Gate: a.Gate, Seq: a.Seq, Kind: a.Kind, At: a.Corrected})
}

// CoversPassage is Covers for a passage as the entry rule sees it.
func (v Void) CoversPassage(p Passage) bool {
	return p.Gate == v.Gate && !p.At.Before(v.From)
}

// RecordKey is a record's (gate, seq): its idempotency key, and what an
// undo names (with Undoes for Seq).
type RecordKey struct {
	Gate uint32
	Seq  uint64
}

// CountedKeys is the set of the keys of Counted(ps, voids): for a caller
// that shows every passage and marks which count.
func CountedKeys(ps []Passage, voids []Void) map[RecordKey]bool {
	keys := map[RecordKey]bool{}
	for _, p := range Counted(ps, voids) {
		keys[RecordKey{p.Gate, p.Seq}] = true
	}
	return keys
}

// Counted returns the passages of ps that count: what the entry rule,
// the gate's counts and the server's report walk. It takes out every undo
// record (KindUndo) with the passage it annuls (the one of its gate whose
// seq it names, Undo), and every passage a void of voids covers; the rest
// keep their order. An undo a void covers annuls nothing: the server
// holds it as voided, like every record of the gate from the void on. ps
// itself is returned when nothing is taken out.
func Counted(ps []Passage, voids []Void) []Passage {
	covered := func(p Passage) bool {
		return slices.ContainsFunc(voids, func(v Void) bool { return v.CoversPassage(p) })
	}
	var undone map[RecordKey]bool
	for _, p := range ps {
		if p.Kind == KindUndo && !covered(p) {
			if undone == nil {
				undone = map[RecordKey]bool{}
			}
			undone[RecordKey{p.Gate, p.Undoes}] = true
		}
	}
	if len(voids) == 0 && undone == nil {
		return ps
	}
	var out []Passage
	for i, p := range ps {
		drop := p.Kind == KindUndo || undone[RecordKey{p.Gate, p.Seq}] || covered(p)
		if !drop {
			if out != nil {
				out = append(out, p)
			}
			continue
		}
		if out == nil {
			out = append(make([]Passage, 0, len(ps)-1), ps[:i]...)
		}
	}
	if out == nil {
		return ps
	}
	return out
}
