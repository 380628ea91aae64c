package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido/sync/server"
)

// Why the feed can skip nothing (docs/sync-protocol.md §4.4): every change
// is appended by logChange inside the write transaction of the change
// itself, on the Store's single writer connection, with BEGIN IMMEDIATE.
// SQLite admits one write transaction at a time and assigns seq (an
// AUTOINCREMENT rowid) inside it, so a higher seq always belongs to a later
// commit. A reader in WAL mode sees the database as of one commit, hence
// exactly a prefix of the log: once a read has returned seq n, every seq
// below n is visible to it, and reading "seq > cursor" in order can never
// pass over a row that commits later.

// changeTime is the layout of changes.created, as SQLite's strftime
// writes it (fixed width, so text order is time order).
const changeTime = "2006-01-02T15:04:05.000Z"

// head returns the last row of the change log (the zero Cursor when the
// log is empty).
func head(ctx context.Context, q queryer) (server.Cursor, error) {
	var c server.Cursor
	err := q.QueryRowContext(ctx, "SELECT seq, tag FROM changes ORDER BY seq DESC LIMIT 1").Scan(&c.Pos, &c.Tag)
	if errors.Is(err, sql.ErrNoRows) {
		return server.Cursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: change log head: %w", err)
	}
	return c, nil
}

// cursorValid reports whether c still names a row of this log.
func cursorValid(ctx context.Context, q queryer, c server.Cursor) (bool, error) {
	if c.Pos == 0 {
		// The start of the log is a valid place only while nothing was
		// pruned: the first row ever written (seq 1) is still there, or
		// nothing was ever written (the head is never pruned).
		var n int
		err := q.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM changes WHERE seq = 1) + (SELECT COUNT(*) = 0 FROM changes)").Scan(&n)
		if err != nil {
			return false, fmt.Errorf("sqlite: cursor: %w", err)
		}
		return n > 0, nil
	}
	var tag string
	err := q.QueryRowContext(ctx, "SELECT tag FROM changes WHERE seq = ?", c.Pos).Scan(&tag)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: cursor: %w", err)
	}
	return tag == c.Tag, nil
}

// Changes implements server.Store.
func (s *Store) Changes(ctx context.Context, event uint32, c server.Cursor, limit int) (server.FeedPage, error) {
	var p server.FeedPage
	err := s.read(ctx, func(tx *sql.Tx) error {
		ok, err := cursorValid(ctx, tx, c)
		if err != nil || !ok {
			p.Resnapshot = !ok
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT seq, tag, payload FROM changes WHERE event = ? AND seq > ? ORDER BY seq LIMIT ?", event, c.Pos, limit)
		if err != nil {
			return fmt.Errorf("sqlite: changes: %w", err)
		}
		defer rows.Close()
		var last server.Cursor
		for rows.Next() {
			var payload string
			if err := rows.Scan(&last.Pos, &last.Tag, &payload); err != nil {
				return fmt.Errorf("sqlite: changes: %w", err)
			}
			p.Changes = append(p.Changes, json.RawMessage(payload))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: changes: %w", err)
		}
		if len(p.Changes) == limit {
			p.Next = last
			return nil
		}
		p.Next, err = head(ctx, tx)
		return err
	})
	return p, err
}

// PruneChanges implements server.Store.
func (s *Store) PruneChanges(ctx context.Context, cutoff, ended time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Event ends keep the venue's offset in the database, so they are
		// compared as times here, not as text.
		rows, err := tx.QueryContext(ctx, "SELECT id, end FROM events")
		if err != nil {
			return fmt.Errorf("sqlite: prune: %w", err)
		}
		var done []uint32
		for rows.Next() {
			var id uint32
			var end string
			if err := rows.Scan(&id, &end); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			t, err := time.Parse(time.RFC3339Nano, end)
			if err == nil && t.Before(ended) {
				done = append(done, id)
			}
		}
		rows.Close()
		for _, id := range done {
			res, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE event = ? AND created < ? AND seq < (SELECT MAX(seq) FROM changes)", id, cutoff.UTC().Format(changeTime))
			if err != nil {
				return fmt.Errorf("sqlite: prune: %w", err)
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return n, err
}
