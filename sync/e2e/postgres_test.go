package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/internal/pgtest"
)

// TestTwoInstancesOnePostgres: two kido-server instances, A and B, on one
// PostgreSQL database, four gates split between them (two enrolled and
// syncing through each). The gates upload their offline queues while A
// is killed with SIGKILL at three random moments of the upload; after the
// first two kills A comes straight back, after the last it stays down
// until B's gates have their own queues acknowledged (B carries on
// alone), then comes back. Every gate must converge on every admission,
// learnt through the other instance's feed and woken by its commits, and
// the server must hold each admission exactly once.
func TestTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	a, b := startInstances(t, url)
	const gates, each = 4, killTotal / 4
	ev := newEvent(t, a, gates*each)
	gs := make([]*gateDir, gates)
	for i := range gs {
		via, name := a, "A"
		if i%2 == 1 {
			via, name = b, "B"
		}
		gs[i] = ev.enroll(t, fmt.Sprintf("Gate %d via %s", i+1, name), via.url)
	}
	shares := split(1, gates, each)
	ev.queue(t, gs, shares)
	runs := make([]*proc, gates)
	for i, g := range gs {
		runs[i] = g.startRun(t)
	}
	kills := 0
	// B counts the stored admissions: A is the one being killed.
	killAtMarks(t, b, ev, 3, "instance A", func() {
		a.kill()
		kills++
		if kills == 3 {
			waitAcked(t, []*gateDir{gs[1], gs[3]}, each, 90*time.Second)
		}
		a.restart()
	})
	took := waitConverged(t, gs, gates*each, 90*time.Second)
	t.Logf("converged %v after the last restart of A", took.Round(time.Millisecond))
	for i, g := range gs {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gs, shares)
}

// startInstances starts two kido-server instances on the PostgreSQL
// database at url as docs/ops/postgres.md says to: the first makes the
// master key and the admin token, the second is given both.
func startInstances(t *testing.T, url string) (a, b *server) {
	t.Helper()
	a = startServer(t, "-db", url)
	b = startServer(t, "-db", url, "-master-key", filepath.Join(a.dir, "master.key"))
	b.token = a.token
	return a, b
}

// waitAcked polls the gates' status until each has its own n records
// acknowledged, for at most limit.
func waitAcked(t *testing.T, gates []*gateDir, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for _, g := range gates {
		for {
			st, err := g.status()
			if err != nil {
				t.Fatal(err)
			}
			if st.Acked == uint64(n) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has %d of %d records acknowledged after %v with the other instance down", g.name, st.Acked, n, limit)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestCopyStoreKeepsGatesSyncing moves a SQLite deployment to PostgreSQL
// under its enrolled gates: gate 1 uploads and the server is stopped;
// kido-server copy-store copies the data directory into a new database;
// the server comes back on it at the same address. Gate 2, which admitted
// its tickets offline meanwhile, then uploads, and both gates must
// converge on every admission with the credentials, pins and cursors they
// had (gate 1 learns gate 2's admissions through the copied feed), the
// server holding each exactly once.
func TestCopyStoreKeepsGatesSyncing(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	const each = 60
	ev := newEvent(t, srv, 2*each)
	gs := []*gateDir{ev.enroll(t, "Gate 1", srv.url), ev.enroll(t, "Gate 2", srv.url)}
	shares := split(1, 2, each)
	ev.queue(t, gs[:1], shares[:1])
	run := gs[0].startRun(t)
	waitAcked(t, gs[:1], each, 60*time.Second)
	stopRun(t, gs[0], run)
	if !srv.p.interrupt(15 * time.Second) {
		t.Fatal("kido-server did not stop within 15 s of SIGINT")
	}

	url := pgtest.DB(t)
	out, err := exec.Command(serverBin, "copy-store", "-from", srv.dir, "-to", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied ") {
		t.Fatalf("copy-store: %v\n%s", err, out)
	}
	srv.args = []string{"-db", url}
	srv.restart()

	ev.queue(t, gs[1:], shares[1:])
	runs := []*proc{gs[0].startRun(t), gs[1].startRun(t)}
	took := waitConverged(t, gs, 2*each, 90*time.Second)
	t.Logf("converged %v after the move", took.Round(time.Millisecond))
	for i, g := range gs {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gs, shares)
}

// TestSurvivesPostgresRestart is the failover of docs/ops/postgres.md as
// far as one machine can show it: two kido-server instances on one
// PostgreSQL database, a gate syncing through each, uploading its offline
// queue. Twice, at random moments of the upload, PostgreSQL stops,
// cutting every connection: both instances' health turns red, and the
// gates' requests fail. PostgreSQL comes back at the same address and
// the same instance processes, never restarted, carry on: the gates back off, resume by themselves and
// converge, and the server holds each admission exactly once.
func TestSurvivesPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.Own(t) // stopped under this test alone
	url, err := pg.NewDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, b := startInstances(t, url)
	const each = killTotal / 2
	ev := newEvent(t, a, 2*each)
	gs := []*gateDir{ev.enroll(t, "Gate 1 via A", a.url), ev.enroll(t, "Gate 2 via B", b.url)}
	shares := split(1, 2, each)
	ev.queue(t, gs, shares)
	runs := []*proc{gs[0].startRun(t), gs[1].startRun(t)}
	killAtMarks(t, b, ev, 2, "PostgreSQL", func() {
		if err := pg.StopServer(); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*server{a, b} {
			waitHealth(t, s, http.StatusServiceUnavailable)
		}
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
	})
	took := waitConverged(t, gs, 2*each, 90*time.Second)
	t.Logf("converged %v after PostgreSQL came back", took.Round(time.Millisecond))
	for _, s := range []*server{a, b} {
		if s.p.exited() {
			t.Errorf("kido-server at %s exited: %v", s.url, s.p.err)
		}
		waitHealth(t, s, http.StatusOK)
	}
	for i, g := range gs {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gs, shares)
}

// waitHealth polls the server's GET /v1/health until it answers status,
// for at most 30 s.
func waitHealth(t *testing.T, s *server, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	got := 0
	for {
		resp, err := http.Get(s.url + "/v1/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got = resp.StatusCode
			if got == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("health of %s: %d (%v), not %d within 30 s", s.url, got, err, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
