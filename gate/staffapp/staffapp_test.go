package staffapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/gate/staffapp"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket/qr"
)

const host = "127.0.0.1:8710"

// fixture is a staff app on a fabricated replica of gate North 1 (both
// directions), with a PIN, and a clock the test moves.
type fixture struct {
	t    testing.TB
	f    *gatetest.Fixture
	r    *replica.Replica
	path string
	h    *staffapp.Handler
	mu   sync.Mutex
	now  time.Time
}

func newFixture(t testing.TB, pin string) *fixture {
	t.Helper()
	x := &fixture{t: t, f: gatetest.New(20, gatetest.GateBoth, time.Now()), now: time.Now()}
	x.f.Snapshot.Roster[4].Reading = "ヤマモト サブロウ" // serial 5
	x.path = filepath.Join(t.TempDir(), "replica.db")
	r, err := replica.Create(x.path, replica.Options{Leeway: kido.DefaultLeeway})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Apply(context.Background(), &x.f.Snapshot, "http://127.0.0.1:8700"); err != nil {
		t.Fatal(err)
	}
	x.r = r
	x.h = staffapp.New(staffapp.Config{
		Replica: r,
		Admit:   r.Admit,
		Hosts:   staffapp.AllowedHosts(host),
		PIN:     pin,
		Now:     x.clock,
	})
	return x
}

func (x *fixture) clock() time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.now
}

func (x *fixture) advance(d time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.now = x.now.Add(d)
}

// req is one API request as the page makes it, changed by edit.
func (x *fixture) req(method, path, body string, edit func(*http.Request)) *httptest.ResponseRecorder {
	x.t.Helper()
	r := httptest.NewRequest(method, "http://"+host+path, strings.NewReader(body))
	r.Header.Set("X-Kido-Staff", "1")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if method == http.MethodPost {
		r.Header.Set("Origin", "http://"+host)
		r.Header.Set("Content-Type", "application/json")
	}
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	x.h.ServeHTTP(w, r)
	return w
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body.String(), err)
	}
	return v
}

func (x *fixture) scan(text string, exit bool) staffapp.Verdict {
	x.t.Helper()
	b, _ := json.Marshal(map[string]any{"text": text, "exit": exit})
	w := x.req("POST", "/api/scan", string(b), nil)
	if w.Code != http.StatusOK {
		x.t.Fatalf("scan: %d %s", w.Code, w.Body)
	}
	return decode[staffapp.Verdict](x.t, w)
}

// TestRefusesForeignRequests: the API answers only what the page itself
// can send; each of these is what a hostile page, a DNS-rebinding site or
// a LAN attacker could send, and none records a scan.
func TestRefusesForeignRequests(t *testing.T) {
	x := newFixture(t, "")
	body := `{"text":"` + x.f.Ticket(1) + `"}`
	cases := []struct {
		name string
		edit func(*http.Request)
		want int
	}{
		{"rebound host", func(r *http.Request) { r.Host = "evil.example:8710" }, http.StatusMisdirectedRequest},
		{"LAN address as host", func(r *http.Request) { r.Host = "192.168.1.20:8710" }, http.StatusMisdirectedRequest},
		{"no staff header (a form post)", func(r *http.Request) { r.Header.Del("X-Kido-Staff") }, http.StatusForbidden},
		{"foreign origin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, http.StatusForbidden},
		{"null origin", func(r *http.Request) { r.Header.Set("Origin", "null") }, http.StatusForbidden},
		{"cross-site fetch", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"text/plain body", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := x.req("POST", "/api/scan", body, c.edit)
			if w.Code != c.want {
				t.Errorf("status %d, want %d: %s", w.Code, c.want, w.Body)
			}
		})
	}
	st, err := x.r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Scans != 0 {
		t.Errorf("%d scans recorded by refused requests", st.Scans)
	}
	// The same request as the page sends it is served.
	if v := x.scan(x.f.Ticket(1), false); v.Decision != "admit" {
		t.Errorf("page's own scan: %+v", v)
	}
	// Other loopback names reach the page too.
	w := x.req("GET", "/api/state", "", func(r *http.Request) { r.Host = "localhost:8710" })
	if w.Code != http.StatusOK {
		t.Errorf("state at localhost: %d %s", w.Code, w.Body)
	}
	// The page itself is framed by nobody.
	w = x.req("GET", "/", "", nil)
	if w.Code != http.StatusOK || w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page: %d, headers %v", w.Code, w.Header())
	}
}

// TestScanVerdicts: admit, the same ticket again naming the first passage,
// an exit, and a line that is no ticket.
func TestScanVerdicts(t *testing.T) {
	x := newFixture(t, "")
	tk := x.f.Ticket(2) // GA: single entry
	v := x.scan(tk, false)
	if v.Decision != "admit" || v.Kind != "entry" || v.Reason != "ok" || v.Serial != 2 || v.TierName != "GA" || v.Holder == "" {
		t.Errorf("first: %+v", v)
	}
	v = x.scan(tk, false)
	if v.Decision != "reject" || v.Reason != "already_used" || v.First == nil || !v.First.Here || v.First.GateName != "North 1" {
		t.Errorf("again: %+v", v)
	}
	v = x.scan(tk, true)
	if v.Decision != "admit" || v.Kind != "exit" || v.Reason != "exit_recorded" {
		t.Errorf("exit: %+v", v)
	}
	v = x.scan(strings.Repeat("9", gate.MaxLine+10), false)
	if v.Decision != "reject" || v.Reason != "malformed" {
		t.Errorf("long line: %+v", v)
	}
	st := decode[staffapp.State](t, x.req("GET", "/api/state", "", nil))
	if st.Direction != "both" || st.Gate != "North 1" || st.Admitted != 1 || st.Inside != 0 || st.PerMinute != 4 || st.Sync != "off" || st.Pending != 4 || st.TimeZone != "Asia/Tokyo" {
		t.Errorf("state: %+v", st)
	}
}

// TestPINLock: find, history and manual admission need the PIN; scanning
// does not; wrong PINs back off; a token dies after UnlockFor unused.
func TestPINLock(t *testing.T) {
	x := newFixture(t, "4321")
	for _, p := range []string{"/api/find?q=1", "/api/history?serial=1"} {
		if w := x.req("GET", p, "", nil); w.Code != http.StatusUnauthorized {
			t.Errorf("%s locked: %d %s", p, w.Code, w.Body)
		}
	}
	if w := x.req("POST", "/api/admit", `{"serial":2,"reason":"phone dead"}`, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("admit locked: %d", w.Code)
	}
	if v := x.scan(x.f.Ticket(3), false); v.Decision != "admit" {
		t.Errorf("scan while locked: %+v", v)
	}
	for i := 0; i < 5; i++ {
		if w := x.req("POST", "/api/unlock", `{"pin":"0000"}`, nil); w.Code != http.StatusForbidden {
			t.Fatalf("wrong PIN %d: %d", i, w.Code)
		}
	}
	// Now even the right PIN waits.
	if w := x.req("POST", "/api/unlock", `{"pin":"4321"}`, nil); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("right PIN during back-off: %d %v", w.Code, w.Header())
	}
	x.advance(31 * time.Second)
	w := x.req("POST", "/api/unlock", `{"pin":"4321"}`, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("unlock: %d %s", w.Code, w.Body)
	}
	tok := decode[staffapp.Unlock](t, w).Token
	withToken := func(r *http.Request) { r.Header.Set("X-Kido-Unlock", tok) }

	ms := decode[[]staffapp.Match](t, x.req("GET", "/api/find?q=3", "", withToken))
	if len(ms) == 0 || ms[0].Serial != 3 || ms[0].Entries != 1 {
		t.Errorf("find 3: %+v", ms)
	}
	// Inside a reading, which the match carries.
	ms = decode[[]staffapp.Match](t, x.req("GET", "/api/find?q="+url.QueryEscape("さぶろう"), "", withToken))
	if len(ms) != 1 || ms[0].Serial != 5 || ms[0].Reading != "ヤマモト サブロウ" {
		t.Errorf("find さぶろう: %+v", ms)
	}
	if w := x.req("POST", "/api/admit", `{"serial":2,"reason":"  "}`, withToken); w.Code != http.StatusBadRequest {
		t.Errorf("admit without a reason: %d %s", w.Code, w.Body)
	}
	if w := x.req("POST", "/api/admit", `{"serial":999999,"reason":"phone dead"}`, withToken); w.Code != http.StatusNotFound {
		t.Errorf("admit of a serial not in the roster: %d %s", w.Code, w.Body)
	}
	v := decode[staffapp.Verdict](t, x.req("POST", "/api/admit", `{"serial":2,"reason":"phone dead"}`, withToken))
	if v.Decision != "admit" || v.Kind != "manual" {
		t.Errorf("manual admission: %+v", v)
	}
	hs := decode[[]staffapp.Pass](t, x.req("GET", "/api/history?serial=2", "", withToken))
	if len(hs) != 1 || hs[0].Kind != "manual" || !hs[0].Here || hs[0].GateName != "North 1" {
		t.Errorf("history: %+v", hs)
	}
	x.advance(staffapp.UnlockFor + time.Second)
	if w := x.req("GET", "/api/find?q=3", "", withToken); w.Code != http.StatusUnauthorized {
		t.Errorf("find after the unlock expired: %d", w.Code)
	}
}

// TestFrame: a camera frame holding a ticket is scanned once; the same
// code in the next frames is not scanned again; a frame with no code and
// a frame that is no picture change nothing.
func TestFrame(t *testing.T) {
	x := newFixture(t, "")
	pic, err := qr.Render(x.f.Ticket(5))
	if err != nil {
		t.Fatal(err)
	}
	frame := func(body []byte, ct string) *httptest.ResponseRecorder {
		return x.req("POST", "/api/frame", string(body), func(r *http.Request) { r.Header.Set("Content-Type", ct) })
	}
	a := decode[staffapp.FrameAnswer](t, frame(pic, "image/png"))
	if !a.Found || a.Verdict == nil || a.Verdict.Decision != "admit" || a.Verdict.Serial != 5 {
		t.Errorf("first frame: %+v", a)
	}
	if a := decode[staffapp.FrameAnswer](t, frame(pic, "image/png")); a.Found {
		t.Errorf("second frame of the same code: %+v", a)
	}
	var blank bytes.Buffer
	png.Encode(&blank, image.NewGray(image.Rect(0, 0, 64, 64)))
	if a := decode[staffapp.FrameAnswer](t, frame(blank.Bytes(), "image/png")); a.Found {
		t.Errorf("blank frame: %+v", a)
	}
	if w := frame([]byte("not a picture"), "image/png"); w.Code != http.StatusBadRequest {
		t.Errorf("garbage frame: %d", w.Code)
	}
	var huge bytes.Buffer
	png.Encode(&huge, image.NewGray(image.Rect(0, 0, 1281, 10)))
	if w := frame(huge.Bytes(), "image/png"); w.Code != http.StatusBadRequest {
		t.Errorf("frame wider than 1280 pixels: %d", w.Code)
	}
	if w := frame(pic, "text/plain"); w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("frame as text: %d", w.Code)
	}
	x.advance(6 * time.Second)
	a = decode[staffapp.FrameAnswer](t, frame(pic, "image/png"))
	if !a.Found || a.Verdict.Reason != "already_used" {
		t.Errorf("the same code after the repeat window: %+v", a)
	}
}

// TestTallyRefresh: the counts of the whole replica are taken again in
// the background after a passage recorded here (once the last count's
// cost allows), and after TallyEvery for what other gates record; Glance's
// figures (pending, per minute) are fresh on every request.
func TestTallyRefresh(t *testing.T) {
	x := newFixture(t, "")
	state := func() staffapp.State { return decode[staffapp.State](t, x.req("GET", "/api/state", "", nil)) }
	// waitAdmitted asks for the state until the count is n: the count is
	// taken in the background and signals nothing.
	waitAdmitted := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for state().Admitted != n {
			if time.Now().After(deadline) {
				t.Fatalf("the admitted count never became %d", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if st := state(); st.Admitted != 0 || st.Tickets != 20 {
		t.Fatalf("first state: %+v", st)
	}
	x.advance(time.Second) // more than TallyCost × a count of 20 tickets
	x.scan(x.f.Ticket(2), false)
	if st := state(); st.Pending != 1 || st.PerMinute != 1 {
		t.Errorf("state after a scan: %+v, want pending and per-minute fresh", st)
	}
	waitAdmitted(1)

	// A passage the page did not record (kido-gate scan beside it, or
	// another gate's through sync) is counted after TallyEvery.
	other, err := replica.Open(x.path, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tk := x.f.Ticket(3)
	if d, err := other.Scan(context.Background(), gate.Line{Text: tk, Length: int64(len(tk))}, false); err != nil || !d.Admit {
		t.Fatalf("scan beside the page: %+v %v", d, err)
	}
	x.advance(time.Second)
	if st := state(); st.Admitted != 1 || st.Pending != 2 {
		t.Errorf("state before TallyEvery: %+v, want the count kept, pending fresh", st)
	}
	x.advance(staffapp.DefaultTallyEvery)
	waitAdmitted(2)
}

// FuzzFrame: whatever bytes arrive as a camera frame, the handler answers
// without panicking, and admits only a frame holding a genuine ticket.
func FuzzFrame(f *testing.F) {
	x := newFixture(f, "")
	pic, err := qr.Render(x.f.Ticket(7))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pic, true)
	f.Add([]byte("\x89PNG\r\n\x1a\n"), true)
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe0}, false)
	f.Fuzz(func(t *testing.T, body []byte, isPNG bool) {
		ct := "image/jpeg"
		if isPNG {
			ct = "image/png"
		}
		x.t = t
		w := x.req("POST", "/api/frame", string(body), func(r *http.Request) { r.Header.Set("Content-Type", ct) })
		if w.Code != http.StatusOK {
			return
		}
		a := decode[staffapp.FrameAnswer](t, w)
		if a.Found && a.Verdict.Decision == "admit" && a.Verdict.Serial != 7 {
			t.Errorf("a frame admitted serial %d", a.Verdict.Serial)
		}
	})
}

// TestEveryReasonInBothLanguages: the page has a line and a next step in
// English and in Japanese for every reason the gate can give.
func TestEveryReasonInBothLanguages(t *testing.T) {
	js, err := os.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range gate.Reasons {
		for _, key := range []string{"r_" + string(r) + ":", "n_" + string(r) + ":"} {
			if n := strings.Count(string(js), " "+key); n != 2 {
				t.Errorf("%s appears %d times in app.js, want 2 (English and Japanese)", key, n)
			}
		}
	}
}

// TestCorrectionsOnTheScreen: a replaced ticket's verdict names its
// replacement; a retired tier's has its own reason; a renamed event and
// gate show in the state at once.
func TestCorrectionsOnTheScreen(t *testing.T) {
	x := newFixture(t, "")
	vip := x.f.Snapshot.Tiers[gatetest.TierVIP-1]
	vip.Retired = true
	old := x.f.Snapshot.Roster[2]
	old.Revoked, old.ReplacedBy = true, 21
	ev := x.f.Snapshot.Event
	ev.Name = "Summer Fes 2027"
	self := x.f.Snapshot.Gate
	self.Name, self.Direction = "North exit", kido.DirectionExit
	ch := &wire.Changes{Cursor: "c1", ServerTime: time.Now().UTC(), Changes: []wire.Change{
		{Kind: wire.ChangeTier, Tier: &vip}, {Kind: wire.ChangeRoster, Roster: &old}, {Kind: wire.ChangeEvent, Event: &ev},
	}}
	if _, err := x.r.ApplyChanges(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if v := x.scan(x.f.Ticket(3), false); v.Reason != "replaced" || v.ReplacedBy != 21 {
		t.Errorf("replaced ticket: %+v", v)
	}
	if v := x.scan(x.f.Ticket(10), false); v.Reason != "tier_retired" || v.Decision != "reject" {
		t.Errorf("retired tier: %+v", v)
	}
	ch = &wire.Changes{Cursor: "c2", ServerTime: time.Now().UTC(), Changes: []wire.Change{{Kind: wire.ChangeGate, Gate: &self}}}
	if _, err := x.r.ApplyChanges(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	st := decode[staffapp.State](t, x.req("GET", "/api/state", "", nil))
	if st.Event != ev.Name || st.Gate != self.Name || st.Direction != "exit" {
		t.Errorf("state after corrections: %+v", st)
	}
}
