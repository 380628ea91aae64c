package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// ReviewConflict implements server.Store.
func (s *Store) ReviewConflict(ctx context.Context, event, serial uint32, rv wire.Review) error {
	return s.write(ctx, func(tx *wtx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM tickets WHERE event = $1 AND serial = $2", event, serial).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "event %d has no ticket %d", event, serial)
		}
		if err != nil {
			return fmt.Errorf("postgres: review: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO conflict_reviews (event, serial, note, by_name, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (event, serial) DO UPDATE SET note = excluded.note, by_name = excluded.by_name, at = excluded.at`,
			event, serial, rv.Note, rv.By, fmtTime(rv.At))
		if err != nil {
			return fmt.Errorf("postgres: review: %w", err)
		}
		return nil
	})
}

// reviews reads the event's reviews of double entries, by serial.
func reviews(ctx context.Context, tx pgx.Tx, event uint32) (map[uint32]wire.Review, error) {
	rows, err := tx.Query(ctx, "SELECT serial, note, by_name, at FROM conflict_reviews WHERE event = $1", event)
	if err != nil {
		return nil, fmt.Errorf("postgres: reviews: %w", err)
	}
	out := map[uint32]wire.Review{}
	var serial int64
	var rv wire.Review
	var at string
	_, err = pgx.ForEachRow(rows, []any{&serial, &rv.Note, &rv.By, &at}, func() error {
		t, err := parseTime(at)
		if err != nil {
			return err
		}
		rv.At = t
		out[uint32(serial)] = rv
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: reviews: %w", err)
	}
	return out, nil
}
