// Package doctor is the report of kido-server doctor and kido-gate doctor:
// checks run in order, each OK, WARN, FAIL or SKIP (not run because one
// it needs failed) with the exact fault and what to do, printed one line
// each or as JSON. The checks themselves belong to each binary; this
// package only keeps their output and its rules in one place.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// Status is a check's outcome.
type Status string

const (
	OK   Status = "OK"
	Warn Status = "WARN" // works, but will not for long or not everywhere
	Fail Status = "FAIL" // does not work: fix before the doors open
	Skip Status = "SKIP" // not run: a check it needs failed
)

// Result is one check's line.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`        // what was found, exactly
	Fix    string `json:"fix,omitempty"` // what to do, for WARN and FAIL
}

// Report is every check's result in the order they ran.
type Report struct {
	Results []Result `json:"checks"`
	OK      bool     `json:"ok"` // no check failed
}

// Add appends a result. Errors and their hints in detail are folded
// onto one line.
func (r *Report) Add(check string, st Status, detail, fix string) {
	r.Results = append(r.Results, Result{Check: check, Status: st, Detail: oneLine(detail), Fix: oneLine(fix)})
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// Passed reports whether check ran and did not fail, for checks that
// need it.
func (r *Report) Passed(check string) bool {
	for _, res := range r.Results {
		if res.Check == check {
			return res.Status == OK || res.Status == Warn
		}
	}
	return false
}

// Write prints the report, one line per check, or as one JSON object.
func (r *Report) Write(w io.Writer, asJSON bool) error {
	r.OK = !r.Failed()
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.Check))
	}
	var b strings.Builder
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%-4s %-*s  %s", res.Status, width, res.Check, res.Detail)
		if res.Fix != "" {
			fmt.Fprintf(&b, "; do: %s", res.Fix)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is the error a doctor returns when a check failed.
func (r *Report) Summary() error {
	n := 0
	for _, res := range r.Results {
		if res.Status == Fail {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Results))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\nhint: ", "; hint: ")
	return strings.Join(strings.Fields(s), " ")
}

// WarnFree is the free space below which the disk check warns: an event
// day's records and logs want room to spare.
const WarnFree = 1 << 30

// GateMinFree is the free space below which a gate's data directory fails
// (kido-gate doctor's disk check, kidoctl readiness): the replica's
// write-ahead log needs room to checkpoint, as the server's database does
// (sync/server.DefaultMinFree).
const GateMinFree = 64 << 20

// FreeSpace returns the bytes an unprivileged writer may still use on the
// file system of dir.
func FreeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Disk adds the check "disk": dir takes a write (write; the real one is
// WriteProbe) and has at least minFree bytes left (free; the real one is
// FreeSpace).
func (r *Report) Disk(dir string, minFree int64, write func(dir string) error, free func(dir string) (int64, error)) {
	if err := write(dir); err != nil {
		fix := "make the directory writable by this user"
		if strings.Contains(err.Error(), syscall.ENOSPC.Error()) {
			fix = "the disk is full: free space on it (old logs, backups) or move the data directory to a larger disk"
		}
		r.Add("disk", Fail, fmt.Sprintf("%s does not take a write: %v", dir, err), fix)
		return
	}
	n, err := free(dir)
	switch {
	case err != nil:
		r.Add("disk", Fail, err.Error(), "check the file system of the data directory")
	case n < minFree:
		r.Add("disk", Fail, fmt.Sprintf("%d MiB free in %s, less than the %d MiB the database needs", n>>20, dir, minFree>>20), "free space on the disk, or move the data directory to a larger one")
	case n < WarnFree:
		r.Add("disk", Warn, fmt.Sprintf("%d MiB free in %s", n>>20, dir), "free space: below 1 GiB an event day's records may not fit")
	default:
		r.Add("disk", OK, fmt.Sprintf("%s writable, %d MiB free", dir, n>>20), "")
	}
}

// WriteProbe creates, syncs and removes a small file in dir.
func WriteProbe(dir string) error {
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}
