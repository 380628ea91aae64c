package replica

import (
	"context"
	"strconv"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/sync/wire"
)

// A Match is a roster entry found by Find, with its passages so far.
type Match struct {
	kido.RosterEntry
	TierName string
	Entries  int       // entries and manual admissions recorded, at any gate
	Exits    int       //
	Last     time.Time // trusted time of the latest passage; zero if none
}

// Find searches the roster by holder name, reading, order reference or
// serial. The query and every entry are folded by gate.NormalizeSearch
// (case, width, kana, variant kanji, spaces and punctuation), and at most
// limit matches are returned, each once, in this order:
//
//   - the ticket whose serial the query is;
//   - entries whose name begins with the query, in name order, then those
//     whose reading does, then those whose order reference does (山田
//     finds 山田 太郎, やまだ finds the reading ヤマダ タロウ, ORD-12 finds
//     ORD-123);
//   - entries that hold the query anywhere in name or reading (花子 finds
//     佐藤 花子, たろう finds the reading やまだ たろう), in serial order,
//     through the word index (search.go).
//
// Every step reads an index that stops at limit: milliseconds whatever the
// roster's size (BenchmarkFind). Order references are found from their
// beginning only.
func (r *Replica) Find(ctx context.Context, query string, limit int) ([]Match, error) {
	q := gate.NormalizeSearch(query)
	if q == "" || limit < 1 {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Folded keys are valid UTF-8, which never holds the byte 0xFF: every
	// key that begins with q sorts between q and q+"\xff".
	end := q + "\xff"
	var serials []uint32
	seen := map[uint32]bool{}
	add := func(query string, args ...any) error {
		if len(serials) >= limit {
			return nil
		}
		// Entries found already may come again: asking for as many more
		// as were found leaves room for them.
		rows, err := r.conn.QueryContext(ctx, query, append(args, limit+len(serials))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() && len(serials) < limit {
			var s uint32
			if err := rows.Scan(&s); err != nil {
				return err
			}
			if !seen[s] {
				seen[s] = true
				serials = append(serials, s)
			}
		}
		return rows.Err()
	}
	err := func() error {
		if n, err := strconv.ParseUint(q, 10, 32); err == nil {
			if err := add("SELECT serial FROM roster WHERE serial = ? LIMIT ?", n); err != nil {
				return err
			}
		}
		if err := add("SELECT serial FROM roster WHERE name_key >= ? AND name_key < ? ORDER BY name_key, serial LIMIT ?", q, end); err != nil {
			return err
		}
		if err := add("SELECT serial FROM roster WHERE reading_key >= ? AND reading_key < ? ORDER BY reading_key, serial LIMIT ?", q, end); err != nil {
			return err
		}
		if err := add("SELECT serial FROM roster WHERE order_key >= ? AND order_key < ? ORDER BY order_key, serial LIMIT ?", q, end); err != nil {
			return err
		}
		expr, ok, err := wordQuery(ctx, r.conn, q)
		if err != nil || !ok {
			return err
		}
		return add(findInside, expr, q, q)
	}()
	if err != nil {
		return nil, r.fault("find", err)
	}
	ms := make([]Match, 0, len(serials))
	for _, s := range serials {
		m, err := r.match(ctx, s)
		if err != nil {
			return nil, r.fault("find", err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// Event returns the event the replica holds: what its times are shown in.
func (r *Replica) Event(ctx context.Context) (kido.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		return kido.Event{}, r.fault("event", err)
	}
	return cfg.Event, nil
}

// match reads a found ticket's roster entry, tier name and passages.
func (r *Replica) match(ctx context.Context, serial uint32) (Match, error) {
	var m Match
	var last int64
	err := r.conn.QueryRowContext(ctx, `
		SELECT r.serial, r.tier, r.holder, r.reading, r.order_ref, r.revoked, COALESCE(t.name, ''),
			(SELECT count(*) FROM admissions a WHERE a.serial = r.serial AND a.kind IN ('entry', 'manual') AND `+notUndone+`),
			(SELECT count(*) FROM admissions a WHERE a.serial = r.serial AND a.kind = 'exit'),
			(SELECT COALESCE(max(corrected), 0) FROM admissions a WHERE a.serial = r.serial)
		FROM roster r LEFT JOIN tiers t ON t.id = r.tier WHERE r.serial = ?`, serial).
		Scan(&m.Serial, &m.Tier, &m.Holder, &m.Reading, &m.OrderRef, &m.Revoked, &m.TierName, &m.Entries, &m.Exits, &last)
	if err != nil {
		return m, err
	}
	// learnt has no index by serial in SQL; the replica's index finds them.
	ps, err := r.learntHistory(ctx, r.conn, serial)
	for _, p := range ps {
		last = max(last, toNanos(p.At))
		if p.Kind == kido.KindExit {
			m.Exits++
			continue
		}
		var undone bool
		if undone, err = isUndone(ctx, r.conn, p.Gate, p.Seq); err != nil {
			break
		}
		if !undone {
			m.Entries++
		}
	}
	m.Last = fromNanos(last)
	return m, err
}

// Status is what kido-gate status shows.
type Status struct {
	Event      kido.Event
	Gate       kido.Gate
	Server     wire.Server
	ServerURL  string
	Roster     int // tickets in the roster
	Revoked    int // of which revoked
	Admitted   int // distinct tickets with an entry or manual admission, at any gate
	Passages   int // passages recorded, at any gate
	Own        int // passages recorded at this gate
	Pending    int // of which not yet acknowledged by the server
	AuditsDue  int // rejected scans not yet acknowledged by the server
	Scans      int // audit rows
	Rejected   int // of which rejected
	LastSync   time.Time
	ServerTime time.Time // highest server time seen
	Cursor     string
	Acked      uint64 // highest contiguous own seq the server stored
	AuditAcked uint64 // same for audit records
	Clock      kido.Reading

	// Sync state (docs/replica.md, "Sync state").
	Contact      time.Time // trusted time of the last request that reached the server
	ContactError string    // why the last request did not reach it; "" if it did
	Refused      string    // why the server refuses this gate's records; "" if it does not
	Conflict     string    // the server holds other records under this gate's keys; "" if not
	Conflicting  int       // server records held beside own ones of the same key
}

// Status reports the replica's content and state.
func (r *Replica) Status(ctx context.Context) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s Status
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		if err == errNoSnapshot {
			return s, &Error{Op: "status", Path: r.path, Err: gate.ErrNoReplica, Cause: err, Hint: "enrolment did not finish; enrol the gate again into an empty -data directory"}
		}
		return s, r.fault("status", err)
	}
	s.Event, s.Gate = cfg.Event, cfg.Gate
	var lastSync, serverTime, contact int64
	err = r.conn.QueryRowContext(ctx, `SELECT server_id, server_fp, server_url, cursor, server_time, last_sync, acked_seq, audit_acked,
		contact, contact_error, refused, conflict, (SELECT count(*) FROM conflicting_admissions),
		(SELECT count(*) FROM roster), (SELECT count(*) FROM roster WHERE revoked),
		(SELECT count(*) FROM admissions WHERE gate = state.gate),
		(SELECT count(*) FROM admissions WHERE gate = state.gate AND seq > state.acked_seq),
		(SELECT count(*) FROM scans), (SELECT count(*) FROM scans WHERE decision = 'reject'),
		(SELECT count(*) FROM scans WHERE audit_seq > state.audit_acked)
		FROM state WHERE id = 1`).Scan(&s.Server.ID, &s.Server.Fingerprint, &s.ServerURL, &s.Cursor, &serverTime, &lastSync, &s.Acked, &s.AuditAcked,
		&contact, &s.ContactError, &s.Refused, &s.Conflict, &s.Conflicting,
		&s.Roster, &s.Revoked, &s.Own, &s.Pending, &s.Scans, &s.Rejected, &s.AuditsDue)
	if err != nil {
		return s, r.fault("status", err)
	}
	// Other gates' admissions from compact pages are in learnt's blobs.
	if s.Passages, s.Admitted, _, err = passageTally(ctx, r.conn); err != nil {
		return s, r.fault("status", err)
	}
	s.LastSync, s.ServerTime, s.Contact = fromNanos(lastSync), fromNanos(serverTime), fromNanos(contact)
	s.Clock = r.clock.Now()
	return s, nil
}

// Check runs SQLite's quick integrity check; a damaged replica is
// gate.ErrCorrupt.
func (r *Replica) Check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var res string
	if err := r.conn.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&res); err != nil {
		return r.fault("check", err)
	}
	if res != "ok" {
		return &Error{Op: "check", Path: r.path, Err: gate.ErrCorrupt, Cause: errString(res), Hint: corruptHint}
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// OwnAdmissions returns this gate's passages with a sequence number above
// after, in sequence order, at most limit of them (no limit when limit ≤ 0):
// what an upload sends.
func (r *Replica) OwnAdmissions(ctx context.Context, after uint64, limit int) ([]kido.Admission, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if limit <= 0 {
		limit = -1
	}
	rows, err := r.conn.QueryContext(ctx, `SELECT gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes FROM admissions
		WHERE gate = (SELECT gate FROM state WHERE id = 1) AND seq > ? AND `+uploadable+` ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, r.fault("read admissions", err)
	}
	defer rows.Close()
	var as []kido.Admission
	for rows.Next() {
		var a kido.Admission
		var at, corrected int64
		if err := rows.Scan(&a.Gate, &a.Seq, &a.Serial, &a.Tier, &a.Kind, &at, &corrected, &a.Text, &a.Hash, &a.Reason, &a.Undoes); err != nil {
			return nil, r.fault("read admissions", err)
		}
		a.At, a.Corrected = fromNanos(at), fromNanos(corrected)
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fault("read admissions", err)
	}
	return as, nil
}
