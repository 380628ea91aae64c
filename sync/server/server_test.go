package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// recordingRand hands out crypto/rand bytes and remembers every 32-byte
// read: Ed25519 key generation reads exactly one seed of 32 bytes.
type recordingRand struct {
	mu    sync.Mutex
	seeds [][]byte
}

func (r *recordingRand) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	if len(p) == ed25519.SeedSize {
		r.mu.Lock()
		r.seeds = append(r.seeds, bytes.Clone(p))
		r.mu.Unlock()
	}
	return n, err
}

// bodyRecorder keeps a copy of every response body.
type bodyRecorder struct {
	mu     sync.Mutex
	bodies bytes.Buffer
}

type teeWriter struct {
	http.ResponseWriter
	rec *bodyRecorder
}

func (w teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w teeWriter) Write(b []byte) (int, error) {
	w.rec.mu.Lock()
	w.rec.bodies.Write(b)
	w.rec.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

type fixture struct {
	srv    *httptest.Server
	admin  *client.Client
	token  string
	dir    string
	master []byte
	rand   *recordingRand
	bodies *bodyRecorder
	logs   *bytes.Buffer
	info   wire.Server
	server *server.Server
}

// syncWriter serialises writes of concurrent requests' log lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func newFixture(t testing.TB) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture with a chance to change the server's
// configuration first.
func newFixtureWith(t testing.TB, configure func(*server.Config)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), rand: &recordingRand{}, bodies: &bodyRecorder{}, logs: &bytes.Buffer{}}
	f.master = make([]byte, server.MasterKeySize)
	rand.Read(f.master)
	store, err := sqlite.Open(filepath.Join(f.dir, "kido.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	cfg := server.Config{
		Store: store, MasterKey: f.master, Version: "test", Rand: f.rand,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: f.logs}, nil)),
	}
	if configure != nil {
		configure(&cfg)
	}
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.server = s
	f.info = s.Info()
	if _, err := s.EnsureAdminToken(ctx, func(secret string) error { f.token = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(teeWriter{w, f.bodies}, r)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(s.StopWaiting) // runs first: long-polls answer so Close need not wait
	f.admin = f.client(t, f.token)
	return f
}

func (f *fixture) client(t testing.TB, token string) *client.Client {
	c, err := client.New(f.srv.URL, token, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gateClient is the client of the gate enr enrolled, which takes only
// answers signed by this server for that gate.
func (f *fixture) gateClient(t testing.TB, enr *wire.EnrollResponse) *client.Client {
	c, err := f.client(t, enr.Credential).Pinned(client.Pin{Identity: f.info.ID, Event: enr.Gate.Event, Gate: enr.Gate.ID})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var start = time.Date(2027, 8, 1, 10, 0, 0, 0, time.FixedZone("JST", 9*3600))

// event makes an event with tiers VIP (1) and GA (2).
func (f *fixture) event(t testing.TB) uint32 {
	t.Helper()
	ctx := context.Background()
	ev, err := f.admin.CreateEvent(ctx, wire.EventCreate{Name: "Summer Fes", Venue: "Makuhari", Start: start, End: start.Add(11 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"VIP", "GA"} {
		if _, err := f.admin.AddTier(ctx, ev.ID, wire.TierCreate{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	return ev.ID
}

func (f *fixture) issue(t testing.TB, ev uint32, batch string, n int) []wire.IssuedTicket {
	t.Helper()
	items := make([]wire.IssueItem, n)
	for i := range items {
		items[i] = wire.IssueItem{Tier: uint8(1 + i%2), Holder: "山田 太郎", Email: "taro@example.jp", OrderRef: "ORD-" + batch}
	}
	resp, err := f.admin.Issue(context.Background(), ev, wire.IssueRequest{Batch: batch, Tickets: items})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Tickets
}

func TestPrivateKeysNeverLeak(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	f.issue(t, ev, "b1", 50)
	k2, err := f.admin.RotateKey(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	f.issue(t, ev, "b2", 50)
	if _, err := f.admin.RevokeKey(ctx, 0, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.RotateKey(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Reissue(ctx, ev, wire.Selection{Serials: []uint32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	g, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: "North 1"})
	if err != nil {
		t.Fatal(err)
	}
	enr, err := f.client(t, "").Enroll(ctx, g.Code, "test device")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gateClient(t, enr).Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	for _, call := range []func() error{
		func() error { _, err := f.admin.Events(ctx); return err },
		func() error { _, err := f.admin.Event(ctx, ev); return err },
		func() error { _, err := f.admin.Keys(ctx, 0); return err },
		func() error { _, err := f.admin.Tokens(ctx); return err },
		func() error { _, err := f.admin.Health(ctx); return err },
	} {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}

	// The recorded seeds must be exactly the server's keys: the identity
	// and the three signing keys. Otherwise this test would prove nothing.
	keys, _ := f.admin.Keys(ctx, 0)
	publics := map[string]bool{f.info.ID: true}
	for _, k := range keys {
		publics[k.Public] = true
	}
	var secrets [][]byte
	for _, seed := range f.rand.seeds {
		priv, _ := ticket.NewPrivateKeyFromSeed(seed)
		if !publics[priv.Public().String()] {
			continue
		}
		delete(publics, priv.Public().String())
		expanded := ed25519.NewKeyFromSeed(seed) // seed || public
		h := sha512.Sum512(seed)                 // the scalar and nonce prefix
		secrets = append(secrets, seed, expanded, h[:32], h[32:], []byte(priv.String()))
	}
	if len(publics) != 0 || len(secrets) != 4*5 {
		t.Fatalf("recorded %d secrets; keys without a recorded seed: %v", len(secrets), publics)
	}
	secrets = append(secrets, f.master)

	// Every form a secret could be written in.
	var needles [][]byte
	for _, s := range secrets {
		forms := []string{
			string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
			base64.StdEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s),
			base64.URLEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s),
			base32.StdEncoding.EncodeToString(s), strings.ToLower(base32.StdEncoding.EncodeToString(s)),
			base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(s),
			strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(s)),
		}
		for _, form := range forms {
			// A 16-byte prefix is enough to find a key however it is cut.
			needles = append(needles, []byte(form)[:min(len(form), 16)])
		}
	}

	// The WAL holds everything written since the last checkpoint: read it
	// while the store is open, then the database file itself.
	haystacks := map[string][]byte{"responses": f.bodies.bodies.Bytes(), "log": f.logs.Bytes()}
	for _, name := range []string{"kido.db", "kido.db-wal"} {
		b, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		haystacks[name] = b
	}
	if len(haystacks["kido.db"])+len(haystacks["kido.db-wal"]) == 0 || len(haystacks["responses"]) == 0 {
		t.Fatal("nothing to search")
	}
	for name, hay := range haystacks {
		for _, n := range needles {
			if bytes.Contains(hay, n) {
				t.Errorf("%s contains private key material %q", name, n)
			}
		}
	}
	// And the public keys are there, so the search is looking at real data.
	if !bytes.Contains(haystacks["responses"], []byte(keys[0].Public)) {
		t.Error("responses do not even hold the public keys")
	}
}

func TestEnrollAndSnapshot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	issued := f.issue(t, ev, "b1", 10)
	if _, err := f.admin.Revoke(ctx, ev, wire.Selection{Serials: []uint32{3}}); err != nil {
		t.Fatal(err)
	}
	g, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: "North 1", Tiers: []string{"VIP"}, Direction: kido.DirectionBoth})
	if err != nil {
		t.Fatal(err)
	}
	code, err := wire.ParseEnrollCode(g.Code)
	if err != nil || code.Fingerprint != f.info.Fingerprint {
		t.Fatalf("code %q: %+v, %v; want fingerprint %s", g.Code, code, err, f.info.Fingerprint)
	}

	// A code with another server's fingerprint is refused by this server.
	other := wire.EnrollCode{Secret: code.Secret, Fingerprint: "0000000"}
	if other.Fingerprint == f.info.Fingerprint {
		other.Fingerprint = "0000001"
	}
	anon := f.client(t, "")
	if _, err := anon.Enroll(ctx, other.String(), "x"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("code of another server: got %v, want ErrNotFound", err)
	}

	enr, err := anon.Enroll(ctx, g.Code, "tablet 1")
	if err != nil {
		t.Fatal(err)
	}
	if enr.Gate.ID != g.Gate.ID || enr.Server.Fingerprint != f.info.Fingerprint {
		t.Errorf("enrolled gate %+v with server %+v", enr.Gate, enr.Server)
	}
	// A used code is refused without saying which gate used it or when:
	// the caller may be guessing.
	_, err = anon.Enroll(ctx, g.Code, "tablet 2")
	if !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "unknown, used or expired") {
		t.Errorf("second use of a code: got %v, want unknown, used or expired", err)
	}
	for _, leak := range []string{fmt.Sprintf("gate %d", g.Gate.ID), "already used", time.Now().UTC().Format("2006-01-02")} {
		if err != nil && strings.Contains(strings.ToLower(err.Error()), leak) {
			t.Errorf("second use of a code: %q tells the caller %q", err, leak)
		}
	}

	gc := f.gateClient(t, enr)
	snap, err := gc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Event.ID != ev || len(snap.Tiers) != 2 || len(snap.Keys) != 1 || len(snap.Roster) != 10 || len(snap.Gates) != 1 {
		t.Fatalf("snapshot: event %d, %d tiers, %d keys, %d roster, %d gates", snap.Event.ID, len(snap.Tiers), len(snap.Keys), len(snap.Roster), len(snap.Gates))
	}
	if snap.Gate.ID != g.Gate.ID || len(snap.Gate.Tiers) != 1 || snap.Gate.Tiers[0] != 1 || snap.Gate.Direction != kido.DirectionBoth {
		t.Errorf("snapshot gate %+v", snap.Gate)
	}
	for i, r := range snap.Roster {
		if r.Serial != issued[i].Serial || r.Revoked != (r.Serial == 3) || r.Holder != "山田 太郎" {
			t.Errorf("roster entry %+v", r)
		}
	}
	// The keys verify the issued tickets.
	var kr ticket.Keyring
	for _, k := range snap.Keys {
		pub, err := ticket.ParsePublicKey(k.Public)
		if err != nil {
			t.Fatal(err)
		}
		kr.Add(ticket.Key{Public: pub, Event: k.Event})
	}
	for _, it := range issued {
		tk, err := ticket.Parse(it.Text)
		if err != nil {
			t.Fatal(err)
		}
		if err := kr.Verify(tk, start); err != nil {
			t.Errorf("serial %d: %v", it.Serial, err)
		}
	}
	// Cursor: event, key, 2 tiers, 10 tickets, 1 revocation, 1 gate.
	if c, err := server.ParseCursor(snap.Cursor); err != nil || c.Pos != 16 {
		t.Errorf("cursor %q (%v), want position 16", snap.Cursor, err)
	}
	f.issue(t, ev, "b2", 1)
	if snap2, _ := gc.Snapshot(ctx); snap2 == nil || !strings.HasPrefix(snap2.Cursor, "17.") || len(snap2.Roster) != 11 {
		t.Errorf("after one more ticket: cursor %v", snap2)
	}

	// Scopes: a gate credential is for /v1/gate/ only, and an admin token
	// is no gate credential.
	if _, err := gc.Events(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("gate credential on /v1/events: got %v, want ErrForbidden", err)
	}
	adminAsGate, err := f.admin.Pinned(client.Pin{Identity: f.info.ID, Event: ev, Gate: g.Gate.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminAsGate.Snapshot(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("admin token on /v1/gate/snapshot: got %v, want ErrForbidden", err)
	}
	// Revoking the credential revokes the gate.
	toks, _ := f.admin.Tokens(ctx)
	for _, tk := range toks {
		if tk.Gate == g.Gate.ID {
			if _, err := f.admin.RevokeToken(ctx, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ce *client.Error
	if _, err := gc.Snapshot(ctx); !errors.Is(err, client.ErrUnauthorized) || !errors.As(err, &ce) || ce.Code != wire.CodeGateRevoked {
		t.Errorf("revoked gate credential: got %v, want ErrUnauthorized with code gate_revoked", err)
	}
}

// countingStore counts the enrolment codes the store is asked to look up.
type countingStore struct {
	server.Store
	enrolls atomic.Int64
}

func (c *countingStore) Enroll(ctx context.Context, code server.TokenHash, device string, pub []byte, cred server.NewToken, now time.Time) (kido.Gate, error) {
	c.enrolls.Add(1)
	return c.Store.Enroll(ctx, code, device, pub, cred, now)
}

// TestEnrollConcurrentGuessesKeepTheBudget sends 200 wrong guesses at
// once with the clock stopped: only the budget's worth may be looked up
// (the race of a check and a later spend let 16 through a budget of 10),
// the rest are 429, and the metrics count both.
func TestEnrollConcurrentGuessesKeepTheBudget(t *testing.T) {
	cs := &countingStore{}
	stopped := time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC)
	f := newFixtureWith(t, func(c *server.Config) {
		cs.Store = c.Store
		c.Store = cs
		c.Now = func() time.Time { return stopped }
	})
	anon := f.client(t, "")
	var wg sync.WaitGroup
	var notFound, busy atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess := wire.EnrollCode{Secret: fmt.Sprintf("%016d", 1000_0000_0000+i), Fingerprint: f.info.Fingerprint}
			_, err := anon.Enroll(context.Background(), guess.String(), "")
			var ce *client.Error
			switch {
			case errors.Is(err, client.ErrNotFound):
				notFound.Add(1)
			case errors.Is(err, client.ErrUnavailable) && errors.As(err, &ce) && ce.RetryAfter > 0:
				busy.Add(1)
			default:
				t.Errorf("guess %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// One source (loopback): its burst of 5 is the tighter budget.
	if got := cs.enrolls.Load(); got > 5 || got != notFound.Load() || busy.Load() != 200-got {
		t.Errorf("200 concurrent guesses: %d looked up, %d not found, %d throttled; want at most 5 looked up, the rest throttled", got, notFound.Load(), busy.Load())
	}
	if got := f.metric(t, `kido_enrolments_total{outcome="failed"}`); int64(got) != notFound.Load() {
		t.Errorf("metric of failed enrolments = %d, want %d", got, notFound.Load())
	}
	if got := f.metric(t, `kido_enrolments_total{outcome="throttled"}`); int64(got) != busy.Load() {
		t.Errorf("metric of throttled enrolments = %d, want %d", got, busy.Load())
	}
	if !strings.Contains(f.logs.String(), "enrolment failed") {
		t.Error("failed attempts are not logged")
	}
}

// TestEnrollCodeBurnsAfterFailures: five wrong guesses naming a real
// code's id burn it, so the right secret no longer enrols.
func TestEnrollCodeBurnsAfterFailures(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	f := newFixtureWith(t, func(c *server.Config) {
		c.Now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	})
	ctx := context.Background()
	ev := f.event(t)
	g, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: "North 1"})
	if err != nil {
		t.Fatal(err)
	}
	code, err := wire.ParseEnrollCode(g.Code)
	if err != nil {
		t.Fatal(err)
	}
	anon := f.client(t, "")
	for i := range 5 {
		wrong := code
		wrong.Secret = code.ID() + fmt.Sprintf("%012d", i)
		if wrong.Secret == code.Secret {
			continue
		}
		if _, err := anon.Enroll(ctx, wrong.String(), ""); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("wrong guess %d: %v", i, err)
		}
	}
	clock.Add(int64(time.Hour)) // the source's budget refills; the code's count does not
	if _, err := anon.Enroll(ctx, g.Code, "tablet"); !errors.Is(err, client.ErrNotFound) || !strings.Contains(err.Error(), "failed attempts") {
		t.Fatalf("right code after 5 failures against its id: got %v, want refused", err)
	}
	// Nothing changed: no gate credential was made.
	toks, err := f.admin.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Scope == wire.ScopeGate {
			t.Errorf("a gate credential exists after the refused enrolment: %+v", tk)
		}
	}
}

func TestIssueConcurrentBatchesGetDistinctSerials(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	var wg sync.WaitGroup
	results := make([][]wire.IssuedTicket, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f.issue(t, ev, "b"+string(rune('a'+i)), 100)
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, r := range results {
		for _, tk := range r {
			if seen[tk.Serial] {
				t.Fatalf("serial %d issued twice", tk.Serial)
			}
			seen[tk.Serial] = true
		}
	}
	if len(seen) != 400 {
		t.Fatalf("%d serials, want 400", len(seen))
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	bad := []wire.IssueRequest{
		{Batch: "", Tickets: []wire.IssueItem{{Tier: 1}}},
		{Batch: "b 1", Tickets: []wire.IssueItem{{Tier: 1}}},
		{Batch: "b1", Tickets: []wire.IssueItem{{Tier: 1}, {Tier: 9}}},
		{Batch: "b1", Tickets: []wire.IssueItem{{Tier: 1, Holder: "a\x00b"}}},
		{Batch: "b1", Tickets: []wire.IssueItem{{Tier: 1, Holder: "\xff\xfe"}}},
		{Batch: "b1", Tickets: nil},
	}
	for _, req := range bad {
		_, err := f.admin.Issue(ctx, ev, req)
		if !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%+v: got %v, want ErrBadRequest", req, err)
		}
	}
	for _, raw := range []string{`{"batch":"b1","tickets":[{"tier":1}],"extra":1}`, `{"batch":"b1"} {}`, `[`} {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/events/1/tickets", strings.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"bad_request"`) {
			t.Errorf("%s: %d %s", raw, resp.StatusCode, body)
		}
	}
	d, err := f.admin.Event(ctx, ev)
	if err != nil || d.Issued != 0 {
		t.Fatalf("after bad requests: %d issued, %v", d.Issued, err)
	}
}

// BenchmarkSnapshot100k measures the server's side of a gate's first
// download: a 100,000-ticket event's snapshot read, encoded and sent over
// loopback, without the gate's decoding.
func BenchmarkSnapshot100k(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	ev := f.event(b)
	for i := 0; i < 10; i++ {
		items := make([]wire.IssueItem, 10000)
		for j := range items {
			items[j] = wire.IssueItem{Tier: 1, Holder: "山田 太郎", OrderRef: "ORD-12345"}
		}
		if _, err := f.admin.Issue(ctx, ev, wire.IssueRequest{Batch: "bench", Offset: i * 10000, Tickets: items}); err != nil {
			b.Fatal(err)
		}
	}
	g, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: "North 1"})
	if err != nil {
		b.Fatal(err)
	}
	enr, err := f.client(b, "").Enroll(ctx, g.Code, "bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, enc := range []string{"identity", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			var n int64
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/gate/snapshot", nil)
				req.Header.Set("Authorization", "Bearer "+enr.Credential)
				req.Header.Set("Accept-Encoding", enc)
				resp, err := f.srv.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(n)/1e6, "MB/snapshot")
		})
	}
}

// TestAdminBodiesDecodedStrictly: keys in another case, keys given twice
// and an issue offset that would wrap are refused, and nothing changes.
func TestAdminBodiesDecodedStrictly(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	f.issue(t, ev, "b0", 2)
	before := f.state(t, ev)
	evs, _ := f.admin.Events(context.Background())
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tickets := fmt.Sprintf("/v1/events/%d/tickets", ev)
	for _, c := range []struct{ what, path, body, want string }{
		{"miscased key", "/v1/events", `{"name":"A","venue":"V","start":"2027-08-01T09:00:00Z","end":"2027-08-01T20:00:00Z","NAME":"B"}`, "case-sensitive"},
		{"duplicate key", "/v1/events", `{"name":"A","name":"B","venue":"V","start":"2027-08-01T09:00:00Z","end":"2027-08-01T20:00:00Z"}`, "twice"},
		{"duplicate nested key", tickets, `{"batch":"b1","tickets":[{"tier":1,"tier":2}]}`, "twice"},
		{"miscased nested key", tickets, `{"batch":"b1","tickets":[{"Tier":2}]}`, "case-sensitive"},
		{"offset 2^63-1", tickets, `{"batch":"b1","offset":9223372036854775807,"tickets":[{"tier":1}]}`, "out of range"},
		{"offset past the serials", tickets, `{"batch":"b1","offset":4294967295,"tickets":[{"tier":1}]}`, "out of range"},
	} {
		if code, body := post(c.path, c.body); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", c.what, code, body, c.want)
		}
	}
	if after := f.state(t, ev); after != before {
		t.Errorf("state changed:\n%s\nwas\n%s", after, before)
	}
	if now, _ := f.admin.Events(context.Background()); len(now) != len(evs) {
		t.Errorf("%d events after the refused requests, want %d", len(now), len(evs))
	}
}

// TestNamesRefuseInvisibleCharacters: a bidirectional override, a
// zero-width space, a byte order mark or a line separator in an event,
// tier, gate or holder name is refused naming the character, and nothing
// is stored.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	f.issue(t, ev, "b0", 1)
	before := f.state(t, ev)
	evs, _ := f.admin.Events(ctx)
	for _, c := range []struct {
		what string
		call func() error
		want string
	}{
		{"event name", func() error {
			_, err := f.admin.CreateEvent(ctx, wire.EventCreate{Name: "Summer\u202Esef", Venue: "V", Start: start, End: start.Add(time.Hour)})
			return err
		}, "event name: character 7 is U+202E"},
		{"venue", func() error {
			_, err := f.admin.CreateEvent(ctx, wire.EventCreate{Name: "Summer", Venue: "Maku\u200Bhari", Start: start, End: start.Add(time.Hour)})
			return err
		}, "venue: character 5 is U+200B"},
		{"tier name", func() error { _, err := f.admin.AddTier(ctx, ev, wire.TierCreate{Name: "\uFEFFVIP2"}); return err }, "tier name: character 1 is U+FEFF"},
		{"gate name", func() error { _, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: "North\u20281"}); return err }, "gate name: character 6 is U+2028"},
		{"holder", func() error {
			_, err := f.admin.Issue(ctx, ev, wire.IssueRequest{Batch: "b1", Tickets: []wire.IssueItem{{Tier: 1, Holder: "山田"}, {Tier: 1, Holder: "\u2066田山\u2069"}}})
			return err
		}, "holder of item 1: character 1 is U+2066"},
	} {
		err := c.call()
		if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want 400 saying %q", c.what, err, c.want)
		}
	}
	if after := f.state(t, ev); after != before {
		t.Errorf("state changed:\n%s\nwas\n%s", after, before)
	}
	if now, _ := f.admin.Events(ctx); len(now) != len(evs) {
		t.Errorf("%d events, want %d", len(now), len(evs))
	}
	if e, err := f.admin.Event(ctx, ev); err != nil || len(e.Tiers) != 2 {
		t.Errorf("event after: %+v, %v; want its 2 tiers only", e, err)
	}
}

// TestEventTimesBounded: an event window outside the years 2000–2199 is
// refused and no event is made.
func TestEventTimesBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, c := range []struct{ start, end time.Time }{
		{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), start},
		{start, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
		{start, time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := f.admin.CreateEvent(ctx, wire.EventCreate{Name: "Far", Venue: "V", Start: c.start, End: c.end})
		if !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "outside the years 2000 to 2199") {
			t.Errorf("event %s to %s: got %v, want 400", c.start, c.end, err)
		}
	}
	if evs, err := f.admin.Events(ctx); err != nil || len(evs) != 0 {
		t.Errorf("events after the refused ones: %+v, %v", evs, err)
	}
}
