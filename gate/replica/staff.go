package replica

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"kido.dev/kido"
)

// This file holds what the staff app (gate/staffapp) reads besides Scan
// and Find: a glance at the gate's state cheap enough to take every
// second, the counts that need a pass over every admission (taken apart,
// on a connection of their own), and one ticket's history.

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
	ps, err := r.history(ctx, r.conn, serial)
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

// A Glance is the part of Status that costs a few index lookups whatever
// the size of the replica, plus this gate's recent scans.
type Glance struct {
	Event    kido.Event
	Gate     kido.Gate
	Pending  int // own admissions and rejected scans not yet acknowledged by the server
	LastSync time.Time
	Clock    kido.Reading
	Recent   int // scans at this gate (admitted or not) in the period asked for, up to Clock
}

// recentWindow bounds Glance.Recent: no gate scans this many tickets in
// the periods staff screens count over (a minute).
const recentWindow = 10000

// Glance reports the gate's settings, what waits for upload, the last
// sync and the scans in the last period (of trusted time). It holds the replica
// for a few index lookups only, so a screen may call it every second
// without holding up scans; Status counts the whole replica.
func (r *Replica) Glance(ctx context.Context, period time.Duration) (Glance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var g Glance
	g.Clock = r.clock.Now()
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		return g, r.fault("glance", err)
	}
	g.Event, g.Gate = cfg.Event, cfg.Gate
	var lastSync int64
	var admissions, audits int
	// scans has no index on time: only its newest rows are looked at (ids
	// grow with time).
	err = r.conn.QueryRowContext(ctx, `SELECT last_sync,
		(SELECT count(*) FROM admissions WHERE gate = s.gate AND seq > s.acked_seq),
		(SELECT count(*) FROM scans WHERE audit_seq > s.audit_acked),
		(SELECT count(*) FROM scans WHERE id > (SELECT COALESCE(max(id), 0) FROM scans) - ? AND corrected > ?)
		FROM state s WHERE id = 1`, recentWindow, toNanos(g.Clock.Trusted.Add(-period))).Scan(&lastSync, &admissions, &audits, &g.Recent)
	if err != nil {
		return g, r.fault("glance", err)
	}
	g.Pending = admissions + audits
	g.LastSync = fromNanos(lastSync)
	return g, nil
}

// A Tally counts the whole replica.
type Tally struct {
	Tickets  int // roster entries
	Admitted int // distinct tickets with an entry or manual admission not undone, at any gate
	Inside   int // tickets whose latest passage not undone, at any gate, is an entry or manual admission
}

// Tally counts tickets, admitted and inside. It reads on a read-only
// connection of its own, never the one scans write on, so that the
// seconds it takes on a large replica hold up no scan (WAL readers do not
// block the writer).
func (r *Replica) Tally(ctx context.Context) (Tally, error) {
	var t Tally
	db, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?mode=ro&_busy_timeout=5000&_cache_size=-8192", escapePath(r.path)))
	if err != nil {
		return t, r.fault("tally", err)
	}
	defer db.Close()
	// Other gates' admissions from compact pages are in learnt's blobs,
	// which only Go reads.
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM roster").Scan(&t.Tickets)
	if err == nil {
		_, t.Admitted, t.Inside, err = passageTally(ctx, db)
	}
	if err != nil {
		return t, r.fault("tally", err)
	}
	return t, nil
}
