package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// spareGate is a gate of the herd's event enrolled with the others but
// given no admissions and not run with them: once the herd is over, it
// catches up the whole feed from the cursor of the herd's snapshot, alone,
// so that one gate's catch-up is measured without 200 others beside it.
type spareGate struct {
	encoding   string // the feed encoding it asks for
	id         uint32
	credential string
	r          *replica.Replica
}

// catchUp is what one spare gate's catch-up measured.
type catchUp struct {
	learned   int
	pages     int
	wall      time.Duration
	gateCPU   time.Duration // this process, which only runs the one gate then
	serverCPU time.Duration
	wire      int64 // bytes received on the connection, HTTP headers included
}

// newSpareGate builds the replica of a spare gate in dir from snap (with
// no roster: catching up never reads it).
func newSpareGate(ctx context.Context, dir string, snap *wire.Snapshot, url string, id uint32, credential string) (*spareGate, error) {
	r, err := replicaFrom(ctx, dir, snap, url)
	if err != nil {
		return nil, err
	}
	return &spareGate{id: id, credential: credential, r: r}, nil
}

// replicaFrom creates a gate's replica in dir and applies snap to it.
func replicaFrom(ctx context.Context, dir string, snap *wire.Snapshot, url string) (*replica.Replica, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	r, err := replica.Create(gatedir.Replica(dir), replica.Options{})
	if err != nil {
		return nil, err
	}
	if err := r.Apply(ctx, snap, url); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// catchUpFeed pulls the feed with g's replica, as fast as it answers (wait
// 0), until want admissions made elsewhere are applied, and measures it.
func catchUpFeed(ctx context.Context, s *serverProc, g *spareGate, want int) (catchUp, error) {
	var m catchUp
	var received atomic.Int64
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &received}, nil
	}
	st, err := g.r.Status(ctx)
	if err != nil {
		return m, err
	}
	c, err := client.New(s.url, g.credential, &http.Client{Transport: tr})
	if err != nil {
		return m, err
	}
	if c, err = c.Pinned(client.Pin{Identity: st.Server.ID, Event: st.Event.ID, Gate: g.id}); err != nil {
		return m, err
	}
	if g.encoding == "json" {
		c = c.JSONFeed()
	}
	cpu0, scpu0, t0 := processCPU(os.Getpid()), s.cpu(), time.Now()
	for m.learned < want {
		cur, err := g.r.Cursor(ctx)
		if err != nil {
			return m, err
		}
		ch, err := c.Changes(ctx, cur, 0)
		if err != nil {
			return m, err
		}
		ap, err := g.r.ApplyChanges(ctx, ch)
		if err != nil {
			return m, err
		}
		m.pages++
		m.learned += ap.Admissions.Added
		if ap.Changes == 0 {
			return m, fmt.Errorf("catch-up: the feed ended after %d of %d admissions", m.learned, want)
		}
	}
	m.wall = time.Since(t0)
	m.gateCPU = processCPU(os.Getpid()) - cpu0
	m.serverCPU = s.cpu() - scpu0
	m.wire = received.Load()
	return m, nil
}

// countingConn counts the bytes read from a connection: what the server
// sent, compressed as it was sent.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// spareEncodings are the feed encodings a spare gate catches up with,
// one spare gate each: "json" asks for version 1 only, as a gate of
// before version 2 does (the figures before), "compact" for version 2.
var spareEncodings = []string{"json", "compact"}

// catchUpRows are the rows of one spare gate's catch-up.
func catchUpRows(g *spareGate, m catchUp, total int) []row {
	perAdm := float64(m.wire) / float64(m.learned)
	perMillion := m.serverCPU.Seconds() * 1e6 / float64(m.learned)
	what := fmt.Sprintf("%s feed, one gate catching up %s admissions", g.encoding, count(total))
	bytes := fmt.Sprintf("%.1f B per admission (%s B received in %d pages, HTTP headers included)", perAdm, count(int(m.wire)), m.pages)
	cpu := fmt.Sprintf("%.1f s of server CPU per million admissions served (%.2f s for %s)", perMillion, m.serverCPU.Seconds(), count(m.learned))
	wall := fmt.Sprintf("%s wall, gate CPU %.1f s (%.0f admissions/s)", secs(m.wall), m.gateCPU.Seconds(), float64(m.learned)/m.wall.Seconds())
	if g.encoding == "json" {
		return []row{
			info("feed bytes per admission as sent: "+what, bytes),
			info("feed server CPU: "+what, cpu),
			info("feed catch-up: "+what, wall),
		}
	}
	// The catch-up goal is for the full 500,000; -quick scales it.
	goal := 10 * float64(total) / 500_000
	return []row{
		within("feed bytes per admission as sent: "+what, bytes, "≤ 24 B", perAdm, 24, true),
		info("feed server CPU: "+what, cpu),
		within("feed catch-up: "+what, wall, fmt.Sprintf("< %.3g s", goal), m.wall.Seconds(), goal, false),
	}
}

// spareDir is where the spare gate named name keeps its replica.
func spareDir(h *harness, name string) string { return filepath.Join(h.dir, "herd", "spare-"+name) }
