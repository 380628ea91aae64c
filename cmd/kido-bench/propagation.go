package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// runPropagation enrols two gates with real kido-gate enroll processes,
// runs their sync loops (gate/syncer) in this process against the real
// server, and times, for each sample, from presenting a ticket at gate A
// until gate B's replica has learned the admission from the feed.
func runPropagation(ctx context.Context, h *harness) ([]row, error) {
	s, event, tier, err := h.sharedEvent(ctx, "Propagation bench")
	if err != nil {
		return nil, err
	}
	return propagate(ctx, h, [2]*serverProc{s, s}, event, tier, "propagation",
		fmt.Sprintf("cross-gate propagation while online (%d samples; gate/syncer in-process on replicas from kido-gate enroll, kido-server process)", h.samples))
}

// propagate measures propagation from a gate syncing with servers[0] to
// one syncing with servers[1] (see runPropagation), in event's tier; the
// gates' files go in h.dir/work.
func propagate(ctx context.Context, h *harness, servers [2]*serverProc, event uint32, tier uint8, work, name string) ([]row, error) {
	s := servers[0]
	tickets, err := issueAPI(ctx, s.admin, event, tier, h.samples)
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	changed := make(chan struct{}, 1)
	var gates []*syncGate
	defer func() {
		for _, g := range gates {
			g.r.Close()
		}
	}()
	for i, name := range []string{"North 1", "South 1"} {
		gc, err := s.admin.AddGate(ctx, event, wire.GateCreate{Name: name, Direction: kido.DirectionBoth})
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(h.dir, work, fmt.Sprint("gate", i+1))
		url := servers[i].url
		if out, err := h.command(ctx, "kido-gate", "enroll", "-server", url, "-code", gc.Code, "-data", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kido-gate enroll: %w\n%s", err, out)
		}
		cred, err := gatedir.ReadCredential(dir)
		if err != nil {
			return nil, err
		}
		r, _, err := openKeyedReplica(dir)
		if err != nil {
			return nil, err
		}
		var ch chan<- struct{}
		if i == 1 {
			ch = changed
		}
		g, err := newSyncGate(url, cred, gc.Gate.ID, r, rec, ch)
		if err != nil {
			r.Close()
			return nil, err
		}
		gates = append(gates, g)
	}
	a, b := gates[0], gates[1]
	runCtx, cancel := context.WithCancel(ctx)
	wait := runAll(runCtx, gates)
	defer wait()
	defer cancel()

	// Both loops wait up to StartDelay (5 s) before their first request.
	deadline := time.Now().Add(30 * time.Second)
	for !a.s.Status().Online || !b.s.Status().Online {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the gates are not online after 30 s: %q, %q", a.s.Status().Error, b.s.Status().Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // B's long-poll is waiting by now

	lat := make([]time.Duration, len(tickets))
	for i, t := range tickets {
		learned := b.s.Status().Moved.Learned
		t0 := time.Now()
		d, err := a.r.Scan(ctx, gate.Line{Text: t.Text, Length: int64(len(t.Text))}, false)
		if err != nil || !d.Admit {
			return nil, fmt.Errorf("sample %d: scan at gate A: %v %s", i, err, d.Reason)
		}
		a.s.Nudge() // as kido-gate does after every admission
		limit := time.After(30 * time.Second)
		for b.s.Status().Moved.Learned <= learned {
			select {
			case <-changed:
			case <-time.After(2 * time.Millisecond):
			case <-limit:
				return nil, fmt.Errorf("sample %d: gate B did not learn the admission within 30 s (%q)", i, b.s.Status().Error)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		lat[i] = time.Since(t0)
		// Samples at random moments, not in step with the loops.
		time.Sleep(time.Duration(10+rand.IntN(50)) * time.Millisecond)
	}
	for _, t := range tickets {
		if err := knows(ctx, b.r, t.Serial); err != nil {
			return nil, fmt.Errorf("gate B: %w", err)
		}
	}
	p := bench.Percentile
	p99 := p(lat, 99)
	return []row{within(name,
		fmt.Sprintf("p50 %s, p99 %s, max %s", ms(p(lat, 50)), ms(p99), ms(p(lat, 100))),
		"p99 < 1 s", p99.Seconds(), 1, false)}, nil
}

// knows checks that r's replica holds exactly one admission of serial.
func knows(ctx context.Context, r *replica.Replica, serial uint32) error {
	found, err := r.Find(ctx, fmt.Sprint(serial), 20)
	if err != nil {
		return err
	}
	for _, m := range found {
		if m.Serial == serial {
			if m.Entries != 1 {
				return fmt.Errorf("serial %d has %d entries, want 1", serial, m.Entries)
			}
			return nil
		}
	}
	return fmt.Errorf("serial %d not found", serial)
}
