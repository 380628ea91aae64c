package replica

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/ticket"
)

var _ gate.Recorder = (*Replica)(nil)

// Options tune a replica. The zero value is ready to use.
type Options struct {
	Leeway      time.Duration    // around the event window; 0 means kido.DefaultLeeway, negative means none
	BusyTimeout time.Duration    // how long to wait for another process's write lock; 0 means 5 s
	Now         func() time.Time // the device clock; nil means time.Now
	// Key is the gate's private key (gatedir.ReadKey), which signs every
	// record it makes once the gate list carries its public key; nil for
	// a gate enrolled before gate keys (docs/mesh.md).
	Key ed25519.PrivateKey
}

// A Replica is an open gate replica. It is safe for concurrent use; calls
// are serialised, and other processes on the same file are excluded by
// SQLite's locks.
type Replica struct {
	path  string
	opts  Options
	db    *sql.DB
	clock *kido.Clock

	mu     sync.Mutex
	conn   *sql.Conn
	gen    int64        // generation of cfg
	cfg    *gate.Config // nil until loaded
	gateID uint32
	learnt *learntIndex // nil until a decision or query needs it
	runs   *learntRuns  // nil until a merge needs it
	wiped  bool         // Wipe deleted the files; every call fails with gate.ErrRevoked
}

// Error is a replica fault: Err is one of the gate.Err… sentinels, Cause
// what SQLite or the file system said.
type Error struct {
	Op    string // what was being done: "open", "scan", …
	Path  string
	Err   error
	Cause error
	Hint  string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%v: %s %s", e.Err, e.Op, e.Path)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	if e.Hint != "" {
		msg += "\nhint: " + e.Hint
	}
	return msg
}

// Unwrap returns the sentinel fault and the cause.
func (e *Error) Unwrap() []error { return []error{e.Err, e.Cause} }

// Open opens the existing replica at path. A missing file is
// gate.ErrNoReplica; a file that is not a replica is gate.ErrCorrupt.
func Open(path string, opts Options) (*Replica, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, &Error{Op: "open", Path: path, Err: gate.ErrNoReplica, Cause: err,
			Hint: "enrol this gate first: kido-gate enroll -server URL -code CODE, or give the right -data directory"}
	}
	r, err := openDB(path, "rw", opts)
	if err != nil {
		return nil, err
	}
	var schemaV int
	err = r.conn.QueryRowContext(context.Background(), "SELECT schema FROM state WHERE id = 1").Scan(&schemaV)
	switch {
	case err == nil && schemaV > schemaVersion:
		r.Close()
		return nil, &Error{Op: "open", Path: path, Err: gate.ErrVersion, Cause: fmt.Errorf("schema version %d, this kido-gate knows up to %d", schemaV, schemaVersion),
			Hint: "this replica was written by a newer kido-gate; run that version, or move the data directory aside and enrol again"}
	case err == nil && schemaV < 1:
		err = fmt.Errorf("schema version %d", schemaV)
	case err == nil && schemaV < schemaVersion:
		err = r.migrate(schemaV)
	}
	if err != nil {
		r.Close()
		if strings.Contains(err.Error(), "no such table") || errors.Is(err, sql.ErrNoRows) || strings.HasPrefix(err.Error(), "schema") {
			return nil, &Error{Op: "open", Path: path, Err: gate.ErrCorrupt, Cause: err, Hint: corruptHint}
		}
		var fe *Error
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, r.fault("open", err)
	}
	if err := r.loadClock(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// migrate upgrades the replica from schema version from to schemaVersion,
// one version per transaction, so that a crash leaves a replica of one
// version or the next, never a mix.
func (r *Replica) migrate(from int) error {
	for v := from; v < schemaVersion; v++ {
		if err := r.inTx(context.Background(), func(tx *sql.Tx) error {
			if _, err := tx.Exec(migrations[v]); err != nil {
				return err
			}
			if f := refolds[v]; f != nil {
				if err := f(tx); err != nil {
					return err
				}
			}
			_, err := tx.Exec("UPDATE state SET schema = ? WHERE id = 1", v+1)
			return err
		}); err != nil {
			e := r.fault("upgrade", fmt.Errorf("schema %d to %d: %w", v, v+1, err)).(*Error)
			if errors.Is(e.Err, gate.ErrReadOnly) {
				e.Hint = "this replica comes from an older kido-gate and must be upgraded once; open it where it can be written"
			}
			return e
		}
	}
	return nil
}

// inTx runs fn in one write transaction (BEGIN IMMEDIATE) on the replica's
// connection and commits it.
func (r *Replica) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := r.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// begin starts a write transaction on the replica's one connection. The
// transaction ignores ctx's cancellation: database/sql discards the
// connection of a transaction whose context ends, and the replica's pinned
// connection would then be closed for good, so every later scan would fail.
// Local transactions are short; a caller that gives up simply waits for one.
func (r *Replica) begin(ctx context.Context) (*sql.Tx, error) {
	return r.conn.BeginTx(context.WithoutCancel(ctx), nil)
}

// Create creates a new, empty replica at path, which must not exist yet;
// Apply a snapshot to make it usable.
func Create(path string, opts Options) (*Replica, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, &Error{Op: "create", Path: path, Err: os.ErrExist, Hint: "this gate is already enrolled; use another -data directory to enrol again"}
	}
	// Made private before SQLite opens it: its -wal and -shm files take
	// the database file's mode.
	if err := privfile.Prepare(path); err != nil {
		return nil, &Error{Op: "create", Path: path, Err: gate.ErrIO, Cause: err}
	}
	r, err := openDB(path, "rwc", opts)
	if err != nil {
		return nil, err
	}
	if _, err := r.conn.ExecContext(context.Background(), schema); err != nil {
		r.Close()
		os.Remove(path)
		return nil, r.fault("create", err)
	}
	return r, nil
}

const corruptHint = "the replica cannot be trusted; move the data directory aside and enrol the gate again (kido-gate enroll); admissions already uploaded come back with the snapshot"

func openDB(path, mode string, opts Options) (*Replica, error) {
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = 5 * time.Second
	}
	if opts.Leeway == 0 {
		opts.Leeway = kido.DefaultLeeway
	} else if opts.Leeway < 0 {
		opts.Leeway = 0
	}
	// A small page cache and no mmap keep the gate's resident memory small
	// whatever the roster size; lookups touch a handful of pages.
	// Kept statements (_stmt_cache_size) spare each scan compiling its
	// statements again: tx.StmtContext would re-prepare a statement of the
	// pinned *sql.Conn on every call.
	dsn := fmt.Sprintf("file:%s?mode=%s&_journal_mode=WAL&_synchronous=FULL&_busy_timeout=%d&_txlock=immediate&_foreign_keys=on&_cache_size=-8192&_stmt_cache_size=64",
		escapePath(path), mode, busy.Milliseconds())
	r := &Replica{path: path, opts: opts, clock: kido.NewClock(opts.Now, nil)}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, r.fault("open", err)
	}
	r.db = db
	// One connection: calls are serialised by r.mu anyway, and the page
	// cache exists once.
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		db.Close()
		return nil, r.fault("open", err)
	}
	r.conn = conn
	if _, err := conn.ExecContext(context.Background(), "PRAGMA mmap_size = 0"); err != nil {
		r.Close()
		return nil, r.fault("open", err)
	}
	return r, nil
}

// escapePath makes path safe inside a file: URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Close closes the replica.
func (r *Replica) Close() error {
	if r.conn != nil {
		r.conn.Close()
	}
	if r.db == nil {
		return nil
	}
	return r.db.Close()
}

// Path returns the replica's file name.
func (r *Replica) Path() string { return r.path }

// fault turns a database error into an *Error naming the gate fault.
func (r *Replica) fault(op string, err error) error {
	e := &Error{Op: op, Path: r.path, Cause: err}
	var se sqlite3.Error
	switch {
	case r.wiped:
		e.Err, e.Cause, e.Hint = gate.ErrRevoked, nil, "its replica was wiped; enrol the gate again to use it"
	case errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked):
		e.Err, e.Hint = gate.ErrLocked, "another program holds the replica's write lock; stop the other kido-gate on this data directory or wait, then scan again"
	case errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB):
		e.Err, e.Hint = gate.ErrCorrupt, corruptHint
	case errors.As(err, &se) && se.Code == sqlite3.ErrFull:
		e.Err, e.Hint = gate.ErrDiskFull, "free space on the gate's disk; nothing was admitted"
	case errors.As(err, &se) && se.Code == sqlite3.ErrCantOpen:
		e.Err, e.Hint = gate.ErrNoReplica, "check that the data directory exists and that this user may write in it"
	case errors.As(err, &se) && (se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrPerm || se.Code == sqlite3.ErrAuth):
		e.Err, e.Hint = gate.ErrReadOnly, "the gate cannot write its replica; check the data directory's permissions and that the disk is mounted read-write"
	case errors.As(err, &se) && se.Code == sqlite3.ErrIoErr:
		e.Err, e.Hint = gate.ErrIO, "the disk failed; check the storage, then restart the gate"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e.Err = err
		e.Cause = nil
	default:
		e.Err, e.Hint = gate.ErrIO, "the gate cannot use its replica; restart it, and if this persists enrol it again"
	}
	return e
}

// loadClock seeds the trusted clock from what the replica vouches for: the
// highest server time seen (a server floor), and the trusted time of the
// latest scan recorded since that server time was stored (a local floor,
// which the next server time replaces: see kido.Clock).
func (r *Replica) loadClock() error {
	var server, recorded int64
	err := r.conn.QueryRowContext(context.Background(),
		"SELECT server_time, COALESCE((SELECT corrected FROM scans WHERE id > state.clock_scan ORDER BY id DESC LIMIT 1), 0) FROM state WHERE id = 1").
		Scan(&server, &recorded)
	if err != nil {
		return r.fault("open", err)
	}
	if server != 0 {
		r.clock.Observe(time.Unix(0, server))
	}
	if recorded != 0 {
		r.clock.ObserveRecorded(time.Unix(0, recorded))
	}
	return nil
}

// Clock returns the replica's trusted clock.
func (r *Replica) Clock() *kido.Clock { return r.clock }

// querier is what config loading needs from a *sql.Tx or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// config returns the gate configuration, reloading it when another
// transaction (a snapshot, in this process or another) changed it.
func (r *Replica) config(ctx context.Context, q querier) (*gate.Config, error) {
	var gen int64
	var gateID uint32
	if err := q.QueryRowContext(ctx, "SELECT generation, gate FROM state WHERE id = 1").Scan(&gen, &gateID); err != nil {
		return nil, err
	}
	if gen == 0 {
		return nil, errNoSnapshot
	}
	if r.cfg != nil && gen == r.gen {
		return r.cfg, nil
	}
	cfg, err := loadConfig(ctx, q, gateID)
	if err != nil {
		return nil, err
	}
	cfg.Leeway = r.opts.Leeway
	r.cfg, r.gen, r.gateID = cfg, gen, gateID
	return cfg, nil
}

var errNoSnapshot = errors.New("replica holds no snapshot yet")

func loadConfig(ctx context.Context, q querier, gateID uint32) (*gate.Config, error) {
	cfg := &gate.Config{Tiers: map[uint8]kido.Tier{}, GateNames: map[uint32]string{}, Keyring: &ticket.Keyring{}}
	var start, end int64
	err := q.QueryRowContext(ctx, "SELECT id, name, venue, start, end, time_zone FROM event").
		Scan(&cfg.Event.ID, &cfg.Event.Name, &cfg.Event.Venue, &start, &end, &cfg.Event.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	cfg.Event.Start, cfg.Event.End = fromNanos(start), fromNanos(end)
	cfg.Zone = cfg.Event.Location(time.Local)

	rows, err := q.QueryContext(ctx, "SELECT id, name, entries, retired FROM tiers")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		t := kido.Tier{Event: cfg.Event.ID}
		if err := rows.Scan(&t.ID, &t.Name, &t.Entries, &t.Retired); err != nil {
			rows.Close()
			return nil, err
		}
		cfg.Tiers[t.ID] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.QueryContext(ctx, "SELECT public, not_before, not_after, revoked FROM keys")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pub string
		var nb, na sql.NullInt64
		k := ticket.Key{Event: cfg.Event.ID}
		if err := rows.Scan(&pub, &nb, &na, &k.Revoked); err != nil {
			rows.Close()
			return nil, err
		}
		if k.Public, err = ticket.ParsePublicKey(pub); err != nil {
			rows.Close()
			return nil, err
		}
		if nb.Valid {
			k.NotBefore = fromNanos(nb.Int64)
		}
		if na.Valid {
			k.NotAfter = fromNanos(na.Int64)
		}
		cfg.Keyring.Add(k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.QueryContext(ctx, "SELECT id, name, tiers, direction, revoked, pub, mesh, revoked_at FROM gates")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var g kido.Gate
		var tiers, mesh string
		var pub []byte
		var revokedAt sql.NullInt64
		if err := rows.Scan(&g.ID, &g.Name, &tiers, &g.Direction, &g.Revoked, &pub, &mesh, &revokedAt); err != nil {
			rows.Close()
			return nil, err
		}
		scanGateIdentity(&g, pub, mesh, revokedAt)
		g.Event = cfg.Event.ID
		if g.Tiers, err = parseTiers(tiers); err != nil {
			rows.Close()
			return nil, err
		}
		cfg.GateNames[g.ID] = g.Name
		if g.ID == gateID {
			cfg.Gate = g
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if cfg.Gate.ID != gateID {
		return nil, fmt.Errorf("gate %d missing from the gates table", gateID)
	}
	if cfg.Voids, err = loadVoids(ctx, q, cfg.Event.ID); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadVoids reads the voids the server sent, in the order they were made.
func loadVoids(ctx context.Context, q querier, event uint32) ([]kido.Void, error) {
	rows, err := q.QueryContext(ctx, "SELECT gate, from_time, reason, by, created FROM voids ORDER BY created, gate, from_time")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []kido.Void
	for rows.Next() {
		v := kido.Void{Event: event}
		var from, created int64
		if err := rows.Scan(&v.Gate, &from, &v.Reason, &v.By, &created); err != nil {
			return nil, err
		}
		v.From, v.Created = fromNanos(from), fromNanos(created)
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

// toNanos stores a time as Unix nanoseconds. Times from the server are
// checked with kido.CheckTime before they are applied and the device
// clock is read through kido.ClampTime, so the clamp here changes nothing
// that is hashed; it is the last guard against a wrap.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return kido.ClampTime(t).UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
