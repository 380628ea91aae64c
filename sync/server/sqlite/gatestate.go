package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// RevokeGate implements server.Store. Revoking a revoked gate changes
// nothing and is not an error.
func (s *Store) RevokeGate(ctx context.Context, event, gate uint32, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ? AND event = ?", gate, event))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", event), "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: revoke gate: %w", err)
		}
		// The credential's hash stays, marked revoked, so that the gate's
		// next contact is told it was revoked.
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked = ? WHERE gate = ? AND revoked IS NULL", fmtTime(now), gate); err != nil {
			return fmt.Errorf("sqlite: revoke gate: %w", err)
		}
		if g.Revoked {
			return nil
		}
		// An unused enrolment code must not bring the gate back either.
		if _, err := tx.ExecContext(ctx, "UPDATE gates SET revoked = 1, revoked_at = ?, code_hash = NULL WHERE id = ?", fmtTime(now), gate); err != nil {
			return fmt.Errorf("sqlite: revoke gate: %w", err)
		}
		g.Revoked = true
		at := now.UTC()
		g.RevokedAt = &at
		return logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return g, err
}

// SaveHeartbeats implements server.Store.
func (s *Store) SaveHeartbeats(ctx context.Context, hbs []server.GateHeartbeat) error {
	if len(hbs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, "UPDATE gates SET last_contact = ?, pending = ?, clock_skew_ms = ?, version = ? WHERE id = ?")
		if err != nil {
			return fmt.Errorf("sqlite: heartbeats: %w", err)
		}
		defer st.Close()
		for _, h := range hbs {
			if _, err := st.ExecContext(ctx, fmtTime(h.LastContact), h.Pending, h.ClockSkewMS, h.Version, h.Gate); err != nil {
				return fmt.Errorf("sqlite: heartbeats: %w", err)
			}
		}
		return nil
	})
}

// GateStatuses implements server.Store.
func (s *Store) GateStatuses(ctx context.Context, event uint32) ([]wire.GateStatus, error) {
	var out []wire.GateStatus
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+gateCols+`, last_contact, pending, clock_skew_ms, version, acked, audit_acked,
			(SELECT COUNT(*) FROM quarantine q WHERE q.gate = gates.id),
			(SELECT COUNT(*) FROM refused_uploads r WHERE r.gate = gates.id),
			(SELECT COUNT(*) FROM admissions a WHERE a.gate = gates.id AND a.status = 'suspect'),
			(SELECT COUNT(*) FROM admissions a WHERE a.gate = gates.id AND a.status = 'voided')
			FROM gates WHERE event = ? ORDER BY id`, event)
		if err != nil {
			return fmt.Errorf("sqlite: gate statuses: %w", err)
		}
		defer rows.Close()
		out = []wire.GateStatus{}
		for rows.Next() {
			var st wire.GateStatus
			var last sql.NullString
			st.Gate, err = scanGate(rows, &last, &st.Pending, &st.ClockSkewMS, &st.Version, &st.Acked, &st.AuditAcked, &st.Quarantined, &st.Refused, &st.Suspect, &st.Voided)
			if err != nil {
				return fmt.Errorf("sqlite: gate statuses: %w", err)
			}
			if last.Valid {
				t, err := parseTime(last.String)
				if err != nil {
					return err
				}
				st.LastContact = &t
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	return out, err
}

// EventRecords implements server.Store.
func (s *Store) EventRecords(ctx context.Context, event uint32) (*server.EventRecords, error) {
	er := &server.EventRecords{Rejected: map[uint32]int{}, Issued: map[uint8]int{}, Holders: map[uint32]string{}}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if er.Event, err = getEvent(ctx, tx, event); err != nil {
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
		if er.Quarantined, err = quarantineCount(ctx, tx, "event = ?", event); err != nil {
			return err
		}
		if er.Flagged, er.Voids, err = flagged(ctx, tx, event); err != nil {
			return err
		}
		if er.Reviews, err = reviews(ctx, tx, event); err != nil {
			return err
		}
		counts := []struct {
			q   string
			add func(k, n int)
		}{
			{"SELECT gate, COUNT(*) FROM audits WHERE event = ? GROUP BY gate", func(k, n int) { er.Rejected[uint32(k)] = n }},
			{"SELECT tier, COUNT(*) FROM tickets WHERE event = ? GROUP BY tier", func(k, n int) { er.Issued[uint8(k)] = n }},
		}
		for _, c := range counts {
			if err := scanPairs(ctx, tx, c.q, event, c.add); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT t.serial, t.holder FROM tickets t
			WHERE t.event = ? AND EXISTS (SELECT 1 FROM admissions a WHERE a.event = t.event AND a.serial = t.serial)`, event)
		if err != nil {
			return fmt.Errorf("sqlite: holders: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var serial uint32
			var holder string
			if err := rows.Scan(&serial, &holder); err != nil {
				return fmt.Errorf("sqlite: holders: %w", err)
			}
			er.Holders[serial] = holder
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return er, nil
}

// flagged reads the event's suspect, refused and voided admissions and its
// voids.
func flagged(ctx context.Context, tx *sql.Tx, event uint32) ([]wire.Flagged, []kido.Void, error) {
	rows, err := tx.QueryContext(ctx, "SELECT status, why FROM admissions WHERE event = ? AND status <> '' ORDER BY gate, seq", event)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: flagged: %w", err)
	}
	fs := []wire.Flagged{}
	for rows.Next() {
		var f wire.Flagged
		if err := rows.Scan(&f.Status, &f.Why); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("sqlite: flagged: %w", err)
		}
		fs = append(fs, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("sqlite: flagged: %w", err)
	}
	as, err := scanAdmissions(tx.QueryContext(ctx, "SELECT "+admissionCols+" FROM admissions WHERE event = ? AND status <> '' ORDER BY gate, seq", event))
	if err != nil {
		return nil, nil, err
	}
	if len(as) != len(fs) {
		return nil, nil, fmt.Errorf("sqlite: flagged: %d rows then %d in one read", len(fs), len(as))
	}
	for i := range fs {
		fs[i].Admission = as[i]
	}
	vs, err := voids(ctx, tx, "event = ?", event)
	return fs, vs, err
}

// voids reads the voids matching where (a constant of this package).
func voids(ctx context.Context, tx *sql.Tx, where string, arg any) ([]kido.Void, error) {
	rows, err := tx.QueryContext(ctx, "SELECT event, gate, from_t, reason, by, created FROM voids WHERE "+where+" ORDER BY id", arg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: voids: %w", err)
	}
	defer rows.Close()
	out := []kido.Void{}
	for rows.Next() {
		var v kido.Void
		var from, created string
		if err := rows.Scan(&v.Event, &v.Gate, &from, &v.Reason, &v.By, &created); err != nil {
			return nil, fmt.Errorf("sqlite: voids: %w", err)
		}
		if v.From, err = parseTime(from); err != nil {
			return nil, err
		}
		if v.Created, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// VoidGate implements server.Store.
func (s *Store) VoidGate(ctx context.Context, v kido.Void) (kido.Void, int, error) {
	n := 0
	err := s.write(ctx, func(tx *sql.Tx) error {
		g, err := scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ? AND event = ?", v.Gate, v.Event))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", v.Event), "event %d has no gate %d", v.Event, v.Gate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: void: %w", err)
		}
		if !g.Revoked {
			return server.Errorf(server.ErrConflict, fmt.Sprintf("revoke it first: kidoctl gate revoke -event %d %d", v.Event, v.Gate), "gate %d is not revoked", v.Gate)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO voids (event, gate, from_t, reason, by, created) VALUES (?, ?, ?, ?, ?, ?)",
			v.Event, v.Gate, fmtTime(v.From), v.Reason, v.By, fmtTime(v.Created)); err != nil {
			return fmt.Errorf("sqlite: void: %w", err)
		}
		// Which admissions a void covers is kido.Void.Covers, in Go: stored
		// times are text that does not sort as time.
		as, err := scanAdmissions(tx.QueryContext(ctx, "SELECT "+admissionCols+" FROM admissions WHERE gate = ? AND status = '' ORDER BY seq", v.Gate))
		if err != nil {
			return err
		}
		for _, a := range as {
			if !v.Covers(a) {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE admissions SET status = 'voided', why = ? WHERE gate = ? AND seq = ?", "void: "+v.Reason, a.Gate, int64(a.Seq)); err != nil {
				return fmt.Errorf("sqlite: void: %w", err)
			}
			n++
		}
		return logChange(ctx, tx, v.Event, wire.Change{Kind: wire.ChangeVoid, Void: &v})
	})
	return v, n, err
}

func scanPairs(ctx context.Context, tx *sql.Tx, q string, event uint32, add func(k, n int)) error {
	rows, err := tx.QueryContext(ctx, q, event)
	if err != nil {
		return fmt.Errorf("sqlite: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, n int
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("sqlite: counts: %w", err)
		}
		add(k, n)
	}
	return rows.Err()
}

// Probe implements server.Store. It goes through the writer connection, so
// it waits for other writes as they wait for each other.
func (s *Store) Probe(ctx context.Context) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO probe (id, at) VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) ON CONFLICT (id) DO UPDATE SET at = excluded.at"); err != nil {
			return fmt.Errorf("sqlite: write probe: %w", err)
		}
		return nil
	})
}

// Ping implements server.Store. It uses a connection of its own, so that
// a busy read pool cannot make the health check wait.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.ping.QueryRowContext(ctx, "SELECT 1 FROM identity LIMIT 1").Scan(&one); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}
