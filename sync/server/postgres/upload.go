package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// IssuedTickets implements server.Store.
func (s *Store) IssuedTickets(ctx context.Context, event uint32, serials []uint32) (map[uint32]server.Issued, error) {
	out := make(map[uint32]server.Issued, len(serials))
	rows, err := s.pool.Query(ctx, `SELECT t.serial, t.tier, t.text, t.revoked_pos, COALESCE(k.revoked_pos, 0) FROM tickets t
		LEFT JOIN keys k ON k.event = t.event AND k.id = t.key WHERE t.event = $1 AND t.serial = ANY ($2)`, event, int64s(serials))
	if err != nil {
		return nil, fmt.Errorf("postgres: issued tickets: %w", err)
	}
	var serial, revoked, keyRevoked int64
	var tier int16
	var text string
	if _, err := pgx.ForEachRow(rows, []any{&serial, &tier, &text, &revoked, &keyRevoked}, func() error {
		out[uint32(serial)] = server.Issued{Tier: uint8(tier), Text: text, Revoked: revoked, KeyRevoked: keyRevoked}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: issued tickets: %w", err)
	}
	return out, nil
}

// StoredHashes implements server.Store.
func (s *Store) StoredHashes(ctx context.Context, gate uint32, from, to uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	rows, err := s.pool.Query(ctx, "SELECT seq, hash FROM admissions WHERE gate = $1 AND seq BETWEEN $2 AND $3", gate, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("postgres: stored admissions: %w", err)
	}
	var seq int64
	var h string
	if _, err := pgx.ForEachRow(rows, []any{&seq, &h}, func() error { out[uint64(seq)] = h; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: stored admissions: %w", err)
	}
	return out, nil
}

// RecordRefused implements server.Store.
func (s *Store) RecordRefused(ctx context.Context, rs []server.Refusal) error {
	return s.write(ctx, func(tx *wtx) error {
		for _, r := range rs {
			_, err := tx.Exec(ctx, `INSERT INTO refused_uploads (event, gate, record, seq, hash, error, received) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (gate, record, seq, hash) DO NOTHING`,
				r.Event, r.Gate, r.Record, int64(r.Seq), r.Hash, r.Error, fmtTime(r.Received))
			if err != nil {
				return fmt.Errorf("postgres: refused upload: %w", err)
			}
		}
		return nil
	})
}

// record is one uploaded admission or audit record as the upload
// classifies it.
type record struct {
	seq   uint64
	hash  string
	value any   // the record, kept as JSON if quarantined
	row   []any // its row, if new
}

// uploader stores one batch inside one write transaction that holds the
// gate's row lock: an instance storing a retry of the same batch waits
// for the first to commit, then finds every record stored.
type uploader struct {
	tx          *wtx
	event, gate uint32
	now         string
	resp        wire.UploadResponse
}

// store classifies the records of one table by their keys: absent
// (inserted, in one COPY), same hash (duplicate) or other hash
// (quarantined). It returns the inserted ones.
func (u *uploader) store(ctx context.Context, table, kind string, cols []string, recs []record) ([]record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	seqs := make([]int64, len(recs))
	for i, r := range recs {
		seqs[i] = int64(r.seq)
	}
	rows, err := u.tx.Query(ctx, "SELECT seq, hash FROM "+table+" WHERE gate = $1 AND seq = ANY ($2)", u.gate, seqs)
	if err != nil {
		return nil, fmt.Errorf("postgres: upload: %w", err)
	}
	have := map[uint64]string{}
	var seq int64
	var h string
	if _, err := pgx.ForEachRow(rows, []any{&seq, &h}, func() error { have[uint64(seq)] = h; return nil }); err != nil {
		return nil, fmt.Errorf("postgres: upload: %w", err)
	}
	var fresh []record
	var inserts [][]any
	for _, r := range recs {
		stored, ok := have[r.seq]
		switch {
		case !ok:
			// A seq twice in one batch: the first is stored, the second
			// is classified against it.
			have[r.seq] = r.hash
			fresh = append(fresh, r)
			inserts = append(inserts, r.row)
			u.resp.Stored++
		case stored == r.hash:
			u.resp.Duplicates++
		default:
			payload, err := json.Marshal(r.value)
			if err != nil {
				return nil, fmt.Errorf("postgres: quarantine: %w", err)
			}
			_, err = u.tx.Exec(ctx, `INSERT INTO quarantine (event, gate, record, seq, hash, payload, received) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (gate, record, seq, hash) DO NOTHING`, u.event, u.gate, kind, int64(r.seq), r.hash, string(payload), u.now)
			if err != nil {
				return nil, fmt.Errorf("postgres: quarantine %s %d: %w", kind, r.seq, err)
			}
			u.resp.Quarantined = append(u.resp.Quarantined, wire.RecordRef{Record: kind, Seq: r.seq})
		}
	}
	if len(inserts) > 0 {
		if _, err := u.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(inserts)); err != nil {
			return nil, fmt.Errorf("postgres: store %ss: %w", kind, err)
		}
	}
	return fresh, nil
}

// acked returns the highest N with 1..N all in table for the gate,
// starting from the known acknowledgement from, and the highest seq.
func (u *uploader) acked(ctx context.Context, table string, from uint64) (acked, highest uint64, err error) {
	// Rows at or below an acknowledgement never go away, so the walk
	// starts there instead of at 1.
	rows, err := u.tx.Query(ctx, "SELECT seq FROM "+table+" WHERE gate = $1 AND seq > $2 ORDER BY seq", u.gate, int64(from))
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: acknowledge: %w", err)
	}
	acked, highest = from, from
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&seq}, func() error {
		if uint64(seq) == acked+1 {
			acked = uint64(seq)
		}
		highest = uint64(seq)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: acknowledge: %w", err)
	}
	return acked, highest, nil
}

var (
	admissionCopyCols = []string{"event", "gate", "seq", "serial", "tier", "kind", "at", "corrected", "text", "reason", "hash", "status", "why", "undoes", "sig"}
	auditCols         = []string{"event", "gate", "seq", "kind", "reason", "serial", "at", "corrected", "text", "hash"}
)

// Upload implements server.Store.
func (s *Store) Upload(ctx context.Context, event, gate uint32, req *wire.UploadRequest, flags map[uint64]wire.Flag, now time.Time) (wire.UploadResponse, error) {
	var resp wire.UploadResponse
	err := s.write(ctx, func(tx *wtx) error {
		u := &uploader{tx: tx, event: event, gate: gate, now: fmtTime(now)}
		var from, auditFrom int64
		err := tx.QueryRow(ctx, "SELECT acked, audit_acked FROM gates WHERE id = $1 AND event = $2 FOR UPDATE", gate, event).Scan(&from, &auditFrom)
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d of event %d not found", gate, event)
		}
		if err != nil {
			return fmt.Errorf("postgres: upload: %w", err)
		}
		ev, gt := int64(event), int64(gate)
		adms := make([]record, len(req.Admissions))
		for i := range req.Admissions {
			a := &req.Admissions[i]
			f := flags[a.Seq]
			adms[i] = record{seq: a.Seq, hash: a.Hash, value: a, row: []any{ev, gt, int64(a.Seq), int64(a.Serial), int16(a.Tier), a.Kind,
				a.At.Format(time.RFC3339Nano), fmtTime(a.Corrected), a.Text, a.Reason, a.Hash, f.Status, f.Reason, int64(a.Undoes), sigOrNil(a.Sig)}}
		}
		fresh, err := u.store(ctx, "admissions", wire.RecordAdmission, admissionCopyCols, adms)
		if err != nil {
			return err
		}
		for _, r := range fresh {
			a := r.value.(*kido.Admission)
			if f, flagged := flags[a.Seq]; flagged {
				// Kept for the operator, never sent to other gates.
				f.Seq = a.Seq
				u.resp.Flagged = append(u.resp.Flagged, f)
				continue
			}
			// The feed carries no signatures (docs/mesh.md): its admissions
			// stay the bytes every gate, of any version, reads.
			unsigned := *a
			unsigned.Sig = nil
			if err := tx.logChange(event, wire.Change{Kind: wire.ChangeAdmission, Admission: &unsigned}); err != nil {
				return err
			}
		}
		auds := make([]record, len(req.Audits))
		for i := range req.Audits {
			r := &req.Audits[i]
			auds[i] = record{seq: r.Seq, hash: r.Hash, value: r, row: []any{ev, gt, int64(r.Seq), r.Kind, r.Reason, int64(r.Serial),
				r.At.Format(time.RFC3339Nano), fmtTime(r.Corrected), r.Text, r.Hash}}
		}
		if _, err := u.store(ctx, "audits", wire.RecordAudit, auditCols, auds); err != nil {
			return err
		}
		if u.resp.Acked, u.resp.Highest, err = u.acked(ctx, "admissions", uint64(from)); err != nil {
			return err
		}
		if u.resp.AuditAcked, u.resp.AuditHighest, err = u.acked(ctx, "audits", uint64(auditFrom)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE gates SET acked = $1, audit_acked = $2 WHERE id = $3", int64(u.resp.Acked), int64(u.resp.AuditAcked), gate); err != nil {
			return fmt.Errorf("postgres: acknowledge: %w", err)
		}
		resp = u.resp
		return nil
	})
	return resp, err
}

// UploadState implements server.Store.
func (s *Store) UploadState(ctx context.Context, event, gate uint32, from, to uint64) (*server.UploadState, error) {
	st := &server.UploadState{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if st.Event, err = getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		var enrolled *string
		st.Gate, err = scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+", enrolled FROM gates WHERE id = $1 AND event = $2", gate, event), &enrolled)
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d of event %d not found", gate, event)
		}
		if err != nil {
			return fmt.Errorf("postgres: upload state: %w", err)
		}
		if enrolled != nil {
			if st.Enrolled, err = parseTime(*enrolled); err != nil {
				return err
			}
		}
		if from > to {
			return nil
		}
		st.Before, err = queryAdmissions(ctx, tx, "gate = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq", gate, int64(from), int64(to))
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// sigOrNil stores a missing signature as NULL.
func sigOrNil(sig []byte) []byte {
	if len(sig) == 0 {
		return nil
	}
	return sig
}
