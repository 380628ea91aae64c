package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// ReviewConflict implements server.Store.
func (s *Store) ReviewConflict(ctx context.Context, event, serial uint32, rv wire.Review) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM tickets WHERE event = ? AND serial = ?", event, serial).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "event %d has no ticket %d", event, serial)
		}
		if err != nil {
			return fmt.Errorf("sqlite: review: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO conflict_reviews (event, serial, note, by, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (event, serial) DO UPDATE SET note = excluded.note, by = excluded.by, at = excluded.at`,
			event, serial, rv.Note, rv.By, fmtTime(rv.At))
		if err != nil {
			return fmt.Errorf("sqlite: review: %w", err)
		}
		return nil
	})
}

// reviews reads the event's reviews of double entries, by serial.
func reviews(ctx context.Context, tx *sql.Tx, event uint32) (map[uint32]wire.Review, error) {
	rows, err := tx.QueryContext(ctx, "SELECT serial, note, by, at FROM conflict_reviews WHERE event = ?", event)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reviews: %w", err)
	}
	defer rows.Close()
	out := map[uint32]wire.Review{}
	for rows.Next() {
		var serial uint32
		var rv wire.Review
		var at string
		if err := rows.Scan(&serial, &rv.Note, &rv.By, &at); err != nil {
			return nil, fmt.Errorf("sqlite: reviews: %w", err)
		}
		if rv.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out[serial] = rv
	}
	return out, rows.Err()
}
