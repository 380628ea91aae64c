package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// herdSetupWorkers is how many gates are prepared at once: their scans
// wait mostly on fsync, so a few more than the cores keep the disk busy.
const herdSetupWorkers = 4

// runHerd prepares many gates, each enrolled with the real server and
// holding queued admissions made by real scans, then starts all their
// sync loops (gate/syncer) at the same instant, in a gates process of
// their own apart from this measuring one, against a fresh kido-server
// process, and times until the server has stored and
// acknowledged every admission. It then checks on the server that every
// admission is stored exactly once.
func runHerd(ctx context.Context, h *harness) ([]row, error) {
	s, err := h.startServer(ctx, "herd-server")
	if err != nil {
		return nil, err
	}
	return herd(ctx, h, herdSetup{
		prefix:  "herd",
		where:   "gate/syncer in one gates process, kido-server process",
		servers: []*serverProc{s},
		spares:  true,
	})
}

// herdSetup is where a herd runs.
type herdSetup struct {
	prefix  string        // of the rows' names, and the work files' ("herd", "herd-pg")
	where   string        // what runs where, for the first row's name
	servers []*serverProc // gate i syncs with servers[i % len]; the first one enrols them
	spares  bool          // measure the spare gates' feed catch-up afterwards
	// The database's processes, when they are apart from the servers:
	// their CPU time so far.
	dbCPU func() time.Duration
}

// herd runs the herd against setup's servers (see runHerd).
func herd(ctx context.Context, h *harness, setup herdSetup) ([]row, error) {
	total := h.herdGates * h.queued
	name := fmt.Sprintf("%s: %d gates × %s queued admissions reconnecting at once (%s)", setup.prefix, h.herdGates, count(h.queued), setup.where)
	s := setup.servers[0]
	urlOf := func(i int) string { return setup.servers[i%len(setup.servers)].url }
	work := filepath.Join(h.dir, setup.prefix)
	gates, spares, event, err := prepareHerd(ctx, h, s, work, urlOf, setup.spares)
	for _, g := range gates {
		if g != nil && g.r != nil {
			g.r.Close() // the gates process opens them
		}
	}
	defer func() {
		for _, g := range spares {
			g.r.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	spec := herdSpec{URL: s.url}
	for i, g := range gates {
		spec.Gates = append(spec.Gates, herdSpecGate{ID: g.id, Replica: g.r.Path(), Credential: g.credential, URL: urlOf(i)})
	}
	specPath := filepath.Join(work, "spec.json")
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return nil, err
	}

	before, err := allCounts(ctx, setup.servers)
	if err != nil {
		return nil, err
	}
	serversCPU := func() time.Duration {
		var d time.Duration
		for _, s := range setup.servers {
			d += s.cpu()
		}
		return d
	}
	cpus0 := make([]time.Duration, len(setup.servers))
	for i, s := range setup.servers {
		cpus0[i] = s.cpu()
	}
	cpu0 := serversCPU()
	var db0 time.Duration
	if setup.dbCPU != nil {
		db0 = setup.dbCPU()
	}
	gp, err := startGatesProcess(ctx, h, specPath, setup.prefix+"-gates.log")
	if err != nil {
		return nil, err
	}
	defer gp.kill()
	if err := gp.await("started", time.Minute); err != nil {
		return nil, err
	}
	start := time.Now()
	var probes []func() ([]time.Time, []time.Duration, int)
	for _, s := range setup.servers {
		probes = append(probes, startHealthProbe(ctx, s.url))
	}

	// The uploads have three times limit from the start to converge, so
	// that on a loaded machine a slow herd is a FAIL row with its figures
	// rather than an error without them; the feed has limit from
	// convergence to catch up: its goal is timed from there, whatever the
	// convergence took.
	limit := 5 * time.Minute
	if h.quick {
		limit = time.Minute
	}
	want := h.herdGates * (total - h.queued)
	conv, convErr := awaitAcked(ctx, h, s.admin, event, gates, start, 3*limit)
	learnedAtConv := gp.learned()
	// The feed's catch-up is timed from convergence: until every gate
	// knows 99% of the admissions made elsewhere, and until all of them.
	convAt, serverAtConv, gatesAtConv := time.Now(), serversCPU(), processCPU(gp.cmd.Process.Pid)
	perGate := total - h.queued
	var feedDone, feed99, server99, gates99 time.Duration
	if convErr == nil && setup.spares {
		for time.Since(convAt) < limit && ctx.Err() == nil {
			if feed99 == 0 && gp.fewestLearned()*100 >= perGate*99 {
				feed99, server99, gates99 = time.Since(convAt), serversCPU()-serverAtConv, processCPU(gp.cmd.Process.Pid)-gatesAtConv
			}
			if gp.learned() >= want {
				feedDone = time.Since(start)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	learnedAtEnd, fewestAtEnd := gp.learned(), gp.fewestLearned()
	// The feed's, since the uploads are over.
	serverFeed, gatesFeed, feedWall := serversCPU()-serverAtConv, processCPU(gp.cmd.Process.Pid)-gatesAtConv, time.Since(convAt)
	var healthAt []time.Time
	var healthLat []time.Duration
	healthErrs := 0
	for _, probe := range probes {
		at, lat, errs := probe()
		healthAt, healthLat, healthErrs = append(healthAt, at...), append(healthLat, lat...), healthErrs+errs
	}
	sum, gatesCPU, err := gp.stop()
	if err != nil {
		return nil, err
	}
	serverCPU := serversCPU() - cpu0
	cpuText := fmt.Sprintf("server %.0f s", serverCPU.Seconds())
	if len(setup.servers) > 1 {
		var each []string
		for i, s := range setup.servers {
			each = append(each, fmt.Sprintf("%s %.1f s", s.name, (s.cpu()-cpus0[i]).Seconds()))
		}
		cpuText = fmt.Sprintf("servers %.1f s (%s)", serverCPU.Seconds(), strings.Join(each, ", "))
	}
	if setup.dbCPU != nil {
		cpuText += fmt.Sprintf(", PostgreSQL %.1f s", (setup.dbCPU() - db0).Seconds())
	}
	after, err := allCounts(ctx, setup.servers)
	if err != nil {
		return nil, err
	}
	if convErr != nil {
		return nil, convErr
	}
	h.logf("%s: CPU used: %s, gates process %.1f s", setup.prefix, cpuText, gatesCPU.Seconds())

	var rows []row
	rows = append(rows, within(name,
		fmt.Sprintf("converged in %s: %s admissions stored and acknowledged (CPU: %s, gates %.0f s)", secs(conv), count(total), cpuText, gatesCPU.Seconds()),
		// Not scaled with -quick: every gate first waits up to StartDelay (5 s)
		// whatever the size of the herd.
		"converged < 60 s", conv.Seconds(), 60, false))

	stored, problems, err := verifyHerd(ctx, s.admin, event, gates, h.queued)
	if err != nil {
		return rows, err
	}
	r := row{scenario: setup.prefix + ": lost or duplicated admissions (server report and gate acks)", goal: "zero lost, zero duplicated", ratio: float64(stored) / float64(total), mark: markPass,
		figure: fmt.Sprintf("%s of %s stored, each once; %d lost, %d duplicated", count(stored), count(total), max(0, total-stored), max(0, stored-total))}
	if len(problems) > 0 {
		r.mark = markFail
		r.figure += "; " + strings.Join(problems, "; ")
	}
	rows = append(rows, r)

	rows = append(rows, info(setup.prefix+": upload latency, round trip seen by the gates",
		fmt.Sprintf("all %d answers p50 %s, p99 %s; %d answered 200: p50 %s, p99 %s",
			sum.Uploads, ms(sum.UploadP50), ms(sum.UploadP99), sum.Accepted, ms(sum.AcceptedP50), ms(sum.AcceptedP99))))

	unshed := 0
	for k, n := range after {
		ep, st, _ := strings.Cut(k, " ")
		if (ep == "upload" || ep == "changes") && strings.HasPrefix(st, "5") && st != "503" {
			unshed += n - before[k]
		}
	}
	// Every 503 must be a deliberate shed: compare with the shed counters.
	shed := after["shed upload"] - before["shed upload"] + after["shed long-poll"] - before["shed long-poll"]
	got503 := after["upload 503"] - before["upload 503"] + after["changes 503"] - before["changes 503"]
	r = row{scenario: setup.prefix + ": responses by status (server metrics" + perInstance(setup.servers) + ")", figure: strings.Join(delta(before, after, ""), ", "), goal: "no 5xx but deliberate shedding", ratio: math.NaN(), mark: markPass}
	if unshed > 0 || got503 > shed {
		r.mark = markFail
	}
	rows = append(rows, r)

	p := bench.Percentile
	h99 := p(healthLat, 99)
	hf := fmt.Sprintf("p50 %s, p99 %s, max %s (%d probes every 50 ms", ms(p(healthLat, 50)), ms(h99), ms(p(healthLat, 100)), len(healthLat))
	if healthErrs > 0 {
		hf += fmt.Sprintf(", %d failed", healthErrs)
	}
	// Where the tail is: while the uploads went on, or while the feed
	// caught up afterwards.
	var during, later []time.Duration
	for i, at := range healthAt {
		if at.Before(start.Add(conv)) {
			during = append(during, healthLat[i])
		} else {
			later = append(later, healthLat[i])
		}
	}
	if len(later) > 0 {
		hf += fmt.Sprintf("; until convergence p99 %s, after it p99 %s", ms(p(during, 99)), ms(p(later, 99)))
	}
	hr := within(setup.prefix+": GET /v1/health during the herd"+perInstance(setup.servers), hf+")", "p99 < 100 ms", h99.Seconds(), 0.1, false)
	if healthErrs > 0 {
		hr.mark = markFail
	}
	rows = append(rows, hr)

	if !setup.spares {
		return rows, nil
	}
	feed := fmt.Sprintf("at convergence gates had learned %.1f%% of the others' admissions; ", 100*float64(learnedAtConv)/float64(want))
	if feed99 > 0 {
		feed += fmt.Sprintf("every gate knew 99%% of them %s after convergence (CPU in that time: server %.0f s, gates %.0f s)", secs(feed99), server99.Seconds(), gates99.Seconds())
	} else {
		feed += fmt.Sprintf("the gate that knew least had %.1f%% at %s after convergence, when the run stopped", 100*float64(fewestAtEnd)/float64(perGate), secs(feedWall))
	}
	if feedDone > 0 {
		feed += fmt.Sprintf("; every gate knew every admission %s after the start", secs(feedDone))
	} else {
		feed += fmt.Sprintf("; %.1f%% of all by %s after convergence, when the run stopped", 100*float64(learnedAtEnd)/float64(want), secs(feedWall))
	}
	if served := learnedAtEnd - learnedAtConv; served > 0 {
		feed += fmt.Sprintf("; after convergence %s admissions learned in %s (%.0f/s), server CPU %.1f s (%.2f s per million served), gates CPU %.1f s (%.1f µs per admission applied)",
			count(served), secs(feedWall), float64(served)/feedWall.Seconds(), serverFeed.Seconds(), serverFeed.Seconds()*1e6/float64(served), gatesFeed.Seconds(), gatesFeed.Seconds()*1e6/float64(served))
	}
	catchName := "herd: delta feed catch-up, from convergence until every gate knows 99% of the others' admissions"
	if feed99 > 0 {
		rows = append(rows, within(catchName, feed, "< 120 s", feed99.Seconds(), 120, false))
	} else {
		rows = append(rows, row{scenario: catchName, figure: feed, goal: "< 120 s", ratio: math.NaN(), mark: markFail})
	}

	for _, g := range spares {
		h.logf("herd: gate %d (%s feed) catching up %s admissions alone", g.id, g.encoding, count(total))
		m, err := catchUpFeed(ctx, s, g, total)
		if err != nil {
			return rows, err
		}
		rows = append(rows, catchUpRows(g, m, total)...)
	}
	return rows, nil
}

// gatesProcess is the herd-gates process (see runHerdGates).
type gatesProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	n      int // the last "learned" count
	fewest int // and the fewest one gate had learned
}

func startGatesProcess(ctx context.Context, h *harness, spec, logName string) (*gatesProcess, error) {
	args := []string{"herd-gates", "-spec", spec}
	if h.cpuProfile != "" {
		args = append(args, "-cpuprofile", h.cpuProfile+"."+strings.TrimSuffix(logName, ".log"))
	}
	cmd := h.command(ctx, "kido-bench", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(h.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	gp := &gatesProcess{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer logFile.Close()
		defer close(gp.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "learned "); ok {
				all, fewest, _ := strings.Cut(v, " ")
				n, _ := strconv.Atoi(all)
				f, _ := strconv.Atoi(fewest)
				gp.mu.Lock()
				gp.n, gp.fewest = n, f
				gp.mu.Unlock()
				continue
			}
			gp.lines <- line
		}
	}()
	return gp, nil
}

func (gp *gatesProcess) learned() int {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	return gp.n
}

// fewestLearned is the fewest admissions made elsewhere one gate had
// learned at the last report.
func (gp *gatesProcess) fewestLearned() int {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	return gp.fewest
}

// await waits for the line want.
func (gp *gatesProcess) await(want string, limit time.Duration) error {
	select {
	case line, ok := <-gp.lines:
		if !ok || line != want {
			return fmt.Errorf("herd gates process: %q instead of %q (see herd-gates.log)", line, want)
		}
		return nil
	case <-time.After(limit):
		return fmt.Errorf("herd gates process: no %q within %s", want, limit)
	}
}

// stop tells the process to stop and returns its summary and CPU time.
func (gp *gatesProcess) stop() (herdSummary, time.Duration, error) {
	var sum herdSummary
	gp.stdin.Close()
	var last string
	for line := range gp.lines {
		last = line
	}
	if err := gp.cmd.Wait(); err != nil {
		return sum, 0, fmt.Errorf("herd gates process: %w (see herd-gates.log)", err)
	}
	if err := json.Unmarshal([]byte(last), &sum); err != nil {
		return sum, 0, fmt.Errorf("herd gates process: summary %q: %w", last, err)
	}
	cpu := gp.cmd.ProcessState.UserTime() + gp.cmd.ProcessState.SystemTime()
	return sum, cpu, nil
}

// kill ends the process if it is still running.
func (gp *gatesProcess) kill() {
	if gp.cmd.ProcessState == nil {
		gp.cmd.Process.Kill()
		gp.cmd.Wait()
	}
}

// awaitAcked waits until the server has acknowledged every gate's
// admissions (their acked seq, from GET /v1/events/{id}/gates) and returns
// the time since start, or fails after limit.
func awaitAcked(ctx context.Context, h *harness, admin *client.Client, event uint32, gates []*herdGate, start time.Time, limit time.Duration) (time.Duration, error) {
	last := time.Now()
	for {
		sts, err := admin.GateStatuses(ctx, event, 0)
		if err != nil {
			return 0, err
		}
		herd := map[uint32]bool{}
		for _, g := range gates {
			herd[g.id] = true
		}
		short, seen := 0, 0
		for _, st := range sts {
			if !herd[st.ID] {
				continue // a spare gate, which uploads nothing
			}
			seen++
			if st.Acked < uint64(h.queued) {
				short += h.queued - int(st.Acked)
			}
		}
		if short == 0 && seen == len(gates) {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("herd: %d admissions not acknowledged after %s", short, limit)
		}
		if time.Since(last) > 5*time.Second {
			h.logf("herd: %s admissions not yet acknowledged at %.0f s", count(short), time.Since(start).Seconds())
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// herdGate is a prepared gate: enrolled, its replica holding its queued
// admissions, its sync loop not yet made.
type herdGate struct {
	*syncGate
	credential string
}

// prepareHerd issues the tickets, enrols every gate with its one-time code
// and builds each gate's replica in work, then records its share of the
// tickets as admissions with real scans (replica.Scan, fsync'd), offline.
// Gate i will sync with urlOf(i); spare gates are enrolled when spares.
//
// Each replica holds the snapshot the server gave, but only the roster
// entries of the tickets that gate scans: 200 full replicas of a
// 500,000-ticket event would take an hour to build here, and the sync
// loops never read the roster.
func prepareHerd(ctx context.Context, h *harness, s *serverProc, work string, urlOf func(int) string, spares bool) ([]*herdGate, []*spareGate, uint32, error) {
	total := h.herdGates * h.queued
	prefix := filepath.Base(work)
	t0 := time.Now()
	event, tier, err := newEvent(ctx, s.admin, "Herd bench")
	if err != nil {
		return nil, nil, 0, err
	}
	tickets, err := issueAPI(ctx, s.admin, event, tier, total)
	if err != nil {
		return nil, nil, 0, err
	}
	h.logf("%s: issued %s tickets in %.1f s", prefix, count(total), time.Since(t0).Seconds())
	anon, err := client.New(s.url, "", nil)
	if err != nil {
		return nil, nil, 0, err
	}
	gates := make([]*herdGate, h.herdGates)
	var identity string // the server's, as enrolment proved it
	for i := range gates {
		gc, err := s.admin.AddGate(ctx, event, wire.GateCreate{Name: fmt.Sprintf("Gate %03d", i+1), Direction: kido.DirectionEntry})
		if err != nil {
			return nil, nil, 0, err
		}
		resp, err := anon.Enroll(ctx, gc.Code, fmt.Sprintf("bench-%03d", i+1))
		if err != nil {
			return nil, nil, 0, err
		}
		gates[i] = &herdGate{syncGate: &syncGate{id: resp.Gate.ID}, credential: resp.Credential}
		identity = resp.Server.ID
	}
	// The snapshot is the same for every gate but for Gate.
	c, err := client.New(s.url, gates[0].credential, nil)
	if err != nil {
		return nil, nil, 0, err
	}
	if c, err = c.Pinned(client.Pin{Identity: identity, Event: event, Gate: gates[0].id}); err != nil {
		return nil, nil, 0, err
	}
	snap, err := c.Snapshot(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	bySerial := make(map[uint32]kido.RosterEntry, len(snap.Roster))
	for _, e := range snap.Roster {
		bySerial[e.Serial] = e
	}
	byID := map[uint32]kido.Gate{}
	for _, g := range snap.Gates {
		byID[g.ID] = g
	}
	h.logf("%s: %d gates enrolled, snapshot of %s tickets downloaded; building replicas and scanning", prefix, len(gates), count(len(snap.Roster)))
	// The spare gates are enrolled after the herd's snapshot and start from
	// a snapshot of their own, whose cursor is a few changes (their own
	// enrolments) past the herd's: their pages are other pages than the
	// herd's, built for them alone, as one gate catching up by itself is.
	type enrolled struct {
		encoding   string
		id         uint32
		credential string
	}
	var spareIDs []enrolled
	encodings := spareEncodings
	if !spares {
		encodings = nil
	}
	for _, enc := range encodings {
		gc, err := s.admin.AddGate(ctx, event, wire.GateCreate{Name: "Spare " + enc, Direction: kido.DirectionEntry})
		if err != nil {
			return nil, nil, 0, err
		}
		resp, err := anon.Enroll(ctx, gc.Code, "bench-spare-"+enc)
		if err != nil {
			return nil, nil, 0, err
		}
		spareIDs = append(spareIDs, enrolled{enc, resp.Gate.ID, resp.Credential})
	}
	var spareGates []*spareGate
	for _, e := range spareIDs {
		sc, err := client.New(s.url, e.credential, nil)
		if err != nil {
			return nil, spareGates, 0, err
		}
		if sc, err = sc.Pinned(client.Pin{Identity: identity, Event: event, Gate: e.id}); err != nil {
			return nil, spareGates, 0, err
		}
		own, err := sc.Snapshot(ctx)
		if err != nil {
			return nil, spareGates, 0, err
		}
		own.Roster = nil
		g, err := newSpareGate(ctx, spareDir(h, e.encoding), own, s.url, e.id, e.credential)
		if err != nil {
			return nil, spareGates, 0, err
		}
		g.encoding = e.encoding
		spareGates = append(spareGates, g)
	}
	t0 = time.Now()
	jobs := make(chan int)
	errs := make(chan error, len(gates))
	var wg sync.WaitGroup
	for range herdSetupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				mine := tickets[i*h.queued : (i+1)*h.queued]
				own := *snap
				own.Gate = byID[gates[i].id]
				own.Roster = make([]kido.RosterEntry, len(mine))
				for j, t := range mine {
					own.Roster[j] = bySerial[t.Serial]
				}
				r, err := queueAdmissions(ctx, filepath.Join(work, fmt.Sprint("gate", i+1)), &own, urlOf(i), mine)
				gates[i].r = r
				errs <- err
			}
		}()
	}
	for i := range gates {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return gates, spareGates, 0, err
		}
	}
	snap, bySerial = nil, nil
	debug.FreeOSMemory()
	h.logf("%s: %s admissions queued at %d gates in %.1f s", prefix, count(total), len(gates), time.Since(t0).Seconds())
	return gates, spareGates, event, nil
}

// queueAdmissions builds a gate's replica in dir from snap and scans every
// ticket there, as an offline gate would; each must be admitted.
func queueAdmissions(ctx context.Context, dir string, snap *wire.Snapshot, url string, tickets []wire.IssuedTicket) (*replica.Replica, error) {
	r, err := replicaFrom(ctx, dir, snap, url)
	if err != nil {
		return nil, err
	}
	for _, t := range tickets {
		d, err := r.Scan(ctx, gate.Line{Text: t.Text, Length: int64(len(t.Text))}, false)
		if err != nil {
			return r, err
		}
		if !d.Admit {
			return r, fmt.Errorf("gate %d: serial %d rejected: %s %s", snap.Gate.ID, t.Serial, d.Reason, d.Detail)
		}
	}
	return r, nil
}

// verifyHerd checks on the server that every gate's admissions are stored
// once: the report and each gate's acknowledgement. It returns how many
// admissions are stored and what is wrong, if anything.
func verifyHerd(ctx context.Context, admin *client.Client, event uint32, gates []*herdGate, queued int) (int, []string, error) {
	rep, err := admin.Report(ctx, event)
	if err != nil {
		return 0, nil, err
	}
	total := len(gates) * queued
	var problems []string
	if rep.UniqueHolders != total || rep.DoubleEntries != 0 || rep.Quarantined != 0 {
		problems = append(problems, fmt.Sprintf("report: %d admitted, %d unique holders, %d double entries, %d quarantined", rep.Admitted, rep.UniqueHolders, rep.DoubleEntries, rep.Quarantined))
	}
	sts, err := admin.GateStatuses(ctx, event, 0)
	if err != nil {
		return rep.Admitted, problems, err
	}
	acked := map[uint32]uint64{}
	for _, st := range sts {
		acked[st.ID] = st.Acked
	}
	entries := map[uint32]int{}
	for _, pg := range rep.PerGate {
		entries[pg.Gate] = pg.Entries
	}
	bad := 0
	for _, g := range gates {
		if acked[g.id] != uint64(queued) || entries[g.id] != queued {
			bad++
		}
	}
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d gates not acknowledged %d admissions each", bad, queued))
	}
	return rep.Admitted, problems, nil
}

// startHealthProbe asks GET /v1/health every 50 ms until the returned
// function is called, which gives when each answered probe was sent, its
// latency, and the failures.
func startHealthProbe(ctx context.Context, url string) func() ([]time.Time, []time.Duration, int) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var at []time.Time
	var lat []time.Duration
	failed := 0
	go func() {
		defer close(done)
		hc := &http.Client{Timeout: 10 * time.Second}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/health", nil)
			t0 := time.Now()
			resp, err := hc.Do(req)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				failed++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed++
				continue
			}
			lat = append(lat, time.Since(t0))
			at = append(at, t0)
		}
	}()
	return func() ([]time.Time, []time.Duration, int) {
		cancel()
		<-done
		return at, lat, failed
	}
}
