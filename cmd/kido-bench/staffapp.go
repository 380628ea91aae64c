package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"

	"kido.dev/kido/gate/bench"
	"kido.dev/kido/gate/gatedir"
)

// runStaffApp times the staff app in Chromium: a real kido-gate serve on a
// replica of the scan scenario's size, headless Chromium typing each
// ticket as a keyboard-wedge scanner does, and the page's own performance
// marks from the Enter key to the frame after the verdict was drawn.
func runStaffApp(ctx context.Context, h *harness) ([]row, error) {
	browser, err := findChromium()
	if err != nil {
		return nil, err
	}
	gateDir := filepath.Join(h.dir, "staffapp")
	if err := os.MkdirAll(gateDir, 0o700); err != nil {
		return nil, err
	}
	b, err := bench.BuildReplica(ctx, gatedir.Replica(gateDir), h.roster, h.admissions)
	if err != nil {
		return nil, err
	}
	h.logf("staffapp: replica of %s roster entries and %s admissions ready in %.1f s", count(b.Roster), count(b.Admissions), (b.Made + b.Applied).Seconds())
	texts, err := bench.FreshTickets(h.roster, 0, h.staffScans)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	url, err := startServe(ctx, h, gateDir)
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 800))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#sync[data-state="off"]`))); err != nil {
		return nil, fmt.Errorf("staffapp: open the page: %w", err)
	}
	for i, text := range texts {
		sel := chromedp.CSS(`#verdict[data-id="` + strconv.Itoa(i+1) + `"][data-decision="admit"]`)
		if err := chromedp.Do(bctx, chromedp.KeyEvent(text+"\r"), chromedp.WaitVisible(sel)); err != nil {
			return nil, fmt.Errorf("staffapp: scan %d: %w", i+1, err)
		}
	}
	// The last mark is taken a frame after its verdict: wait for all.
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](fmt.Sprintf("window.kidoTimings.length >= %d", len(texts)))); err != nil {
		return nil, err
	}
	msTimes, err := chromedp.Run(bctx, chromedp.Evaluate[[]float64]("window.kidoTimings"))
	if err != nil {
		return nil, err
	}
	ds := make([]time.Duration, len(msTimes))
	for i, m := range msTimes {
		ds[i] = time.Duration(m * float64(time.Millisecond))
	}
	slices.Sort(ds)
	p50, p99 := bench.Percentile(ds, 50), bench.Percentile(ds, 99)
	h.logf("staffapp: Enter to verdict painted p50 %s, p99 %s, max %s", ms(p50), ms(p99), ms(bench.Percentile(ds, 100)))
	const goal = 100 * time.Millisecond
	return []row{within(
		fmt.Sprintf("staff app: wedge scan, Enter to verdict painted (Chromium, kido-gate serve, %s roster + %s admissions, %s scans)", count(h.roster), count(h.admissions), count(len(ds))),
		fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)), "p99 < 100 ms", float64(p99), float64(goal), false)}, nil
}

var servingAt = regexp.MustCompile(`staff app at (http://\S+)`)

// startServe starts kido-gate serve -offline on dir at a free loopback
// port; it ends with ctx.
func startServe(ctx context.Context, h *harness, dir string) (string, error) {
	cmd := h.command(ctx, "kido-gate", "serve", "-offline", "-data", dir, "-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start kido-gate serve: %w", err)
	}
	go func() { <-ctx.Done(); cmd.Wait() }()
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := servingAt.FindStringSubmatch(lines.Text()); m != nil {
			go func() {
				for lines.Scan() {
				}
			}()
			return m[1], nil
		}
	}
	return "", fmt.Errorf("kido-gate serve ended before it listened: %s", stderr.String())
}

// findChromium returns the path of the browser the staff app is timed in.
func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found\nhint: install it (Debian: apt-get install chromium), or leave the staffapp scenario out with -only")
}
