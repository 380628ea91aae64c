package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/gatedir"
)

// runScan builds the big replica, times scans against their irreducible
// parts in this process (the library path kido-gate scan runs), then feeds
// other fresh tickets to a real kido-gate scan process on the same replica
// and reads its peak resident memory.
func runScan(ctx context.Context, h *harness) ([]row, error) {
	gateDir := filepath.Join(h.dir, "gate")
	if err := os.MkdirAll(gateDir, 0o700); err != nil {
		return nil, err
	}
	path := gatedir.Replica(gateDir)
	b, err := bench.BuildReplica(ctx, path, h.roster, h.admissions)
	if err != nil {
		return nil, err
	}
	h.logf("scan: replica of %s roster entries and %s admissions: made in %.1f s, applied in %.1f s",
		count(b.Roster), count(b.Admissions), b.Made.Seconds(), b.Applied.Seconds())
	debug.FreeOSMemory() // the snapshot is garbage now; keep it from weighing on the timings

	texts, err := bench.FreshTickets(h.roster, 0, h.scans)
	if err != nil {
		return nil, err
	}
	s, err := bench.MeasureScans(ctx, path, texts)
	if err != nil {
		return nil, err
	}
	p := bench.Percentile
	h.logf("scan: p50/p99/max scan %s/%s/%s, verify %s/%s/%s, commit %s/%s/%s",
		us(p(s.Scan, 50)), us(p(s.Scan, 99)), us(p(s.Scan, 100)),
		us(p(s.Verify, 50)), us(p(s.Verify, 99)), us(p(s.Verify, 100)),
		us(p(s.Commit, 50)), us(p(s.Commit, 99)), us(p(s.Commit, 100)))
	scan99, irr99 := p(s.Scan, 99), p(s.Irreducible, 99)
	scanRow := within(
		fmt.Sprintf("scan decision, %s roster + %s admissions (replica.Scan in-process, %s scans)", count(h.roster), count(h.admissions), count(h.scans)),
		fmt.Sprintf("scan p50 %s, p99 %s; verify+commit p50 %s, p99 %s; p50 ratio %.2f×",
			us(p(s.Scan, 50)), us(scan99), us(p(s.Irreducible, 50)), us(irr99), float64(p(s.Scan, 50))/float64(p(s.Irreducible, 50))),
		"p99 ≤ 1.5× verify+commit p99",
		float64(scan99)/float64(irr99), 1.5, true)
	scanRow.ratio = float64(scan99) / float64(irr99) // the scenario's own ratio, not ratio/1.5

	rss, err := gateRSS(ctx, h, gateDir)
	if err != nil {
		return []row{scanRow}, err
	}
	const goal = 64 << 10 // kB
	rssRow := within(
		fmt.Sprintf("gate RSS with that replica (kido-gate scan process, %s scans)", count(h.gateScans)),
		fmt.Sprintf("peak %.1f MiB", float64(rss)/1024), "< 64 MiB", float64(rss), goal, false)
	return []row{scanRow, rssRow}, nil
}

// gateRSS feeds fresh tickets to kido-gate scan -json - on the replica in
// dir, one at a time, checks each is admitted, and returns the process's
// peak resident set (VmHWM, kB) read before it exits.
func gateRSS(ctx context.Context, h *harness, dir string) (int64, error) {
	texts, err := bench.FreshTickets(h.roster, h.scans, h.gateScans)
	if err != nil {
		return 0, err
	}
	cmd := h.command(ctx, "kido-gate", "scan", "-data", dir, "-json", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start kido-gate: %w", err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewScanner(stdout)
	for i, t := range texts {
		if _, err := fmt.Fprintln(stdin, t); err != nil {
			return 0, fmt.Errorf("kido-gate scan: write: %w (%s)", err, stderr.String())
		}
		if !out.Scan() {
			return 0, fmt.Errorf("kido-gate scan stopped after %d scans: %v %s", i, out.Err(), stderr.String())
		}
		var d struct{ Decision, Reason string }
		if err := json.Unmarshal(out.Bytes(), &d); err != nil || d.Decision != "admit" {
			return 0, fmt.Errorf("kido-gate scan %d: %s %v", i, out.Text(), err)
		}
	}
	hwm, err := procStatusKB(cmd.Process.Pid, "VmHWM")
	if err != nil {
		return 0, err
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("kido-gate scan: %w %s", err, stderr.String())
	}
	return hwm, nil
}

// limitedBuffer keeps the first 4 KiB written to it: enough of a child's
// stderr to explain a failure.
type limitedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
