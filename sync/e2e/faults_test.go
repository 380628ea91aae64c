package e2e

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/sync/faultproxy"
)

// phase is a stretch of time in one proxy mode.
type phase struct {
	mode  faultproxy.Mode
	delay time.Duration // latency in Delay mode
	last  time.Duration
}

// TestProxyFaults: three kido-gate run processes reach the server through
// a fault-injecting proxy. They start with 1,000 admissions each queued
// offline and scan 100 more each while the proxy goes through latency,
// refused connections, resets, a black hole towards the server (ended by
// a partition), a partition, and a black hole towards the gates that ends
// by healing, so the gates' own request timeouts must free them. After
// healing, every admission is on the server exactly once and in every
// gate's replica.
func TestProxyFaults(t *testing.T) {
	t.Parallel()
	const gatesN, queued, live = 3, 1000, 100
	srv := startServer(t)
	ev := newEvent(t, srv, gatesN*(queued+live))
	proxy, err := faultproxy.New(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	gates := make([]*gateDir, gatesN)
	for i := range gates {
		gates[i] = ev.enroll(t, fmt.Sprintf("Gate %d", i+1), proxy.URL())
	}
	shares := split(1, gatesN, queued)
	ev.queue(t, gates, shares)
	lives := split(uint32(gatesN*queued+1), gatesN, live)

	phases := []phase{
		{mode: faultproxy.Pass, last: 2 * time.Second},
		{mode: faultproxy.Delay, delay: 200 * time.Millisecond, last: 3 * time.Second},
		{mode: faultproxy.Drop, last: 2 * time.Second},
		{mode: faultproxy.Reset, last: 1500 * time.Millisecond},
		{mode: faultproxy.Pass, last: 2 * time.Second},
		{mode: faultproxy.BlackHoleUp, last: 3 * time.Second},
		{mode: faultproxy.Partition, last: 2 * time.Second},
		{mode: faultproxy.Pass, last: 2 * time.Second},
		{mode: faultproxy.BlackHoleDown, last: 3 * time.Second},
	}
	var span time.Duration
	for _, p := range phases {
		span += p.last
	}

	runs := make([]*proc, gatesN)
	var feeders sync.WaitGroup
	for i, g := range gates {
		runs[i] = g.startRun(t)
		feeders.Add(1)
		go func() { // the scanner, one ticket every span/live
			defer feeders.Done()
			for _, serial := range lives[i] {
				if _, err := io.WriteString(runs[i].stdin, ev.tickets[serial-1]+"\n"); err != nil {
					t.Errorf("scan at %s: %v", g.name, err)
					return
				}
				time.Sleep(span / live)
			}
		}()
	}
	for _, p := range phases {
		if p.mode == faultproxy.Delay {
			proxy.SetDelay(p.delay)
		} else {
			proxy.Set(p.mode)
		}
		time.Sleep(p.last)
		if p.mode == faultproxy.Partition {
			// Everything in flight was cut: each gate knows it is offline.
			for _, g := range gates {
				if st, err := g.status(); err != nil || st.SyncState != "offline" {
					t.Errorf("%s at the end of the partition: %+v %v, want sync state offline", g.name, st, err)
				}
			}
		}
	}
	proxy.Set(faultproxy.Pass)
	feeders.Wait()
	total := gatesN * (queued + live)
	took := waitConverged(t, gates, total, 100*time.Second)
	t.Logf("converged %v after healing", took.Round(time.Millisecond))
	for i, g := range gates {
		stopRun(t, g, runs[i])
		shares[i] = append(shares[i], lives[i]...)
	}
	ev.checkExact(t, gates, shares)
}
