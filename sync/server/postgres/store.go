package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Store is a server.Store in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	url  string
}

var (
	_ server.Store          = (*Store)(nil)
	_ server.ChangeNotifier = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a libpq
// key=value string; pool settings such as pool_max_conns go in it) and
// brings its schema up to date, as Migrate does.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message quotes the URL, password included: keep it out.
		return nil, errors.New("postgres: bad database URL\nhint: postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, url: url}
	if _, err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate brings the schema of the database at url up to date and returns
// the versions it was at and is at now.
func Migrate(ctx context.Context, url string) (from, to int, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if _, perr := pgx.ParseConfig(url); perr != nil {
			return 0, 0, errors.New("postgres: bad database URL\nhint: postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full")
		}
		return 0, 0, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(ctx)
	from, err = migrate(ctx, conn)
	return from, len(migrations), err
}

func (s *Store) migrate(ctx context.Context) (int, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: connect: %w\nhint: is the database server running and the URL right?", err)
	}
	defer conn.Release()
	return migrate(ctx, conn.Conn())
}

// migrateLock is the advisory lock key the migrations run under: every
// instance starting at once queues on it, and each step runs once.
const migrateLock = 0x6b69646f_6d696772 // "kidomigr"

// migrate applies the missing steps in one transaction under the advisory
// lock, and returns the version found.
func migrate(ctx context.Context, conn *pgx.Conn) (int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	// Transaction-scoped: released by commit or rollback, also when the
	// connection dies halfway.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"); err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w\nhint: the database user needs CREATE on the database's schema", err)
	}
	var v int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	if v > len(migrations) {
		return v, fmt.Errorf("postgres: database schema version %d, this kido-server knows %d\nhint: run the kido-server release that made this database, or a newer one", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return v, fmt.Errorf("postgres: migrate to version %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", i+1); err != nil {
			return v, fmt.Errorf("postgres: migrate to version %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return v, fmt.Errorf("postgres: migrate: %w", err)
	}
	return v, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// querier is what pgx.Tx and *pgxpool.Pool both offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// wtx is a write transaction with the changes it will append to the log
// when it commits.
type wtx struct {
	pgx.Tx
	changes []change
}

type change struct {
	event   uint32
	kind    string
	payload []byte
	revokes *revocation // what records this change's position as its revocation, if anything
}

// revocation names the ticket or key row whose revoked_pos is the
// position of the change that revoked it (server.Issued); table and
// column are constants of this package, never input.
type revocation struct {
	table, column string
	id            any
}

// logChange queues c for the change log of event; write appends the queue
// just before commit.
func (tx *wtx) logChange(event uint32, c wire.Change) error {
	return tx.logRevocation(event, c, nil)
}

// logRevocation queues c like logChange, and has its position stored as
// the revocation position of r once it is known.
func (tx *wtx) logRevocation(event uint32, c wire.Change, r *revocation) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: change: %w", err)
	}
	tx.changes = append(tx.changes, change{event: event, kind: c.Kind, payload: b, revokes: r})
	return nil
}

// write runs fn in one READ COMMITTED transaction, then appends the
// changes fn queued and commits. Transactions lock rows in one order so
// that none waits on another that waits on it: the events row, then
// gates rows, then tokens rows, then feed_head rows by event id (last,
// in appendChanges).
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	t, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer t.Rollback(ctx)
	tx := &wtx{Tx: t}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.appendChanges(ctx); err != nil {
		return err
	}
	if err := t.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// read runs fn in one read-only REPEATABLE READ transaction: every
// statement sees the same snapshot, taken at the first.
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: begin read: %w", err)
	}
	defer tx.Rollback(ctx)
	return fn(tx)
}

// notifyChannel is the LISTEN/NOTIFY channel of committed changes; the
// payload is the event id.
const notifyChannel = "kido_changes"

// appendChanges appends the queued changes, event by event in id order,
// each at positions taken from the event's feed_head row (feed.go says
// why that makes the feed skip nothing), and queues a notification per
// event, which PostgreSQL delivers when the transaction commits.
func (tx *wtx) appendChanges(ctx context.Context) error {
	if len(tx.changes) == 0 {
		return nil
	}
	slices.SortStableFunc(tx.changes, func(a, b change) int { return cmp.Compare(a.event, b.event) })
	for i := 0; i < len(tx.changes); {
		ev := tx.changes[i].event
		j := i
		for j < len(tx.changes) && tx.changes[j].event == ev {
			j++
		}
		batch := tx.changes[i:j]
		i = j
		var head int64
		err := tx.QueryRow(ctx, "UPDATE feed_head SET head = head + $2 WHERE event = $1 RETURNING head", ev, len(batch)).Scan(&head)
		if err != nil {
			return fmt.Errorf("postgres: change log head of event %d: %w", ev, err)
		}
		tags := make([]byte, 8*len(batch))
		if _, err := rand.Read(tags); err != nil {
			return fmt.Errorf("postgres: change tag: %w", err)
		}
		first := head - int64(len(batch)) + 1
		rows := make([][]any, len(batch))
		for k, c := range batch {
			rows[k] = []any{int64(ev), first + int64(k), hex.EncodeToString(tags[8*k : 8*k+8]), c.kind, string(c.payload)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, []string{"event", "pos", "tag", "kind", "payload"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("postgres: change: %w", err)
		}
		for k, c := range batch {
			if r := c.revokes; r != nil {
				if _, err := tx.Exec(ctx, "UPDATE "+r.table+" SET revoked_pos = $1 WHERE event = $2 AND "+r.column+" = $3", first+int64(k), ev, r.id); err != nil {
					return fmt.Errorf("postgres: revoke: %w", err)
				}
			}
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, fmt.Sprint(ev)); err != nil {
			return fmt.Errorf("postgres: notify: %w", err)
		}
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("postgres: bad time %q in database: %w", s, err)
	}
	return t, nil
}

// ids converts a database array of ids to the domain's id type.
func ids[T uint8 | uint32](in []int64) []T {
	if len(in) == 0 {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = T(v)
	}
	return out
}

// int64s converts ids to a database array.
func int64s[T uint8 | uint32](in []T) []int64 {
	out := make([]int64, len(in))
	for i, v := range in {
		out[i] = int64(v)
	}
	return out
}

func sealedKey(pub string, sealed []byte) (server.SealedKey, error) {
	pk, err := ticket.ParsePublicKey(pub)
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("postgres: stored key: %w", err)
	}
	return server.SealedKey{Public: pk, Sealed: sealed}, nil
}

// Identity implements server.Store.
func (s *Store) Identity(ctx context.Context) (server.SealedKey, error) {
	var pub string
	var sealed []byte
	err := s.pool.QueryRow(ctx, "SELECT public, sealed FROM identity WHERE id = 1").Scan(&pub, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return server.SealedKey{}, server.ErrNotFound
	}
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("postgres: identity: %w", err)
	}
	return sealedKey(pub, sealed)
}

// SetIdentity implements server.Store. Instances starting at once on a
// new database race here; the first insert wins and every one gets it
// back.
func (s *Store) SetIdentity(ctx context.Context, k server.SealedKey) (server.SealedKey, error) {
	_, err := s.pool.Exec(ctx, "INSERT INTO identity (id, public, sealed) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING", k.Public.String(), k.Sealed)
	if err != nil {
		return server.SealedKey{}, fmt.Errorf("postgres: identity: %w", err)
	}
	return s.Identity(ctx)
}

// Ping implements server.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Probe implements server.Store.
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO probe (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at")
	if err != nil {
		return fmt.Errorf("postgres: write probe: %w", err)
	}
	return nil
}

// Check connects to the database at url and reports whether its schema is
// the one this release runs, without changing anything: kido-server doctor
// calls it before it opens the store, since Open migrates.
func Check(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if _, perr := pgx.ParseConfig(url); perr != nil {
			return errors.New("postgres: bad database URL\nhint: postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full")
		}
		return fmt.Errorf("postgres: connect: %w\nhint: is the database server running and the URL right?", err)
	}
	defer conn.Close(ctx)
	var v int
	err = conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return errors.New("postgres: the database holds no kido schema\nhint: kido-server migrate -db URL, or start kido-server -db URL once")
		}
		return fmt.Errorf("postgres: schema version: %w", err)
	}
	switch {
	case v < len(migrations):
		return fmt.Errorf("postgres: database schema version %d, this kido-server runs %d\nhint: kido-server migrate -db URL (a starting kido-server does it too)", v, len(migrations))
	case v > len(migrations):
		return fmt.Errorf("postgres: database schema version %d, this kido-server knows %d\nhint: run the kido-server release that made this database, or a newer one", v, len(migrations))
	}
	return nil
}
