package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// EditEvent implements server.Store.
func (s *Store) EditEvent(ctx context.Context, event uint32, edit func(kido.Event, server.Entries) (kido.Event, error), by string, now time.Time) (kido.Event, error) {
	var e kido.Event
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := getEvent(ctx, tx, event)
		if err != nil {
			return err
		}
		entries := func() (server.EntrySpan, error) { return entrySpan(ctx, tx, event) }
		if e, err = server.EditedEvent(old, entries, edit); err != nil {
			return err
		}
		e, err = server.Correct(old, e, recordEdit(ctx, tx, event, wire.EditEvent, event, by, now), func(e kido.Event) (kido.Event, error) {
			if _, err := tx.ExecContext(ctx, "UPDATE events SET name = ?, venue = ?, start = ?, end = ?, time_zone = ? WHERE id = ?",
				e.Name, e.Venue, e.Start.Format(time.RFC3339Nano), e.End.Format(time.RFC3339Nano), e.TimeZone, event); err != nil {
				return e, fmt.Errorf("sqlite: edit event: %w", err)
			}
			e, err := getEvent(ctx, tx, event)
			if err != nil {
				return e, err
			}
			return e, logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeEvent, Event: &e})
		})
		return err
	})
	return e, err
}

// entrySpan reads the times of the event's counted entries and manual
// admissions. Times are parsed rather than compared as text: RFC 3339
// with trimmed fractions does not sort as the times do.
func entrySpan(ctx context.Context, tx *sql.Tx, event uint32) (server.EntrySpan, error) {
	var span server.EntrySpan
	rows, err := tx.QueryContext(ctx, "SELECT corrected FROM admissions WHERE event = ? AND status = '' AND kind <> ?", event, kido.KindExit)
	if err != nil {
		return span, fmt.Errorf("sqlite: entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return span, fmt.Errorf("sqlite: entries: %w", err)
		}
		t, err := parseTime(c)
		if err != nil {
			return span, err
		}
		span = span.With(t)
	}
	return span, rows.Err()
}

// EditTier implements server.Store.
func (s *Store) EditTier(ctx context.Context, event uint32, tier uint8, edit func(kido.Tier, []kido.Tier) (kido.Tier, error), by string, now time.Time) (kido.Tier, error) {
	var t kido.Tier
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		all, err := tiers(ctx, tx, event)
		if err != nil {
			return err
		}
		var old kido.Tier
		if old, t, err = server.EditedTier(event, all, tier, edit); err != nil {
			return err
		}
		t, err = server.Correct(old, t, recordEdit(ctx, tx, event, wire.EditTier, uint32(tier), by, now), func(t kido.Tier) (kido.Tier, error) {
			if _, err := tx.ExecContext(ctx, "UPDATE tiers SET name = ?, entries = ?, retired = ? WHERE event = ? AND id = ?", t.Name, t.Entries, t.Retired, event, tier); err != nil {
				return t, fmt.Errorf("sqlite: edit tier: %w", err)
			}
			return t, logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeTier, Tier: &t})
		})
		return err
	})
	return t, err
}

// EditGate implements server.Store.
func (s *Store) EditGate(ctx context.Context, event, gate uint32, edit func(kido.Gate, []kido.Tier) (kido.Gate, error), by string, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ? AND event = ?", gate, event))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", event), "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: edit gate: %w", err)
		}
		ts, err := tiers(ctx, tx, event)
		if err != nil {
			return err
		}
		if g, err = server.EditedGate(old, ts, edit); err != nil {
			return err
		}
		g, err = server.Correct(old, g, recordEdit(ctx, tx, event, wire.EditGate, gate, by, now), func(g kido.Gate) (kido.Gate, error) {
			if _, err := tx.ExecContext(ctx, "UPDATE gates SET name = ?, tiers = ?, direction = ? WHERE id = ?", g.Name, joinIDs(g.Tiers), g.Direction, gate); err != nil {
				return g, fmt.Errorf("sqlite: edit gate: %w", err)
			}
			return g, logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
		})
		return err
	})
	return g, err
}

// recordEdit is server.Correct's record for an edit of an object by by
// at now: it stores the object before and after in JSON.
func recordEdit(ctx context.Context, tx *sql.Tx, event uint32, object string, ref uint32, by string, now time.Time) func(before, after []byte) error {
	return func(b, a []byte) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO edits (event, object, ref, by, at, before, after) VALUES (?, ?, ?, ?, ?, ?, ?)",
			event, object, ref, by, fmtTime(now), string(b), string(a)); err != nil {
			return fmt.Errorf("sqlite: record edit: %w", err)
		}
		return nil
	}
}

// Edits implements server.Store.
func (s *Store) Edits(ctx context.Context, event uint32) ([]wire.Edit, error) {
	out := []wire.Edit{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT id, event, object, ref, by, at, before, after FROM edits WHERE event = ? ORDER BY id", event)
		if err != nil {
			return fmt.Errorf("sqlite: edits: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e wire.Edit
			var at, before, after string
			if err := rows.Scan(&e.ID, &e.Event, &e.Object, &e.Ref, &e.By, &at, &before, &after); err != nil {
				return fmt.Errorf("sqlite: edits: %w", err)
			}
			if e.At, err = parseTime(at); err != nil {
				return err
			}
			e.Before, e.After = json.RawMessage(before), json.RawMessage(after)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
