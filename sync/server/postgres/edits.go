package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// EditEvent implements server.Store. The event's row lock orders it with
// the event's other administrative writes, as AddTier.
func (s *Store) EditEvent(ctx context.Context, event uint32, edit func(kido.Event, server.Entries) (kido.Event, error), by string, now time.Time) (kido.Event, error) {
	var e kido.Event
	err := s.write(ctx, func(tx *wtx) error {
		old, err := getEvent(ctx, tx, event, true)
		if err != nil {
			return err
		}
		entries := func() (server.EntrySpan, error) { return entrySpan(ctx, tx, event) }
		if e, err = server.EditedEvent(old, entries, edit); err != nil {
			return err
		}
		e, err = server.Correct(old, e, recordEdit(ctx, tx, event, wire.EditEvent, event, by, now), func(e kido.Event) (kido.Event, error) {
			if _, err := tx.Exec(ctx, "UPDATE events SET name = $1, venue = $2, start_at = $3, end_at = $4, time_zone = $5 WHERE id = $6",
				e.Name, e.Venue, e.Start.Format(time.RFC3339Nano), e.End.Format(time.RFC3339Nano), e.TimeZone, event); err != nil {
				return e, fmt.Errorf("postgres: edit event: %w", err)
			}
			e, err := getEvent(ctx, tx, event, false)
			if err != nil {
				return e, err
			}
			return e, tx.logChange(event, wire.Change{Kind: wire.ChangeEvent, Event: &e})
		})
		return err
	})
	return e, err
}

// entrySpan reads the times of the event's counted entries and manual
// admissions, parsed: RFC 3339 text with trimmed fractions does not sort
// as the times do.
func entrySpan(ctx context.Context, q querier, event uint32) (server.EntrySpan, error) {
	var span server.EntrySpan
	rows, err := q.Query(ctx, "SELECT corrected FROM admissions WHERE event = $1 AND status = '' AND kind <> $2", event, kido.KindExit)
	if err != nil {
		return span, fmt.Errorf("postgres: entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return span, fmt.Errorf("postgres: entries: %w", err)
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
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := getEvent(ctx, tx, event, true); err != nil {
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
			if _, err := tx.Exec(ctx, "UPDATE tiers SET name = $1, entries = $2, retired = $3 WHERE event = $4 AND id = $5",
				t.Name, int(t.Entries), t.Retired, event, int16(tier)); err != nil {
				return t, fmt.Errorf("postgres: edit tier: %w", err)
			}
			return t, tx.logChange(event, wire.Change{Kind: wire.ChangeTier, Tier: &t})
		})
		return err
	})
	return t, err
}

// EditGate implements server.Store.
func (s *Store) EditGate(ctx context.Context, event, gate uint32, edit func(kido.Gate, []kido.Tier) (kido.Gate, error), by string, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := getEvent(ctx, tx, event, true); err != nil {
			return err
		}
		old, err := scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1 AND event = $2 FOR UPDATE", gate, event))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", event), "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("postgres: edit gate: %w", err)
		}
		ts, err := tiers(ctx, tx, event)
		if err != nil {
			return err
		}
		if g, err = server.EditedGate(old, ts, edit); err != nil {
			return err
		}
		g, err = server.Correct(old, g, recordEdit(ctx, tx, event, wire.EditGate, gate, by, now), func(g kido.Gate) (kido.Gate, error) {
			if _, err := tx.Exec(ctx, "UPDATE gates SET name = $1, tiers = $2, direction = $3 WHERE id = $4",
				g.Name, int64s(g.Tiers), string(g.Direction), gate); err != nil {
				return g, fmt.Errorf("postgres: edit gate: %w", err)
			}
			return g, tx.logChange(event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
		})
		return err
	})
	return g, err
}

// recordEdit is server.Correct's record for an edit of an object by by
// at now: it stores the object before and after in JSON.
func recordEdit(ctx context.Context, tx *wtx, event uint32, object string, ref uint32, by string, now time.Time) func(before, after []byte) error {
	return func(b, a []byte) error {
		if _, err := tx.Exec(ctx, "INSERT INTO edits (event, object, ref, by_name, at, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			event, object, ref, by, fmtTime(now), string(b), string(a)); err != nil {
			return fmt.Errorf("postgres: record edit: %w", err)
		}
		return nil
	}
}

// Edits implements server.Store.
func (s *Store) Edits(ctx context.Context, event uint32) ([]wire.Edit, error) {
	out := []wire.Edit{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT id, event, object, ref, by_name, at, before, after FROM edits WHERE event = $1 ORDER BY id", event)
		if err != nil {
			return fmt.Errorf("postgres: edits: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e wire.Edit
			var at, before, after string
			var ev, ref int64
			if err := rows.Scan(&e.ID, &ev, &e.Object, &ref, &e.By, &at, &before, &after); err != nil {
				return fmt.Errorf("postgres: edits: %w", err)
			}
			if e.At, err = parseTime(at); err != nil {
				return err
			}
			e.Event, e.Ref = uint32(ev), uint32(ref)
			e.Before, e.After = json.RawMessage(before), json.RawMessage(after)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
