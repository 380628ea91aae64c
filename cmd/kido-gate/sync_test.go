package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/gate/syncer"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/faultproxy"
)

// liveGate is a gate enrolled by the real kido-gate binary, whose replica
// this test then opens and syncs in-process with the real server.
type liveGate struct {
	dir  string
	r    *replica.Replica
	s    *syncer.Syncer
	stop func()
}

// enrollGate enrols the gate; its replica reads the device clock from now
// (nil: time.Now), and each change of its sync status rings ls.changed.
func enrollGate(t *testing.T, ls *liveServer, serverURL, name string, now func() time.Time) *liveGate {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if out, err := gateCmd(t, "enroll", "-server", serverURL, "-code", ls.gateCode(t, name), "-data", dir); err != nil {
		t.Fatalf("enroll %s: %v\n%s", name, err, out)
	}
	key, err := gatedir.ReadKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.Open(filepath.Join(dir, replicaFile), replica.Options{Leeway: kido.DefaultLeeway, Now: now, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSyncer(context.Background(), dir, r, client.Security{}, nil, func(syncer.Status) { ls.changed.Ring() })
	if err != nil {
		t.Fatal(err)
	}
	g := &liveGate{dir: dir, r: r, s: s, stop: func() {}}
	t.Cleanup(func() { g.stop(); r.Close() })
	return g
}

// run starts the gate's background sync, as kido-gate run does.
func (g *liveGate) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.s.Run(ctx); close(done) }()
	g.stop = func() { cancel(); <-done }
}

func (g *liveGate) scan(t *testing.T, text string) gate.Decision {
	t.Helper()
	d, err := g.r.Scan(context.Background(), gate.Line{Text: text, Length: int64(len(text))}, false)
	if err != nil {
		t.Fatal(err)
	}
	g.s.Nudge()
	return d
}

// waitFor waits for cond, looking again each time a gate's sync status
// changes (every answered request changes it: counts, contact time) and
// failing the test if cond does not hold within limit.
func waitFor(t *testing.T, ls *liveServer, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return ls.changed.Await(t, limit, what, cond)
}

// watchFeed serves ls's server at one more loopback URL, which counts the
// feed requests it is answering and rings ls.changed when one arrives or
// ends: polling reports that a long-poll through this URL is waiting.
func watchFeed(t *testing.T, ls *liveServer) (url string, polling func() bool) {
	var open atomic.Int64
	h := ls.srv.Core.Handler()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/gate/changes" {
			open.Add(1)
			ls.changed.Ring()
			defer func() { open.Add(-1); ls.changed.Ring() }()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL, func() bool { return open.Load() > 0 }
}

func passages(t *testing.T, g *liveGate) int {
	st, err := g.r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Passages
}

// pending counts the gate's records the server has not acknowledged.
func pending(t *testing.T, g *liveGate) int {
	n, m, err := g.r.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n + m
}

// TestSyncTwoGatesOnline: with both gates syncing, an admission at one is
// known to the other while its long-poll waits, and a scan there is
// already_used naming the first gate.
func TestSyncTwoGatesOnline(t *testing.T) {
	ls := startServer(t, 20)
	bURL, bPolling := watchFeed(t, ls)
	a := enrollGate(t, ls, ls.url, "North 1", nil)
	b := enrollGate(t, ls, bURL, "South 2", nil)
	a.run()
	b.run()
	// Every loop makes its first request within StartDelay (a random
	// moment under 5 s).
	waitFor(t, ls, 15*time.Second, "gates online", func() bool { return a.s.Status().Online && b.s.Status().Online })
	waitFor(t, ls, 15*time.Second, "B's long-poll waiting", bPolling)

	text := ls.tickets[3].Text
	if d := a.scan(t, text); !d.Admit {
		t.Fatalf("first scan at A: %s", d.Reason)
	}
	latency := waitFor(t, ls, 5*time.Second, "admission at A known at B", func() bool { return passages(t, b) == 1 })
	t.Logf("admission at A known at B after %v", latency)

	d := b.scan(t, text)
	if d.Reason != gate.AlreadyUsed || d.PriorGateName != "North 1" {
		t.Errorf("scan at B: %s naming %q, want already_used naming North 1", d.Reason, d.PriorGateName)
	}
	waitFor(t, ls, 10*time.Second, "everything acknowledged", func() bool {
		return pending(t, a) == 0 && pending(t, b) == 0
	})
	rep, err := ls.admin.Report(context.Background(), ls.event)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 1 || rep.Rejected != 1 || rep.DoubleEntries != 0 {
		t.Errorf("report: admitted %d, rejected %d, double entries %d; want 1, 1, 0", rep.Admitted, rep.Rejected, rep.DoubleEntries)
	}
}

// TestSyncPartitionDoubleEntry: two gates cut off from the server by a
// partition both admit one ticket; after healing the server reports
// exactly one double entry with both records, and both gates name the
// earliest admission.
func TestSyncPartitionDoubleEntry(t *testing.T) {
	ls := startServer(t, 20)
	proxy, err := faultproxy.New(strings.TrimPrefix(ls.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	a := enrollGate(t, ls, proxy.URL(), "North 1", nil)
	// B's device clock runs a second ahead (within kido.ClockTolerance):
	// its admission is the later one however close the two scans are.
	b := enrollGate(t, ls, proxy.URL(), "South 2", func() time.Time { return time.Now().Add(time.Second) })

	proxy.Set(faultproxy.Partition)
	a.run()
	b.run()
	text := ls.tickets[5].Text
	first := a.scan(t, text)
	second := b.scan(t, text)
	if !first.Admit || !second.Admit {
		t.Fatalf("offline scans: %s, %s; both gates must admit while cut off", first.Reason, second.Reason)
	}
	other := b.scan(t, ls.tickets[6].Text) // one more admission, no conflict
	if !other.Admit {
		t.Fatal(other.Reason)
	}
	waitFor(t, ls, 15*time.Second, "both gates see the partition", func() bool {
		return !a.s.Status().Online && !b.s.Status().Online
	})

	proxy.Set(faultproxy.Pass)
	// Backoff is at most a minute; reconnection spreads over 5 s.
	waitFor(t, ls, 90*time.Second, "convergence", func() bool {
		return pending(t, a) == 0 && pending(t, b) == 0 && passages(t, a) == 3 && passages(t, b) == 3
	})

	ctx := context.Background()
	conflicts, err := ls.admin.Conflicts(ctx, ls.event)
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) != 1 || len(conflicts[0].Admissions) != 2 {
		t.Fatalf("conflicts: %+v, want exactly one double entry with two admissions", conflicts)
	}
	c := conflicts[0]
	if c.Serial != first.Serial || c.Admissions[0].GateName != "North 1" || c.Admissions[0].Excess || !c.Admissions[1].Excess || c.Admissions[1].GateName != "South 2" {
		t.Errorf("double entry %+v", c)
	}
	rep, err := ls.admin.Report(ctx, ls.event)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 3 || rep.UniqueHolders != 2 || rep.DoubleEntries != 1 || rep.Quarantined != 0 {
		t.Errorf("report: admitted %d, unique %d, double entries %d, quarantined %d; want 3, 2, 1, 0", rep.Admitted, rep.UniqueHolders, rep.DoubleEntries, rep.Quarantined)
	}
	for name, g := range map[string]*liveGate{"A": a, "B": b} {
		d := g.scan(t, text)
		if d.Reason != gate.AlreadyUsed || d.PriorGateName != "North 1" || !d.Prior.At.Equal(first.At.UTC()) {
			t.Errorf("gate %s: %s naming %q at %v, want already_used naming North 1 at %v", name, d.Reason, d.PriorGateName, d.Prior, first.At)
		}
	}
}

// TestSyncCommandAndRevocation runs kido-gate sync and status as real
// processes, then revokes the gate: its next sync wipes it.
func TestSyncCommandAndRevocation(t *testing.T) {
	ls := startServer(t, 10)
	dir := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", ls.gateCode(t, "North 1"), "-data", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	gateCmd(t, "scan", "-data", dir, ls.tickets[1].Text)
	gateCmd(t, "scan", "-data", dir, "not a ticket")

	out, err := gateCmd(t, "sync", "-data", dir, "-json")
	if err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	var got syncOut
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("sync -json: %v\n%s", err, out)
	}
	if got.Admissions != 1 || got.Audits != 1 || got.Stored != 2 || got.Pending != 0 || got.Acked != 1 || got.AuditAcked != 1 {
		t.Errorf("sync moved %+v", got)
	}
	out, _ = gateCmd(t, "sync", "-data", dir)
	if !strings.Contains(out, "uploaded 0 admissions and 0 rejected scans in 1 request") || !strings.Contains(out, "0 records wait for upload") {
		t.Errorf("second sync:\n%s", out)
	}
	out, _ = gateCmd(t, "status", "-data", dir, "-json")
	var st statusOut
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.SyncState != "ok" || st.Acked != 1 || st.LastSync == nil {
		t.Errorf("status after sync: %v %+v", err, st)
	}

	gateCmd(t, "scan", "-data", dir, ls.tickets[2].Text) // never uploaded
	gates, err := ls.admin.GateStatuses(context.Background(), ls.event, 0)
	if err != nil || len(gates) != 1 {
		t.Fatalf("gates: %v %v", gates, err)
	}
	if _, err := ls.admin.RevokeGate(context.Background(), ls.event, gates[0].ID); err != nil {
		t.Fatal(err)
	}
	out, err = gateCmd(t, "sync", "-data", dir)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "revoked") || !strings.Contains(out, "1 records not uploaded were discarded") {
		t.Errorf("sync of a revoked gate: %v\n%s", err, out)
	}
	for _, f := range []string{replicaFile, replicaFile + "-wal", replicaFile + "-shm", credentialFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s survived the revocation: %v", f, err)
		}
	}
}
