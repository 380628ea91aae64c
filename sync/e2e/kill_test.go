package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Sizes of the kill scenarios: three gates with 1,500 admissions each
// queued offline, uploaded in batches of 500 (wire.MaxBatch).
const (
	killGates = 3
	killEach  = 1500
	killTotal = killGates * killEach
)

// killSetup starts a server with an event of killTotal tickets and three
// gates that have admitted killEach tickets each offline.
func killSetup(t *testing.T) (*server, *event, []*gateDir, [][]uint32) {
	t.Helper()
	srv := startServer(t)
	ev := newEvent(t, srv, killTotal)
	gates := make([]*gateDir, killGates)
	for i := range gates {
		gates[i] = ev.enroll(t, fmt.Sprintf("Gate %d", i+1), srv.url)
	}
	shares := split(1, killGates, killEach)
	ev.queue(t, gates, shares)
	return srv, ev, gates, shares
}

// TestServerKilledMidUpload: three kido-gate run processes upload their
// queues while the server is killed with SIGKILL five times, at random
// moments of the upload (when the stored count passes a random mark), and
// restarted on the same data and address. The gates keep running through
// it. After they converge, every admission is on the server exactly once
// and in every gate's replica.
func TestServerKilledMidUpload(t *testing.T) {
	t.Parallel()
	srv, ev, gates, shares := killSetup(t)
	runs := make([]*proc, len(gates))
	for i, g := range gates {
		runs[i] = g.startRun(t)
	}
	killAtMarks(t, srv, ev, 5, "the server", func() {
		srv.kill()
		srv.restart()
	})
	took := waitConverged(t, gates, killTotal, 90*time.Second)
	t.Logf("converged %v after the last restart", took.Round(time.Millisecond))
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gates, shares)
}

// TestGateKilledMidUpload: the gates sync with kido-gate sync and kido-gate
// run processes, taking turns, and all of them are killed with SIGKILL
// whenever the server's stored count passes one of six random marks, then
// started again. Afterwards kido-gate run brings every gate to
// convergence: every admission on the server exactly once, and in every
// replica.
func TestGateKilledMidUpload(t *testing.T) {
	t.Parallel()
	srv, ev, gates, shares := killSetup(t)
	var (
		mu      sync.Mutex
		current = make([]*proc, len(gates))
		stopped bool
		starts  = make([]int, len(gates))
		wg      sync.WaitGroup
	)
	for i, g := range gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				args := []string{"sync", "-data", g.dir, "-json"}
				if n%2 == 1 {
					args = []string{"run", "-data", g.dir, "-plain", "-mesh", "off"}
				}
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				p, err := startProc(t, g.log, n%2 == 1, gateBin, args...)
				current[i] = p
				starts[i]++
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				<-p.done // sync ends by itself or is killed; run is killed
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	killAtMarks(t, srv, ev, 6, "every gate", func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range current {
			if p != nil {
				p.kill()
			}
		}
	})
	mu.Lock()
	stopped = true
	for _, p := range current {
		p.kill()
	}
	mu.Unlock()
	wg.Wait()
	t.Logf("gate processes started: %v", starts)

	runs := make([]*proc, len(gates))
	for i, g := range gates {
		runs[i] = g.startRun(t)
	}
	took := waitConverged(t, gates, killTotal, 90*time.Second)
	t.Logf("converged %v after the restart", took.Round(time.Millisecond))
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gates, shares)
}

// killAtMarks calls kill k times: each time the server's stored count
// passes a random mark, plus up to 40 ms. The marks lie below the last
// batch, so that some upload is still to come; at least one kill must
// leave records not yet stored, or nothing was killed mid-upload.
func killAtMarks(t *testing.T, srv *server, ev *event, k int, what string, kill func()) {
	t.Helper()
	admin := srv.admin()
	interrupted := 0
	for _, m := range killMarks(k, killTotal-500) {
		before := waitAdmitted(t, admin, ev.id, m, time.Minute)
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		kill()
		after := admitted(admin, ev.id)
		t.Logf("killed %s at mark %d: %d seen stored before, %d stored after", what, m, before, after)
		if after < killTotal {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Errorf("every kill of %s came after the whole upload: nothing was killed mid-upload", what)
	}
}
