package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

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
			(SELECT COUNT(*) FROM refused_uploads r WHERE r.gate = gates.id)
			FROM gates WHERE event = $1 ORDER BY id`, event)
		if err != nil {
			return fmt.Errorf("postgres: gate statuses: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wire.GateStatus, error) {
			var st wire.GateStatus
			var last *string
			g, err := scanGate(r, &last, &st.Pending, &st.ClockSkewMS, &st.Version, &st.Acked, &st.AuditAcked, &st.Quarantined, &st.Refused)
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
