package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket/qr"
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
	cmd := exec.Command(bin, append([]string{"serve", "-data", dir, "-listen", "127.0.0.1:0", "-mesh", "off"}, args...)...)
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

// poll waits until the JavaScript expression is true in the page.
func poll(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// checkContrast fails the test if the text of the element the CSS
// selector matches has less than WCAG AA's 4.5:1 contrast with its
// background, as the browser computed both.
func checkContrast(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	cs := eval[[]string](t, ctx, `(() => { const s = getComputedStyle(document.querySelector(`+strconv.Quote(sel)+`)); return [s.color, s.backgroundColor]; })()`)
	lum := func(css string) float64 {
		var r, g, b float64
		if _, err := fmt.Sscanf(css, "rgb(%g, %g, %g)", &r, &g, &b); err != nil {
			t.Fatalf("%s: colour %q: %v", sel, css, err)
		}
		lin := func(c float64) float64 {
			c /= 255
			if c <= 0.04045 {
				return c / 12.92
			}
			return math.Pow((c+0.055)/1.055, 2.4)
		}
		return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	}
	a, b := lum(cs[0]), lum(cs[1])
	if ratio := (max(a, b) + 0.05) / (min(a, b) + 0.05); ratio < 4.5 {
		t.Errorf("%s: contrast %.2f:1 of %s on %s, want at least 4.5:1 (WCAG AA)", sel, ratio, cs[0], cs[1])
	}
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

// enrollServe enrols a gate named name that works both ways with ls and
// serves its staff app.
func enrollServe(t *testing.T, ls *liveServer, name string, args ...string) (*serving, string) {
	t.Helper()
	return enrollServeDir(t, ls, name, kido.DirectionBoth, args...)
}

func enrollServeDir(t *testing.T, ls *liveServer, name string, dir kido.Direction, args ...string) (*serving, string) {
	t.Helper()
	g, err := ls.admin.AddGate(context.Background(), ls.event, wire.GateCreate{Name: name, Direction: dir})
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", g.Code, "-data", data); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	return serve(t, data, args...), data
}

// TestServeWedgeScan: digits typed as a wedge scanner types them, with no
// click first, give a full-screen admit naming the holder and tier; the
// same ticket again is already used, naming the first passage; the digits
// are never on the page.
func TestServeWedgeScan(t *testing.T) {
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "North 1")
	// A kiosk whose device zone is UTC still shows the venue's wall clock
	// (the event is in Asia/Tokyo).
	ctx := browser(t, "en-US", chromedp.Env("TZ=UTC"))
	tk := ls.tickets[0]
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))
	screenshot(t, ctx, "ready")

	v := scanKeys(t, ctx, tk.Text, 1)
	if v.Decision != "admit" || v.Reason != "ok" || v.Word != "ADMIT" || v.Holder != tk.Holder || !strings.Contains(v.Tier, "GA") {
		t.Errorf("first scan: %+v", v)
	}
	screenshot(t, ctx, "admit")
	if got := text(t, ctx, "#announce"); got != "ADMIT. Valid ticket. Let them in. "+tk.Holder {
		t.Errorf("screen reader announcement: %q", got)
	}
	checkContrast(t, ctx, "#verdict")
	body := text(t, ctx, "body")
	if strings.Contains(body, tk.Text[:20]) {
		t.Errorf("the scanned digits are on the page:\n%s", body)
	}

	v = scanKeys(t, ctx, tk.Text, 2)
	if v.Decision != "reject" || v.Reason != "already_used" || v.Word != "STOP" || !strings.Contains(v.ReasonText, "Already used: admitted here") {
		t.Errorf("second scan: %+v", v)
	}
	screenshot(t, ctx, "already-used")
	checkContrast(t, ctx, "#verdict")

	v = scanKeys(t, ctx, "123456", 3)
	if v.Reason != "malformed" || v.Next == "" {
		t.Errorf("not a ticket: %+v", v)
	}

	// A ticket used at another gate, learned through sync: the verdict
	// names that gate and the time.
	other := filepath.Join(t.TempDir(), "south")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", ls.gateCode(t, "South 2"), "-data", other); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	tk2 := ls.tickets[1]
	for _, args := range [][]string{{"scan", "-data", other, tk2.Text}, {"sync", "-data", other}} {
		if out, err := gateCmd(t, args...); err != nil {
			t.Fatalf("kido-gate %s: %v\n%s", args[0], err, out)
		}
	}
	do(t, ctx, waitVisible(`#counts[data-admitted="2"]`))
	v = scanKeys(t, ctx, tk2.Text, 4)
	if v.Reason != "already_used" || !regexp.MustCompile(`^Already used: first at South 2, \d\d:\d\d \(\d+ s ago\)$`).MatchString(v.ReasonText) ||
		v.Next != "Do not admit: send them to the help desk" {
		t.Errorf("used at another gate: %+v", v)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// The passage was a moment ago: its minute, or the one before.
	now := time.Now().In(tokyo)
	if !strings.Contains(v.ReasonText, now.Format("15:04")) && !strings.Contains(v.ReasonText, now.Add(-time.Minute).Format("15:04")) {
		t.Errorf("used at another gate: %q does not give the time at the venue (%s, Asia/Tokyo)", v.ReasonText, now.Format("15:04"))
	}
	screenshot(t, ctx, "already-used-elsewhere")
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
	checkContrast(t, ctx, "#sync")
	checkContrast(t, ctx, "#pending")
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

// TestServeExit: at a gate that works both ways, the switch (worked by
// keyboard alone) records an exit, shown as EXIT in blue; at an entry-only
// gate there is no switch.
func TestServeExit(t *testing.T) {
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "North 1")
	// A kiosk whose device zone is UTC still shows the venue's wall clock
	// (the event is in Asia/Tokyo).
	ctx := browser(t, "en-US", chromedp.Env("TZ=UTC"))
	tk := ls.tickets[0]
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`), waitVisible(`#direction`))
	if v := scanKeys(t, ctx, tk.Text, 1); v.Decision != "admit" {
		t.Fatalf("entry: %+v", v)
	}
	do(t, ctx, chromedp.KeyEvent("\x1b")) // Escape clears the verdict
	do(t, ctx, chromedp.Focus(chromedp.CSS("#exit")), chromedp.KeyEvent(" "), waitVisible(`#mode[data-mode="exit"]`))
	if got := text(t, ctx, "#mode"); got != "Recording EXITS" {
		t.Errorf("mode after the switch: %q", got)
	}
	v := scanKeys(t, ctx, tk.Text, 2)
	if v.Decision != "admit" || v.Reason != "exit_recorded" || v.Word != "EXIT" {
		t.Errorf("exit: %+v", v)
	}
	if cls := eval[string](t, ctx, `document.getElementById("verdict").className`); cls != "exit" {
		t.Errorf("exit verdict class %q", cls)
	}
	screenshot(t, ctx, "exit")
	checkContrast(t, ctx, "#verdict")

	sv2, _ := enrollServeDir(t, ls, "South", kido.DirectionEntry)
	do(t, ctx, chromedp.Navigate(sv2.url), waitVisible(`#sync[data-state="online"]`))
	if hidden := eval[bool](t, ctx, `document.getElementById("direction").hidden`); !hidden {
		t.Errorf("an entry-only gate shows the entry/exit switch")
	}
}

// TestServeJapanese: a Japanese browser gets the Japanese page, every
// string exists in both languages, and the switch turns to English.
func TestServeJapanese(t *testing.T) {
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "北ゲート")
	ctx := browser(t, "ja-JP")
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))
	if got := eval[string](t, ctx, `document.documentElement.lang`); got != "ja" {
		t.Errorf("html lang %q", got)
	}
	if got := text(t, ctx, "#ready"); got != "チケットをスキャンしてください" {
		t.Errorf("ready: %q", got)
	}
	if got := text(t, ctx, "#sync"); got != "オンライン" {
		t.Errorf("sync: %q", got)
	}
	missing := eval[[]string](t, ctx, `(() => {
		const out = [];
		for (const [a, b] of [["en", "ja"], ["ja", "en"]])
			for (const k of Object.keys(T[a])) if (!(k in T[b]) || T[b][k] === "") out.push(b + ": " + k);
		for (const el of document.querySelectorAll("[data-i18n]"))
			for (const l of ["en", "ja"]) if (!(el.dataset.i18n in T[l])) out.push(l + ": " + el.dataset.i18n);
		return out;
	})()`)
	if len(missing) > 0 {
		t.Errorf("strings missing: %v", missing)
	}
	v := scanKeys(t, ctx, ls.tickets[0].Text, 1)
	if v.Word != "入場OK" || v.ReasonText != "有効なチケットです" || v.Tier != "券種：GA" {
		t.Errorf("admit in Japanese: %+v", v)
	}
	screenshot(t, ctx, "admit-ja")
	v = scanKeys(t, ctx, ls.tickets[0].Text, 2)
	if v.Word != "入場不可" || !strings.Contains(v.ReasonText, "このゲートで入場済み") {
		t.Errorf("already used in Japanese: %+v", v)
	}
	do(t, ctx, chromedp.KeyEvent("\x1b"), chromedp.Click(chromedp.CSS("#lang")))
	if got := text(t, ctx, "#ready"); got != "Scan a ticket" {
		t.Errorf("after the switch: %q", got)
	}
}

// TestServeFindAdmit: find and manual admission are behind the PIN; a
// wrong PIN is refused; the search finds a Japanese name as typed; the
// admission needs a reason and shows in the ticket's history.
func TestServeFindAdmit(t *testing.T) {
	ls := startServer(t, 3)
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte("246810\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sv, _ := enrollServe(t, ls, "North 1", "-pin-file", pin)
	ctx := browser(t, "en-US")
	tk := ls.tickets[2]
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))

	do(t, ctx, chromedp.Click(chromedp.CSS("#findbtn")), waitVisible("#pindlg"),
		chromedp.SendKeys(chromedp.CSS("#pin"), "1111\r"))
	poll(t, ctx, `document.getElementById("pinerr").textContent === "Wrong PIN"`)
	if open := eval[bool](t, ctx, `document.getElementById("finddlg").open`); open {
		t.Fatal("find opened after a wrong PIN")
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#pin"), "246810\r"), waitVisible("#finddlg"))

	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#q"), tk.Holder+"\r"),
		waitVisible(`#results button[data-serial="`+strconv.Itoa(int(tk.Serial))+`"]`))
	screenshot(t, ctx, "find")
	do(t, ctx, chromedp.Click(chromedp.CSS(`#results button[data-serial="`+strconv.Itoa(int(tk.Serial))+`"]`)), waitVisible("#ticket"))
	if got := text(t, ctx, "#thistory"); got != "Not used yet" {
		t.Errorf("history before: %q", got)
	}
	// No reason: the form does not submit.
	do(t, ctx, chromedp.Click(chromedp.CSS("#admitbtn")))
	if shown := eval[bool](t, ctx, `!document.getElementById("verdict").hidden`); shown {
		t.Fatal("admitted without a reason")
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#reason"), "phone battery dead, ID checked\r"))
	v := readVerdict(t, ctx, 1)
	if v.Decision != "admit" || v.Holder != tk.Holder {
		t.Errorf("manual admission: %+v", v)
	}
	do(t, ctx, chromedp.KeyEvent("\x1b"), chromedp.Click(chromedp.CSS("#findbtn")), waitVisible("#finddlg"),
		chromedp.SendKeys(chromedp.CSS("#q"), tk.OrderRef+"\r"),
		chromedp.Click(chromedp.CSS(`#results button[data-serial="`+strconv.Itoa(int(tk.Serial))+`"]`)), waitVisible("#ticket"))
	poll(t, ctx, `document.getElementById("thistory").textContent.includes("manual admission")`)
	if got := text(t, ctx, "#thistory"); !strings.Contains(got, "North 1 (this gate)") {
		t.Errorf("history after: %q", got)
	}
}

// TestServeCamera: Chromium's fake camera shows a real issued ticket's QR
// code; the page sends frames to the gate, which decodes and admits it.
func TestServeCamera(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed (Debian: apt-get install ffmpeg); .ci/run installs it")
	}
	ls := startServer(t, 3)
	sv, _ := enrollServe(t, ls, "North 1")
	tk := ls.tickets[1]
	dir := t.TempDir()
	pic, err := qr.Render(tk.Text)
	if err != nil {
		t.Fatal(err)
	}
	code, video := filepath.Join(dir, "ticket.png"), filepath.Join(dir, "camera.y4m")
	if err := os.WriteFile(code, pic, 0o644); err != nil {
		t.Fatal(err)
	}
	// The code fills most of a 640×480 frame on white, as held up to a webcam.
	out, err := exec.Command(ffmpeg, "-loglevel", "error", "-loop", "1", "-i", code, "-t", "2", "-r", "10",
		"-vf", "scale=400:400:flags=neighbor,pad=640:480:(ow-iw)/2:(oh-ih)/2:white", "-pix_fmt", "yuv420p", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	ctx := browser(t, "en-US",
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video),
	)
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`), chromedp.Click(chromedp.CSS("#camera")))
	v := readVerdict(t, ctx, 1)
	if v.Decision != "admit" || v.Holder != tk.Holder {
		t.Errorf("camera scan: %+v", v)
	}
}

// TestServeUndo: behind the PIN, staff undo the last admission (a wrong
// ticket scanned) by keyboard alone: the dialog names the holder and the
// time left, the verdict says UNDONE, and the same ticket is admitted
// again; the server stores the undo as sound and counts the admission as
// undone. Once the gate's trusted time is more than 2 minutes past its
// last admission (the server's clock, which the gate trusts, runs 3
// minutes ahead), the page refuses to undo and says why.
func TestServeUndo(t *testing.T) {
	var ahead atomic.Int64
	ls := startServerClock(t, 3, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	pin := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pin, []byte("246810\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sv, _ := enrollServe(t, ls, "North 1", "-pin-file", pin)
	ctx := browser(t, "en-US")
	do(t, ctx, chromedp.Navigate(sv.url), waitVisible(`#sync[data-state="online"]`))
	wrong, other := ls.tickets[0], ls.tickets[1]
	if v := scanKeys(t, ctx, wrong.Text, 1); v.Decision != "admit" {
		t.Fatalf("scan: %+v", v)
	}
	do(t, ctx, chromedp.KeyEvent("\x1b"), chromedp.Click(chromedp.CSS("#undobtn")), waitVisible("#pindlg"),
		chromedp.SendKeys(chromedp.CSS("#pin"), "246810\r"), waitVisible("#undodlg"))
	poll(t, ctx, `document.getElementById("undodlg").dataset.available === "true"`)
	if got := text(t, ctx, "#undolast"); !strings.Contains(got, wrong.Holder) || !strings.Contains(got, "GA") {
		t.Errorf("undo dialog names %q, want %s of GA", got, wrong.Holder)
	}
	if got := text(t, ctx, "#undoleft"); !regexp.MustCompile(`^1[0-2][0-9] s left to undo$`).MatchString(got) {
		t.Errorf("time left %q", got)
	}
	screenshot(t, ctx, "undo")
	// The confirm button has the focus: Enter undoes, no mouse needed.
	if f := eval[string](t, ctx, `document.activeElement.id`); f != "undoconfirm" {
		t.Fatalf("focus on %q, want the undo button", f)
	}
	do(t, ctx, chromedp.KeyEvent("\r"))
	v := readVerdict(t, ctx, 2)
	if v.Decision != "undo" || v.Word != "UNDONE" || !strings.Contains(v.ReasonText, wrong.Holder) || v.Next != "Their ticket can be scanned again" {
		t.Errorf("undo verdict: %+v", v)
	}
	checkContrast(t, ctx, "#verdict")
	screenshot(t, ctx, "undone")
	do(t, ctx, chromedp.KeyEvent("\x1b"))
	if v := scanKeys(t, ctx, wrong.Text, 3); v.Decision != "admit" {
		t.Errorf("the undone ticket again: %+v, want admitted", v)
	}
	if v := scanKeys(t, ctx, other.Text, 4); v.Decision != "admit" {
		t.Fatalf("scan: %+v", v)
	}
	poll(t, ctx, `state && state.pending === 0`)
	rep, err := ls.admin.Report(context.Background(), ls.event)
	if err != nil || rep.Undone != 1 || rep.Suspect != 0 || rep.Admitted != 2 || len(rep.Undos) != 1 || rep.Undos[0].Serial != wrong.Serial {
		t.Errorf("server report: %+v, %v; want 2 admitted, %d undone, none suspect", rep, err, wrong.Serial)
	}

	// The server's clock runs 3 minutes ahead; the rejected scan's upload
	// tells the gate, whose trusted time moves past the window.
	ahead.Store(int64(3 * time.Minute))
	if v := scanKeys(t, ctx, other.Text, 5); v.Reason != "already_used" {
		t.Fatalf("rescan: %+v", v)
	}
	poll(t, ctx, `state && state.pending === 0 && Date.parse(state.now) - Date.now() > 150000`)
	do(t, ctx, chromedp.KeyEvent("\x1b"), chromedp.Click(chromedp.CSS("#undobtn")), waitVisible("#undodlg"))
	poll(t, ctx, `document.getElementById("undodlg").dataset.available === "false"`)
	if got := text(t, ctx, "#undoerr"); !strings.HasPrefix(got, "Too late") {
		t.Errorf("late undo says %q", got)
	}
	if !eval[bool](t, ctx, `document.getElementById("undoconfirm").disabled`) {
		t.Error("the undo button is enabled after the window")
	}
	screenshot(t, ctx, "undo-late")
}
