package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"syscall"
	"time"
)

// A mark says how a row's figure compares with its goal.
type mark string

const (
	markPass  mark = "pass"
	markFail  mark = "FAIL"
	markInfo  mark = "info"  // a figure reported beside a goal, with no goal of its own
	markError mark = "ERROR" // the scenario failed to run
)

// A row of the table.
type row struct {
	scenario string
	figure   string
	goal     string
	ratio    float64 // figure / goal, or the scenario's own ratio; NaN for none
	mark     mark
}

// within returns the row of a figure with an upper bound: ratio is
// figure/bound, and it passes when figure < bound (or ≤ with orEqual).
func within(scenario, figure, goal string, got, bound float64, orEqual bool) row {
	r := row{scenario: scenario, figure: figure, goal: goal, ratio: got / bound, mark: markFail}
	if got < bound || (orEqual && got == bound) {
		r.mark = markPass
	}
	return r
}

func info(scenario, figure string) row {
	return row{scenario: scenario, figure: figure, goal: "—", ratio: math.NaN(), mark: markInfo}
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| scenario | figure | goal | ratio | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		ratio := "—"
		if !math.IsNaN(r.ratio) && r.mark != markError {
			ratio = fmt.Sprintf("%.2f×", r.ratio)
		}
		goal := r.goal
		if goal == "" {
			goal = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(r.scenario), cell(r.figure), cell(goal), ratio, r.mark)
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "/") }

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f ms", float64(d)/1e6)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// count formats n with thousands separators: 100,000.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown cpu"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown cpu"
}

// fsType names the file system of dir for the few that matter here: on
// tmpfs an fsync costs nothing, so durable-commit figures mean little.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown file system"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs: fsync is free here, use -dir on a disk"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	}
	return fmt.Sprintf("file system 0x%x", st.Type)
}
