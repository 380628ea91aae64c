package main

import (
	"bufio"
	"context"
	"encoding/base64"
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
	"kido.dev/kido/ticket/qr"
)

// runStaffApp times the staff app in Chromium: a real kido-gate serve on a
// replica of the scan scenario's size, headless Chromium typing each
// ticket as a keyboard-wedge scanner does, and the page's own performance
// marks from the Enter key to the frame after the verdict was drawn; then
// tickets shown to the page's camera, from the first frame showing each to
// its verdict painted.
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
		if err := chromedp.Do(bctx, chromedp.KeyEvent(text+"\r")); err != nil {
			return nil, fmt.Errorf("staffapp: scan %d: %w", i+1, err)
		}
		if err := awaitAdmit(bctx, i+1); err != nil {
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
	p50, p99, max := percentiles(msTimes)
	h.logf("staffapp: Enter to verdict painted p50 %s, p99 %s, max %s", ms(p50), ms(p99), ms(max))
	rows := []row{within(
		fmt.Sprintf("staff app: wedge scan, Enter to verdict painted (Chromium, kido-gate serve, %s roster + %s admissions, %s scans)", count(h.roster), count(h.admissions), count(len(msTimes))),
		fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)), "p99 < 100 ms", float64(p99), float64(100*time.Millisecond), false)}

	cam, err := cameraScans(bctx, h, len(texts))
	if err != nil {
		return rows, err
	}
	p50, p99, max = percentiles(cam)
	h.logf("staffapp: camera, ticket shown to verdict painted p50 %s, p99 %s, max %s", ms(p50), ms(p99), ms(max))
	return append(rows, within(
		fmt.Sprintf("staff app: camera, first frame showing a ticket to verdict painted (Chromium, frames decoded by kido-gate serve, %s scans)", count(len(cam))),
		fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)), "p99 < 1 s", float64(p99), float64(time.Second), false)), nil
}

// cameraJS replaces the camera with a canvas the harness draws tickets on,
// and records when each ticket was first drawn: the first frame showing it.
// Each drawing is sent as a frame at once (requestFrame): a canvas outside
// the document sends none by itself in headless Chromium.
const cameraJS = `(() => {
	const c = document.createElement("canvas");
	c.width = 640; c.height = 480;
	const g = c.getContext("2d");
	const stream = c.captureStream(0);
	const track = stream.getVideoTracks()[0];
	const white = () => { g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height); };
	white();
	track.requestFrame();
	navigator.mediaDevices.getUserMedia = async () => stream;
	window.kidoCam = { shown: [], blank() { white(); track.requestFrame(); }, async show(url) {
		const img = new Image();
		img.src = url;
		await img.decode();
		white();
		g.drawImage(img, 120, 40, 400, 400);
		track.requestFrame();
		window.kidoCam.shown.push(performance.now());
	} };
	return true;
})()`

// cameraScans shows fresh tickets one at a time to the page's camera and
// returns, for each, the time from the frame that first showed it to its
// verdict painted (ms). after is the number of verdicts the page has
// painted already.
func cameraScans(ctx context.Context, h *harness, after int) ([]float64, error) {
	texts, err := bench.FreshTickets(h.roster, h.staffScans, h.cameraScans)
	if err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cameraJS)); err != nil {
		return nil, err
	}
	// Escape clears the last verdict, which covers the camera button.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\x1b"), chromedp.WaitNotVisible(chromedp.CSS("#verdict")), chromedp.Click(chromedp.CSS("#camera"))); err != nil {
		return nil, err
	}
	for i, text := range texts {
		pic, err := qr.Render(text)
		if err != nil {
			return nil, err
		}
		show := fmt.Sprintf("kidoCam.show('data:image/png;base64,%s').then(() => true)", base64.StdEncoding.EncodeToString(pic))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](show, chromedp.EvalAwaitPromise)); err != nil {
			return nil, fmt.Errorf("staffapp: camera %d: %w", i+1, err)
		}
		if err := awaitAdmit(ctx, after+i+1); err != nil {
			return nil, fmt.Errorf("staffapp: camera %d: %w", i+1, err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("kidoCam.blank(), true")); err != nil {
			return nil, err
		}
	}
	n := after + len(texts)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("window.kidoPainted.length >= %d", n))); err != nil {
		return nil, err
	}
	painted, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64]("window.kidoPainted"))
	if err != nil {
		return nil, err
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64]("kidoCam.shown"))
	if err != nil {
		return nil, err
	}
	if len(shown) != len(texts) || len(painted) != n {
		return nil, fmt.Errorf("staffapp: camera: %d tickets shown, %d verdicts painted; want %d and %d", len(shown), len(painted), len(texts), n)
	}
	out := make([]float64, len(texts))
	for i := range out {
		out[i] = painted[after+i] - shown[i]
	}
	return out, nil
}

// percentiles of durations in ms.
func percentiles(msTimes []float64) (p50, p99, max time.Duration) {
	ds := make([]time.Duration, len(msTimes))
	for i, m := range msTimes {
		ds[i] = time.Duration(m * float64(time.Millisecond))
	}
	slices.Sort(ds)
	return bench.Percentile(ds, 50), bench.Percentile(ds, 99), bench.Percentile(ds, 100)
}

// awaitAdmit waits for the page's verdict number id; it is an error if
// that verdict is not an admission, or if none comes within a minute.
func awaitAdmit(ctx context.Context, id int) error {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(`#verdict[data-id="`+strconv.Itoa(id)+`"]`))); err != nil {
		return fmt.Errorf("no verdict: %w", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("verdict").dataset.reason`))
	if err != nil {
		return err
	}
	if got != "ok" {
		return fmt.Errorf("verdict %q, want an admission", got)
	}
	return nil
}

var servingAt = regexp.MustCompile(`staff app at (http://\S+)`)

// startServe starts kido-gate serve -offline on dir at a free loopback
// port; it ends with ctx.
func startServe(ctx context.Context, h *harness, dir string) (string, error) {
	cmd := h.command(ctx, "kido-gate", "serve", "-offline", "-mesh", "off", "-data", dir, "-listen", "127.0.0.1:0")
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
