package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

const gateCols = "id, event, name, tiers, direction, revoked, revoked_at, pub, mesh"

func scanGate(row pgx.Row, more ...any) (kido.Gate, error) {
	var g kido.Gate
	var ts []int64
	var dir string
	var revokedAt *string
	if err := row.Scan(append([]any{&g.ID, &g.Event, &g.Name, &ts, &dir, &g.Revoked, &revokedAt, &g.Pub, &g.Mesh}, more...)...); err != nil {
		return g, err
	}
	if revokedAt != nil {
		t, err := parseTime(*revokedAt)
		if err != nil {
			return g, err
		}
		g.RevokedAt = &t
	}
	g.Tiers, g.Direction = ids[uint8](ts), kido.Direction(dir)
	return g, nil
}

// setRevoked marks g revoked at now in its row and in g, keeping an
// earlier revocation time.
func setRevoked(ctx context.Context, tx *wtx, g *kido.Gate, now time.Time) error {
	if _, err := tx.Exec(ctx, "UPDATE gates SET revoked = true, revoked_at = COALESCE(revoked_at, $1), code_hash = NULL WHERE id = $2", fmtTime(now), g.ID); err != nil {
		return err
	}
	g.Revoked = true
	if g.RevokedAt == nil {
		at := now.UTC()
		g.RevokedAt = &at
	}
	return nil
}

// lockGate reads gate id with its row locked until commit.
func lockGate(ctx context.Context, tx *wtx, id uint32) (kido.Gate, error) {
	g, err := scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return g, fmt.Errorf("postgres: gate %d: %w", id, err)
	}
	return g, nil
}

func gates(ctx context.Context, q querier, event uint32) ([]kido.Gate, error) {
	rows, err := q.Query(ctx, "SELECT "+gateCols+" FROM gates WHERE event = $1 ORDER BY id", event)
	if err != nil {
		return nil, fmt.Errorf("postgres: gates: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kido.Gate, error) { return scanGate(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: gates: %w", err)
	}
	return out, nil
}

// AddGate implements server.Store.
func (s *Store) AddGate(ctx context.Context, g kido.Gate, code server.GateCode) (kido.Gate, error) {
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := getEvent(ctx, tx, g.Event, true); err != nil {
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
		err = tx.QueryRow(ctx, "INSERT INTO gates (event, name, tiers, direction, code_hash, code_expires) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
			g.Event, g.Name, int64s(g.Tiers), string(g.Direction), code.Hash[:], fmtTime(code.Expires)).Scan(&g.ID)
		if err != nil {
			return fmt.Errorf("postgres: add gate: %w", err)
		}
		return tx.logChange(g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return g, err
}

// Gates implements server.Store.
func (s *Store) Gates(ctx context.Context, event uint32) ([]kido.Gate, error) {
	var out []kido.Gate
	err := s.read(ctx, func(tx pgx.Tx) error {
		if _, err := getEvent(ctx, tx, event, false); err != nil {
			return err
		}
		var err error
		out, err = gates(ctx, tx, event)
		return err
	})
	return out, err
}

// Enroll implements server.Store. The gate's row lock makes a code used
// by two instances at once enrol one device.
func (s *Store) Enroll(ctx context.Context, code server.TokenHash, device string, pub []byte, cred server.NewToken, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *wtx) error {
		var enrolled *string
		var expires string
		var err error
		g, err = scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+", enrolled, code_expires FROM gates WHERE code_hash = $1 FOR UPDATE", code[:]), &enrolled, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "check the code, or make a new one with kidoctl gate add", "unknown enrolment code")
		}
		if err != nil {
			return fmt.Errorf("postgres: enroll: %w", err)
		}
		exp, err := parseTime(expires)
		if err != nil {
			return err
		}
		switch {
		case enrolled != nil:
			return server.Errorf(server.ErrNotFound, "codes work once; make a new one with kidoctl gate add", "enrolment code already used (gate %d, %s)", g.ID, *enrolled)
		case g.Revoked:
			return server.Errorf(server.ErrNotFound, "make a new one with kidoctl gate add", "enrolment code of revoked gate %d", g.ID)
		case now.After(exp):
			return server.Errorf(server.ErrNotFound, "make a new one with kidoctl gate add", "enrolment code expired at %s", exp.Format(time.RFC3339))
		}
		var key []byte
		if len(pub) > 0 {
			key = pub
		}
		if _, err := tx.Exec(ctx, "UPDATE gates SET enrolled = $1, device = $2, pub = $3 WHERE id = $4", fmtTime(now), device, key, g.ID); err != nil {
			return fmt.Errorf("postgres: enroll: %w", err)
		}
		if key != nil {
			// Every replica learns the key its records are checked with.
			g.Pub = key
			if err := tx.logChange(g.Event, wire.Change{Kind: wire.ChangeGate, Gate: &g}); err != nil {
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

// RevokeGate implements server.Store. Revoking a revoked gate changes
// nothing and is not an error.
func (s *Store) RevokeGate(ctx context.Context, event, gate uint32, now time.Time) (kido.Gate, error) {
	var g kido.Gate
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		g, err = scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1 AND event = $2 FOR UPDATE", gate, event))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, fmt.Sprintf("kidoctl gates -event %d lists the gates", event), "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("postgres: revoke gate: %w", err)
		}
		// The credential's hash stays, marked revoked, so that the gate's
		// next contact is told it was revoked.
		if _, err := tx.Exec(ctx, "UPDATE tokens SET revoked = $1 WHERE gate = $2 AND revoked IS NULL", fmtTime(now), gate); err != nil {
			return fmt.Errorf("postgres: revoke gate: %w", err)
		}
		if g.Revoked {
			return nil
		}
		// An unused enrolment code must not bring the gate back either.
		if err := setRevoked(ctx, tx, &g, now); err != nil {
			return fmt.Errorf("postgres: revoke gate: %w", err)
		}
		return tx.logChange(event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return g, err
}

// Snapshot implements server.Store.
func (s *Store) Snapshot(ctx context.Context, gate uint32) (*wire.Snapshot, error) {
	snap := &wire.Snapshot{}
	err := s.read(ctx, func(tx pgx.Tx) error {
		// Every statement reads the transaction's one snapshot, so the
		// cursor is the head of exactly the state sent.
		var err error
		snap.Gate, err = scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1", gate))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "gate %d not found", gate)
		}
		if err != nil {
			return fmt.Errorf("postgres: snapshot: %w", err)
		}
		ev := snap.Gate.Event
		h, err := head(ctx, tx, ev)
		if err != nil {
			return err
		}
		snap.Cursor = h.String()
		if snap.Event, err = getEvent(ctx, tx, ev, false); err != nil {
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
		snap.Voids, err = voids(ctx, tx, ev)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

func roster(ctx context.Context, q querier, event uint32) ([]kido.RosterEntry, error) {
	rows, err := q.Query(ctx, "SELECT serial, tier, holder, reading, order_ref, revoked, COALESCE(replaced_by, 0) FROM tickets WHERE event = $1 ORDER BY serial", event)
	if err != nil {
		return nil, fmt.Errorf("postgres: roster: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kido.RosterEntry, error) {
		var e kido.RosterEntry
		var tier int16
		var replacedBy int64
		err := r.Scan(&e.Serial, &tier, &e.Holder, &e.Reading, &e.OrderRef, &e.Revoked, &replacedBy)
		e.ReplacedBy = uint32(replacedBy)
		e.Tier = uint8(tier)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: roster: %w", err)
	}
	return out, nil
}

// admissionCols are the columns scanAdmission reads.
const admissionCols = "gate, seq, serial, tier, kind, at, corrected, text, reason, hash, undoes"

// admissions returns the event's counted admissions (status ”), in
// (gate, seq) order.
func admissions(ctx context.Context, q querier, event uint32) ([]kido.Admission, error) {
	return queryAdmissions(ctx, q, "event = $1 AND status = '' ORDER BY gate, seq", event)
}

// queryAdmissions returns the admissions matching where (a constant of
// this package).
func queryAdmissions(ctx context.Context, q querier, where string, args ...any) ([]kido.Admission, error) {
	rows, err := q.Query(ctx, "SELECT "+admissionCols+" FROM admissions WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: admissions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (kido.Admission, error) { return scanAdmission(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: admissions: %w", err)
	}
	return out, nil
}

// scanAdmission reads a row of admissionCols, then more.
func scanAdmission(row pgx.Row, more ...any) (kido.Admission, error) {
	var a kido.Admission
	var tier int16
	var at, corrected string
	var undoes int64
	if err := row.Scan(append([]any{&a.Gate, &a.Seq, &a.Serial, &tier, &a.Kind, &at, &corrected, &a.Text, &a.Reason, &a.Hash, &undoes}, more...)...); err != nil {
		return a, err
	}
	a.Tier, a.Undoes = uint8(tier), uint64(undoes)
	var err error
	if a.At, err = parseTime(at); err != nil {
		return a, err
	}
	a.Corrected, err = parseTime(corrected)
	return a, err
}

// SetGateMesh implements server.Store.
func (s *Store) SetGateMesh(ctx context.Context, event, gate uint32, addr string) (bool, error) {
	changed := false
	err := s.write(ctx, func(tx *wtx) error {
		g, err := scanGate(tx.QueryRow(ctx, "SELECT "+gateCols+" FROM gates WHERE id = $1 AND event = $2 FOR UPDATE", gate, event))
		if errors.Is(err, pgx.ErrNoRows) {
			return server.Errorf(server.ErrNotFound, "", "event %d has no gate %d", event, gate)
		}
		if err != nil {
			return fmt.Errorf("postgres: set gate mesh: %w", err)
		}
		if g.Mesh == addr || g.Revoked {
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE gates SET mesh = $1 WHERE id = $2", addr, gate); err != nil {
			return fmt.Errorf("postgres: set gate mesh: %w", err)
		}
		g.Mesh, changed = addr, true
		return tx.logChange(event, wire.Change{Kind: wire.ChangeGate, Gate: &g})
	})
	return changed, err
}
