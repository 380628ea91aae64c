package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/internal/promtext"
)

// TestScanInAnotherProcessReachesOtherGates (issue 9, item 3): with
// kido-gate run syncing gates A and B, a ticket admitted by a separate
// kido-gate scan process at A is rejected as already used at B two seconds
// later. Nothing in the scan process talks to the network: the running
// uploader at A must notice the admission in its replica and send it at
// once, not at its next idle upload a minute later. The runs' first sync
// line must show the replica's last sync, not "never", and no OFFLINE
// before any request was made (B starts with a record waiting, so that the
// line differs from the empty state).
func TestScanInAnotherProcessReachesOtherGates(t *testing.T) {
	srv := startServer(t)
	ev := newEvent(t, srv, 3)
	a := ev.enroll(t, "A", srv.url)
	b := ev.enroll(t, "B", srv.url)
	if _, err := ev.scanAll(b, []uint32{3}); err != nil {
		t.Fatal(err)
	}
	runA, runB := a.startRun(t), b.startRun(t)

	// Steady state: both gates' first uploads answered (their random start
	// delays are over) and both long-polls waiting.
	srv.waitMetrics(t, 30*time.Second, func(m map[string]float64) bool {
		return m[`kido_requests_total{endpoint="upload",status="200"}`] >= 2 && m["kido_longpolls_active"] == 2
	})

	res, err := ev.scanAll(a, []uint32{1})
	if err != nil || len(res) != 1 || res[0].Decision != "admit" {
		t.Fatalf("scan at A: %+v, %v", res, err)
	}
	// The delay is the subject of the test: the budget for an admission
	// to reach the other gates is one second.
	<-time.After(2 * time.Second)
	res, err = ev.scanAll(b, []uint32{1})
	if len(res) != 1 || res[0].Decision != "reject" || res[0].Reason != "already_used" || res[0].FirstGate != a.id {
		t.Errorf("the same ticket at B 2 s later: %+v, %v; want rejected already_used, first at gate A (%d)", res, err, a.id)
	}

	stopRun(t, a, runA)
	stopRun(t, b, runB)
	for i, g := range []*gateDir{a, b} {
		line := firstSyncLine(t, g)
		if want := fmt.Sprintf("sync: connecting, %d pending (last sync ", i); !strings.HasPrefix(line, want) || strings.Contains(line, "never") {
			t.Errorf("first sync state line of run at %s: %q, want %q and the enrolment's time", g.name, line, want)
		}
	}
}

// firstSyncLine returns the first sync state line kido-gate run wrote to
// the gate's log (after its "sync: with URL" line).
func firstSyncLine(t *testing.T, g *gateDir) string {
	t.Helper()
	f, err := os.Open(g.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "sync: ") && !strings.HasPrefix(l, "sync: with ") {
			return l
		}
	}
	t.Fatalf("no sync state line in the log of %s", g.name)
	return ""
}

// waitMetrics reads the server's GET /metrics until ok holds for its
// values (keyed by the metric and its labels as written), for at most
// limit.
func (s *server) waitMetrics(t *testing.T, limit time.Duration, ok func(map[string]float64) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last map[string]float64
	for {
		m, err := s.metrics()
		if err != nil {
			t.Fatal(err)
		}
		if ok(m) {
			return
		}
		last = m
		if time.Now().After(deadline) {
			t.Fatalf("server metrics did not reach the state awaited within %v: %v", limit, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) metrics() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := promtext.Get(ctx, nil, s.url)
	if err != nil {
		return nil, err
	}
	return sc.Map(), nil
}
