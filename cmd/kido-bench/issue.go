package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// runIssue times a real kidoctl issue process issuing tickets from a
// roster CSV through the real server and writing one PNG per ticket and
// the manifest, exactly as a promoter runs it with -pdf=false; then a
// smaller batch with its printable PDFs, for their cost per ticket.
func runIssue(ctx context.Context, h *harness) ([]row, error) {
	s, event, _, err := h.sharedEvent(ctx, "Issuance bench")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.dir, "issue")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	roster := filepath.Join(dir, "roster.csv")
	if err := writeRoster(roster, h.issue); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out")
	cmd := h.command(ctx, "kidoctl", "issue", "-event", fmt.Sprint(event), "-roster", roster, "-out", out, "-batch", "bench-1", "-pdf=false")
	cmd.Env = append(os.Environ(), "KIDO_SERVER="+s.url, "KIDO_TOKEN="+s.token)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	cpu0 := s.cpu()
	t0 := time.Now()
	stdout, err := cmd.Output()
	took := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("kidoctl issue: %w\n%s%s", err, stdout, stderr.String())
	}
	serverCPU := s.cpu() - cpu0
	if err := checkIssued(out, h.issue); err != nil {
		return nil, err
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	detail := ""
	if ru != nil {
		detail = fmt.Sprintf("; kidoctl CPU %.1f s user + %.1f s sys, max RSS %.0f MiB; server CPU %.1f s",
			time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), float64(ru.Maxrss)/1024, serverCPU.Seconds())
	}
	h.logf("issue: %s in %.1f s%s", strings.TrimSpace(string(stdout)), took.Seconds(), detail)
	goal := h.scaled(60*time.Second, h.issue, full.issue)
	rows := []row{within(
		fmt.Sprintf("issuance of %s tickets with PNGs (kidoctl issue process)", count(h.issue)),
		secs(took)+detail, "< "+goalText(goal, h.issue != full.issue), took.Seconds(), goal.Seconds(), false)}
	pdf, err := runIssuePDF(ctx, h, s, event, dir, took/time.Duration(h.issue))
	if err != nil {
		return nil, err
	}
	return append(rows, pdf), nil
}

// runIssuePDF issues a fiftieth of the issuance batch with printable PDFs
// and reports what they add per ticket over the PNG-only run.
func runIssuePDF(ctx context.Context, h *harness, s *serverProc, event uint32, dir string, pngPer time.Duration) (row, error) {
	n := max(h.issue/50, 20)
	roster := filepath.Join(dir, "roster-pdf.csv")
	if err := writeRoster(roster, n); err != nil {
		return row{}, err
	}
	out := filepath.Join(dir, "out-pdf")
	cmd := h.command(ctx, "kidoctl", "issue", "-event", fmt.Sprint(event), "-roster", roster, "-out", out, "-batch", "bench-pdf")
	cmd.Env = append(os.Environ(), "KIDO_SERVER="+s.url, "KIDO_TOKEN="+s.token)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	stdout, err := cmd.Output()
	took := time.Since(t0)
	if err != nil {
		return row{}, fmt.Errorf("kidoctl issue with PDFs: %w\n%s%s", err, stdout, stderr.String())
	}
	if err := checkIssued(out, n); err != nil {
		return row{}, err
	}
	pdfs, err := filepath.Glob(filepath.Join(out, "e*.pdf"))
	if err != nil {
		return row{}, err
	}
	if len(pdfs) != n {
		return row{}, fmt.Errorf("%d ticket PDFs in %s, want %d", len(pdfs), out, n)
	}
	// tickets.pdf, or volumes tickets-0001.pdf … for a large batch.
	volumes, err := filepath.Glob(filepath.Join(out, "tickets*.pdf"))
	if err != nil || len(volumes) == 0 {
		return row{}, fmt.Errorf("no combined PDF in %s (%v)", out, err)
	}
	var allSize int64
	for _, v := range volumes {
		fi, err := os.Stat(v)
		if err != nil {
			return row{}, err
		}
		allSize += fi.Size()
	}
	per := took / time.Duration(n)
	cpu := ""
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		c := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		cpu = fmt.Sprintf("; kidoctl CPU %.1f ms per ticket", float64((c/time.Duration(n)).Microseconds())/1000)
	}
	h.logf("issue with PDFs: %s in %.1f s, %.1f ms per ticket; combined PDFs %d KiB in %d files", strings.TrimSpace(string(stdout)), took.Seconds(), float64(per.Microseconds())/1000, allSize/1024, len(volumes))
	return info(fmt.Sprintf("issuance of %s tickets with PNGs and printable PDFs (kidoctl issue process)", count(n)),
		fmt.Sprintf("%s: %.1f ms per ticket, of which PDFs about %.1f ms (PNG-only run: %.2f ms)%s", secs(took),
			float64(per.Microseconds())/1000, float64((per-pngPer).Microseconds())/1000, float64(pngPer.Microseconds())/1000, cpu)), nil
}

// writeRoster writes a roster CSV of n holders, Japanese names included,
// four tickets to an order.
func writeRoster(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "name,email,tier,order_ref")
	for i := range n {
		fmt.Fprintf(w, "山田 太郎 %d,fan%d@example.jp,GA,ORD-%d\n", i, i, i/4)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkIssued checks that out holds a manifest of n tickets and n images.
func checkIssued(out string, n int) error {
	f, err := os.Open(filepath.Join(out, "manifest.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if len(recs) != n+1 {
		return fmt.Errorf("manifest has %d rows, want %d and a header", len(recs)-1, n)
	}
	pngs, err := filepath.Glob(filepath.Join(out, "*.png"))
	if err != nil {
		return err
	}
	if len(pngs) != n {
		return fmt.Errorf("%d PNG files in %s, want %d", len(pngs), out, n)
	}
	return nil
}
