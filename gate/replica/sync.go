package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// This file holds what the sync loop (gate/syncer) needs from the replica;
// docs/sync-protocol.md says what each step means.

// Pending returns how many of this gate's admissions and audit records the
// server has not acknowledged yet.
func (r *Replica) Pending(ctx context.Context) (admissions, audits int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err = r.conn.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM admissions WHERE gate = s.gate AND seq > s.acked_seq AND `+uploadable+`),
		(SELECT count(*) FROM scans WHERE audit_seq > s.audit_acked)
		FROM state s WHERE id = 1`).Scan(&admissions, &audits)
	if err != nil {
		return 0, 0, r.fault("count pending", err)
	}
	return admissions, audits, nil
}

// DataVersion returns SQLite's data version of the replica's connection
// (PRAGMA data_version): it changes when another connection commits to the
// replica (kido-gate scan or admit in another process), never when this
// Replica does. The sync loop polls it to upload at once what another
// process recorded (docs/sync-protocol.md §7.1).
func (r *Replica) DataVersion(ctx context.Context) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var v int64
	// The pragma answers from the WAL index at once; a context that cannot
	// end spares a poll the driver's goroutine watching for cancellation.
	if err := r.conn.QueryRowContext(context.WithoutCancel(ctx), "PRAGMA data_version").Scan(&v); err != nil {
		return 0, r.fault("read data version", err)
	}
	return v, nil
}

// LastSync returns the server time of the last accepted upload, applied
// feed answer or snapshot, by any process; zero if there was none.
func (r *Replica) LastSync(ctx context.Context) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t int64
	if err := r.conn.QueryRowContext(ctx, "SELECT last_sync FROM state WHERE id = 1").Scan(&t); err != nil {
		return time.Time{}, r.fault("read last sync", err)
	}
	return fromNanos(t), nil
}

// uploadable is the condition on an own admission that it can be
// uploaded: it holds its whole content hash. One learned back from a
// compact feed page (a replica restored from a backup) holds only its
// check and no text; the server has it already, since it sent it.
const uploadable = "length(hash) = 64"

// NextUpload returns the next upload: this gate's admissions after the
// acknowledged seq, then its audit records after theirs, at most max
// records in all, each list in seq order. Both lists may be empty.
func (r *Replica) NextUpload(ctx context.Context, max int) (*wire.UploadRequest, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req := &wire.UploadRequest{Admissions: []kido.Admission{}, Audits: []wire.AuditRecord{}}
	var gateID uint32
	var acked, auditAcked uint64
	if err := r.conn.QueryRowContext(ctx, "SELECT gate, acked_seq, audit_acked FROM state WHERE id = 1").Scan(&gateID, &acked, &auditAcked); err != nil {
		return nil, r.fault("read uploads", err)
	}
	rows, err := r.conn.QueryContext(ctx, `SELECT seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig FROM admissions
		WHERE gate = ? AND seq > ? AND `+uploadable+` ORDER BY seq LIMIT ?`, gateID, acked, max)
	if err != nil {
		return nil, r.fault("read uploads", err)
	}
	for rows.Next() {
		a := kido.Admission{Gate: gateID}
		var at, corrected int64
		if err := rows.Scan(&a.Seq, &a.Serial, &a.Tier, &a.Kind, &at, &corrected, &a.Text, &a.Hash, &a.Reason, &a.Undoes, &a.Sig); err != nil {
			rows.Close()
			return nil, r.fault("read uploads", err)
		}
		a.At, a.Corrected = fromNanos(at), fromNanos(corrected)
		req.Admissions = append(req.Admissions, a)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fault("read uploads", err)
	}
	if len(req.Admissions) >= max {
		return req, nil
	}
	rows, err = r.conn.QueryContext(ctx, `SELECT audit_seq, kind, reason, COALESCE(serial, 0), at, corrected, presented, hash FROM scans
		WHERE audit_seq > ? ORDER BY audit_seq LIMIT ?`, auditAcked, max-len(req.Admissions))
	if err != nil {
		return nil, r.fault("read uploads", err)
	}
	defer rows.Close()
	for rows.Next() {
		a := wire.AuditRecord{Gate: gateID}
		var at, corrected int64
		if err := rows.Scan(&a.Seq, &a.Kind, &a.Reason, &a.Serial, &at, &corrected, &a.Text, &a.Hash); err != nil {
			return nil, r.fault("read uploads", err)
		}
		a.At, a.Corrected = fromNanos(at), fromNanos(corrected)
		req.Audits = append(req.Audits, a)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fault("read uploads", err)
	}
	return req, nil
}

// AckUpload records the server's answer to an upload, 200 or 409
// (docs/sync-protocol.md §3.4, §3.5). The acknowledged seqs are taken as
// they are, lower ones included: a server restored from an older backup
// gets its lost records again from there. The next seqs rise above the
// highest the server holds, so that new records never reuse a key the
// server already has under other content. A 409 (quarantined records)
// sets the conflict state; an accepted upload clears a refusal.
func (r *Replica) AckUpload(ctx context.Context, resp *wire.UploadResponse) error {
	conflict := ""
	if len(resp.Quarantined) > 0 {
		conflict = fmt.Sprintf("the server holds other records under %d of this gate's sequence numbers (first: %s %d); this replica may be a restored backup or a cloned disk",
			len(resp.Quarantined), resp.Quarantined[0].Record, resp.Quarantined[0].Seq)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE state SET acked_seq = ?, audit_acked = ?,
			seq_floor = max(seq_floor, ? + 1), audit_floor = max(audit_floor, ? + 1),
			server_time = max(server_time, ?), clock_scan = (SELECT COALESCE(MAX(id), 0) FROM scans), last_sync = max(last_sync, ?), contact = ?, contact_error = '', refused = '',
			conflict = CASE WHEN ? = '' THEN conflict ELSE ? END WHERE id = 1`,
			resp.Acked, resp.AuditAcked, resp.Highest, resp.AuditHighest,
			toNanos(resp.ServerTime), toNanos(resp.ServerTime), toNanos(r.clock.Now().Trusted), conflict, conflict)
		return err
	})
	if err != nil {
		return r.fault("record upload", err)
	}
	r.clock.Observe(resp.ServerTime)
	return nil
}

// SetRefused records why the server refused this gate's requests (400,
// 403, 413, 401 unauthorized: they will not cure themselves), or clears it
// when msg is empty.
func (r *Replica) SetRefused(ctx context.Context, msg string) error {
	return r.setState(ctx, "refused", msg)
}

// SetContactError records that the last request did not reach the server
// and why, or, with msg empty, that it did. Only a change is written.
func (r *Replica) SetContactError(ctx context.Context, msg string) error {
	return r.setState(ctx, "contact_error", msg)
}

// SetServerURL makes url the address of the server the gate syncs with.
// The identity the replica holds stays: the caller has checked that the
// server at url proves it (kido-gate sync -server, docs/sync-protocol.md
// §12).
func (r *Replica) SetServerURL(ctx context.Context, url string) error {
	return r.setState(ctx, "server_url", url)
}

// setState writes one text column of state when its value changes
// (column is a constant of this package, never input).
func (r *Replica) setState(ctx context.Context, column, value string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var held string
	if err := r.conn.QueryRowContext(ctx, "SELECT "+column+" FROM state WHERE id = 1").Scan(&held); err != nil {
		return r.fault("record sync state", err)
	}
	if held == value {
		return nil
	}
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE state SET "+column+" = ? WHERE id = 1", value)
		if err == nil && column == "contact_error" && value == "" {
			_, err = tx.ExecContext(ctx, "UPDATE state SET contact = ? WHERE id = 1", toNanos(r.clock.Now().Trusted))
		}
		return err
	})
	if err != nil {
		return r.fault("record sync state", err)
	}
	return nil
}

// Cursor returns the delta-feed cursor; "" means the replica needs a
// snapshot before it can follow the feed.
func (r *Replica) Cursor(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c string
	if err := r.conn.QueryRowContext(ctx, "SELECT cursor FROM state WHERE id = 1").Scan(&c); err != nil {
		return "", r.fault("read cursor", err)
	}
	return c, nil
}

// Applied counts what one answer of the delta feed changed.
type Applied struct {
	Changes    int   // changes in the answer
	Kinds      Kinds // the same changes by kind
	Admissions Merge // what became of the admissions among them
}

// Kinds counts changes of the delta feed by kind (docs/sync-protocol.md
// §4.2): each change is counted under exactly one, so the counts add up
// to the changes.
type Kinds struct {
	Event      int `json:"event"`
	Tiers      int `json:"tiers"`
	Keys       int `json:"keys"`
	Gates      int `json:"gates"`
	Roster     int `json:"roster"` // tickets issued, changed, revoked
	Admissions int `json:"admissions"`
	Voids      int `json:"voids"` // an operator voided a revoked gate's admissions
}

// Total returns the number of changes counted.
func (k Kinds) Total() int {
	return k.Event + k.Tiers + k.Keys + k.Gates + k.Roster + k.Admissions + k.Voids
}

// Config returns the number of changes to what the gate decides with
// besides the roster and the admissions: event, tiers, keys, gates, voids.
func (k Kinds) Config() int { return k.Event + k.Tiers + k.Keys + k.Gates + k.Voids }

// Add adds o to k.
func (k *Kinds) Add(o Kinds) {
	k.Event += o.Event
	k.Tiers += o.Tiers
	k.Keys += o.Keys
	k.Gates += o.Gates
	k.Roster += o.Roster
	k.Admissions += o.Admissions
	k.Voids += o.Voids
}

// ErrBadChange reports a feed answer the replica cannot apply; nothing
// of it was applied.
var ErrBadChange = errors.New("replica: bad change")

// ApplyChanges applies one answer of the delta feed — every change, the
// new cursor and the server time — in one transaction, so that a crash
// before the commit repeats the same poll (docs/sync-protocol.md §4.1).
// Changes are full states, so applying one twice changes nothing. An
// answer with a change the replica cannot take (another event, an unknown
// kind) is refused whole with ErrBadChange.
func (r *Replica) ApplyChanges(ctx context.Context, ch *wire.Changes) (Applied, error) {
	ap := Applied{Changes: len(ch.Changes)}
	if ch.Resnapshot || ch.Cursor == "" {
		return ap, fmt.Errorf("%w: an answer without a cursor needs a snapshot, not ApplyChanges", ErrBadChange)
	}
	if err := kido.CheckTime("server_time", ch.ServerTime); err != nil {
		return ap, fmt.Errorf("%w: %v\nhint: kido-gate and kido-server may be different versions", ErrBadChange, err)
	}
	for i := range ch.Changes {
		if err := checkChange(&ch.Changes[i]); err != nil {
			return ap, fmt.Errorf("%w: change %d: %v\nhint: kido-gate and kido-server may be different versions", ErrBadChange, i, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var event, own uint32
	var learntBefore int64
	var learnt []learntPage
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT id FROM event").Scan(&event); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT gate FROM state WHERE id = 1").Scan(&own); err != nil {
			return err
		}
		ap = Applied{Changes: len(ch.Changes)}
		// Admissions are merged together after the loop, with statements
		// prepared once per answer: nothing else in an answer reads or
		// writes the admission tables, so the order does not change what
		// is stored.
		// Other gates' admissions from a compact page go to learnt
		// (learnt.go); whole records, own ones (a restored replica
		// learning back what it lost) and undos, rare, whose annulment
		// SQL reads (notUndone), to admissions.
		var admissions []kido.Admission
		checked := make([]*kido.Admission, 0, len(ch.Changes))
		for i, c := range ch.Changes {
			if ev := changeEvent(c); ev != 0 && ev != event {
				return fmt.Errorf("%w: change %d is for event %d, this gate is for event %d", ErrBadChange, i, ev, event)
			}
			var err error
			switch c.Kind {
			case wire.ChangeEvent:
				ap.Kinds.Event++
				err = upsertEvent(ctx, tx, *c.Event)
			case wire.ChangeTier:
				ap.Kinds.Tiers++
				err = upsertTier(ctx, tx, *c.Tier)
			case wire.ChangeKey:
				ap.Kinds.Keys++
				err = upsertKey(ctx, tx, *c.Key)
			case wire.ChangeGate:
				ap.Kinds.Gates++
				err = upsertGate(ctx, tx, *c.Gate)
			case wire.ChangeRoster:
				ap.Kinds.Roster++
				err = insertRoster(ctx, tx, "roster", []kido.RosterEntry{*c.Roster}, false)
			case wire.ChangeAdmission:
				ap.Kinds.Admissions++
				if a := c.Admission; wire.IsCheckOnly(*a) && a.Gate != own && a.Kind != kido.KindUndo {
					checked = append(checked, a)
				} else {
					admissions = append(admissions, *a)
				}
			case wire.ChangeVoid:
				ap.Kinds.Voids++
				err = insertVoid(ctx, tx, *c.Void)
			}
			if err != nil {
				return err
			}
		}
		runs, err := r.learntRunsIn(ctx, tx)
		if err != nil {
			return err
		}
		if ap.Admissions, err = mergeAdmissions(ctx, tx, runs, admissions); err != nil {
			return err
		}
		var m Merge
		if m, learntBefore, learnt, err = mergeLearnt(ctx, tx, runs, checked); err != nil {
			return err
		}
		ap.Admissions.Add(m)
		gen := 0
		if ap.Kinds.Config() > 0 {
			gen = 1
		}
		_, err = tx.ExecContext(ctx, `UPDATE state SET cursor = ?, generation = generation + ?,
			server_time = max(server_time, ?), clock_scan = (SELECT COALESCE(MAX(id), 0) FROM scans), last_sync = max(last_sync, ?), contact = ?, contact_error = '' WHERE id = 1`,
			ch.Cursor, gen, toNanos(ch.ServerTime), toNanos(ch.ServerTime), toNanos(r.clock.Now().Trusted))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrBadChange) {
			return Applied{Changes: len(ch.Changes)}, err
		}
		return Applied{Changes: len(ch.Changes)}, r.fault("apply changes", err)
	}
	if ap.Kinds.Config() > 0 {
		r.cfg = nil
	}
	r.noteLearnt(learntBefore, learnt)
	r.clock.Observe(ch.ServerTime)
	return ap, nil
}

// checkChange refuses a change the replica could not decide with.
func checkChange(c *wire.Change) error {
	set := 0
	for _, p := range [...]bool{c.Event != nil, c.Tier != nil, c.Key != nil, c.Roster != nil, c.Admission != nil, c.Gate != nil, c.Void != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("kind %q with %d objects, want exactly one", c.Kind, set)
	}
	switch {
	case c.Kind == wire.ChangeEvent && c.Event != nil:
		if c.Event.ID == 0 {
			return errors.New("event without an id")
		}
		return c.Event.CheckTimes()
	case c.Kind == wire.ChangeTier && c.Tier != nil:
		if c.Tier.Entries < 0 {
			return fmt.Errorf("tier %d has %d entries", c.Tier.ID, c.Tier.Entries)
		}
	case c.Kind == wire.ChangeKey && c.Key != nil:
		if _, err := ticket.ParsePublicKey(c.Key.Public); err != nil {
			return fmt.Errorf("key %s: %v", c.Key.ID, err)
		}
		return c.Key.CheckTimes()
	case c.Kind == wire.ChangeGate && c.Gate != nil:
		switch c.Gate.Direction {
		case kido.DirectionEntry, kido.DirectionExit, kido.DirectionBoth:
		default:
			return fmt.Errorf("gate %d direction %q", c.Gate.ID, c.Gate.Direction)
		}
	case c.Kind == wire.ChangeRoster && c.Roster != nil:
	case c.Kind == wire.ChangeAdmission && c.Admission != nil:
		a := c.Admission
		if err := checkAdmission(*a); err != nil {
			return err
		}
		if wire.IsCheckOnly(*a) {
			// An admission from a compact page carries a check, not its
			// text: the page's signature vouches for it
			// (docs/sync-protocol.md §4.5). It is stored as the 8 bytes it
			// writes (learnt.go).
			if _, err := checkOf(a.Hash); err != nil {
				return fmt.Errorf("admission (gate %d, seq %d): %v", a.Gate, a.Seq, err)
			}
		} else if wire.AdmissionHash(*a) != a.Hash {
			return fmt.Errorf("admission (gate %d, seq %d): hash is not the record's hash", a.Gate, a.Seq)
		}
		return a.CheckTimes()
	case c.Kind == wire.ChangeVoid && c.Void != nil:
		return checkVoid(*c.Void, 0)
	default:
		return fmt.Errorf("unknown kind %q or its object missing", c.Kind)
	}
	return nil
}

// changeEvent returns the event a change names, 0 for none.
func changeEvent(c wire.Change) uint32 {
	switch {
	case c.Event != nil:
		return c.Event.ID
	case c.Tier != nil:
		return c.Tier.Event
	case c.Key != nil:
		return c.Key.Event
	case c.Gate != nil:
		return c.Gate.Event
	case c.Void != nil:
		return c.Void.Event
	}
	return 0
}

// checkVoid refuses a void the replica could not apply: one without an
// event, a gate or a from time, or (event not 0) for another event.
func checkVoid(v kido.Void, event uint32) error {
	switch {
	case v.Event == 0 || v.Gate == 0 || v.From.IsZero():
		return fmt.Errorf("void of gate %d of event %d from %s: event, gate and from are required", v.Gate, v.Event, v.From.Format(time.RFC3339))
	case event != 0 && v.Event != event:
		return fmt.Errorf("void of gate %d is for event %d, not %d", v.Gate, v.Event, event)
	}
	return v.CheckTimes()
}

// Wipe closes the replica and deletes its files (the database, -wal and
// -shm): what a revoked gate does so that a lost tablet does not leak the
// roster (docs/sync-protocol.md §8). Every later call on r fails with
// gate.ErrRevoked.
func (r *Replica) Wipe() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wiped = true
	r.Close()
	var first error
	for _, p := range []string{r.path, r.path + "-wal", r.path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("replica: wipe: %w\nhint: delete the data directory by hand", first)
	}
	return nil
}
