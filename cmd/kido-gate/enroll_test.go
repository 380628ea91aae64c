package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
)

// liveServer is the real kido server core on its SQLite store, served over
// loopback, with an event of n single-entry tickets.
type liveServer struct {
	srv     *servertest.Server
	url     string
	admin   *client.Client
	event   uint32
	tickets []wire.IssuedTicket
	changed gatetest.Bell // rung when a gate of enrollGate changes its sync status, and by watchFeed
}

func startServer(tb testing.TB, n int) *liveServer {
	tb.Helper()
	return startServerClock(tb, n, nil)
}

// startServerClock is startServer with the server's clock read from clock (nil: time.Now).
func startServerClock(tb testing.TB, n int, clock func() time.Time) *liveServer {
	tb.Helper()
	ctx := context.Background()
	srv := servertest.StartClock(tb, clock)
	admin := srv.Admin
	now := time.Now()
	ev, err := admin.CreateEvent(ctx, wire.EventCreate{Name: "Summer Fes", Venue: "Makuhari Messe", Start: now.Add(-time.Hour), End: now.Add(6 * time.Hour), TimeZone: "Asia/Tokyo"})
	if err != nil {
		tb.Fatal(err)
	}
	tier, err := admin.AddTier(ctx, ev.ID, wire.TierCreate{Name: "GA"})
	if err != nil {
		tb.Fatal(err)
	}
	ls := &liveServer{srv: srv, url: srv.URL, admin: admin, event: ev.ID}
	for off := 0; off < n; off += 10000 {
		items := make([]wire.IssueItem, min(10000, n-off))
		for i := range items {
			items[i] = wire.IssueItem{Tier: tier.ID, Holder: fmt.Sprintf("佐藤 花子 %d", off+i), OrderRef: fmt.Sprintf("ORD-%d", off+i)}
		}
		resp, err := admin.Issue(ctx, ev.ID, wire.IssueRequest{Batch: "b1", Offset: off, Tickets: items})
		if err != nil {
			tb.Fatal(err)
		}
		ls.tickets = append(ls.tickets, resp.Tickets...)
	}
	return ls
}

func (ls *liveServer) gateCode(tb testing.TB, name string) string {
	tb.Helper()
	g, err := ls.admin.AddGate(context.Background(), ls.event, wire.GateCreate{Name: name, Direction: kido.DirectionBoth})
	if err != nil {
		tb.Fatal(err)
	}
	return g.Code
}

func gateCmd(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	bin, err := exec.LookPath("kido-gate")
	if err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestEnrollEndToEnd enrols the real kido-gate binary with the real server
// over loopback, then scans offline with what it downloaded.
func TestEnrollEndToEnd(t *testing.T) {
	ls := startServer(t, 30)
	code := ls.gateCode(t, "North 1")
	dir := filepath.Join(t.TempDir(), "gate")

	out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", code, "-data", dir)
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if !strings.Contains(out, "replica ready: event") || !strings.Contains(out, "30 tickets") {
		t.Errorf("enroll output:\n%s", out)
	}
	for _, f := range []string{credentialFile, replicaFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}

	text := ls.tickets[7].Text
	if out, err := gateCmd(t, "scan", "-data", dir, text); err != nil || !strings.HasPrefix(out, "ADMIT") {
		t.Errorf("first scan: %v\n%s", err, out)
	}
	out, err = gateCmd(t, "scan", "-data", dir, text)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "admitted here") {
		t.Errorf("second scan: %v\n%s", err, out)
	}
	if out, _ := gateCmd(t, "find", "-data", dir, "佐藤 花子 7"); !strings.Contains(out, "used 1×") {
		t.Errorf("find:\n%s", out)
	}

	// The code was single-use; a second enrolment with it is refused and
	// leaves no replica behind.
	dir2 := filepath.Join(t.TempDir(), "gate2")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", code, "-data", dir2); err == nil || strings.Contains(out, "replica ready") {
		t.Errorf("code reused: %v\n%s", err, out)
	}
	if fileExists(filepath.Join(dir2, replicaFile)) {
		t.Error("a refused enrolment left a replica")
	}

	// A code made by this server does not enrol with another one.
	other := startServer(t, 1)
	if out, err := gateCmd(t, "enroll", "-server", other.url, "-code", code, "-data", filepath.Join(t.TempDir(), "gate3")); err == nil || !strings.Contains(out, "another server") {
		t.Errorf("code of another server: %v\n%s", err, out)
	}
}

// BenchmarkEnroll100k measures kido-gate enroll (a real process) of a gate
// for an event of 100,000 tickets against the real server over loopback:
// enrolment, snapshot download and replica build.
//
//	go test -run '^$' -bench Enroll100k -benchtime 3x ./cmd/kido-gate
func BenchmarkEnroll100k(b *testing.B) {
	ls := startServer(b, 100000)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		code := ls.gateCode(b, fmt.Sprintf("gate %d", i))
		dir := filepath.Join(b.TempDir(), "gate")
		b.StartTimer()
		if out, err := gateCmd(b, "enroll", "-server", ls.url, "-code", code, "-data", dir); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}
