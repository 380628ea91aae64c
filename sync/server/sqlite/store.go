package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Store is a server.Store in a SQLite file.
type Store struct {
	w    *sql.DB // the single writer connection
	r    *sql.DB // read-only pool
	ping *sql.DB // one read-only connection for health checks only
}

var _ server.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	// Made private before SQLite opens it: its -wal and -shm files take
	// the database file's mode, and they hold rosters and credentials.
	if err := privfile.Prepare(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	q := "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_foreign_keys=on"
	w, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+q+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	s := &Store{w: w}
	if err := s.migrate(); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+q+"&_txlock=deferred&_query_only=true")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	ping, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+q+"&_txlock=deferred&_query_only=true")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ping.SetMaxOpenConns(1)
	s.ping = ping
	return s, nil
}

func (s *Store) migrate() error {
	var v int
	if err := s.w.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: open database: %w\nhint: is the data directory writable and the file a kido database?", err)
	}
	if v == schemaVersion {
		return nil
	}
	if v < 0 || v > schemaVersion {
		return fmt.Errorf("sqlite: database schema version %d, this kido-server knows %d\nhint: run the kido-server release that made this data directory", v, schemaVersion)
	}
	steps := migrations[v:]
	tx, err := s.w.Begin()
	if err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	defer tx.Rollback()
	for _, step := range steps {
		if _, err := tx.Exec(step); err != nil {
			return fmt.Errorf("sqlite: create schema: %w", err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: create schema: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.ping.Close(), s.r.Close(), s.w.Close())
}

// write runs fn in one write transaction.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// read runs fn in one read transaction, which sees one consistent state.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// queryer is what both *sql.Tx and *sql.DB offer.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// insertChange appends one row to the change log. seq is assigned inside
// the single write transaction, so seq order is commit order (see
// feed.go); the tag is random per row.
const insertChange = "INSERT INTO changes (event, kind, payload, tag, created) VALUES (?, ?, ?, lower(hex(randomblob(8))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

// logChange appends c to the change log.
func logChange(ctx context.Context, tx queryer, event uint32, c wire.Change) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqlite: change: %w", err)
	}
	if _, err := tx.ExecContext(ctx, insertChange, event, c.Kind, string(b)); err != nil {
		return fmt.Errorf("sqlite: change: %w", err)
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("sqlite: bad time %q in database: %w", s, err)
	}
	return t, nil
}

func joinIDs[T uint8 | uint32](ids []T) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ",")
}

func splitIDs[T uint8 | uint32](s string, bits int) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(p, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("sqlite: bad id list %q in database", s)
		}
		out = append(out, T(n))
	}
	return out, nil
}

// Identity implements server.Store.
func (s *Store) Identity(ctx context.Context) (server.SealedKey, error) {
	var pub string
	var sealed []byte
	err := s.r.QueryRowContext(ctx, "SELECT public, sealed FROM identity WHERE id = 1").Scan(&pub, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return server.SealedKey{}, server.ErrNotFound
	}
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("sqlite: identity: %w", err)
	}
	return sealedKey(pub, sealed)
}

func sealedKey(pub string, sealed []byte) (server.SealedKey, error) {
	pk, err := ticket.ParsePublicKey(pub)
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("sqlite: stored key: %w", err)
	}
	return server.SealedKey{Public: pk, Sealed: sealed}, nil
}

// SetIdentity implements server.Store.
func (s *Store) SetIdentity(ctx context.Context, k server.SealedKey) (server.SealedKey, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO identity (id, public, sealed) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING", k.Public.String(), k.Sealed)
		return err
	})
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("sqlite: identity: %w", err)
	}
	return s.Identity(ctx)
}
