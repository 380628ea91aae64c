package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

func noEvent(id uint32) error {
	return server.Errorf(server.ErrNotFound, "kidoctl event list shows the events", "event %d not found", id)
}

const eventCols = "id, name, venue, start_at, end_at, time_zone"

func scanEvent(row pgx.Row) (kido.Event, error) {
	var e kido.Event
	var start, end string
	if err := row.Scan(&e.ID, &e.Name, &e.Venue, &start, &end, &e.TimeZone); err != nil {
		return e, err
	}
	var err error
	if e.Start, err = time.Parse(time.RFC3339Nano, start); err != nil {
		return e, fmt.Errorf("postgres: bad event start %q: %w", start, err)
	}
	if e.End, err = time.Parse(time.RFC3339Nano, end); err != nil {
		return e, fmt.Errorf("postgres: bad event end %q: %w", end, err)
	}
	if loc := e.Location(nil); loc != nil {
		e.Start, e.End = e.Start.In(loc), e.End.In(loc)
	}
	return e, nil
}

// getEvent reads an event; lock adds FOR UPDATE, which serialises the
// event's administrative writes (tiers, keys, tickets, gates).
func getEvent(ctx context.Context, q querier, id uint32, lock bool) (kido.Event, error) {
	query := "SELECT " + eventCols + " FROM events WHERE id = $1"
	if lock {
		query += " FOR UPDATE"
	}
	e, err := scanEvent(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, noEvent(id)
	}
	if err != nil {
		return e, fmt.Errorf("postgres: event %d: %w", id, err)
	}
	return e, nil
}

// CreateEvent implements server.Store.
func (s *Store) CreateEvent(ctx context.Context, in wire.EventCreate, key server.SealedKey, now time.Time) (kido.Event, error) {
	var ev kido.Event
	err := s.write(ctx, func(tx *wtx) error {
		var id uint32
		err := tx.QueryRow(ctx, "INSERT INTO events (name, venue, start_at, end_at, time_zone, created) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			in.Name, in.Venue, in.Start.Format(time.RFC3339Nano), in.End.Format(time.RFC3339Nano), in.TimeZone, fmtTime(now)).Scan(&id)
		if err != nil {
			return fmt.Errorf("postgres: create event: %w", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO feed_head (event) VALUES ($1)", id); err != nil {
			return fmt.Errorf("postgres: create event: %w", err)
		}
		if ev, err = getEvent(ctx, tx, id, false); err != nil {
			return err
		}
		if err := tx.logChange(ev.ID, wire.Change{Kind: wire.ChangeEvent, Event: &ev}); err != nil {
			return err
		}
		_, err = insertKey(ctx, tx, ev.ID, key, now)
		return err
	})
	return ev, err
}

// Events implements server.Store.
func (s *Store) Events(ctx context.Context, ids []uint32) ([]kido.Event, error) {
	out := []kido.Event{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		if ids != nil {
			for _, id := range ids {
				e, err := getEvent(ctx, tx, id, false)
				if err != nil {
					return err
				}
				out = append(out, e)
			}
			return nil
		}
		rows, err := tx.Query(ctx, "SELECT "+eventCols+" FROM events ORDER BY id")
		if err != nil {
			return fmt.Errorf("postgres: events: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return fmt.Errorf("postgres: events: %w", err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EventDetail implements server.Store.
func (s *Store) EventDetail(ctx context.Context, id uint32) (wire.EventDetail, error) {
	var d wire.EventDetail
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if d.Event, err = getEvent(ctx, tx, id, false); err != nil {
			return err
		}
		if d.Tiers, err = tiers(ctx, tx, id); err != nil {
			return err
		}
		if d.Keys, err = keys(ctx, tx, id); err != nil {
			return err
		}
		if d.Gates, err = gates(ctx, tx, id); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, "SELECT COUNT(*), COUNT(*) FILTER (WHERE revoked) FROM tickets WHERE event = $1", id).Scan(&d.Issued, &d.Revoked)
		if err != nil {
			return fmt.Errorf("postgres: count tickets: %w", err)
		}
		return nil
	})
	return d, err
}

// AddTier implements server.Store.
func (s *Store) AddTier(ctx context.Context, event uint32, name string, entries kido.EntryRule) (kido.Tier, error) {
	t := kido.Tier{Event: event, Name: name, Entries: entries}
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := getEvent(ctx, tx, event, true); err != nil {
			return err
		}
		// Names are compared in Go, as the server and kidoctl look them up
		// (strings.EqualFold); the event's row lock keeps two instances
		// from adding the same name at once.
		have, err := tiers(ctx, tx, event)
		if err != nil {
			return err
		}
		for _, h := range have {
			if strings.EqualFold(h.Name, name) {
				return server.Errorf(server.ErrConflict, "tier names are unique within an event, whatever their case", "event %d already has a tier %q", event, h.Name)
			}
		}
		next := len(have) + 1
		if len(have) > 0 {
			next = int(have[len(have)-1].ID) + 1
		}
		if next > 255 {
			return server.Errorf(server.ErrConflict, "", "event %d has 255 tiers, the most a ticket can name", event)
		}
		t.ID = uint8(next)
		if _, err := tx.Exec(ctx, "INSERT INTO tiers (event, id, name, entries) VALUES ($1, $2, $3, $4)", event, int16(t.ID), name, int(entries)); err != nil {
			return fmt.Errorf("postgres: add tier: %w", err)
		}
		return tx.logChange(event, wire.Change{Kind: wire.ChangeTier, Tier: &t})
	})
	return t, err
}

// Tiers implements server.Store.
func (s *Store) Tiers(ctx context.Context, event uint32) ([]kido.Tier, error) {
	var out []kido.Tier
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		var err error
		out, err = tiers(ctx, tx, event)
		return err
	})
	return out, err
}

// tiers returns the event's tiers in id order.
func tiers(ctx context.Context, q querier, event uint32) ([]kido.Tier, error) {
	rows, err := q.Query(ctx, "SELECT id, name, entries, retired FROM tiers WHERE event = $1 ORDER BY id", event)
	if err != nil {
		return nil, fmt.Errorf("postgres: tiers: %w", err)
	}
	defer rows.Close()
	out := []kido.Tier{}
	for rows.Next() {
		t := kido.Tier{Event: event}
		var id int16
		var entries int
		if err := rows.Scan(&id, &t.Name, &entries, &t.Retired); err != nil {
			return nil, fmt.Errorf("postgres: tiers: %w", err)
		}
		t.ID, t.Entries = uint8(id), kido.EntryRule(entries)
		out = append(out, t)
	}
	return out, rows.Err()
}

const keyCols = "event, id, public, current, revoked, created"

func scanKey(row pgx.Row) (kido.Key, error) {
	var k kido.Key
	var created string
	if err := row.Scan(&k.Event, &k.ID, &k.Public, &k.Current, &k.Revoked, &created); err != nil {
		return k, err
	}
	var err error
	k.Created, err = parseTime(created)
	return k, err
}

func keys(ctx context.Context, q querier, event uint32) ([]kido.Key, error) {
	query, args := "SELECT "+keyCols+" FROM keys ORDER BY event, created, id", []any{}
	if event != 0 {
		query, args = "SELECT "+keyCols+" FROM keys WHERE event = $1 ORDER BY created, id", []any{event}
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: keys: %w", err)
	}
	defer rows.Close()
	out := []kido.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// insertKey adds a key as the event's current one; the caller holds the
// event's row lock or created the event.
func insertKey(ctx context.Context, tx *wtx, event uint32, key server.SealedKey, now time.Time) (kido.Key, error) {
	rows, err := tx.Query(ctx, "UPDATE keys SET current = false WHERE event = $1 AND current RETURNING "+keyCols, event)
	if err != nil {
		return kido.Key{}, fmt.Errorf("postgres: add key: %w", err)
	}
	old, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kido.Key, error) { return scanKey(r) })
	if err != nil {
		return kido.Key{}, fmt.Errorf("postgres: add key: %w", err)
	}
	for _, k := range old {
		if err := tx.logChange(event, wire.Change{Kind: wire.ChangeKey, Key: &k}); err != nil {
			return kido.Key{}, err
		}
	}
	// A key stored already (same public key, or same id in the event) is
	// the caller's conflict; the error rolls back the update above.
	k, err := scanKey(tx.QueryRow(ctx, "INSERT INTO keys (event, id, public, sealed, current, created) VALUES ($1, $2, $3, $4, true, $5) ON CONFLICT DO NOTHING RETURNING "+keyCols,
		event, key.Public.ID().String(), key.Public.String(), key.Sealed, fmtTime(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, server.Errorf(server.ErrConflict, "rotate again", "event %d already has a key with id %s", event, key.Public.ID())
	}
	if err != nil {
		return k, fmt.Errorf("postgres: add key: %w", err)
	}
	return k, tx.logChange(event, wire.Change{Kind: wire.ChangeKey, Key: &k})
}

// Keys implements server.Store.
func (s *Store) Keys(ctx context.Context, event uint32) ([]kido.Key, error) {
	var out []kido.Key
	err := s.read(ctx, func(tx pgx.Tx) error {
		if event != 0 {
			if _, err := getEvent(ctx, tx, event, false); err != nil {
				return err
			}
		}
		var err error
		out, err = keys(ctx, tx, event)
		return err
	})
	return out, err
}

// AddKey implements server.Store.
func (s *Store) AddKey(ctx context.Context, event uint32, key server.SealedKey, now time.Time) (kido.Key, error) {
	var k kido.Key
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := getEvent(ctx, tx, event, true); err != nil {
			return err
		}
		var err error
		k, err = insertKey(ctx, tx, event, key, now)
		return err
	})
	return k, err
}

// RevokeKey implements server.Store.
func (s *Store) RevokeKey(ctx context.Context, event uint32, id string) (kido.Key, error) {
	var k kido.Key
	err := s.write(ctx, func(tx *wtx) error {
		var n int
		var ev uint32
		q, args := "SELECT COUNT(*), COALESCE(MIN(event), 0) FROM keys WHERE id = $1", []any{id}
		if event != 0 {
			q, args = q+" AND event = $2", append(args, event)
		}
		if err := tx.QueryRow(ctx, q, args...).Scan(&n, &ev); err != nil {
			return fmt.Errorf("postgres: revoke key: %w", err)
		}
		switch {
		case n == 0:
			return server.Errorf(server.ErrNotFound, "kidoctl keys list shows the keys", "no signing key %s", id)
		case n > 1:
			return server.Errorf(server.ErrConflict, "name the event with -event", "several events have a key %s", id)
		}
		if _, err := getEvent(ctx, tx, ev, true); err != nil {
			return err
		}
		var err error
		k, err = scanKey(tx.QueryRow(ctx, "UPDATE keys SET revoked = true, current = false WHERE event = $1 AND id = $2 RETURNING "+keyCols, ev, id))
		if err != nil {
			return fmt.Errorf("postgres: revoke key: %w", err)
		}
		return tx.logRevocation(ev, wire.Change{Kind: wire.ChangeKey, Key: &k}, &revocation{"keys", "id", id})
	})
	return k, err
}

// CurrentKey implements server.Store.
func (s *Store) CurrentKey(ctx context.Context, event uint32) (server.SealedKey, error) {
	var pub string
	var sealed []byte
	err := s.pool.QueryRow(ctx, "SELECT public, sealed FROM keys WHERE event = $1 AND current AND NOT revoked", event).Scan(&pub, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return server.SealedKey{}, server.ErrNotFound
	}
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("postgres: current key: %w", err)
	}
	return sealedKey(pub, sealed)
}
