package syncer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// fakeClock is a Clock for tests. Instant: every After fires at once and
// moves the clock on by its duration. Otherwise timers fire on Advance.
// Every duration asked for is recorded.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	instant bool
	waits   []time.Duration
	timers  []fakeTimer
	asked   chan time.Duration // receives each After's duration, if not nil
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(instant bool) *fakeClock {
	return &fakeClock{now: time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC), instant: instant, asked: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if c.instant {
		c.now = c.now.Add(d)
		ch <- c.now
	} else {
		c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	}
	select {
	case c.asked <- d:
	default:
	}
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// half is a deterministic Jitter: half the ceiling, so each wait shows the
// ceiling it was drawn under.
func half(max time.Duration) time.Duration { return max / 2 }

// reply is one scripted answer.
type reply struct {
	status     int
	body       any    // encoded as JSON
	retryAfter string // Retry-After header
	hangup     bool   // close the connection without an answer
	unsigned   bool   // a feed answer or revocation without its signature, as a proxy would forge it
}

// recorded is one request the scripted server saw.
type recorded struct {
	path   string
	header http.Header
	upload *wire.UploadRequest
	query  string
}

// script is a kido server whose answers a test lists in advance. When a
// list runs out: uploads are acknowledged in full (and uploadsOut, if set,
// is called), changes wait for the request to end.
type script struct {
	t          *testing.T
	mu         sync.Mutex
	uploads    []reply
	changes    []reply
	snapshot   *wire.Snapshot
	reqs       []recorded
	acked      uint64
	audits     uint64
	uploadsOut func()
	srv        *httptest.Server
	arrived    gatetest.Bell      // rung after each request is recorded
	identity   ed25519.PrivateKey // signs snapshots and feed answers, as the fixture's server
}

func newScript(t *testing.T, identity ticket.PrivateKey) *script {
	s := &script{t: t, identity: ed25519.NewKeyFromSeed(identity.Seed())}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	rec := recorded{path: r.URL.Path, header: r.Header.Clone(), query: r.URL.RawQuery}
	var uploaded [sha256.Size]byte // the hash of an upload's body, signed into its answer
	if r.URL.Path == "/v1/gate/upload" {
		rec.upload = new(wire.UploadRequest)
		raw, _ := io.ReadAll(r.Body)
		uploaded = sha256.Sum256(raw)
		if err := wire.Decode(bytes.NewReader(raw), rec.upload, wire.MaxUploadBody); err != nil {
			s.t.Errorf("upload body: %v", err)
		}
		if err := rec.upload.Check(); err != nil {
			s.t.Errorf("upload fails the server's checks: %v", err)
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.arrived.Ring()
	var queue *[]reply
	switch r.URL.Path {
	case "/v1/gate/upload":
		queue = &s.uploads
	case "/v1/gate/changes":
		queue = &s.changes
	case "/v1/gate/snapshot":
		snap := s.snapshot
		s.mu.Unlock()
		body, _ := json.Marshal(snap)
		w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.SnapshotSignedMessage(r.URL.Query().Get("nonce"), body)))
		w.Write(body)
		return
	}
	var rp *reply
	if len(*queue) > 0 {
		rp = &(*queue)[0]
		*queue = (*queue)[1:]
	}
	var out func()
	if rp == nil && r.URL.Path == "/v1/gate/upload" {
		out = s.uploadsOut
		for _, a := range rec.upload.Admissions {
			s.acked = max(s.acked, a.Seq)
		}
		for _, a := range rec.upload.Audits {
			s.audits = max(s.audits, a.Seq)
		}
		rp = &reply{body: wire.UploadResponse{Acked: s.acked, AuditAcked: s.audits, Highest: s.acked, AuditHighest: s.audits,
			Stored: len(rec.upload.Admissions) + len(rec.upload.Audits), ServerTime: time.Now().UTC()}}
	}
	s.mu.Unlock()
	if out != nil {
		out()
	}
	if rp == nil {
		<-r.Context().Done()
		return
	}
	if rp.hangup {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	if rp.retryAfter != "" {
		w.Header().Set("Retry-After", rp.retryAfter)
	}
	body, _ := json.Marshal(rp.body)
	if r.URL.Path == "/v1/gate/changes" && rp.status == 0 && !rp.unsigned {
		w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.ChangesSignedMessage(gatetest.EventID, r.URL.Query().Get("cursor"), body)))
	}
	if r.URL.Path == "/v1/gate/upload" && (rp.status == 0 || rp.status == http.StatusConflict) && !rp.unsigned {
		w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.UploadSignedMessage(gatetest.EventID, gatetest.GateBoth, uploaded, body)))
	}
	if e, ok := rp.body.(wire.Error); ok && e.Code == wire.CodeGateRevoked && !rp.unsigned {
		w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.GateRevokedSignedMessage(gatetest.EventID, gatetest.GateBoth, body)))
	}
	if rp.status != 0 {
		w.WriteHeader(rp.status)
	}
	w.Write(body)
}

func (s *script) requests(path string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recorded
	for _, r := range s.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func errBody(code, msg string) wire.Error { return wire.Error{Error: "server: " + msg, Code: code} }

// gateUnderTest is a real replica with a fabricated snapshot, and a
// syncer talking to a scripted server.
type gateUnderTest struct {
	r       *replica.Replica
	f       *gatetest.Fixture
	s       *Syncer
	clock   *fakeClock
	srv     *script
	forgot  bool
	changes []Status
	changed gatetest.Bell // rung after each status change
	mu      sync.Mutex
}

func newGate(t *testing.T, instant bool, tweak func(*Config)) *gateUnderTest {
	t.Helper()
	f := gatetest.New(50, gatetest.GateBoth, time.Now())
	g := &gateUnderTest{f: f, clock: newFakeClock(instant), srv: newScript(t, f.Identity)}
	r, err := replica.Create(filepath.Join(t.TempDir(), "replica.db"), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Apply(context.Background(), &g.f.Snapshot, g.srv.srv.URL); err != nil {
		t.Fatal(err)
	}
	g.r = r
	pin := client.Pin{Identity: f.Snapshot.Server.ID, Event: gatetest.EventID, Gate: gatetest.GateBoth}
	c, err := client.NewGate(g.srv.srv.URL, "cred", pin, client.Security{}, Heartbeat(r, "9.9.9", g.clock.Now, func() (int64, error) { return 7 << 30, nil }))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Replica: r, Server: c, Clock: g.clock, Jitter: half,
		Forget: func() error { g.forgot = true; return nil },
		OnChange: func(st Status) {
			g.mu.Lock()
			g.changes = append(g.changes, st)
			g.mu.Unlock()
			g.changed.Ring()
		}}
	if tweak != nil {
		tweak(&cfg)
	}
	g.s = New(cfg)
	return g
}

func (g *gateUnderTest) scan(t *testing.T, text string) gate.Decision {
	t.Helper()
	d, err := g.r.Scan(context.Background(), gate.Line{Text: text, Length: int64(len(text))}, false)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func seqs(req *wire.UploadRequest) (adm, aud []uint64) {
	for _, a := range req.Admissions {
		adm = append(adm, a.Seq)
	}
	for _, a := range req.Audits {
		aud = append(aud, a.Seq)
	}
	return adm, aud
}
