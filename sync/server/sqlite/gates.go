package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

const gateCols = "id, event, name, tiers, direction, revoked, revoked_at, pub, mesh"

// scanGate reads a row of gateCols followed by more.
func scanGate(row interface{ Scan(...any) error }, more ...any) (kido.Gate, error) {
	var g kido.Gate
	var ts string
	var revokedAt sql.NullString
	if err := row.Scan(append([]any{&g.ID, &g.Event, &g.Name, &ts, &g.Direction, &g.Revoked, &revokedAt, &g.Pub, &g.Mesh}, more...)...); err != nil {
		return g, err
	}
	if revokedAt.Valid {
		t, err := parseTime(revokedAt.String)
		if err != nil {
			return g, err
		}
		g.RevokedAt = &t
	}
	var err error
	g.Tiers, err = splitIDs[uint8](ts, 8)
	return g, err
}

func gates(ctx context.Context, q queryer, event uint32) ([]kido.Gate, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+gateCols+" FROM gates WHERE event = ? ORDER BY id", event)
	if err != nil {
		return nil, fmt.Errorf("sqlite: gates: %w", err)
	}
	defer rows.Close()
	out := []kido.Gate{}
	for rows.Next() {
		g, err := scanGate(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: gates: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// AddGate implements server.Store.
func (s *Store) AddGate(ctx context.Context, g kido.Gate, code server.GateCode) (kido.Gate, error) {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, g.Event); err != nil {
			return err
		}
		known, err := tierSet(ctx, tx, g.Event)
		if err != nil {
			return err
		}
		for _, t := range g.Tiers {
			if !known[t] {
				return server.Errorf(server.ErrInvalid, "", "event %d has no tier %d", g.Event, t)
			}
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO gates (event, name, tiers, direction, code_hash, code_expires) VALUES (?, ?, ?, ?, ?, ?)",
			g.Event, g.Name, joinIDs(g.Tiers), g.Direction, code.Hash[:], fmtTime(code.Expires))
		if err != nil {
			return fmt.Errorf("sqlite: add gate: %w", err)
		}
		id, _ := res.LastInsertId()
		g.ID = uint32(id)
		return logChange(ctx, tx, g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return g, err
}

// Gates implements server.Store.
func (s *Store) Gates(ctx context.Context, event uint32) ([]kido.Gate, error) {
	var out []kido.Gate
	err := s.read(ctx, func(tx *sql.Tx) error {
		if _, err := getEvent(ctx, tx, event); err != nil {
			return err
		}
		var err error
		out, err = gates(ctx, tx, event)
		return err
	})
	return out, err
}

// Enroll implements server.Store.
func (s *Store) Enroll(ctx context.Context, code server.TokenHash, device string, pub []byte, cred server.NewToken, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *sql.Tx) error {
		var enrolled sql.NullString
		var expires string
		var err error
		g, err = scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+", enrolled, code_expires FROM gates WHERE code_hash = ?", code[:]), &enrolled, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "check the code, or make a new one with kidoctl gate add", "unknown enrolment code")
		}
		if err != nil {
			return fmt.Errorf("sqlite: enroll: %w", err)
		}
		exp, err := parseTime(expires)
		if err != nil {
			return err
		}
		switch {
		case enrolled.Valid:
			return server.Errorf(server.ErrNotFound, "codes work once; make a new one with kidoctl gate add", "enrolment code already used (gate %d, %s)", g.ID, enrolled.String)
		case g.Revoked:
			return server.Errorf(server.ErrNotFound, "make a new one with kidoctl gate add", "enrolment code of revoked gate %d", g.ID)
		case now.After(exp):
			return server.Errorf(server.ErrNotFound, "make a new one with kidoctl gate add", "enrolment code expired at %s", exp.Format(time.RFC3339))
		}
		if _, err := tx.ExecContext(ctx, "UPDATE gates SET enrolled = ?, device = ?, pub = ? WHERE id = ?", fmtTime(now), device, nilIfEmpty(pub), g.ID); err != nil {
			return fmt.Errorf("sqlite: enroll: %w", err)
		}
		if len(pub) > 0 {
			// Every replica learns the key its records are checked with.
			g.Pub = pub
			if err := logChange(ctx, tx, g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g}); err != nil {
				return err
			}
		}
		cred.Gate = g.ID
		cred.Events = []uint32{g.Event}
		cred.Name = "gate " + strconv.FormatUint(uint64(g.ID), 10) + " " + g.Name
		_, err = insertToken(ctx, tx, cred, now)
		return err
	})
	return g, err
}

// Snapshot implements server.Store.
func (s *Store) Snapshot(ctx context.Context, gate uint32) (*wire.Snapshot, error) {
	snap := &wire.Snapshot{}
	err := s.read(ctx, func(tx *sql.Tx) error {
		// The first statement fixes the read snapshot; the cursor must come
		// from that same state.
		h, err := head(ctx, tx)
		if err != nil {
			return err
		}
		snap.Cursor = h.String()
		snap.Gate, err = scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ?", gate))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d not found", gate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: snapshot: %w", err)
		}
		ev := snap.Gate.Event
		if snap.Event, err = getEvent(ctx, tx, ev); err != nil {
			return err
		}
		if snap.Tiers, err = tiers(ctx, tx, ev); err != nil {
			return err
		}
		if snap.Keys, err = keys(ctx, tx, ev); err != nil {
			return err
		}
		if snap.Gates, err = gates(ctx, tx, ev); err != nil {
			return err
		}
		if snap.Roster, err = roster(ctx, tx, ev); err != nil {
			return err
		}
		if snap.Admissions, err = admissions(ctx, tx, ev); err != nil {
			return err
		}
		snap.Voids, err = voids(ctx, tx, "event = ?", ev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func roster(ctx context.Context, tx *sql.Tx, event uint32) ([]kido.RosterEntry, error) {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM tickets WHERE event = ?", event).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: roster: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT serial, tier, holder, reading, order_ref, revoked, COALESCE(replaced_by, 0) FROM tickets WHERE event = ? ORDER BY serial", event)
	if err != nil {
		return nil, fmt.Errorf("sqlite: roster: %w", err)
	}
	defer rows.Close()
	out := make([]kido.RosterEntry, 0, n)
	for rows.Next() {
		var r kido.RosterEntry
		if err := rows.Scan(&r.Serial, &r.Tier, &r.Holder, &r.Reading, &r.OrderRef, &r.Revoked, &r.ReplacedBy); err != nil {
			return nil, fmt.Errorf("sqlite: roster: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// admissionCols are the columns scanAdmissions reads.
const admissionCols = "gate, seq, serial, tier, kind, at, corrected, text, reason, hash, undoes"

// admissions returns the event's counted admissions (status ”), in (gate,
// seq) order.
func admissions(ctx context.Context, tx *sql.Tx, event uint32) ([]kido.Admission, error) {
	return scanAdmissions(tx.QueryContext(ctx, "SELECT "+admissionCols+" FROM admissions WHERE event = ? AND status = '' ORDER BY gate, seq", event))
}

// scanAdmissions reads the rows of a query of admissionCols.
func scanAdmissions(rows *sql.Rows, err error) ([]kido.Admission, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: admissions: %w", err)
	}
	defer rows.Close()
	out := []kido.Admission{}
	for rows.Next() {
		var a kido.Admission
		var at, corrected string
		if err := rows.Scan(&a.Gate, &a.Seq, &a.Serial, &a.Tier, &a.Kind, &at, &corrected, &a.Text, &a.Reason, &a.Hash, &a.Undoes); err != nil {
			return nil, fmt.Errorf("sqlite: admissions: %w", err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if a.Corrected, err = parseTime(corrected); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// nilIfEmpty stores an empty key as NULL: a gate without one.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// SetGateMesh implements server.Store.
func (s *Store) SetGateMesh(ctx context.Context, event, gate uint32, addr string) (bool, error) {
	changed := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		g, err := scanGate(tx.QueryRowContext(ctx, "SELECT "+gateCols+" FROM gates WHERE id = ? AND event = ?", gate, event))
		if errors.Is(err, sql.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("sqlite: set gate mesh: %w", err)
		}
		if g.Mesh == addr || g.Revoked {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE gates SET mesh = ? WHERE id = ?", addr, gate); err != nil {
			return fmt.Errorf("sqlite: set gate mesh: %w", err)
		}
		g.Mesh, changed = addr, true
		return logChange(ctx, tx, event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return changed, err
}
