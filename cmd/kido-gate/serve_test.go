package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// These tests drive the staff app in a real browser: headless Chromium
// through the DevTools protocol, against the real kido-gate serve process
// and a real server on loopback. .ci/run installs Chromium.

// chromiumPath is the browser the tests drive.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
	return ""
}

// serving is a kido-gate serve process.
type serving struct {
	url string
	cmd *exec.Cmd
}

var servingURL = regexp.MustCompile(`staff app at (http://\S+)`)

// serve starts kido-gate serve on dir at a free loopback port and returns
// once it listens; the test's end stops it.
func serve(t *testing.T, dir string, args ...string) *serving {
	t.Helper()
	bin, err := exec.LookPath("kido-gate")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "-data", dir, "-listen", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := servingURL.FindStringSubmatch(lines.Text()); m != nil {
			go func() {
				for lines.Scan() {
				}
			}()
			return &serving{url: m[1], cmd: cmd}
		}
	}
	t.Fatalf("kido-gate serve ended before it listened: %v", lines.Err())
	return nil
}

// browser starts headless Chromium with flags added to the defaults, and
// returns a context whose actions drive its one tab.
func browser(t *testing.T, lang string, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox
		chromedp.Flag("headless", "new"),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		chromedp.WindowSize(1280, 800),
	)
	opts = append(opts, flags...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// Bounds the whole test: every wait below is on a page condition.
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitFor waits until the CSS selector matches a visible element.
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// verdict is what the page shows for one scan.
type verdict struct {
	Decision, Reason, Word, ReasonText, Next, Holder, Tier string
}

// scanKeys types text and Enter as a keyboard-wedge scanner does, into
// whatever has focus, and reads the verdict numbered id off the page.
func scanKeys(t *testing.T, ctx context.Context, text string, id int) verdict {
	t.Helper()
	do(t, ctx, chromedp.KeyEvent(text+"\r"))
	return readVerdict(t, ctx, id)
}

func readVerdict(t *testing.T, ctx context.Context, id int) verdict {
	t.Helper()
	do(t, ctx, waitVisible(`#verdict[data-id="`+strconv.Itoa(id)+`"]`))
	return eval[verdict](t, ctx, `(() => {
		const e = document.getElementById("verdict"), txt = (id) => document.getElementById(id).textContent;
		return {Decision: e.dataset.decision, Reason: e.dataset.reason, Word: txt("vword"), ReasonText: txt("vreason"),
			Next: txt("vnext"), Holder: txt("vholder"), Tier: txt("vtier")};
	})()`)
}

// text returns the text content of the element the CSS selector matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return s
}

// screenshot saves the page as name.png in the test's temp dir, and in
// $KIDO_SCREENSHOTS when set (docs/staff-guide.md's pictures).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{t.TempDir(), os.Getenv("KIDO_SCREENSHOTS")} {
		if dir == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// enrollServe enrols a gate named name with ls and serves its staff app.
func enrollServe(t *testing.T, ls *liveServer, name string, args ...string) (*serving, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", ls.gateCode(t, name), "-data", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	return serve(t, dir, args...), dir
}

// TestServeWedgeScan: digits typed as a wedge scanner types them, with no
// click first, give a full-screen admit naming the holder and tier; the
// same ticket again is already used, naming the first passage; the digits
// are never on the page.
func TestServeWedgeScan(t *testing.T) {
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "North 1")
	ctx := browser(t, "en-US")
	tk := ls.tickets[0]
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))
	screenshot(t, ctx, "ready")

	v := scanKeys(t, ctx, tk.Text, 1)
	if v.Decision != "admit" || v.Reason != "ok" || v.Word != "ADMIT" || v.Holder != tk.Holder || !strings.Contains(v.Tier, "GA") {
		t.Errorf("first scan: %+v", v)
	}
	screenshot(t, ctx, "admit")
	body := text(t, ctx, "body")
	if strings.Contains(body, tk.Text[:20]) {
		t.Errorf("the scanned digits are on the page:\n%s", body)
	}

	v = scanKeys(t, ctx, tk.Text, 2)
	if v.Decision != "reject" || v.Reason != "already_used" || v.Word != "STOP" || !strings.Contains(v.ReasonText, "Already used: admitted here") {
		t.Errorf("second scan: %+v", v)
	}
	screenshot(t, ctx, "already-used")

	v = scanKeys(t, ctx, "123456", 3)
	if v.Reason != "malformed" || v.Next == "" {
		t.Errorf("not a ticket: %+v", v)
	}
}

// stopServer stops ls's HTTP server (the gate sees connections refused)
// and returns a function that starts it again at the same address.
func stopServer(t *testing.T, ls *liveServer) (restart func()) {
	t.Helper()
	addr := ls.srv.HTTP.Listener.Addr().String()
	ls.srv.HTTP.CloseClientConnections()
	ls.srv.HTTP.Close()
	return func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("restart the server at %s: %v", addr, err)
		}
		hs := &http.Server{Handler: ls.srv.Core.Handler()}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
	}
}

// TestServeOffline: with the server stopped the page still admits, shows
// OFFLINE and the records waiting; once the server is back they upload and
// the count drops to 0.
func TestServeOffline(t *testing.T) {
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "North 1")
	ctx := browser(t, "en-US")
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))
	restart := stopServer(t, ls)
	do(t, ctx, waitVisible(`#sync[data-state="offline"]`))

	if v := scanKeys(t, ctx, ls.tickets[1].Text, 1); v.Decision != "admit" {
		t.Fatalf("offline scan: %+v", v)
	}
	do(t, ctx, waitVisible(`#pending[data-n="1"]`))
	syncText, pendingText := text(t, ctx, "#sync"), text(t, ctx, "#pending")
	if syncText != "OFFLINE" || pendingText != "1 to upload" {
		t.Errorf("offline state bar: %q, %q", syncText, pendingText)
	}
	// The verdict clears itself; the state bar stays in view under it.
	do(t, ctx, chromedp.WaitNotVisible(chromedp.CSS(`#verdict`)))
	screenshot(t, ctx, "offline")

	restart()
	do(t, ctx,
		waitVisible(`#pending[data-n="0"]`),
		waitVisible(`#sync[data-state="online"]`),
	)
	rep, err := ls.admin.Report(context.Background(), ls.event)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 1 {
		t.Errorf("server report after the gate came back: %d admitted, want 1", rep.Admitted)
	}
}
