package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/mesh"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// meshGates is how many gates the mesh scenario meshes (issue 12).
const meshGates = 8

// meshGate is one gate of the mesh scenario: its replica and node.
type meshGate struct {
	id   uint32
	r    *replica.Replica
	node *mesh.Node
}

// runMesh enrols eight gates with real kido-gate enroll and sync
// processes, then, with no server contact at all, runs their mesh nodes
// (gate/mesh) in this process on their replicas, each told its seven
// peers by hand on loopback, and measures: how long an admission at one
// gate takes to reach each other gate's replica; how many of tickets
// shown at a second gate one second after the first are admitted again;
// and the bytes the mesh sends per admission per peer.
func runMesh(ctx context.Context, h *harness) ([]row, error) {
	s, event, tier, err := h.sharedEvent(ctx, "Mesh bench")
	if err != nil {
		return nil, err
	}
	tickets, err := issueAPI(ctx, s.admin, event, tier, 2*h.samples)
	if err != nil {
		return nil, err
	}
	var dirs []string
	var ids []uint32
	for i := range meshGates {
		gc, err := s.admin.AddGate(ctx, event, wire.GateCreate{Name: fmt.Sprint("Mesh ", i+1), Direction: kido.DirectionBoth})
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(h.dir, "mesh", fmt.Sprint("gate", i+1))
		if out, err := h.command(ctx, "kido-gate", "enroll", "-server", s.url, "-code", gc.Code, "-data", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kido-gate enroll: %w\n%s", err, out)
		}
		dirs, ids = append(dirs, dir), append(ids, gc.Gate.ID)
	}
	// Each gate learns the keys of the gates enrolled after it.
	for _, dir := range dirs {
		if out, err := h.command(ctx, "kido-gate", "sync", "-data", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kido-gate sync: %w\n%s", err, out)
		}
	}

	addrs := make([]string, meshGates)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	gates := make([]*meshGate, 0, meshGates)
	defer func() {
		for _, g := range gates {
			g.node.Close() // a node that never ran still listens
			g.r.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i, dir := range dirs {
		r, key, err := openKeyedReplica(dir)
		if err != nil {
			return nil, err
		}
		var peers []string
		for j, a := range addrs {
			if j != i {
				peers = append(peers, a)
			}
		}
		node, err := mesh.Listen(mesh.Config{Store: r, Event: event, Gate: ids[i], Key: key, Listen: addrs[i], Peers: peers,
			Log: func(msg string) { h.logf("%s", msg) }})
		if err != nil {
			r.Close()
			return nil, err
		}
		gates = append(gates, &meshGate{id: ids[i], r: r, node: node})
	}
	// Every node listens before any dials: no first dial is refused.
	for _, g := range gates {
		wg.Add(1)
		go func() { defer wg.Done(); g.node.Run(runCtx) }()
	}
	if err := meshReady(ctx, gates); err != nil {
		return nil, err
	}

	// Propagation: each sample admitted at the next gate in turn, timed
	// from its commit there to its commit at each of the seven others.
	sent0 := meshSent(gates)
	var lat []time.Duration
	for i, t := range tickets[:h.samples] {
		g := gates[i%meshGates]
		d, err := g.r.Scan(ctx, gate.Line{Text: t.Text, Length: int64(len(t.Text))}, false)
		if err != nil || !d.Admit {
			return nil, fmt.Errorf("sample %d: scan at gate %d: %v %s", i, g.id, err, d.Reason)
		}
		g.node.Poke() // as kido-gate does after every admission
		t0 := time.Now()
		for _, o := range gates {
			if o == g {
				continue
			}
			took, err := meshWait(ctx, o, g.id, d.Seq, t0)
			if err != nil {
				return nil, fmt.Errorf("sample %d: %w", i, err)
			}
			lat = append(lat, took)
		}
		// Samples at random moments, not in step with the pulls.
		time.Sleep(time.Duration(10+rand.IntN(50)) * time.Millisecond)
	}
	perPeer := float64(meshSent(gates)-sent0) / float64(h.samples*(meshGates-1))

	// Double entries: each ticket shown at one gate, then at the next one
	// a second later, the tickets 20 ms apart.
	doubles, err := meshDoubles(ctx, gates, tickets[h.samples:])
	if err != nil {
		return nil, err
	}

	p := bench.Percentile
	p99 := p(lat, 99)
	return []row{
		within(fmt.Sprintf("mesh propagation, server down (%d gates meshed on loopback, gate/mesh in-process on replicas from kido-gate enroll; %d admissions × %d peers)", meshGates, h.samples, meshGates-1),
			fmt.Sprintf("p50 %s, p99 %s, max %s", ms(p(lat, 50)), ms(p99), ms(p(lat, 100))),
			"p99 < 500 ms", p99.Seconds(), 0.5, false),
		within(fmt.Sprintf("mesh double entries, server down (%d tickets each shown at two of %d gates 1 s apart)", len(tickets)-h.samples, meshGates),
			fmt.Sprintf("%d admitted twice", doubles), "0", float64(doubles), 1, false),
		info(fmt.Sprintf("mesh bytes per admission per peer (TLS included, pulls every %v meanwhile)", mesh.DefaultPullEvery),
			fmt.Sprintf("%.0f bytes", perPeer)),
	}, nil
}

// meshReady waits until every node has completed a session with each of
// its peers, for at most 30 s.
func meshReady(ctx context.Context, gates []*meshGate) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := true
		for _, g := range gates {
			st := g.node.Status()
			ok := 0
			for _, p := range st {
				if !p.Last.IsZero() {
					ok++
				}
			}
			ready = ready && ok == meshGates-1
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the mesh's gates have not all reached each other after 30 s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// meshWait waits until g holds the admission (origin, seq) and returns how
// long after t0 it saw it.
func meshWait(ctx context.Context, g *meshGate, origin uint32, seq uint64, t0 time.Time) (time.Duration, error) {
	limit := time.Now().Add(30 * time.Second)
	for {
		v, err := g.r.MeshVector(ctx)
		if err != nil {
			return 0, err
		}
		if v[origin] >= seq {
			return time.Since(t0), nil
		}
		if time.Now().After(limit) {
			return 0, fmt.Errorf("gate %d did not learn admission %d of gate %d within 30 s", g.id, seq, origin)
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// meshSent sums the bytes every node sent.
func meshSent(gates []*meshGate) int64 {
	var n int64
	for _, g := range gates {
		sent, _ := g.node.Traffic()
		n += sent
	}
	return n
}

// meshDoubles shows ticket i at gate i mod 8 at 20·i ms, and again at the
// next gate a second later, and counts the second showings admitted.
func meshDoubles(ctx context.Context, gates []*meshGate, tickets []wire.IssuedTicket) (int, error) {
	start := time.Now()
	show := func(g *meshGate, t wire.IssuedTicket, at time.Time) (bool, error) {
		time.Sleep(time.Until(at))
		d, err := g.r.Scan(ctx, gate.Line{Text: t.Text, Length: int64(len(t.Text))}, false)
		if err != nil {
			return false, err
		}
		if d.Admit {
			g.node.Poke()
		}
		return d.Admit, nil
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		doubles int
		errs    []error
	)
	for _, second := range []bool{false, true} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, t := range tickets {
				g, at := gates[i%len(gates)], start.Add(time.Duration(i)*20*time.Millisecond)
				if second {
					g, at = gates[(i+1)%len(gates)], at.Add(time.Second)
				}
				admitted, err := show(g, t, at)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case !second && !admitted:
					errs = append(errs, fmt.Errorf("ticket %d refused at its first showing", t.Serial))
				case second && admitted:
					doubles++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return doubles, errors.Join(errs...)
}
