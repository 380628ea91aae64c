package e2e

import (
	"database/sql"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/sync/faultproxy"
	"kido.dev/kido/sync/wire"
)

// startRunMesh starts kido-gate run on the gate with its venue mesh on a
// free loopback port (docs/mesh.md), and extra flags.
func (g *gateDir) startRunMesh(t *testing.T, extra ...string) *proc {
	t.Helper()
	args := append([]string{"run", "-data", g.dir, "-plain", "-mesh", "127.0.0.1:0"}, extra...)
	p, err := startProc(t, g.log, true, gateBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// replicaQuery runs one counting query on the gate's replica, read-only,
// beside the kido-gate process that has it open.
func replicaQuery(t *testing.T, g *gateDir, query string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+gatedir.Replica(g.dir)+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("read replica of %s: %v", g.name, err)
	}
	return n
}

// holds reports whether the gate's replica holds the admission (gate, seq).
func holds(t *testing.T, g *gateDir, gate uint32, seq uint64) bool {
	return replicaQuery(t, g, "SELECT count(*) FROM admissions WHERE gate = ? AND seq = ?", gate, seq) == 1
}

// waitFor polls cond every few milliseconds until it holds, for at most
// limit, and returns how long it took.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// TestMeshServerDown: three kido-gate run processes learn each other's
// mesh addresses from the server, which then dies. An admission at A is
// rejected as already_used, naming A, at B and C within a second; every
// gate's admissions reach every other; when the server returns, its
// report holds each admission exactly once.
func TestMeshServerDown(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ev := newEvent(t, srv, 10)
	gates := []*gateDir{ev.enroll(t, "A", srv.url), ev.enroll(t, "B", srv.url), ev.enroll(t, "C", srv.url)}
	runs := make([]*proc, len(gates))
	for i, g := range gates {
		runs[i] = g.startRunMesh(t)
	}
	// Each gate reports its address in its heartbeat; the others learn it
	// from the feed.
	for _, g := range gates {
		waitFor(t, g.name+" knows its peers' mesh addresses", 60*time.Second, func() bool {
			return replicaQuery(t, g, "SELECT count(*) FROM gates WHERE mesh != '' AND id != ?", g.id) == len(gates)-1
		})
	}
	srv.kill()

	a := gates[0]
	if _, err := io.WriteString(runs[0].stdin, ev.tickets[0]+"\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A admits ticket 1", 30*time.Second, func() bool { return holds(t, a, a.id, 1) })
	for _, g := range gates[1:] {
		took := waitFor(t, g.name+" learns A's admission", 5*time.Second, func() bool { return holds(t, g, a.id, 1) })
		t.Logf("%s learnt A's admission %v after A held it", g.name, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("%s learnt A's admission after %v, want within 1 s", g.name, took)
		}
		res, err := ev.scanAll(g, []uint32{1})
		if len(res) != 1 || res[0].Decision != "reject" || res[0].Reason != "already_used" || res[0].FirstGate != a.id || res[0].FirstGateName != "A" {
			t.Errorf("ticket 1 at %s: %+v (%v); want already_used naming A", g.name, res, err)
		}
	}

	// B and C admit tickets of their own; every gate learns all of them.
	for i, g := range gates[1:] {
		if _, err := io.WriteString(runs[i+1].stdin, ev.tickets[i+1]+"\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, g.name+" admits its ticket", 30*time.Second, func() bool { return holds(t, g, g.id, 1) })
	}
	for _, g := range gates {
		for _, o := range gates {
			waitFor(t, g.name+" learns "+o.name+"'s admission", 30*time.Second, func() bool { return holds(t, g, o.id, 1) })
		}
	}

	srv.restart()
	id := strconv.FormatUint(uint64(ev.id), 10)
	waitAdmitted(t, srv.admin(), ev.id, 3, 90*time.Second)
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}
	var rep wire.Report
	srv.ctlJSON(&rep, "report", "-event", id)
	if rep.Admitted != 3 || rep.UniqueHolders != 3 || rep.DoubleEntries != 0 || rep.Quarantined != 0 {
		t.Errorf("report: admitted %d, unique %d, double entries %d, quarantined %d; want 3, 3, 0, 0",
			rep.Admitted, rep.UniqueHolders, rep.DoubleEntries, rep.Quarantined)
	}
	for _, g := range gates {
		recs, conflicting := readReplica(t, g)
		if len(recs) != 3 || conflicting != 0 {
			t.Errorf("%s holds %d admissions and %d conflicting, want 3 and 0", g.name, len(recs), conflicting)
		}
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMeshSplitHeals: four gates, the server down, each reaching each
// other only through a fault proxy per direction. The mesh is split in two
// halves; each half learns its own admissions and not the other's, and
// one ticket is admitted in both (a double entry the mesh cannot
// prevent). Healed, every gate holds exactly every admission; the
// server, back, reports each once and exactly that double entry.
func TestMeshSplitHeals(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ev := newEvent(t, srv, 20)
	var gates []*gateDir
	for _, name := range []string{"A", "B", "C", "D"} {
		gates = append(gates, ev.enroll(t, name, srv.url))
	}
	// A gate knows the keys of the gates enrolled before it from its
	// snapshot, and of later ones from the feed: one round each.
	for _, g := range gates {
		if out, err := gateRun(g.dir, nil, "sync"); err != nil {
			t.Fatalf("sync %s: %v\n%s", g.name, err, out)
		}
	}
	srv.kill()
	half := func(i int) int { return i / 2 } // A, B | C, D
	listen := make([]string, len(gates))
	for i := range gates {
		listen[i] = freePort(t)
	}
	var cross []*faultproxy.Proxy // the proxies between the halves
	runs := make([]*proc, len(gates))
	for i, g := range gates {
		var args []string
		for j := range gates {
			if j == i {
				continue
			}
			p, err := faultproxy.New(listen[j])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			if half(i) != half(j) {
				cross = append(cross, p)
			}
			args = append(args, "-peer", p.Addr())
		}
		p, err := startProc(t, g.log, true, gateBin, append([]string{"run", "-data", g.dir, "-plain", "-mesh", listen[i]}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = p
	}
	for _, p := range cross {
		p.Set(faultproxy.Partition)
	}

	// Each gate admits two tickets of its own (scan beside run: the mesh
	// pushes what another process recorded); A and C both admit ticket 20.
	const twice = 20
	shares := [][]uint32{{1, 2, twice}, {3, 4}, {5, 6, twice}, {7, 8}}
	for i, g := range gates {
		res, err := ev.scanAll(g, shares[i])
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res {
			if r.Decision != "admit" {
				t.Fatalf("ticket %d at %s: %+v, want admitted", shares[i][j], g.name, r)
			}
		}
	}
	// Within each half, each learns the other's admissions; nothing crosses.
	for i, g := range gates {
		for j, o := range gates {
			if half(i) == half(j) {
				waitFor(t, g.name+" learns "+o.name+"'s admissions", 30*time.Second, func() bool {
					return holds(t, g, o.id, uint64(len(shares[j])))
				})
			}
		}
	}
	for i, g := range gates {
		inHalf := 0
		for j := range gates {
			if half(i) == half(j) {
				inHalf += len(shares[j])
			}
		}
		if n := replicaQuery(t, g, "SELECT count(*) FROM admissions"); n != inHalf {
			t.Errorf("%s holds %d admissions during the split, want its half's %d", g.name, n, inHalf)
		}
	}

	for _, p := range cross {
		p.Set(faultproxy.Pass)
	}
	ev.meshConverged(t, gates, runs, shares, 1)
	id := strconv.FormatUint(uint64(ev.id), 10)
	var conflicts []wire.Conflict
	srv.ctlJSON(&conflicts, "conflicts", "-event", id)
	if len(conflicts) != 1 || conflicts[0].Serial != twice || len(conflicts[0].Admissions) != 2 {
		t.Errorf("conflicts: %+v, want one double entry of ticket %d with two admissions", conflicts, twice)
	}
}

// TestMeshKillMidGossip: three gates, the server down, admit tickets
// (kido-gate scan beside run) while their run processes, and so their
// mesh nodes, are killed with SIGKILL and started again. Nothing is lost:
// in the end every gate holds exactly every admission, and the server,
// back, reports each once.
func TestMeshKillMidGossip(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ev := newEvent(t, srv, 60)
	var gates []*gateDir
	for _, name := range []string{"A", "B", "C"} {
		gates = append(gates, ev.enroll(t, name, srv.url))
	}
	for _, g := range gates {
		if out, err := gateRun(g.dir, nil, "sync"); err != nil {
			t.Fatalf("sync %s: %v\n%s", g.name, err, out)
		}
	}
	srv.kill()
	listen := make([]string, len(gates))
	for i := range gates {
		listen[i] = freePort(t)
	}
	start := func(i int) *proc {
		args := []string{"run", "-data", gates[i].dir, "-plain", "-mesh", listen[i]}
		for j := range gates {
			if j != i {
				args = append(args, "-peer", listen[j])
			}
		}
		p, err := startProc(t, gates[i].log, true, gateBin, args...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	runs := make([]*proc, len(gates))
	for i := range gates {
		runs[i] = start(i)
	}

	const rounds, perRound = 4, 5
	shares := make([][]uint32, len(gates))
	next := uint32(1)
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, len(gates))
		for i, g := range gates {
			batch := make([]uint32, perRound)
			for j := range batch {
				batch[j] = next
				next++
			}
			shares[i] = append(shares[i], batch...)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = ev.scanAll(g, batch)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		// While the pushes of this batch are under way, one gate dies.
		victim := round % len(gates)
		runs[victim].kill()
		runs[victim] = start(victim)
	}

	ev.meshConverged(t, gates, runs, shares, 0)
}

// meshConverged waits until every gate holds every admission of shares
// (gates[i] made shares[i], in seq order) through the mesh, restarts the
// server and waits until it holds them all too, stops the gates, and
// checks exactly: every replica holds these admissions and nothing else,
// and the server's report counts each once and doubles double entries.
func (e *event) meshConverged(t *testing.T, gates []*gateDir, runs []*proc, shares [][]uint32, doubles int) {
	t.Helper()
	total := 0
	want := map[[2]uint64]uint32{}
	for i, g := range gates {
		for j, s := range shares[i] {
			want[[2]uint64{uint64(g.id), uint64(j + 1)}] = s
		}
		total += len(shares[i])
	}
	for _, g := range gates {
		waitFor(t, g.name+" holds every admission", 60*time.Second, func() bool {
			return replicaQuery(t, g, "SELECT count(*) FROM admissions") == total
		})
	}
	e.srv.restart()
	waitAdmitted(t, e.srv.admin(), e.id, total, 90*time.Second)
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}
	for _, g := range gates {
		recs, conflicting := readReplica(t, g)
		compare(t, "gate "+g.name, recs, want)
		if conflicting != 0 {
			t.Errorf("%s keeps %d conflicting admissions, want 0", g.name, conflicting)
		}
	}
	var rep wire.Report
	e.srv.ctlJSON(&rep, "report", "-event", strconv.FormatUint(uint64(e.id), 10))
	if rep.Admitted != total || rep.UniqueHolders != total-doubles || rep.DoubleEntries != doubles || rep.Quarantined != 0 {
		t.Errorf("report: admitted %d, unique %d, double entries %d, quarantined %d; want %d, %d, %d, 0",
			rep.Admitted, rep.UniqueHolders, rep.DoubleEntries, rep.Quarantined, total, total-doubles, doubles)
	}
}
