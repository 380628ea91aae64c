package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// IssuedTiers implements server.Store.
func (s *Store) IssuedTiers(ctx context.Context, event uint32, serials []uint32) (map[uint32]uint8, error) {
	out := make(map[uint32]uint8, len(serials))
	err := s.read(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, "SELECT tier FROM tickets WHERE event = ? AND serial = ?")
		if err != nil {
			return fmt.Errorf("sqlite: issued tickets: %w", err)
		}
		defer st.Close()
		for _, serial := range serials {
			if _, done := out[serial]; done {
				continue
			}
			var tier uint8
			err := st.QueryRowContext(ctx, event, serial).Scan(&tier)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlite: issued tickets: %w", err)
			}
			out[serial] = tier
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

// uploader stores one batch inside one write transaction.
type uploader struct {
	ctx         context.Context
	tx          *sql.Tx
	event, gate uint32
	now         string
	resp        wire.UploadResponse
}

// store classifies one record by its key: absent (insert), same hash
// (duplicate) or other hash (quarantine). It reports whether it inserted.
func (u *uploader) store(table, record string, seq uint64, hash string, rec any, insert func() error) (bool, error) {
	var stored string
	err := u.tx.QueryRowContext(u.ctx, "SELECT hash FROM "+table+" WHERE gate = ? AND seq = ?", u.gate, int64(seq)).Scan(&stored)
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

// Upload implements server.Store.
func (s *Store) Upload(ctx context.Context, event, gate uint32, req *wire.UploadRequest, now time.Time) (wire.UploadResponse, error) {
	var resp wire.UploadResponse
	err := s.write(ctx, func(tx *sql.Tx) error {
		u := &uploader{ctx: ctx, tx: tx, event: event, gate: gate, now: fmtTime(now)}
		var from, auditFrom uint64
		err := tx.QueryRowContext(ctx, "SELECT acked, audit_acked FROM gates WHERE id = ? AND event = ?", gate, event).Scan(&from, &auditFrom)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d of event %d not found", gate, event)
		}
		if err != nil {
			return fmt.Errorf("sqlite: upload: %w", err)
		}
		for i := range req.Admissions {
			a := &req.Admissions[i]
			inserted, err := u.store("admissions", wire.RecordAdmission, a.Seq, a.Hash, a, func() error {
				_, err := tx.ExecContext(ctx, "INSERT INTO admissions (event, gate, seq, serial, tier, kind, at, corrected, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					event, gate, int64(a.Seq), a.Serial, a.Tier, a.Kind, a.At.Format(time.RFC3339Nano), fmtTime(a.Corrected), a.Text, a.Hash)
				return err
			})
			if err != nil {
				return err
			}
			if inserted {
				if err := logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeAdmission, Admission: a}); err != nil {
					return err
				}
			}
		}
		for i := range req.Audits {
			r := &req.Audits[i]
			_, err := u.store("audits", wire.RecordAudit, r.Seq, r.Hash, r, func() error {
				_, err := tx.ExecContext(ctx, "INSERT INTO audits (event, gate, seq, kind, reason, serial, at, corrected, text, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					event, gate, int64(r.Seq), r.Kind, r.Reason, r.Serial, r.At.Format(time.RFC3339Nano), fmtTime(r.Corrected), r.Text, r.Hash)
				return err
			})
			if err != nil {
				return err
			}
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
