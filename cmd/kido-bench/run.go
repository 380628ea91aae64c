package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/buildinfo"
)

const usage = `usage: kido-bench [-quick] [-only NAME,…] [-dir DIR] [-bin DIR] [-cpuprofile FILE]

Runs kido's performance scenarios on loopback and prints one table (in
Markdown) with, per row, the figure measured, the goal, the ratio and
whether the goal was met. Progress goes to stderr, the table to stdout.

The real kido-server, kido-gate and kidoctl binaries, and kido-bench
itself (whose herd-gates subcommand runs the herd's gates in a process of
their own), are built into the work directory with the go command (run it
inside the kido module) unless -bin names a directory that holds them.
Library paths (the scan decision) are measured in this process.

The scenarios propagation-pg and herd-pg run two kido-server instances
on one database of a throwaway PostgreSQL cluster that kido-bench starts
and removes itself (durable: fsync on); they need PostgreSQL's server
programs (Debian's postgresql), and as root the cluster runs as the
postgres user.

Scenarios (for -only): %s

-quick scales every scenario down to finish in a minute or two; its time
goals are scaled with the size and marked so. The exit status is 1 when a
scenario could not run; a goal missed is a row marked FAIL, not an error.

Example:

	go run ./cmd/kido-bench -quick
	go run ./cmd/kido-bench -only scan,qr -dir /var/tmp/kb

Flags:
`

// sizes are the scale of every scenario.
type sizes struct {
	quick bool

	roster, admissions int // the scan replica
	scans              int // timed in-process scans
	gateScans          int // scans fed to the kido-gate process whose memory is measured
	enrol              int // tickets of the event a gate enrols in
	issue              int // tickets issued with their PNGs
	samples            int // cross-gate propagation samples
	herdGates, queued  int // herd: gates and admissions queued at each
	staffScans         int // wedge scans typed into the staff app in Chromium
	cameraScans        int // tickets shown to its camera
}

var (
	full  = sizes{roster: 1_000_000, admissions: 1_000_000, scans: 5000, gateScans: 5000, enrol: 100_000, issue: 100_000, samples: 200, herdGates: 200, queued: 2500, staffScans: 500, cameraScans: 100}
	quick = sizes{quick: true, roster: 20_000, admissions: 20_000, scans: 1000, gateScans: 1000, enrol: 20_000, issue: 2000, samples: 50, herdGates: 20, queued: 100, staffScans: 100, cameraScans: 20}
)

// scaled returns a time goal for a scenario of size n whose full-size goal
// is goal at size fullN: linear in the size, as every such scenario here is.
func (s sizes) scaled(goal time.Duration, n, fullN int) time.Duration {
	return time.Duration(float64(goal) * float64(n) / float64(fullN))
}

// A scenario measures one or more rows of the table.
type scenario struct {
	name string
	run  func(ctx context.Context, h *harness) ([]row, error)
}

// scenarios in the order of the table (issue 6).
var scenarios = []scenario{
	{"scan", runScan},
	{"propagation", runPropagation},
	{"propagation-pg", runPropagationPG},
	{"mesh", runMesh},
	{"enrol", runEnrol},
	{"herd", runHerd},
	{"herd-pg", runHerdPG},
	{"issue", runIssue},
	{"qr", runQR},
	{"staffapp", runStaffApp},
}

func scenarioNames() string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "herd-gates" {
		return runHerdGates(ctx, args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("kido-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, usage, scenarioNames()); fs.PrintDefaults() }
	isQuick := fs.Bool("quick", false, "scale every scenario down (about 1–2 minutes in all)")
	only := fs.String("only", "", "run only these `scenarios`, comma-separated")
	dir := fs.String("dir", "", "work `directory`, new or empty, kept afterwards (default: a temporary one, removed)")
	bin := fs.String("bin", "", "`directory` with prebuilt kido-server, kido-gate and kidoctl (default: build them)")
	showVersion := fs.Bool("version", false, "print what this binary was built from and exit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the in-process scans and gate sync loops) to `file`, and of each herd's gates process to file.herd-gates and file.herd-pg-gates")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		return buildinfo.Read().Write(stdout, "kido-bench")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q\nhint: kido-bench takes flags only; see kido-bench -h", fs.Arg(0))
	}
	todo, err := selectScenarios(*only)
	if err != nil {
		return err
	}
	sz := full
	if *isQuick {
		sz = quick
	}
	work, cleanup, err := workDir(*dir)
	if err != nil {
		return err
	}
	defer cleanup()

	h := &harness{sizes: sz, dir: work, log: stderr}
	defer h.close()
	if h.bin, err = binaries(ctx, *bin, filepath.Join(work, "bin"), h); err != nil {
		return err
	}

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
		h.cpuProfile = *cpuProfile
	}
	start := time.Now()
	var rows []row
	failed := 0
	for _, s := range todo {
		h.logf("%s: start", s.name)
		t0 := time.Now()
		rs, err := s.run(ctx, h)
		if err != nil {
			failed++
			h.logf("%s: %v", s.name, err)
			rs = append(rs, row{scenario: s.name, figure: "error: " + firstLine(err.Error()), mark: markError})
		}
		h.logf("%s: done in %.1f s", s.name, time.Since(t0).Seconds())
		rows = append(rows, rs...)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	fmt.Fprintf(stdout, "kido-bench %s — %d cores (%s), GOMAXPROCS %d, work dir %s (%s), %.0f s in all\n\n",
		modeName(sz), runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), work, fsType(work), time.Since(start).Seconds())
	printTable(stdout, rows)
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios could not run (see above)", failed, len(todo))
	}
	return nil
}

func modeName(s sizes) string {
	if s.quick {
		return "-quick (sizes and time goals scaled down)"
	}
	return "full size"
}

func selectScenarios(only string) ([]scenario, error) {
	if only == "" {
		return scenarios, nil
	}
	var out []scenario
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("no scenario %q\nhint: -only takes a comma-separated list of: %s", name, scenarioNames())
		}
		out = append(out, scenarios[i])
	}
	// Run in table order whatever the order given.
	slices.SortFunc(out, func(a, b scenario) int {
		return slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == a.name }) -
			slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == b.name })
	})
	return slices.CompactFunc(out, func(a, b scenario) bool { return a.name == b.name }), nil
}

// workDir returns the work directory and what removes it: dir itself when
// given (it must be new or empty and is kept), else a new temporary one.
func workDir(dir string) (string, func(), error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "kido-bench-")
		if err != nil {
			return "", nil, fmt.Errorf("work directory: %w", err)
		}
		return d, func() { os.RemoveAll(d) }, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	if len(entries) > 0 {
		return "", nil, fmt.Errorf("work directory %s is not empty\nhint: give a new or empty -dir; every run builds its replicas and servers afresh", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	return abs, func() {}, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// startCPUProfile profiles this process into the file named, until the
// function it returns is called.
func startCPUProfile(name string) (stop func(), err error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
