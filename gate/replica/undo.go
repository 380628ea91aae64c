package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/sync/wire"
)

// notUndone is the SQL condition, on an admissions row aliased a, that no
// undo of its gate annuls it: kido.Counted's undo rule, for the counts
// that SQL takes over the whole replica (the partial index
// admissions_undoes serves it).
const notUndone = `NOT EXISTS (SELECT 1 FROM admissions u WHERE u.kind = 'undo' AND u.gate = a.gate AND u.undoes = a.seq)`

// A Last is this gate's latest record, as the staff app offers it for
// undo: the admission, its holder and tier name, and whether and how long
// it can still be undone.
type Last struct {
	Admission kido.Admission
	Holder    string
	TierName  string
	Left      time.Duration // time left to undo it; 0 when it cannot be undone
	Why       error         // why it cannot be undone (wraps a kido.ErrUndo sentinel), or nil
}

// LastOwn returns this gate's latest record and whether it may be undone
// now (kido.CheckUndo). A gate that has recorded nothing returns a Last
// with Why wrapping kido.ErrUndoNothing.
func (r *Replica) LastOwn(ctx context.Context) (Last, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now().Trusted
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		return Last{}, r.fault("last admission", err)
	}
	l, err := lastOwn(ctx, r.conn, cfg)
	if err != nil {
		return Last{}, r.fault("last admission", err)
	}
	l.check(now)
	return l, nil
}

// check sets Why and Left for trusted time now.
func (l *Last) check(now time.Time) {
	var a *kido.Admission
	if l.Admission.Seq != 0 {
		a = &l.Admission
	}
	if l.Why = kido.CheckUndo(a, now); l.Why == nil {
		l.Left = max(0, l.Admission.Corrected.Add(kido.UndoWindow).Sub(now))
	}
}

// lastOwn reads this gate's record with the highest seq (a zero Admission
// when there is none), with its holder and tier name.
func lastOwn(ctx context.Context, q querier, cfg *gate.Config) (Last, error) {
	var l Last
	a := &l.Admission
	var at, corrected int64
	err := q.QueryRowContext(ctx, `SELECT a.gate, a.seq, a.serial, a.tier, a.kind, a.at, a.corrected, a.text, a.hash, a.reason, a.undoes, COALESCE(r.holder, '')
		FROM admissions a LEFT JOIN roster r ON r.serial = a.serial WHERE a.gate = ? ORDER BY a.seq DESC LIMIT 1`, cfg.Gate.ID).
		Scan(&a.Gate, &a.Seq, &a.Serial, &a.Tier, &a.Kind, &at, &corrected, &a.Text, &a.Hash, &a.Reason, &a.Undoes, &l.Holder)
	if errors.Is(err, sql.ErrNoRows) {
		return Last{}, nil
	}
	if err != nil {
		return Last{}, err
	}
	a.At, a.Corrected = fromNanos(at), fromNanos(corrected)
	l.TierName = cfg.Tiers[a.Tier].Name
	return l, nil
}

// Undo annuls this gate's latest admission (a wrong ticket scanned) under
// kido.CheckUndo, by recording an undo (kido.Undo) as the gate's next
// record, uploaded like any admission (docs/sync-protocol.md §3.7). It
// returns after the commit, with the annulled admission and the undo; from
// then on the annulled admission counts nowhere, and the same ticket is
// admitted again. When the rule refuses, nothing is recorded and the
// error wraps the kido.ErrUndo sentinel that says why.
func (r *Replica) Undo(ctx context.Context) (undone Last, undo kido.Admission, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reading := r.clock.Now()
	err = r.inTx(ctx, func(tx *sql.Tx) error {
		cfg, err := r.config(ctx, tx)
		if err != nil {
			return err
		}
		if undone, err = lastOwn(ctx, tx, cfg); err != nil {
			return err
		}
		if undone.check(reading.Trusted); undone.Why != nil {
			return undone.Why
		}
		var next uint64
		if err := tx.QueryRowContext(ctx, "SELECT max(? + 1, seq_floor) FROM state WHERE id = 1", undone.Admission.Seq).Scan(&next); err != nil {
			return err
		}
		undo = kido.Undo(undone.Admission, next, reading.Device.UTC(), reading.Trusted.UTC())
		undo.Hash = wire.AdmissionHash(undo)
		key, err := r.signer(cfg.Gate)
		if err != nil {
			return err
		}
		var sig any
		if key != nil {
			undo = wire.SignAdmission(key, undo)
			sig = undo.Sig
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			undo.Gate, undo.Seq, undo.Serial, undo.Tier, undo.Kind, toNanos(undo.At), toNanos(undo.Corrected), undo.Text, undo.Hash, undo.Reason, undo.Undoes, sig)
		return err
	})
	switch {
	case err == nil:
		return undone, undo, nil
	case errors.Is(err, errNoSnapshot):
		return Last{}, kido.Admission{}, &Error{Op: "undo", Path: r.path, Err: gate.ErrNoReplica, Cause: err,
			Hint: "enrolment did not finish; enrol the gate again into an empty -data directory"}
	case undone.Why != nil:
		return undone, kido.Admission{}, err
	}
	return Last{}, kido.Admission{}, r.fault("undo", err)
}

// checkAdmission refuses an admission record, from a snapshot or the feed,
// that the replica could not count with: a seq out of range, a kind it
// does not know, an undo that names no earlier seq of its gate.
func checkAdmission(a kido.Admission) error {
	switch {
	case a.Seq == 0 || a.Seq > wire.MaxSeq:
		return fmt.Errorf("admission (gate %d, seq %d): seq out of range", a.Gate, a.Seq)
	case a.Kind != kido.KindEntry && a.Kind != kido.KindExit && a.Kind != kido.KindManual && a.Kind != kido.KindUndo:
		return fmt.Errorf("admission (gate %d, seq %d) of kind %q", a.Gate, a.Seq, a.Kind)
	}
	if err := a.CheckUndoes(); err != nil {
		return fmt.Errorf("admission (gate %d, seq %d): %v", a.Gate, a.Seq, err)
	}
	return nil
}
