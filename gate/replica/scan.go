package replica

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Scan decides on one scanned line and records the decision: the admission
// (when admitted) and the audit row, in one BEGIN IMMEDIATE transaction. It
// returns only after the commit. A ctx that has already ended records
// nothing; its cancellation does not interrupt a scan under way. exit asks for an exit; the gate's direction
// decides what is recorded (kido.Gate.Passage).
//
// A non-nil error is a fault (see package doc): nothing was recorded and the
// ticket must not be admitted; the returned Decision then has Reason
// gate.Fault.
func (r *Replica) Scan(ctx context.Context, line gate.Line, exit bool) (gate.Decision, error) {
	reading := r.clock.Now()
	in := gate.Input{Now: reading.Trusted}
	text := gate.NormalizeScan(line.Text)
	switch {
	case line.Truncated:
		in.ParseErr = fmt.Errorf("%w: a line of %d bytes", ticket.ErrMalformed, line.Length)
	default:
		in.Ticket, in.ParseErr = ticket.Parse(text)
	}
	if in.Ticket == nil {
		text = ""
	}
	return r.record(ctx, reading, line, text, in, exit)
}

// Admit records a manual admission of serial by staff (kido-gate admit, a
// staff app), under the same checks and entry rules as a scan, minus the
// signature. reason is why staff admitted by hand ("phone battery dead"):
// it is recorded with the admission and uploaded, and the server holds a
// manual admission without one as suspect (docs/sync-protocol.md §3.6).
// A reason that says nothing (kido.HasReason) or that the server would
// refuse (over kido.MaxReason bytes, a control character) is an error
// wrapping gate.ErrNoReason, and nothing is recorded. A serial missing from
// the roster is gate.ErrNotInRoster.
func (r *Replica) Admit(ctx context.Context, serial uint32, reason string) (gate.Decision, error) {
	reading := r.clock.Now()
	fault := gate.Decision{Reason: gate.Fault, At: reading.Trusted, Serial: serial}
	if !kido.HasReason(reason) {
		return fault, fmt.Errorf("%w\nhint: say why the ticket cannot be scanned, e.g. -reason \"phone battery dead\"", gate.ErrNoReason)
	}
	if err := wire.CheckReason(reason); err != nil {
		return fault, fmt.Errorf("%w: %v\nhint: a short sentence on one line, at most %d bytes", gate.ErrNoReason, err, kido.MaxReason)
	}
	in := gate.Input{Now: reading.Trusted, Manual: true, Serial: serial, Reason: reason}
	presented := fmt.Sprintf("manual %d", serial)
	return r.record(ctx, reading, gate.Line{Text: presented, Length: int64(len(presented))}, "", in, false)
}

// record is decide-and-record; see Scan.
func (r *Replica) record(ctx context.Context, reading kido.Reading, line gate.Line, text string, in gate.Input, exit bool) (gate.Decision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := "scan"
	if in.Manual {
		op = "admit"
	}
	failed := func(err error) (gate.Decision, error) {
		if errors.Is(err, errNoSnapshot) {
			return gate.Decision{Reason: gate.Fault, At: in.Now}, &Error{Op: op, Path: r.path, Err: gate.ErrNoReplica, Cause: err,
				Hint: "enrolment did not finish; enrol the gate again into an empty -data directory"}
		}
		var fe *Error
		if !errors.As(err, &fe) {
			err = r.fault(op, err)
		}
		return gate.Decision{Reason: gate.Fault, At: in.Now}, err
	}

	// The transaction is plain statements on the pinned connection under a
	// context that cannot end, not a *sql.Tx: database/sql starts a
	// goroutine for every transaction and for every query inside one, and
	// the driver runs each statement under a cancellable context in a
	// goroutine of its own; each is a hand-off between threads that costs a
	// scan more than most of its statements. A caller whose context has
	// ended records nothing; a scan under way finishes, as begin's
	// transactions do.
	if err := ctx.Err(); err != nil {
		return failed(err)
	}
	ctx = context.WithoutCancel(ctx)
	tx := r.conn
	if _, err := tx.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return failed(err)
	}
	done := false
	defer func() {
		if !done {
			tx.ExecContext(ctx, "ROLLBACK")
		}
	}()
	cfg, err := r.config(ctx, tx)
	if err != nil {
		return failed(err)
	}
	in.Exit = exit

	serial, lookup := in.Serial, in.Manual
	if t := in.Ticket; t != nil && t.Event == cfg.Event.ID {
		serial, lookup = t.Serial, true
	}
	if lookup {
		if in.Roster, err = rosterEntry(ctx, tx, serial); err != nil {
			return failed(err)
		}
		if in.Manual && in.Roster == nil {
			return gate.Decision{Reason: gate.Fault, At: in.Now, Serial: serial}, fmt.Errorf("%w: %d\nhint: look the attendee up with kido-gate find NAME and admit the serial it shows", gate.ErrNotInRoster, serial)
		}
		if in.History, err = r.history(ctx, tx, serial); err != nil {
			return failed(err)
		}
	}

	d, err := gate.Decide(cfg, in)
	if err != nil {
		return d, err
	}
	if d.Admit {
		key, err := r.signer(cfg.Gate)
		if err != nil {
			return failed(err)
		}
		if d.Seq, err = r.insertOwnAdmission(ctx, tx, cfg.Gate.ID, key, d, reading.Device, text, in.Reason); err != nil {
			return failed(err)
		}
	}
	if err := insertScan(ctx, tx, cfg.Gate.ID, reading, line, in, d); err != nil {
		return failed(err)
	}
	if _, err := tx.ExecContext(ctx, "COMMIT"); err != nil {
		return failed(err)
	}
	done = true
	return d, nil
}

// execQuerier is what recording a scan needs from its transaction.
type execQuerier interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func rosterEntry(ctx context.Context, tx execQuerier, serial uint32) (*kido.RosterEntry, error) {
	re := kido.RosterEntry{Serial: serial}
	err := tx.QueryRowContext(ctx, "SELECT tier, holder, order_ref, revoked, replaced_by FROM roster WHERE serial = ?", serial).
		Scan(&re.Tier, &re.Holder, &re.OrderRef, &re.Revoked, &re.ReplacedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &re, nil
}

// history returns every passage of serial the replica holds, undos
// included (kido.Counted takes them out with what they annul): its own and
// whole records, other gates' from compact pages (learnt), and the
// server's version of a (gate, seq) this replica holds with other content,
// which counts too: both passages happened somewhere. Called with r.mu
// held.
func (r *Replica) history(ctx context.Context, tx querier, serial uint32) ([]kido.Passage, error) {
	ps, err := r.learntHistory(ctx, tx, serial)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT gate, seq, kind, corrected, undoes FROM admissions WHERE serial = ?
		UNION ALL SELECT gate, seq, kind, corrected, undoes FROM conflicting_admissions WHERE serial = ?`, serial, serial)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p kido.Passage
		var at int64
		if err := rows.Scan(&p.Gate, &p.Seq, &p.Kind, &at, &p.Undoes); err != nil {
			return nil, err
		}
		p.At = fromNanos(at)
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// insertOwnAdmission writes this gate's next passage. The sequence number
// is read and used inside the same write transaction, so it is never used
// twice whatever the number of scanners; it is the highest so far plus one,
// or state.seq_floor when that is higher (docs/sync-protocol.md §3.5: the
// server holds records under lower numbers that this replica lacks). With
// key, the record is signed (wire.SignAdmission) in the same transaction:
// no record of a keyed gate exists unsigned.
func (r *Replica) insertOwnAdmission(ctx context.Context, tx execQuerier, gateID uint32, key ed25519.PrivateKey, d gate.Decision, device time.Time, text, reason string) (uint64, error) {
	var next uint64
	if err := tx.QueryRowContext(ctx, "SELECT max(COALESCE((SELECT MAX(seq) FROM admissions WHERE gate = ?), 0) + 1, seq_floor) FROM state WHERE id = 1", gateID).Scan(&next); err != nil {
		return 0, err
	}
	a := kido.Admission{Gate: gateID, Seq: next, Serial: d.Serial, Tier: d.Tier, Kind: d.Kind,
		At: device.UTC(), Corrected: d.At.UTC(), Text: text, Reason: reason}
	a.Hash = wire.AdmissionHash(a)
	var sig any
	if key != nil {
		sig = wire.SignAdmission(key, a).Sig
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, sig)
	return a.Seq, err
}

// insertScan writes the audit row of a scan. A rejected scan also gets
// this gate's next audit sequence number and the hash of its
// wire.AuditRecord, so that it can be uploaded for audit (issue: the server
// keeps rejected scans too).
func insertScan(ctx context.Context, tx execQuerier, gateID uint32, reading kido.Reading, line gate.Line, in gate.Input, d gate.Decision) error {
	presented := wire.AuditText(line.Text)
	var serial, seq, auditSeq, hash any
	if in.Ticket != nil || in.Manual {
		serial = d.Serial
	}
	decision := "reject"
	if d.Admit {
		decision, seq = "admit", d.Seq
	} else {
		var next uint64
		if err := tx.QueryRowContext(ctx, "SELECT max(COALESCE((SELECT MAX(audit_seq) FROM scans), 0) + 1, audit_floor) FROM state WHERE id = 1").Scan(&next); err != nil {
			return err
		}
		rec := wire.AuditRecord{Gate: gateID, Seq: next, Kind: d.Kind, Reason: string(d.Reason), Serial: d.Serial,
			At: reading.Device.UTC(), Corrected: reading.Trusted.UTC(), Text: presented}
		auditSeq, hash = rec.Seq, wire.AuditHash(rec)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO scans (at, corrected, presented, length, serial, kind, decision, reason, detail, seq, audit_seq, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		toNanos(reading.Device), toNanos(reading.Trusted), presented, line.Length, serial, d.Kind, decision, string(d.Reason), d.Detail, seq, auditSeq, hash)
	return err
}
