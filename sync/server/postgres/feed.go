package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido/sync/server"
)

// Why the feed can skip nothing, however many instances commit at once
// (docs/sync-protocol.md §4.4). Positions are per event. A transaction
// appends its changes of event e last, just before COMMIT, at positions
// taken by UPDATE feed_head SET head = head + n WHERE event = e: that
// update holds e's feed_head row lock until the transaction ends.
//
//  1. Positions of e are given out in commit order. A second transaction's
//     UPDATE waits for the first holder's transaction to end, then reads
//     the head the first committed (READ COMMITTED re-reads the updated
//     row), so it takes the next positions only after the first committed;
//     positions are dense and each holder's come after all earlier ones.
//  2. A commit is visible before its row lock is released. PostgreSQL
//     marks a transaction committed in the proc array (what snapshots
//     read) before it releases its locks, so when the second transaction
//     gets the lock, every snapshot taken from then on sees the first.
//  3. Hence any snapshot that sees position p of e sees every position of
//     e below p: p's transaction got its lock after all of them were
//     visible, and became visible itself only later. A read of
//     pos > cursor in one snapshot returns a prefix of what is yet to
//     come, and a cursor moved to what it returned (or to the head seen
//     in the same snapshot) never passes a position that commits later.
//
// A rolled-back transaction gives its positions back with the row's
// update, so there are no holes to wait for either. The lock is held
// only for the final statements and the commit, and only against writers
// of the same event.

// head returns the last row of event's change log (the zero Cursor when
// it is empty), as of q's snapshot.
func head(ctx context.Context, q querier, event uint32) (server.Cursor, error) {
	var c server.Cursor
	err := q.QueryRow(ctx, "SELECT pos, tag FROM changes WHERE event = $1 ORDER BY pos DESC LIMIT 1", event).Scan(&c.Pos, &c.Tag)
	if errors.Is(err, pgx.ErrNoRows) {
		return server.Cursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("postgres: change log head: %w", err)
	}
	return c, nil
}

// cursorValid reports whether c still names a row of event's log.
func cursorValid(ctx context.Context, q querier, event uint32, c server.Cursor) (bool, error) {
	if c.Pos == 0 {
		// The start of the log is a valid place only while nothing was
		// pruned: the event's first row is still there, or the event has
		// none (its head is never pruned).
		var ok bool
		err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM changes WHERE event = $1 AND pos = 1) OR NOT EXISTS (SELECT 1 FROM changes WHERE event = $1)", event).Scan(&ok)
		if err != nil {
			return false, fmt.Errorf("postgres: cursor: %w", err)
		}
		return ok, nil
	}
	// A cursor names a row of its own event, except one given out by a
	// SQLite store before copy-store (CopySQLite): there positions were
	// global, and an idle event's gates hold the log head, a row of any
	// event. Every position a copied event gives out here is above the
	// copied ones, so reading the event's rows after such a cursor skips
	// nothing; the random tag is what makes it name that very row.
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM changes WHERE pos = $1 AND tag = $2 AND (event = $3 OR pos <= (SELECT last FROM copied_log)))", c.Pos, c.Tag, event).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("postgres: cursor: %w", err)
	}
	return ok, nil
}

// Changes implements server.Store.
func (s *Store) Changes(ctx context.Context, event uint32, c server.Cursor, limit int) (server.FeedPage, error) {
	var p server.FeedPage
	err := s.read(ctx, func(tx pgx.Tx) error {
		p = server.FeedPage{}
		ok, err := cursorValid(ctx, tx, event, c)
		if err != nil || !ok {
			p.Resnapshot = !ok
			return err
		}
		rows, err := tx.Query(ctx, "SELECT pos, tag, payload FROM changes WHERE event = $1 AND pos > $2 ORDER BY pos LIMIT $3", event, c.Pos, limit)
		if err != nil {
			return fmt.Errorf("postgres: changes: %w", err)
		}
		var last server.Cursor
		var payload string
		if _, err := pgx.ForEachRow(rows, []any{&last.Pos, &last.Tag, &payload}, func() error {
			p.Changes = append(p.Changes, json.RawMessage(payload))
			return nil
		}); err != nil {
			return fmt.Errorf("postgres: changes: %w", err)
		}
		if len(p.Changes) == limit {
			p.Next = last
			return nil
		}
		p.Next, err = head(ctx, tx, event)
		return err
	})
	return p, err
}

// PruneChanges implements server.Store.
func (s *Store) PruneChanges(ctx context.Context, cutoff, ended time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		n = 0
		// Event ends keep the venue's offset, so they are compared as
		// times; each event's head row stays.
		tag, err := tx.Exec(ctx, `DELETE FROM changes c USING events e
			WHERE c.event = e.id AND e.end_at::timestamptz < $2 AND c.created < $1
			AND c.pos < (SELECT MAX(pos) FROM changes l WHERE l.event = c.event)`, cutoff, ended)
		if err != nil {
			return fmt.Errorf("postgres: prune: %w", err)
		}
		n = tag.RowsAffected()
		return nil
	})
	return n, err
}

// WatchChanges implements server.ChangeNotifier: it listens on its own
// connection for the notifications every instance's commits send, and
// calls changed with each one's event. Each time the LISTEN takes effect
// (at start, and after a lost connection, which lost is told of) it calls
// changed(0): a commit notified before then reached nobody, and a poll
// waiting since must read the log again. It connects again after a loss,
// backing off up to 5 s, until ctx ends.
func (s *Store) WatchChanges(ctx context.Context, changed func(event uint32), lost func(error)) {
	backoff := 100 * time.Millisecond
	for {
		err := s.listen(ctx, changed, func() {
			backoff = 100 * time.Millisecond
			changed(0)
		})
		if ctx.Err() != nil {
			return
		}
		lost(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen holds one LISTEN until its connection fails or ctx ends.
func (s *Store) listen(ctx context.Context, changed func(uint32), connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("postgres: listen: %w", err)
		}
		if ev, err := strconv.ParseUint(n.Payload, 10, 32); err == nil {
			changed(uint32(ev))
		}
	}
}
