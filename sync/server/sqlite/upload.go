package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// IssuedTickets implements server.Store.
func (s *Store) IssuedTickets(ctx context.Context, event uint32, serials []uint32) (map[uint32]server.Issued, error) {
	out := make(map[uint32]server.Issued, len(serials))
	err := s.read(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `SELECT t.tier, t.text, t.revoked_pos, COALESCE(k.revoked_pos, 0) FROM tickets t
			LEFT JOIN keys k ON k.event = t.event AND k.id = t.key WHERE t.event = ? AND t.serial = ?`)
		if err != nil {
			return fmt.Errorf("sqlite: issued tickets: %w", err)
		}
		defer st.Close()
		for _, serial := range serials {
			if _, done := out[serial]; done {
				continue
			}
			var t server.Issued
			err := st.QueryRowContext(ctx, event, serial).Scan(&t.Tier, &t.Text, &t.Revoked, &t.KeyRevoked)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: issued tickets: %w", err)
			}
			out[serial] = t
		}
		return nil
	})
	return out, err
}

// StoredHashes implements server.Store.
func (s *Store) StoredHashes(ctx context.Context, gate uint32, from, to uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	rows, err := s.r.QueryContext(ctx, "SELECT seq, hash FROM admissions WHERE gate = ? AND seq BETWEEN ? AND ?", gate, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("sqlite: stored admissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var h string
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, fmt.Errorf("sqlite: stored admissions: %w", err)
		}
		out[seq] = h
	}
	return out, rows.Err()
}

// RecordRefused implements server.Store.
func (s *Store) RecordRefused(ctx context.Context, rs []server.Refusal) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, r := range rs {
			_, err := tx.ExecContext(ctx, "INSERT INTO refused_uploads (event, gate, record, seq, hash, error, received) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gate, record, seq, hash) DO NOTHING",
				r.Event, r.Gate, r.Record, int64(r.Seq), r.Hash, r.Error, fmtTime(r.Received))
			if err != nil {
				return fmt.Errorf("sqlite: refused upload: %w", err)
			}
		}
		return nil
	})
}

// uploader stores one batch inside one write transaction, with its
// statements prepared once per batch rather than compiled per record.
type uploader struct {
	ctx         context.Context
	tx          *sql.Tx
	event, gate uint32
	now         string
	flags       map[uint64]wire.Flag
	resp        wire.UploadResponse
	stmts       []*sql.Stmt
}

// prepare compiles q for the rest of the transaction.
func (u *uploader) prepare(q string) (*sql.Stmt, error) {
	st, err := u.tx.PrepareContext(u.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: upload: %w", err)
	}
	u.stmts = append(u.stmts, st)
	return st, nil
}

func (u *uploader) close() {
	for _, st := range u.stmts {
		st.Close()
	}
}

// store classifies one record by its key, looked up with get: absent
// (insert), same hash (duplicate) or other hash (quarantine). It reports
// whether it inserted.
func (u *uploader) store(get *sql.Stmt, record string, seq uint64, hash string, rec any, insert func() error) (bool, error) {
	var stored string
	err := get.QueryRowContext(u.ctx, u.gate, int64(seq)).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := insert(); err != nil {
			return false, fmt.Errorf("sqlite: store %s %d: %w", record, seq, err)
		}
		u.resp.Stored++
		return true, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: upload: %w", err)
	case stored == hash:
		u.resp.Duplicates++
		return false, nil
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("sqlite: quarantine: %w", err)
	}
	_, err = u.tx.ExecContext(u.ctx, `INSERT INTO quarantine (event, gate, record, seq, hash, payload, received) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (gate, record, seq, hash) DO NOTHING`, u.event, u.gate, record, int64(seq), hash, string(payload), u.now)
	if err != nil {
		return false, fmt.Errorf("sqlite: quarantine %s %d: %w", record, seq, err)
	}
	u.resp.Quarantined = append(u.resp.Quarantined, wire.RecordRef{Record: record, Seq: seq})
	return false, nil
}

// acked returns the highest N with 1..N all in table for the gate,
// starting from the known acknowledgement from, and the highest seq.
func (u *uploader) acked(table string, from uint64) (acked, highest uint64, err error) {
	// Rows at or below an acknowledgement never go away, so the walk
	// starts there instead of at 1.
	rows, err := u.tx.QueryContext(u.ctx, "SELECT seq FROM "+table+" WHERE gate = ? AND seq > ? ORDER BY seq", u.gate, int64(from))
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: acknowledge: %w", err)
	}
	defer rows.Close()
	acked, highest = from, from
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			return 0, 0, fmt.Errorf("sqlite: acknowledge: %w", err)
		}
		if seq == acked+1 {
			acked = seq
		}
		highest = seq
	}
	return acked, highest, rows.Err()
}

// admissions stores the batch's admissions, appending each new one to the
// change log.
func (u *uploader) admissions(as []kido.Admission) error {
	if len(as) == 0 {
		return nil
	}
	get, err := u.prepare("SELECT hash FROM admissions WHERE gate = ? AND seq = ?")
	if err != nil {
		return err
	}
	ins, err := u.prepare("INSERT INTO admissions (event, gate, seq, serial, tier, kind, at, corrected, text, reason, hash, status, why, undoes, sig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	logc, err := u.prepare(insertChange)
	if err != nil {
		return err
	}
	for i := range as {
		a := &as[i]
		f, flagged := u.flags[a.Seq]
		inserted, err := u.store(get, wire.RecordAdmission, a.Seq, a.Hash, a, func() error {
			_, err := ins.ExecContext(u.ctx, u.event, u.gate, int64(a.Seq), a.Serial, a.Tier, a.Kind, a.At.Format(time.RFC3339Nano), fmtTime(a.Corrected), a.Text, a.Reason, a.Hash, f.Status, f.Reason, int64(a.Undoes), nilIfEmpty(a.Sig))
			return err
		})
		if err != nil {
			return err
		}
		if !inserted {
			continue
		}
		if flagged {
			// Kept for the operator, never sent to other gates.
			f.Seq = a.Seq
			u.resp.Flagged = append(u.resp.Flagged, f)
			continue
		}
		// The feed carries no signatures (docs/mesh.md): its admissions
		// stay the bytes every gate, of any version, reads.
		unsigned := *a
		unsigned.Sig = nil
		b, err := json.Marshal(wire.Change{Kind: wire.ChangeAdmission, Admission: &unsigned})
		if err != nil {
			return fmt.Errorf("sqlite: change: %w", err)
		}
		if _, err := logc.ExecContext(u.ctx, u.event, wire.ChangeAdmission, string(b)); err != nil {
			return fmt.Errorf("sqlite: change: %w", err)
		}
	}
	return nil
}

// audits stores the batch's audit records.
func (u *uploader) audits(rs []wire.AuditRecord) error {
	if len(rs) == 0 {
		return nil
	}
	get, err := u.prepare("SELECT hash FROM audits WHERE gate = ? AND seq = ?")
	if err != nil {
		return err
	}
	ins, err := u.prepare("INSERT INTO audits (event, gate, seq, kind, reason, serial, at, corrected, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	for i := range rs {
		r := &rs[i]
		_, err := u.store(get, wire.RecordAudit, r.Seq, r.Hash, r, func() error {
			_, err := ins.ExecContext(u.ctx, u.event, u.gate, int64(r.Seq), r.Kind, r.Reason, r.Serial, r.At.Format(time.RFC3339Nano), fmtTime(r.Corrected), r.Text, r.Hash)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Upload implements server.Store.
func (s *Store) Upload(ctx context.Context, event, gate uint32, req *wire.UploadRequest, flags map[uint64]wire.Flag, now time.Time) (wire.UploadResponse, error) {
	var resp wire.UploadResponse
	err := s.write(ctx, func(tx *sql.Tx) error {
		u := &uploader{ctx: ctx, tx: tx, event: event, gate: gate, now: fmtTime(now), flags: flags}
		defer u.close()
		var from, auditFrom uint64
		err := tx.QueryRowContext(ctx, "SELECT acked, audit_acked FROM gates WHERE id = ? AND event = ?", gate, event).Scan(&from, &auditFrom)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d of event %d not found", gate, event)
		}
		if err != nil {
			return fmt.Errorf("sqlite: upload: %w", err)
		}
		if err := u.admissions(req.Admissions); err != nil {
			return err
		}
		if err := u.audits(req.Audits); err != nil {
			return err
		}
		if u.resp.Acked, u.resp.Highest, err = u.acked("admissions", from); err != nil {
			return err
		}
		if u.resp.AuditAcked, u.resp.AuditHighest, err = u.acked("audits", auditFrom); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE gates SET acked = ?, audit_acked = ? WHERE id = ?", int64(u.resp.Acked), int64(u.resp.AuditAcked), gate); err != nil {
			return fmt.Errorf("sqlite: acknowledge: %w", err)
		}
		resp = u.resp
		return nil
	})
	return resp, err
}

// quarantineCount is used by gate statuses and reports.
func quarantineCount(ctx context.Context, q queryer, where string, arg any) (int, error) {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM quarantine WHERE "+where, arg).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: quarantine: %w", err)
	}
	return n, nil
}

// UploadState implements server.Store.
func (s *Store) UploadState(ctx context.Context, event, gate uint32, from, to uint64) (*server.UploadState, error) {
	st := &server.UploadState{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if st.Event, err = getEvent(ctx, tx, event); err != nil {
			return err
		}
		var enrolled sql.NullString
		st.Gate, err = scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+", enrolled FROM gates WHERE id = ? AND event = ?", gate, event), &enrolled)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d of event %d not found", gate, event)
		}
		if err != nil {
			return fmt.Errorf("sqlite: upload state: %w", err)
		}
		if enrolled.Valid {
			if st.Enrolled, err = parseTime(enrolled.String); err != nil {
				return err
			}
		}
		if from > to {
			return nil
		}
		st.Before, err = scanAdmissions(tx.QueryContext(ctx, "SELECT "+admissionCols+" FROM admissions WHERE gate = ? AND seq BETWEEN ? AND ? ORDER BY seq", gate, int64(from), int64(to)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
