package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido/sync/server"
)

// copyTable is one table copied from a SQLite store: the query that reads
// it there, in the column order of cols here, and how a column's SQLite
// value becomes this store's.
type copyTable struct {
	name   string
	cols   []string
	query  string
	bools  []string // INTEGER 0/1 there, boolean here
	lists  []string // comma-separated ids there, an array here
	serial bool     // an identity id column to move past the copied ids
}

// copyTables follow sync/server/sqlite's schema, version 9, in an order
// that satisfies the foreign keys.
var copyTables = []copyTable{
	{name: "identity", cols: []string{"id", "public", "sealed"}, query: "SELECT id, public, sealed FROM identity"},
	{name: "events", cols: []string{"id", "name", "venue", "start_at", "end_at", "time_zone", "created"},
		query: "SELECT id, name, venue, start, end, time_zone, created FROM events", serial: true},
	{name: "tiers", cols: []string{"event", "id", "name", "entries", "retired"}, query: "SELECT event, id, name, entries, retired FROM tiers", bools: []string{"retired"}},
	{name: "keys", cols: []string{"event", "id", "public", "sealed", "current", "revoked", "revoked_pos", "created"},
		query: "SELECT event, id, public, sealed, current, revoked, revoked_pos, created FROM keys", bools: []string{"current", "revoked"}},
	{name: "tickets", cols: []string{"event", "serial", "tier", "holder", "reading", "email", "order_ref", "text", "key", "batch", "item", "revoked", "revoked_pos", "replaces", "replaced_by"},
		query: "SELECT event, serial, tier, holder, reading, email, order_ref, text, key, batch, item, revoked, revoked_pos, replaces, replaced_by FROM tickets", bools: []string{"revoked"}},
	{name: "gates", cols: []string{"id", "event", "name", "tiers", "direction", "revoked", "device", "enrolled", "code_hash", "code_expires", "acked", "audit_acked", "last_contact", "pending", "clock_skew_ms", "version", "pub", "mesh", "revoked_at"},
		query: "SELECT id, event, name, tiers, direction, revoked, device, enrolled, code_hash, code_expires, acked, audit_acked, last_contact, pending, clock_skew_ms, version, pub, mesh, revoked_at FROM gates",
		bools: []string{"revoked"}, lists: []string{"tiers"}, serial: true},
	{name: "tokens", cols: []string{"id", "name", "scope", "events", "gate", "hash", "created", "revoked"},
		query: "SELECT id, name, scope, events, gate, hash, created, revoked FROM tokens", lists: []string{"events"}, serial: true},
	{name: "admissions", cols: []string{"event", "gate", "seq", "serial", "tier", "kind", "at", "corrected", "text", "reason", "hash", "status", "why", "undoes", "sig"},
		query: "SELECT event, gate, seq, serial, tier, kind, at, corrected, text, reason, hash, status, why, undoes, sig FROM admissions"},
	{name: "audits", cols: []string{"event", "gate", "seq", "kind", "reason", "serial", "at", "corrected", "text", "hash"},
		query: "SELECT event, gate, seq, kind, reason, serial, at, corrected, text, hash FROM audits"},
	{name: "quarantine", cols: []string{"event", "gate", "record", "seq", "hash", "payload", "received"},
		query: "SELECT event, gate, record, seq, hash, payload, received FROM quarantine"},
	{name: "refused_uploads", cols: []string{"id", "event", "gate", "record", "seq", "hash", "error", "received"},
		query: "SELECT id, event, gate, record, seq, hash, error, received FROM refused_uploads", serial: true},
	{name: "voids", cols: []string{"id", "event", "gate", "from_t", "reason", "by_name", "created"},
		query: "SELECT id, event, gate, from_t, reason, by, created FROM voids", serial: true},
	{name: "deliveries", cols: []string{"event", "serial", "state", "run", "to_addr", "answer", "at", "attempts"},
		query: "SELECT event, serial, state, run, to_addr, answer, at, attempts FROM deliveries"},
	{name: "edits", cols: []string{"id", "event", "object", "ref", "by_name", "at", "before", "after"},
		query: "SELECT id, event, object, ref, by, at, before, after FROM edits", serial: true},
	{name: "conflict_reviews", cols: []string{"event", "serial", "note", "by_name", "at"},
		query: "SELECT event, serial, note, by, at FROM conflict_reviews"},
}

// CopySQLite copies a kido SQLite store (src, schema version 9, which no
// server may be writing) into this store, which must be new: migrated, no
// server identity yet. Everything is copied in one transaction, keys
// still sealed. Change-log rows keep their positions and tags, and every
// event's positions continue after the copied log's last, so every
// gate's cursor stays valid (see cursorValid) and the feed skips nothing.
// It returns how many rows it copied.
func (s *Store) CopySQLite(ctx context.Context, src *sql.DB) (int64, error) {
	var v int
	if err := src.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: copy: read source: %w", err)
	}
	if v != 9 {
		return 0, fmt.Errorf("postgres: copy: source schema version %d, copy-store reads version 9\nhint: start and stop this release's kido-server on the data directory once, which upgrades it", v)
	}
	var n int64
	err := s.write(ctx, func(tx *wtx) error {
		n = 0
		var used bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM identity) OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM tokens)").Scan(&used); err != nil {
			return fmt.Errorf("postgres: copy: %w", err)
		}
		if used {
			return server.Errorf(server.ErrConflict, "copy into a new, empty database", "the target database already holds a kido server")
		}
		for _, t := range copyTables {
			k, err := copyRows(ctx, tx, src, t)
			if err != nil {
				return err
			}
			n += k
		}
		k, err := copyChanges(ctx, tx, src)
		n += k
		return err
	})
	return n, err
}

func copyRows(ctx context.Context, tx *wtx, src *sql.DB, t copyTable) (int64, error) {
	rows, err := src.QueryContext(ctx, t.query)
	if err != nil {
		return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(t.cols))
		ptrs := make([]any, len(t.cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
		}
		for i, c := range t.cols {
			switch {
			case contains(t.bools, c):
				n, _ := vals[i].(int64)
				vals[i] = n != 0
			case contains(t.lists, c):
				if vals[i], err = idList(vals[i]); err != nil {
					return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
				}
			}
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromRows(out)); err != nil {
		return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
	}
	if t.serial {
		// New ids continue after the copied ones.
		if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), GREATEST((SELECT MAX(id) FROM "+t.name+"), 1))", t.name); err != nil {
			return 0, fmt.Errorf("postgres: copy %s: %w", t.name, err)
		}
	}
	return int64(len(out)), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// idList reads SQLite's comma-separated id list.
func idList(v any) ([]int64, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	}
	out := []int64{}
	if s == "" {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad id list %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// copyChanges copies the change log at its SQLite positions (one sequence
// over all events there) and starts every event's positions after the
// last: a position given out here is then above every copied one, so a
// cursor of the copied log reads on without a gap.
func copyChanges(ctx context.Context, tx *wtx, src *sql.DB) (int64, error) {
	rows, err := src.QueryContext(ctx, "SELECT seq, event, tag, kind, payload, created FROM changes ORDER BY seq")
	if err != nil {
		return 0, fmt.Errorf("postgres: copy changes: %w", err)
	}
	defer rows.Close()
	var out [][]any
	var last int64
	for rows.Next() {
		var seq, event int64
		var tag, kind, payload, created string
		if err := rows.Scan(&seq, &event, &tag, &kind, &payload, &created); err != nil {
			return 0, fmt.Errorf("postgres: copy changes: %w", err)
		}
		at, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return 0, fmt.Errorf("postgres: copy changes: bad time %q at %d", created, seq)
		}
		out = append(out, []any{event, seq, tag, kind, payload, at})
		last = seq
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("postgres: copy changes: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, []string{"event", "pos", "tag", "kind", "payload", "created"}, pgx.CopyFromRows(out)); err != nil {
		return 0, fmt.Errorf("postgres: copy changes: %w", err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO feed_head (event, head) SELECT id, $1 FROM events", last); err != nil {
		return 0, fmt.Errorf("postgres: copy changes: %w", err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO copied_log (id, last) VALUES (1, $1)", last); err != nil {
		return 0, fmt.Errorf("postgres: copy changes: %w", err)
	}
	return int64(len(out)), nil
}
