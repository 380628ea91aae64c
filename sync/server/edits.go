package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// Corrections of an event, its tiers and gates (docs/api.md, "Correcting
// an event"). Each is validated by the same rules as creation, stored,
// sent to the gates through the feed as the object's new state, and
// recorded with who made it (the token's name) and when.

func nothingToChange(what string) error {
	return Errorf(ErrInvalid, "give at least one field to change", "nothing to change in the %s", what)
}

func (s *Server) editEvent(r *http.Request, tok wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var in wire.EventEdit
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil && in.Venue == nil && in.Start == nil && in.End == nil && in.TimeZone == nil {
		return 0, nil, nothingToChange("event")
	}
	e, err := s.store.EditEvent(r.Context(), ev, func(old kido.Event, entries Entries) (kido.Event, error) {
		return correctEvent(old, in, entries)
	}, tok.Name, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("event corrected", "event", ev, "by", tok.Name)
	return http.StatusOK, e, nil
}

// correctEvent applies in to old under the rules of a new event
// (checkEvent), and refuses a new window that would leave out an entry
// already recorded: those admissions happened, and a window that
// contradicts them is more likely a typo than a correction.
func correctEvent(old kido.Event, in wire.EventEdit, entries Entries) (kido.Event, error) {
	c := wire.EventCreate{Name: old.Name, Venue: old.Venue, Start: old.Start, End: old.End, TimeZone: old.TimeZone}
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.Venue != nil {
		c.Venue = *in.Venue
	}
	if in.Start != nil {
		c.Start = *in.Start
	}
	if in.End != nil {
		c.End = *in.End
	}
	if in.TimeZone != nil {
		c.TimeZone = strings.TrimSpace(*in.TimeZone)
	}
	if err := checkEvent(&c); err != nil {
		return old, err
	}
	e := kido.Event{ID: old.ID, Name: c.Name, Venue: c.Venue, Start: c.Start, End: c.End, TimeZone: c.TimeZone}
	// Checked only when the window changes: a gate run with a wider
	// -leeway may have admitted outside it, and that must not block a
	// correction of the name (nor the scan of every admission delay it).
	if in.Start == nil && in.End == nil {
		return e, nil
	}
	span, err := entries()
	if err != nil {
		return old, err
	}
	if span.N > 0 && (e.Window(span.First, kido.DefaultLeeway) != 0 || e.Window(span.Last, kido.DefaultLeeway) != 0) {
		loc := zone(e)
		return old, Errorf(ErrConflict,
			fmt.Sprintf("a window must hold the entries recorded: start no later than %s and end no earlier than %s (gates admit %s either side)",
				span.First.Add(kido.DefaultLeeway).In(loc).Format(time.RFC3339), span.Last.Add(-kido.DefaultLeeway).In(loc).Format(time.RFC3339), kido.DefaultLeeway),
			"event %d: the new window %s to %s leaves out entries already recorded (%d entries from %s to %s)", old.ID,
			e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339), span.N, span.First.In(loc).Format(time.RFC3339), span.Last.In(loc).Format(time.RFC3339))
	}
	return e, nil
}

// zone is the event's time zone, or its start's offset when it names none.
func zone(e kido.Event) *time.Location {
	return e.Location(e.Start.Location())
}

func (s *Server) editTier(r *http.Request, tok wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	id, err := strconv.ParseUint(r.PathValue("tier"), 10, 8)
	if err != nil || id == 0 {
		return 0, nil, Errorf(ErrInvalid, fmt.Sprintf("tier ids are the numbers kidoctl event show %d lists", ev), "bad tier id %q", r.PathValue("tier"))
	}
	var in wire.TierEdit
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil && in.Entries == nil && in.Retired == nil {
		return 0, nil, nothingToChange("tier")
	}
	var name string
	if in.Name != nil {
		if name, err = checkTierName(*in.Name); err != nil {
			return 0, nil, err
		}
	}
	var entries kido.EntryRule
	if in.Entries != nil {
		if entries, err = checkEntries(*in.Entries); err != nil {
			return 0, nil, err
		}
	}
	t, err := s.store.EditTier(r.Context(), ev, uint8(id), func(t kido.Tier, others []kido.Tier) (kido.Tier, error) {
		if in.Name != nil {
			for _, o := range others {
				if strings.EqualFold(o.Name, name) {
					return t, Errorf(ErrConflict, "tier names are unique within an event, whatever their case", "event %d already has a tier %q", ev, o.Name)
				}
			}
			t.Name = name
		}
		if in.Entries != nil {
			t.Entries = entries
		}
		if in.Retired != nil {
			t.Retired = *in.Retired
		}
		return t, nil
	}, tok.Name, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("tier corrected", "event", ev, "tier", t.ID, "retired", t.Retired, "by", tok.Name)
	return http.StatusOK, t, nil
}

func (s *Server) editGate(r *http.Request, tok wire.Token) (int, any, error) {
	var in wire.GateEdit
	ev, id, err := gateRequest(r, &in)
	if err != nil {
		return 0, nil, err
	}
	if in.Name == nil && in.Direction == nil && in.Tiers == nil {
		return 0, nil, nothingToChange("gate")
	}
	g, err := s.store.EditGate(r.Context(), ev, id, func(g kido.Gate, tiers []kido.Tier) (kido.Gate, error) {
		if g.Revoked {
			return g, Errorf(ErrConflict, "a revoked gate stays revoked; add a new gate instead", "gate %d (%s) is revoked", g.ID, g.Name)
		}
		c := wire.GateCreate{Name: g.Name, Direction: g.Direction}
		for _, t := range g.Tiers {
			c.Tiers = append(c.Tiers, strconv.Itoa(int(t)))
		}
		if in.Name != nil {
			c.Name = *in.Name
		}
		if in.Direction != nil {
			if *in.Direction == "" {
				return g, Errorf(ErrInvalid, "use entry, exit or both", "empty direction")
			}
			c.Direction = *in.Direction
		}
		if in.Tiers != nil {
			c.Tiers = *in.Tiers
		}
		n, err := resolveGate(ev, c, tiers)
		if err != nil {
			return g, err
		}
		g.Name, g.Direction, g.Tiers = n.Name, n.Direction, n.Tiers
		return g, nil
	}, tok.Name, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("gate corrected", "event", ev, "gate", g.ID, "by", tok.Name)
	return http.StatusOK, g, nil
}

func (s *Server) history(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	es, err := s.store.Edits(r.Context(), ev)
	return http.StatusOK, es, err
}

// The parts of a correction every Store does alike.

// tierAndOthers returns the event's tier id among its tiers, and the
// others; ErrNotFound when it has none.
func tierAndOthers(event uint32, tiers []kido.Tier, id uint8) (kido.Tier, []kido.Tier, error) {
	var others []kido.Tier
	var t kido.Tier
	found := false
	for _, x := range tiers {
		if x.ID == id {
			t, found = x, true
		} else {
			others = append(others, x)
		}
	}
	if !found {
		return t, nil, Errorf(ErrNotFound, fmt.Sprintf("kidoctl event show %d lists its tiers", event), "event %d has no tier %d", event, id)
	}
	return t, others, nil
}

// correctedGate is the gate a store keeps after a correction: the settings
// a correction may change (name, direction, tiers) from edited, the rest
// (id, event, revoked) from old; ErrInvalid for a tier the event lacks.
func correctedGate(old, edited kido.Gate, tiers []kido.Tier) (kido.Gate, error) {
	for _, id := range edited.Tiers {
		if !slices.ContainsFunc(tiers, func(t kido.Tier) bool { return t.ID == id }) {
			return old, Errorf(ErrInvalid, "", "event %d has no tier %d", old.Event, id)
		}
	}
	g := old
	g.Name, g.Direction, g.Tiers = edited.Name, edited.Direction, edited.Tiers
	return g, nil
}

// EditedEvent is what edit makes of old, its id kept.
func EditedEvent(old kido.Event, entries Entries, edit func(kido.Event, Entries) (kido.Event, error)) (kido.Event, error) {
	e, err := edit(old, entries)
	e.ID = old.ID
	return e, err
}

// EditedTier finds tier id among all, the event's tiers, and returns it
// and what edit makes of it (given the others), its identity kept.
func EditedTier(event uint32, all []kido.Tier, id uint8, edit func(kido.Tier, []kido.Tier) (kido.Tier, error)) (old, t kido.Tier, err error) {
	old, others, err := tierAndOthers(event, all, id)
	if err != nil {
		return old, old, err
	}
	if t, err = edit(old, others); err != nil {
		return old, t, err
	}
	t.ID, t.Event = old.ID, old.Event
	return old, t, nil
}

// EditedGate is what edit makes of old (given the event's tiers), as
// correctedGate keeps it.
func EditedGate(old kido.Gate, tiers []kido.Tier, edit func(kido.Gate, []kido.Tier) (kido.Gate, error)) (kido.Gate, error) {
	g, err := edit(old, tiers)
	if err != nil {
		return g, err
	}
	return correctedGate(old, g, tiers)
}

// Correct stores a correction from old to edited in a store's
// transaction, unless it changes nothing: then old is returned and
// nothing is stored, logged or recorded. Otherwise record gets both in
// JSON, as a wire.Edit records them, and write stores edited, logs the
// change and returns the object as stored.
func Correct[T any](old, edited T, record func(before, after []byte) error, write func(T) (T, error)) (T, error) {
	b, err := json.Marshal(old)
	if err != nil {
		return old, fmt.Errorf("server: edit: %w", err)
	}
	a, err := json.Marshal(edited)
	if err != nil {
		return old, fmt.Errorf("server: edit: %w", err)
	}
	if bytes.Equal(a, b) {
		return old, nil
	}
	if err := record(b, a); err != nil {
		return old, err
	}
	return write(edited)
}
