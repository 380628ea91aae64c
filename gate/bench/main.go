// Command bench measures the gate's scan decision against its irreducible
// parts, on a replica of realistic size, and prints a table (see
// docs/benchmarks.md):
//
//	go run ./gate/bench                 # 1,000,000 tickets + 1,000,000 admissions
//	go run ./gate/bench -roster 100000 -admissions 100000 -n 2000
//
// A scan is everything kido-gate does for one ticket: normalise, parse,
// verify the signature, read the roster row and passages, decide, write
// the admission and the audit row, and commit with synchronous=FULL. Its
// irreducible parts, measured in the same run on the same disk and
// interleaved with the scans, are one ed25519.Verify and one fsync'd SQLite
// commit of a one-row insert. The replica is built by a child process so
// that the resident memory reported is the scanning gate's alone.
package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	dir := fs.String("dir", "", "`directory` for the replica (default: a new temporary one, removed after)")
	roster := fs.Int("roster", 1_000_000, "tickets in the roster")
	admissions := fs.Int("admissions", 1_000_000, "admissions at other gates already in the replica")
	n := fs.Int("n", 5000, "scans to measure")
	build := fs.Bool("build", false, "only build the replica in -dir (used by the child process)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *build {
		return buildReplica(*dir, *roster, *admissions, stdout)
	}
	if *n > *roster/2 {
		return fmt.Errorf("-n %d needs a roster of at least %d", *n, 2**n)
	}
	if *dir == "" {
		d, err := os.MkdirTemp(".", "gatebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	path := filepath.Join(*dir, "replica.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "-build", "-dir", *dir, "-roster", fmt.Sprint(*roster), "-admissions", fmt.Sprint(*admissions))
		cmd.Stdout, cmd.Stderr = stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build replica: %w", err)
		}
	}
	return measure(*dir, *roster, *n, stdout)
}

// buildReplica writes a replica of the fabricated event in one
// transaction, as kido-gate enroll does.
func buildReplica(dir string, roster, admissions int, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	start := time.Now()
	f := gatetest.New(roster, gatetest.GateBoth, time.Now())
	f.Snapshot.Admissions = gatetest.Admissions(admissions, time.Now().Add(-time.Minute))
	made := time.Since(start)
	r, err := replica.Create(filepath.Join(dir, "replica.db"), replica.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	start = time.Now()
	if err := r.Apply(context.Background(), &f.Snapshot, ""); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built replica: %d roster entries, %d admissions: snapshot made in %.1f s, applied in %.1f s\n",
		roster, admissions, made.Seconds(), time.Since(start).Seconds())
	return nil
}

func measure(dir string, roster, n int, stdout io.Writer) error {
	ctx := context.Background()
	f := gatetest.New(0, gatetest.GateBoth, time.Now()) // the same keys as the built replica
	r, err := replica.Open(filepath.Join(dir, "replica.db"), replica.Options{})
	if err != nil {
		return err
	}
	defer r.Close()

	// Fresh single-entry tickets spread over the roster: every scan admits,
	// so every scan pays the full path including the durable write.
	var texts []string
	for s := uint32(roster); len(texts) < n; s-- {
		if gatetest.TierOf(s) == gatetest.TierGA && s != gatetest.RevokedSerial {
			texts = append(texts, f.Ticket(s))
		}
	}
	pub := f.Key.Public().Bytes()
	msg := []byte("kido bench message")
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(f.Key.Seed()), msg)

	base, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "baseline.db")+"?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return err
	}
	defer base.Close()
	base.SetMaxOpenConns(1)
	if _, err := base.Exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		return err
	}
	ins, err := base.Prepare("INSERT INTO t (v) VALUES (?)")
	if err != nil {
		return err
	}
	defer ins.Close()

	scans := make([]time.Duration, n)
	verifies := make([]time.Duration, n)
	commits := make([]time.Duration, n)
	sums := make([]time.Duration, n)
	for i, text := range texts {
		t0 := time.Now()
		d, err := r.Scan(ctx, gate.Line{Text: text, Length: int64(len(text))}, false)
		scans[i] = time.Since(t0)
		if err != nil || !d.Admit {
			return fmt.Errorf("scan %d: %v %s %s", i, err, d.Reason, d.Detail)
		}

		t0 = time.Now()
		ok := ed25519.Verify(pub, msg, sig)
		verifies[i] = time.Since(t0)
		if !ok {
			return errors.New("baseline signature does not verify")
		}

		t0 = time.Now()
		tx, err := base.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Stmt(ins).Exec(text[:40]); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		commits[i] = time.Since(t0)
		sums[i] = verifies[i] + commits[i]
	}

	hwm, rss := procStatus("VmHWM"), procStatus("VmRSS")
	row := func(name string, d []time.Duration) {
		s := slices.Clone(d)
		slices.Sort(s)
		fmt.Fprintf(stdout, "%-34s %9s %9s %9s\n", name, us(pct(s, 50)), us(pct(s, 99)), us(s[len(s)-1]))
	}
	fmt.Fprintf(stdout, "\n%d scans, replica of %d roster entries (%s)\n\n", n, roster, dir)
	fmt.Fprintf(stdout, "%-34s %9s %9s %9s\n", "", "p50", "p99", "max")
	row("scan (decide + durable record)", scans)
	row("ed25519.Verify", verifies)
	row("fsync'd commit, one-row insert", commits)
	row("irreducible (verify + commit)", sums)
	s, b := slices.Clone(scans), slices.Clone(sums)
	slices.Sort(s)
	slices.Sort(b)
	fmt.Fprintf(stdout, "\nscan / irreducible: p50 %.2f×, p99 %.2f× (goal p99 ≤ 1.50×)\n",
		float64(pct(s, 50))/float64(pct(b, 50)), float64(pct(s, 99))/float64(pct(b, 99)))
	fmt.Fprintf(stdout, "gate resident memory: peak %s, now %s (goal < 64 MiB)\n", hwm, rss)
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

// procStatus returns a field of /proc/self/status, e.g. "VmHWM".
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
