package server

import (
	"errors"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// TestCorrectEventWindow: a new window must hold the entries recorded,
// with the gates' leeway; a correction that leaves the window alone is not
// held to it (a gate with a wider -leeway may have admitted outside it).
func TestCorrectEventWindow(t *testing.T) {
	jst := time.FixedZone("", 9*3600)
	start := time.Date(2027, 8, 1, 10, 0, 0, 0, jst)
	old := kido.Event{ID: 1, Name: "Fes", Venue: "Hall", Start: start, End: start.Add(11 * time.Hour)}
	span := EntrySpan{N: 2, First: start.Add(-4 * time.Minute), Last: start.Add(9 * time.Hour)}
	at := func(d time.Duration) *time.Time { t := start.Add(d); return &t }
	name := "Fes 2027"
	for _, c := range []struct {
		what string
		in   wire.EventEdit
		span EntrySpan
		err  error
	}{
		{"a later end", wire.EventEdit{End: at(12 * time.Hour)}, span, nil},
		{"a start within the leeway of the first entry", wire.EventEdit{Start: at(time.Minute)}, span, nil},
		{"a start after the first entry", wire.EventEdit{Start: at(2 * time.Minute)}, span, ErrConflict},
		{"an end before the last entry", wire.EventEdit{End: at(8 * time.Hour)}, span, ErrConflict},
		{"an end before the start", wire.EventEdit{End: at(-time.Hour)}, EntrySpan{}, ErrInvalid},
		{"any window without entries", wire.EventEdit{Start: at(10 * time.Hour)}, EntrySpan{}, nil},
		{"a name, entries outside the window", wire.EventEdit{Name: &name}, EntrySpan{N: 1, First: start.Add(-time.Hour), Last: start.Add(-time.Hour)}, nil},
		{"a zone", wire.EventEdit{TimeZone: ptr("Mars/Olympus")}, span, ErrInvalid},
	} {
		entries := func() (EntrySpan, error) { return c.span, nil }
		if c.in.Start == nil && c.in.End == nil {
			// Read only for a new window: it scans every admission.
			entries = func() (EntrySpan, error) {
				t.Errorf("%s: entries read for a correction that keeps the window", c.what)
				return c.span, nil
			}
		}
		e, err := correctEvent(old, c.in, entries)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.what, err, c.err)
		}
		if err != nil && e != old {
			t.Errorf("%s: refused, yet gave %+v", c.what, e)
		}
	}
}

func ptr[T any](v T) *T { return &v }
