package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"kido.dev/kido"
	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// Paths of the binaries TestMain builds.
var serverBin, gateBin, ctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kido-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "kido-server")
	gateBin = filepath.Join(dir, "kido-gate")
	ctlBin = filepath.Join(dir, "kidoctl")
	// Under go test -race the server and the gate, the subjects of these
	// tests, are built with -race too, and each test fails on a race
	// report in their output (see createLog). kidoctl stays plain: under
	// the detector it takes six times as long to render the tickets.
	race := raceBuild()
	if race {
		// The detector's default 1 s pause at exit would slow every command.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	for _, b := range []struct {
		pkg  string
		race bool
	}{{"kido-server", race}, {"kido-gate", race}, {"kidoctl", false}} {
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		if b.race {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, "kido.dev/kido/cmd/"+b.pkg)...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: build %s: %v\n%s", b.pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := pgtest.Run(m) // a PostgreSQL cluster for the scale-out tests
	os.RemoveAll(dir)
	os.Exit(code)
}

// raceBuild reports whether this test binary was built with -race.
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// proc is one process a test started. Its output goes to a log file.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser // nil unless asked for
	done  chan struct{}  // closed once the process has ended
	err   error          // its exit status, set before done closes
}

// startProc starts bin with args, appending its stdout and stderr to log.
// The process is killed when the test ends if it is still running.
func startProc(t *testing.T, log *os.File, withStdin bool, bin string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if withStdin {
		w, err := p.cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		p.stdin = w
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p, nil
}

// kill ends the process with SIGKILL and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// interrupt asks the process to stop as Ctrl-C would, and kills it if it
// has not within limit. It reports whether it stopped by itself.
func (p *proc) interrupt(limit time.Duration) bool {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		p.kill()
		return false
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// raceReport starts a data race report of a binary built with -race.
const raceReport = "WARNING: DATA RACE"

// createLog opens (appending) a log file in dir, closed when the test ends.
// A race report in it fails the test; if the test fails, the log's tail
// (or its first race report) is printed.
func createLog(t *testing.T, dir, name string) *os.File {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before any process using the file, so it runs after
	// their cleanups have killed them.
	t.Cleanup(func() {
		f.Close()
		b, _ := os.ReadFile(path)
		if i := bytes.Index(b, []byte(raceReport)); i >= 0 {
			t.Errorf("%s holds a data race report", name)
			b = b[i:]
		} else if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		if t.Failed() {
			if len(b) > 4000 {
				b = b[:4000]
			}
			t.Logf("%s:\n%s", name, b)
		}
	})
	return f
}

// server is a kido-server process and its data directory; restarts keep
// the address of the first start.
type server struct {
	t     *testing.T
	dir   string // data directory
	log   *os.File
	addr  string // host:port
	url   string
	token string
	p     *proc
	args  []string // flags beyond -data, -listen and -addr-file
}

// startServer starts kido-server with args on a free loopback port with
// a new data directory. An instance of a database another made has no
// admin token file; its token is left for the test to set.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	base := t.TempDir()
	s := &server{t: t, dir: filepath.Join(base, "server"), log: createLog(t, base, "server.log"), args: args}
	s.start("127.0.0.1:0")
	tok, err := os.ReadFile(filepath.Join(s.dir, "admin.token"))
	if errors.Is(err, fs.ErrNotExist) && len(args) > 0 {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

// start launches the server on listen and waits until it listens. A
// restart on the previous address retries while the port is not free yet.
func (s *server) start(listen string) {
	s.t.Helper()
	addrFile := filepath.Join(filepath.Dir(s.dir), "server.addr")
	deadline := time.Now().Add(20 * time.Second)
	for attempt := 0; ; attempt++ {
		os.Remove(addrFile)
		p, err := startProc(s.t, s.log, false, serverBin, append([]string{"-data", s.dir, "-listen", listen, "-addr-file", addrFile}, s.args...)...)
		if err != nil {
			s.t.Fatal(err)
		}
		for {
			b, err := os.ReadFile(addrFile)
			if err == nil && bytes.HasSuffix(b, []byte("\n")) {
				s.p, s.url = p, strings.TrimSpace(string(b))
				s.addr = strings.TrimPrefix(s.url, "http://")
				return
			}
			if p.exited() || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		p.kill()
		if time.Now().After(deadline) || attempt >= 50 {
			s.t.Fatalf("kido-server did not start on %s after %d attempts: %v", listen, attempt+1, p.err)
		}
		time.Sleep(100 * time.Millisecond) // the port may still be held
	}
}

// kill ends the server with SIGKILL: no shutdown, no last heartbeat write.
func (s *server) kill() { s.p.kill() }

// restart starts the server again on the same data and address.
func (s *server) restart() {
	s.t.Helper()
	s.start(s.addr)
}

// admin returns an API client with the admin token.
func (s *server) admin() *client.Client {
	c, err := client.New(s.url, s.token, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// ctl runs kidoctl against the server and returns its stdout.
func (s *server) ctl(args ...string) []byte {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	cmd.Env = append(os.Environ(), "KIDO_SERVER="+s.url, "KIDO_TOKEN="+s.token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("kidoctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// ctlJSON runs kidoctl with -json and decodes its output strictly into v.
func (s *server) ctlJSON(v any, args ...string) {
	s.t.Helper()
	out := s.ctl(append(args, "-json")...)
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.t.Fatalf("kidoctl %s -json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// event is an event with one single-entry tier and its issued tickets.
type event struct {
	srv     *server
	id      uint32
	tier    uint8
	tickets []string // tickets[serial-1] is the text of the QR code
}

// newEvent creates an event running now with n single-entry tickets.
func newEvent(t *testing.T, srv *server, n int) *event {
	t.Helper()
	now := time.Now().UTC()
	var ev kido.Event
	srv.ctlJSON(&ev, "event", "create", "-name", "E2E", "-venue", "Loopback",
		"-start", now.Add(-time.Hour).Format(time.RFC3339), "-end", now.Add(6*time.Hour).Format(time.RFC3339))
	id := strconv.FormatUint(uint64(ev.ID), 10)
	var tier kido.Tier
	srv.ctlJSON(&tier, "tier", "add", "-event", id, "-name", "GA", "-entries", "1")
	out := filepath.Join(t.TempDir(), "tickets")
	// Thousands of tickets: the PDFs (kidoctl's own tests cover them) would
	// cost minutes of CPU here and test nothing of sync.
	srv.ctl("issue", "-event", id, "-tier", "GA", "-count", strconv.Itoa(n), "-out", out, "-pdf=false")
	f, err := os.Open(filepath.Join(out, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+1 || strings.Join(rows[0], ",") != "serial,holder,tier,order_ref,text,image" {
		t.Fatalf("manifest: %d rows, header %v; want %d tickets", len(rows), rows[0], n)
	}
	e := &event{srv: srv, id: ev.ID, tier: tier.ID, tickets: make([]string, n)}
	for _, r := range rows[1:] {
		serial, err := strconv.Atoi(r[0])
		if err != nil || serial < 1 || serial > n || e.tickets[serial-1] != "" {
			t.Fatalf("manifest row %v: serials must be 1..%d, each once", r, n)
		}
		e.tickets[serial-1] = r[4]
	}
	return e
}

// gateDir is an enrolled gate: its data directory and identity.
type gateDir struct {
	name string
	dir  string
	id   uint32
	log  *os.File
}

// enroll adds a gate to the event and enrols a kido-gate data directory
// with it through serverURL (the server, or a proxy in front of it).
func (e *event) enroll(t *testing.T, name, serverURL string) *gateDir {
	t.Helper()
	var added struct {
		kido.Gate
		Code        string    `json:"code"`
		Expires     time.Time `json:"expires"`
		Fingerprint string    `json:"fingerprint"`
	}
	e.srv.ctlJSON(&added, "gate", "add", "-event", strconv.FormatUint(uint64(e.id), 10), "-name", name)
	base := t.TempDir()
	g := &gateDir{name: name, dir: filepath.Join(base, "gate"), id: added.ID, log: createLog(t, base, "gate.log")}
	if out, err := gateRun(g.dir, nil, "enroll", "-server", serverURL, "-code", added.Code, "-device", name); err != nil {
		t.Fatalf("enroll %s: %v\n%s", name, err, out)
	}
	return g
}

// gateRun runs one kido-gate command on the gate in dir to its end.
func gateRun(dir string, stdin io.Reader, cmd string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, gateBin, append([]string{cmd, "-data", dir}, args...)...)
	c.Stdin = stdin
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// scanned is one line of kido-gate scan -json.
type scanned struct {
	Decision      string    `json:"decision"`
	Reason        string    `json:"reason"`
	Serial        uint32    `json:"serial"`
	Seq           uint64    `json:"seq"`
	At            time.Time `json:"at"`
	FirstAt       time.Time `json:"first_at"`
	FirstGate     uint32    `json:"first_gate"`
	FirstGateName string    `json:"first_gate_name"`
}

// scanAll scans the tickets of serials at the gate with kido-gate scan -
// (no network involved) and returns what it printed.
func (e *event) scanAll(g *gateDir, serials []uint32) ([]scanned, error) {
	var in strings.Builder
	for _, s := range serials {
		in.WriteString(e.tickets[s-1] + "\r\n")
	}
	out, err := gateRun(g.dir, strings.NewReader(in.String()), "scan", "-json", "-")
	var res []scanned
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var s scanned
		if json.Unmarshal(line, &s) == nil {
			res = append(res, s)
		}
	}
	if err != nil {
		return res, fmt.Errorf("scan at %s: %w\n%s", g.name, err, out)
	}
	return res, nil
}

// queue has each gate admit its share of serials offline, all gates at
// once, and checks that every ticket was admitted under seq 1, 2, … in
// the order given.
func (e *event) queue(t *testing.T, gates []*gateDir, shares [][]uint32) {
	t.Helper()
	errs := make([]error, len(gates))
	var wg sync.WaitGroup
	for i, g := range gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.scanAll(g, shares[i])
			if err == nil && len(res) != len(shares[i]) {
				err = fmt.Errorf("scan at %s printed %d decisions for %d tickets", g.name, len(res), len(shares[i]))
			}
			for j := 0; err == nil && j < len(res); j++ {
				if r := res[j]; r.Decision != "admit" || r.Serial != shares[i][j] || r.Seq != uint64(j+1) {
					err = fmt.Errorf("scan %d at %s: %+v, want admit of serial %d as seq %d", j, g.name, r, shares[i][j], j+1)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// split deals serials first..first+n*k-1 out to k gates, n each, in order.
func split(first uint32, k, n int) [][]uint32 {
	shares := make([][]uint32, k)
	for i := range shares {
		for j := 0; j < n; j++ {
			shares[i] = append(shares[i], first+uint32(i*n+j))
		}
	}
	return shares
}

// gateStatus is the part of kido-gate status -json the tests read.
type gateStatus struct {
	Gate          uint32 `json:"gate"`
	Passages      int    `json:"passages"`
	Here          int    `json:"here"`
	Pending       int    `json:"pending"`
	PendingAudits int    `json:"pending_audits"`
	Acked         uint64 `json:"acked"`
	Conflicting   int    `json:"conflicting"`
	SyncState     string `json:"sync_state"`
	SyncError     string `json:"sync_error"`
	Refused       string `json:"refused"`
	Conflict      string `json:"conflict"`
}

func (g *gateDir) status() (gateStatus, error) {
	var st gateStatus
	out, err := gateRun(g.dir, nil, "status", "-json")
	if err != nil {
		return st, fmt.Errorf("status of %s: %w\n%s", g.name, err, out)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("status -json of %s: %w\n%s", g.name, err, out)
	}
	return st, nil
}

// startRun starts kido-gate run on the gate (background sync on, the venue
// mesh off: these gates learn of each other only through the server); its
// stdin is the scanner.
func (g *gateDir) startRun(t *testing.T) *proc {
	t.Helper()
	p, err := startProc(t, g.log, true, gateBin, "run", "-data", g.dir, "-plain", "-mesh", "off")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stopRun stops a kido-gate run as staff would, with Ctrl-C; it must end
// by itself, cleanly.
func stopRun(t *testing.T, g *gateDir, p *proc) {
	t.Helper()
	if !p.interrupt(15 * time.Second) {
		t.Errorf("kido-gate run at %s did not stop within 15 s of Ctrl-C", g.name)
	} else if p.err != nil {
		t.Errorf("kido-gate run at %s ended with %v", g.name, p.err)
	}
}

// waitConverged polls the gates' status until every gate has its own
// records acknowledged and holds total admissions, for at most limit.
func waitConverged(t *testing.T, gates []*gateDir, total int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last []gateStatus
	for {
		last = last[:0]
		done := true
		for _, g := range gates {
			st, err := g.status()
			if err != nil {
				t.Fatal(err)
			}
			last = append(last, st)
			done = done && st.Pending == 0 && st.PendingAudits == 0 && st.Passages == total && st.Acked == uint64(st.Here)
		}
		if done {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("gates did not converge on %d admissions within %v: %+v", total, limit, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// record is an admission as a replica holds it (docs/replica.md).
type record struct {
	Gate      uint32
	Seq       uint64
	Serial    uint32
	Kind      string
	At        int64 // Unix nanoseconds
	Corrected int64
	Hash      string
}

// readReplica reads the admissions a gate's replica holds, read-only, and
// how many server records it keeps beside its own. No process may have
// the replica open.
func readReplica(t *testing.T, g *gateDir) (map[[2]uint64]record, int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+gatedir.Replica(g.dir)+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT gate, seq, serial, kind, at, corrected, hash FROM admissions")
	if err != nil {
		t.Fatalf("read replica of %s: %v", g.name, err)
	}
	defer rows.Close()
	recs := map[[2]uint64]record{}
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.Gate, &r.Seq, &r.Serial, &r.Kind, &r.At, &r.Corrected, &r.Hash); err != nil {
			t.Fatal(err)
		}
		recs[[2]uint64{uint64(r.Gate), r.Seq}] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var conflicting int
	if err := db.QueryRow("SELECT count(*) FROM conflicting_admissions").Scan(&conflicting); err != nil {
		t.Fatal(err)
	}
	// Other gates' admissions from compact pages are in the replica's
	// learnt pages, which only the replica reads.
	r, err := replica.Open(gatedir.Replica(g.dir), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	learnt, err := r.Learnt(context.Background())
	if err != nil {
		t.Fatalf("read replica of %s: %v", g.name, err)
	}
	for _, a := range learnt {
		recs[[2]uint64{uint64(a.Gate), a.Seq}] = record{Gate: a.Gate, Seq: a.Seq, Serial: a.Serial, Kind: a.Kind, Corrected: a.Corrected.UnixNano(), Hash: a.Hash}
	}
	return recs, conflicting
}

// checkExact asserts the converged state exactly, with every gate process
// stopped: gates[i] admitted shares[i] (in seq order) and nothing else was
// admitted anywhere. The server reports each admission once and nothing
// quarantined, conflicting or rejected; a gate enrolled now downloads
// exactly these admissions; every gate's replica holds exactly them.
func (e *event) checkExact(t *testing.T, gates []*gateDir, shares [][]uint32) {
	t.Helper()
	total := 0
	for _, s := range shares {
		total += len(s)
	}
	id := strconv.FormatUint(uint64(e.id), 10)

	var rep wire.Report
	e.srv.ctlJSON(&rep, "report", "-event", id)
	if rep.Admitted != total || rep.UniqueHolders != total || rep.Exits != 0 || rep.DoubleEntries != 0 || rep.Rejected != 0 || rep.Quarantined != 0 {
		t.Errorf("report: admitted %d, unique %d, exits %d, double entries %d, rejected %d, quarantined %d; want %d, %d, 0, 0, 0, 0",
			rep.Admitted, rep.UniqueHolders, rep.Exits, rep.DoubleEntries, rep.Rejected, rep.Quarantined, total, total)
	}
	perGate := map[uint32]wire.GateCount{}
	for _, c := range rep.PerGate {
		perGate[c.Gate] = c
	}
	for i, g := range gates {
		want := wire.GateCount{Gate: g.id, Name: g.name, Entries: len(shares[i])}
		if got := perGate[g.id]; got != want {
			t.Errorf("report for gate %s: %+v, want %+v", g.name, got, want)
		}
	}
	if len(rep.PerTier) != 1 || rep.PerTier[0] != (wire.TierCount{Tier: e.tier, Name: "GA", Issued: len(e.tickets), Admitted: total, UniqueHolders: total, Inside: total}) {
		t.Errorf("report per tier: %+v, want one tier GA with %d issued, %d admitted", rep.PerTier, len(e.tickets), total)
	}

	var conflicts []wire.Conflict
	e.srv.ctlJSON(&conflicts, "conflicts", "-event", id)
	if len(conflicts) != 0 {
		t.Errorf("conflicts: %+v, want none", conflicts)
	}

	var statuses []wire.GateStatus
	e.srv.ctlJSON(&statuses, "gates", "-event", id)
	byID := map[uint32]wire.GateStatus{}
	for _, s := range statuses {
		byID[s.ID] = s
	}
	for i, g := range gates {
		s := byID[g.id]
		if s.Acked != uint64(len(shares[i])) || s.AuditAcked != 0 || s.Quarantined != 0 || s.Refused != 0 {
			t.Errorf("server's state of gate %s: acked %d, audit acked %d, quarantined %d, refused %d; want %d, 0, 0, 0",
				g.name, s.Acked, s.AuditAcked, s.Quarantined, s.Refused, len(shares[i]))
		}
	}

	// What every gate made, by key.
	want := map[[2]uint64]uint32{}
	for i, g := range gates {
		for j, serial := range shares[i] {
			want[[2]uint64{uint64(g.id), uint64(j + 1)}] = serial
		}
	}
	// The server's own view, through the protocol: a new gate's snapshot.
	auditor := e.enroll(t, "auditor", e.srv.url)
	held, _ := readReplica(t, auditor)
	compare(t, "the server (snapshot of a new gate)", held, want)

	for _, g := range gates {
		got, conflicting := readReplica(t, g)
		compare(t, "gate "+g.name, got, want)
		if conflicting != 0 {
			t.Errorf("gate %s keeps %d conflicting admissions, want 0", g.name, conflicting)
		}
		// Records learned from the compact feed carry a check, the first
		// 16 hex digits of the hash (docs/sync-protocol.md §4.5).
		for k, r := range got {
			if a, ok := held[k]; ok && (!wire.SameRecord(a.Hash, r.Hash) || a.Corrected != r.Corrected) {
				t.Errorf("gate %s holds admission %v with hash %s, the server %s", g.name, k, r.Hash, a.Hash)
			}
		}
	}
}

// compare asserts that recs holds exactly the admissions of want (key →
// serial), each an entry.
func compare(t *testing.T, where string, recs map[[2]uint64]record, want map[[2]uint64]uint32) {
	t.Helper()
	var missing, wrong []string
	for k, serial := range want {
		r, ok := recs[k]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprint(k))
		case r.Serial != serial || r.Kind != kido.KindEntry:
			wrong = append(wrong, fmt.Sprintf("%v: serial %d %s, want %d entry", k, r.Serial, r.Kind, serial))
		}
	}
	var extra []string
	for k := range recs {
		if _, ok := want[k]; !ok {
			extra = append(extra, fmt.Sprint(k))
		}
	}
	if len(missing)+len(wrong)+len(extra) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Errorf("%s holds %d admissions, want %d: %d missing %s, %d extra %s, %d wrong %s", where, len(recs), len(want),
		len(missing), head(missing), len(extra), head(extra), len(wrong), head(wrong))
}

func head(s []string) string {
	if len(s) > 5 {
		s = append(s[:5:5], "…")
	}
	return "[" + strings.Join(s, " ") + "]"
}

// admitted returns how many admissions the server reports, or -1 while it
// cannot be asked (it may be down).
func admitted(c *client.Client, event uint32) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rep, err := c.Report(ctx, event)
	if err != nil {
		return -1
	}
	return rep.Admitted
}

// waitAdmitted polls the server's report until it counts at least n
// admissions, for at most limit.
func waitAdmitted(t *testing.T, c *client.Client, event uint32, n int, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := admitted(c, event)
		if got >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server stored %d admissions, not %d, within %v", got, n, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killMarks returns k distinct admission counts in [1, limit], ascending
// and random: the server's progress at which a test kills something.
func killMarks(k, limit int) []int {
	seen := map[int]bool{}
	var marks []int
	for len(marks) < k {
		m := 1 + rand.IntN(limit)
		if !seen[m] {
			seen[m] = true
			marks = append(marks, m)
		}
	}
	sort.Ints(marks)
	return marks
}
