package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// SaveHeartbeats implements server.Store. Each instance writes the
// heartbeats of the gates that contacted it; a gate that moved between
// instances keeps the latest contact.
func (s *Store) SaveHeartbeats(ctx context.Context, hbs []server.GateHeartbeat) error {
	if len(hbs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *wtx) error {
		b := &pgx.Batch{}
		for _, h := range hbs {
			// RFC 3339 in UTC with nanoseconds compares as text in time
			// order only at equal width, so the comparison is on times.
			b.Queue(`UPDATE gates SET last_contact = $1::text, pending = $2, clock_skew_ms = $3, version = $4
				WHERE id = $5 AND (last_contact IS NULL OR last_contact::timestamptz <= $1::text::timestamptz)`,
				fmtTime(h.LastContact), h.Pending, h.ClockSkewMS, h.Version, h.Gate)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("postgres: heartbeats: %w", err)
		}
		return nil
	})
}

// GateStatuses implements server.Store.
func (s *Store) GateStatuses(ctx context.Context, event uint32) ([]wire.GateStatus, error) {
	var out []wire.GateStatus
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+gateCols+`, last_contact, pending, clock_skew_ms, version, acked, audit_acked,
			(SELECT COUNT(*) FROM quarantine q WHERE q.gate = gates.id),
			(SELECT COUNT(*) FROM refused_uploads r WHERE r.gate = gates.id),
			(SELECT COUNT(*) FROM admissions a WHERE a.gate = gates.id AND a.status = 'suspect'),
			(SELECT COUNT(*) FROM admissions a WHERE a.gate = gates.id AND a.status = 'voided')
			FROM gates WHERE event = $1 ORDER BY id`, event)
		if err != nil {
			return fmt.Errorf("postgres: gate statuses: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.GateStatus, error) {
			var st wire.GateStatus
			var last *string
			g, err := scanGate(r, &last, &st.Pending, &st.ClockSkewMS, &st.Version, &st.Acked, &st.AuditAcked, &st.Quarantined, &st.Refused, &st.Suspect, &st.Voided)
			if err != nil {
				return st, err
			}
			st.Gate = g
			if last != nil {
				t, err := parseTime(*last)
				if err != nil {
					return st, err
				}
				st.LastContact = &t
			}
			return st, nil
		})
		if err != nil {
			return fmt.Errorf("postgres: gate statuses: %w", err)
		}
		return nil
	})
	return out, err
}

// EventRecords implements server.Store.
func (s *Store) EventRecords(ctx context.Context, event uint32) (*server.EventRecords, error) {
	er := &server.EventRecords{Rejected: map[uint32]int{}, Issued: map[uint8]int{}, Holders: map[uint32]string{}}
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if er.Event, err = getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		if er.Tiers, err = tiers(ctx, tx, event); err != nil {
			return err
		}
		if er.Gates, err = gates(ctx, tx, event); err != nil {
			return err
		}
		if er.Admissions, err = admissions(ctx, tx, event); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM quarantine WHERE event = $1", event).Scan(&er.Quarantined); err != nil {
			return fmt.Errorf("postgres: quarantine: %w", err)
		}
		if er.Flagged, er.Voids, err = flagged(ctx, tx, event); err != nil {
			return err
		}
		if er.Reviews, err = reviews(ctx, tx, event); err != nil {
			return err
		}
		counts := []struct {
			q   string
			add func(k int64, n int)
		}{
			{"SELECT gate, COUNT(*) FROM audits WHERE event = $1 GROUP BY gate", func(k int64, n int) { er.Rejected[uint32(k)] = n }},
			{"SELECT tier, COUNT(*) FROM tickets WHERE event = $1 GROUP BY tier", func(k int64, n int) { er.Issued[uint8(k)] = n }},
		}
		for _, c := range counts {
			var k int64
			var n int
			rows, err := tx.Query(ctx, c.q, event)
			if err != nil {
				return fmt.Errorf("postgres: counts: %w", err)
			}
			if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { c.add(k, n); return nil }); err != nil {
				return fmt.Errorf("postgres: counts: %w", err)
			}
		}
		var serial int64
		var holder string
		rows, err := tx.Query(ctx, `SELECT t.serial, t.holder FROM tickets t
			WHERE t.event = $1 AND EXISTS (SELECT 1 FROM admissions a WHERE a.event = t.event AND a.serial = t.serial)`, event)
		if err != nil {
			return fmt.Errorf("postgres: holders: %w", err)
		}
		if _, err := pgx.ForEachRow(rows, []any{&serial, &holder}, func() error { er.Holders[uint32(serial)] = holder; return nil }); err != nil {
			return fmt.Errorf("postgres: holders: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return er, nil
}

// flagged reads the event's suspect, refused and voided admissions and
// its voids.
func flagged(ctx context.Context, q querier, event uint32) ([]wire.Flagged, []kido.Void, error) {
	rows, err := q.Query(ctx, "SELECT "+admissionCols+", status, why FROM admissions WHERE event = $1 AND status <> '' ORDER BY gate, seq", event)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: flagged: %w", err)
	}
	fs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.Flagged, error) {
		var f wire.Flagged
		var err error
		f.Admission, err = scanAdmission(r, &f.Status, &f.Why)
		return f, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: flagged: %w", err)
	}
	vs, err := voids(ctx, q, event)
	return fs, vs, err
}

// voids reads the event's voids in the order they were made.
func voids(ctx context.Context, q querier, event uint32) ([]kido.Void, error) {
	rows, err := q.Query(ctx, "SELECT event, gate, from_t, reason, by_name, created FROM voids WHERE event = $1 ORDER BY id", event)
	if err != nil {
		return nil, fmt.Errorf("postgres: voids: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kido.Void, error) {
		var v kido.Void
		var from, created string
		if err := r.Scan(&v.Event, &v.Gate, &from, &v.Reason, &v.By, &created); err != nil {
			return v, err
		}
		var err error
		if v.From, err = parseTime(from); err != nil {
			return v, err
		}
		v.Created, err = parseTime(created)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: voids: %w", err)
	}
	return vs, nil
}

// VoidGate implements server.Store. The gate's row lock orders it with
// the gate's uploads and revocation.
func (s *Store) VoidGate(ctx context.Context, v kido.Void) (kido.Void, int, error) {
	n := 0
	err := s.write(ctx, func(tx *wtx) error {
		n = 0
		g, err := scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1 AND event = $2 FOR UPDATE", v.Gate, v.Event))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", v.Event), "event %d has no gate %d", v.Event, v.Gate)
		}
		if err != nil {
			return fmt.Errorf("postgres: void: %w", err)
		}
		if !g.Revoked {
			return server.Errorf(server.ErrConflict, fmt.Sprintf("revoke it first: kidoctl gate revoke -event %d %d", v.Event, v.Gate), "gate %d is not revoked", v.Gate)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO voids (event, gate, from_t, reason, by_name, created) VALUES ($1, $2, $3, $4, $5, $6)",
			v.Event, v.Gate, fmtTime(v.From), v.Reason, v.By, fmtTime(v.Created)); err != nil {
			return fmt.Errorf("postgres: void: %w", err)
		}
		// Which admissions a void covers is kido.Void.Covers, in Go: the
		// one rule, not a second copy in SQL.
		as, err := queryAdmissions(ctx, tx, "gate = $1 AND status = '' ORDER BY seq", v.Gate)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, a := range as {
			if v.Covers(a) {
				seqs = append(seqs, int64(a.Seq))
			}
		}
		if len(seqs) > 0 {
			if _, err := tx.Exec(ctx, "UPDATE admissions SET status = $1, why = $2 WHERE gate = $3 AND seq = ANY ($4)", wire.StatusVoided, "void: "+v.Reason, v.Gate, seqs); err != nil {
				return fmt.Errorf("postgres: void: %w", err)
			}
		}
		n = len(seqs)
		return tx.logChange(v.Event, wire.Change{Kind: wire.ChangeVoid, Void: &v})
	})
	return v, n, err
}
