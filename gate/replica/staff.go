package replica

import (
	"context"
	"slices"
	"time"

	"kido.dev/kido"
)

// A Pass is one passage of a ticket as staff see it in its history: where
// and when it passed.
type Pass struct {
	kido.Passage
	GateName string // "" for a gate the replica does not know
	Here     bool   // recorded by this gate
}

// History returns every passage of serial known to the replica, at any
// gate, in the canonical order (kido.ComparePassages).
func (r *Replica) History(ctx context.Context, serial uint32) ([]Pass, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		return nil, r.fault("history", err)
	}
	ps, err := history(ctx, r.conn, serial)
	if err != nil {
		return nil, r.fault("history", err)
	}
	slices.SortFunc(ps, kido.ComparePassages)
	out := make([]Pass, len(ps))
	for i, p := range ps {
		out[i] = Pass{Passage: p, GateName: cfg.GateNames[p.Gate], Here: p.Gate == cfg.Gate.ID}
	}
	return out, nil
}

// Counts are the figures a staff screen shows beside Status.
type Counts struct {
	Inside int // tickets whose latest passage, at any gate, is an entry or manual admission
	Recent int // scans at this gate (admitted or not) with a trusted time after since
}

// recentWindow bounds Counts.Recent: no gate scans this many tickets in
// the periods staff screens count over (a minute).
const recentWindow = 10000

// Counts counts who is inside and this gate's scans since the given
// trusted time.
func (r *Replica) Counts(ctx context.Context, since time.Time) (Counts, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c Counts
	// SQLite takes the bare column kind from the row holding max(corrected).
	// scans has no index on time: only its newest rows are looked at (ids
	// grow with time), which bounds the work on a long event's audit log.
	err := r.conn.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM (SELECT kind, max(corrected) FROM admissions GROUP BY serial) WHERE kind != 'exit'),
		(SELECT count(*) FROM scans WHERE id > (SELECT COALESCE(max(id), 0) FROM scans) - ? AND corrected > ?)`,
		recentWindow, toNanos(since)).Scan(&c.Inside, &c.Recent)
	if err != nil {
		return c, r.fault("counts", err)
	}
	return c, nil
}
