package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

func noEvent(id uint32) error {
	return server.Errorf(server.ErrNotFound, "kidoctl event list shows the events", "event %d not found", id)
}

const eventCols = "id, name, venue, start, end, time_zone"

func scanEvent(row interface{ Scan(...any) error }) (kido.Event, error) {
	var e kido.Event
	var start, end string
	if err := row.Scan(&e.ID, &e.Name, &e.Venue, &start, &end, &e.TimeZone); err != nil {
		return e, err
	}
	var err error
	if e.Start, err = time.Parse(time.RFC3339Nano, start); err != nil {
		return e, fmt.Errorf("sqlite: bad event start %q: %w", start, err)
	}
	if e.End, err = time.Parse(time.RFC3339Nano, end); err != nil {
		return e, fmt.Errorf("sqlite: bad event end %q: %w", end, err)
	}
	if loc := e.Location(nil); loc != nil {
		e.Start, e.End = e.Start.In(loc), e.End.In(loc)
	}
	return e, nil
}

func getEvent(ctx context.Context, q queryer, id uint32) (kido.Event, error) {
	e, err := scanEvent(q.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, noEvent(id)
	}
	if err != nil {
		return e, fmt.Errorf("sqlite: event %d: %w", id, err)
	}
	return e, nil
}

// CreateEvent implements server.Store.
func (s *Store) CreateEvent(ctx context.Context, in wire.EventCreate, key server.SealedKey, now time.Time) (kido.Event, error) {
	var ev kido.Event
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO events (name, venue, start, end, time_zone, created) VALUES (?, ?, ?, ?, ?, ?)",
			in.Name, in.Venue, in.Start.Format(time.RFC3339Nano), in.End.Format(time.RFC3339Nano), in.TimeZone, fmtTime(now))
		if err != nil {
			return fmt.Errorf("sqlite: create event: %w", err)
		}
		id, _ := res.LastInsertId()
		if ev, err = getEvent(ctx, tx, uint32(id)); err != nil {
			return err
		}
		if err := logChange(ctx, tx, ev.ID, wire.Change{Kind: wire.ChangeEvent, Event: &ev}); err != nil {
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
	if ids != nil {
		for _, id := range ids {
			e, err := getEvent(ctx, s.r, id)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+eventCols+" FROM events ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventDetail implements server.Store.
func (s *Store) EventDetail(ctx context.Context, id uint32) (wire.EventDetail, error) {
	var d wire.EventDetail
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if d.Event, err = getEvent(ctx, tx, id); err != nil {
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
		err = tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(revoked), 0) FROM tickets WHERE event = ?", id).Scan(&d.Issued, &d.Revoked)
		if err != nil {
			return fmt.Errorf("sqlite: count tickets: %w", err)
		}
		return nil
	})
	return d, err
}

// AddTier implements server.Store.
func (s *Store) AddTier(ctx context.Context, event uint32, name string, entries kido.EntryRule) (kido.Tier, error) {
	t := kido.Tier{Event: event, Name: name, Entries: entries}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		// Compared in Go, not by the column's NOCASE collation, which folds
		// ASCII only: the server and kidoctl find a tier by its name in
		// any case, Ä and ä or Ｖ and ｖ alike, so two such names would
		// make a name pick either tier.
		have, err := tiers(ctx, tx, event)
		if err != nil {
			return err
		}
		for _, h := range have {
			if strings.EqualFold(h.Name, name) {
				return server.Errorf(server.ErrConflict, "tier names are unique within an event, whatever their case", "event %d already has a tier %q", event, h.Name)
			}
		}
		var next int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM tiers WHERE event = ?", event).Scan(&next); err != nil {
			return fmt.Errorf("sqlite: add tier: %w", err)
		}
		if next > 255 {
			return server.Errorf(server.ErrConflict, "", "event %d has 255 tiers, the most a ticket can name", event)
		}
		t.ID = uint8(next)
		if _, err := tx.ExecContext(ctx, "INSERT INTO tiers (event, id, name, entries) VALUES (?, ?, ?, ?)", event, t.ID, name, entries); err != nil {
			return fmt.Errorf("sqlite: add tier: %w", err)
		}
		return logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeTier, Tier: &t})
	})
	return t, err
}

// Tiers implements server.Store.
func (s *Store) Tiers(ctx context.Context, event uint32) ([]kido.Tier, error) {
	var out []kido.Tier
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		var err error
		out, err = tiers(ctx, tx, event)
		return err
	})
	return out, err
}

func tiers(ctx context.Context, q queryer, event uint32) ([]kido.Tier, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, name, entries, retired FROM tiers WHERE event = ? ORDER BY id", event)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tiers: %w", err)
	}
	defer rows.Close()
	out := []kido.Tier{}
	for rows.Next() {
		t := kido.Tier{Event: event}
		if err := rows.Scan(&t.ID, &t.Name, &t.Entries, &t.Retired); err != nil {
			return nil, fmt.Errorf("sqlite: tiers: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

const keyCols = "event, id, public, current, revoked, created"

func scanKey(row interface{ Scan(...any) error }) (kido.Key, error) {
	var k kido.Key
	var created string
	if err := row.Scan(&k.Event, &k.ID, &k.Public, &k.Current, &k.Revoked, &created); err != nil {
		return k, err
	}
	var err error
	k.Created, err = parseTime(created)
	return k, err
}

func keys(ctx context.Context, q queryer, event uint32) ([]kido.Key, error) {
	query, args := "SELECT "+keyCols+" FROM keys ORDER BY event, created, id", []any{}
	if event != 0 {
		query, args = "SELECT "+keyCols+" FROM keys WHERE event = ? ORDER BY created, id", []any{event}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: keys: %w", err)
	}
	defer rows.Close()
	out := []kido.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// insertKey adds a key as the event's current one.
func insertKey(ctx context.Context, tx *sql.Tx, event uint32, key server.SealedKey, now time.Time) (kido.Key, error) {
	rows, err := tx.QueryContext(ctx, "UPDATE keys SET current = 0 WHERE event = ? AND current = 1 RETURNING "+keyCols, event)
	if err != nil {
		return kido.Key{}, fmt.Errorf("sqlite: add key: %w", err)
	}
	var old []kido.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return kido.Key{}, fmt.Errorf("sqlite: add key: %w", err)
		}
		old = append(old, k)
	}
	rows.Close()
	for _, k := range old {
		if err := logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeKey, Key: &k}); err != nil {
			return kido.Key{}, err
		}
	}
	k, err := scanKey(tx.QueryRowContext(ctx, "INSERT INTO keys (event, id, public, sealed, current, created) VALUES (?, ?, ?, ?, 1, ?) RETURNING "+keyCols,
		event, key.Public.ID().String(), key.Public.String(), key.Sealed, fmtTime(now)))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return k, server.Errorf(server.ErrConflict, "rotate again", "event %d already has a key with id %s", event, key.Public.ID())
		}
		return k, fmt.Errorf("sqlite: add key: %w", err)
	}
	return k, logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeKey, Key: &k})
}

// Keys implements server.Store.
func (s *Store) Keys(ctx context.Context, event uint32) ([]kido.Key, error) {
	var out []kido.Key
	err := s.read(ctx, func(tx *sql.Tx) error {
		if event != 0 {
			if _, err := getEvent(ctx, tx, event); err != nil {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		var ev uint32
		q, args := "SELECT COUNT(*), COALESCE(MIN(event), 0) FROM keys WHERE id = ?", []any{id}
		if event != 0 {
			q, args = q+" AND event = ?", append(args, event)
		}
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&n, &ev); err != nil {
			return fmt.Errorf("sqlite: revoke key: %w", err)
		}
		switch {
		case n == 0:
			return server.Errorf(server.ErrNotFound, "kidoctl keys list shows the keys", "no signing key %s", id)
		case n > 1:
			return server.Errorf(server.ErrConflict, "name the event with -event", "several events have a key %s", id)
		}
		var err error
		k, err = scanKey(tx.QueryRowContext(ctx, "UPDATE keys SET revoked = 1, current = 0 WHERE event = ? AND id = ? RETURNING "+keyCols, ev, id))
		if err != nil {
			return fmt.Errorf("sqlite: revoke key: %w", err)
		}
		if err := logChange(ctx, tx, ev, wire.Change{Kind: wire.ChangeKey, Key: &k}); err != nil {
			return err
		}
		return markRevoked(ctx, tx, "keys", "id", ev, id)
	})
	return k, err
}

// markRevoked stores the position of the change just logged as the
// revocation position of a ticket or key (server.Issued); table and
// column are constants of this package, never input.
func markRevoked(ctx context.Context, tx queryer, table, column string, event uint32, id any) error {
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET revoked_pos = last_insert_rowid() WHERE event = ? AND "+column+" = ?", event, id); err != nil {
		return fmt.Errorf("sqlite: revoke: %w", err)
	}
	return nil
}

// CurrentKey implements server.Store.
func (s *Store) CurrentKey(ctx context.Context, event uint32) (server.SealedKey, error) {
	var pub string
	var sealed []byte
	err := s.r.QueryRowContext(ctx, "SELECT public, sealed FROM keys WHERE event = ? AND current = 1 AND revoked = 0", event).Scan(&pub, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return server.SealedKey{}, server.ErrNotFound
	}
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("sqlite: current key: %w", err)
	}
	return sealedKey(pub, sealed)
}
