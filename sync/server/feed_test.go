package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

func TestChangesLongPollWakes(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 4)
	a, b := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	cur := b.changes(t, b.snapshotCursor(t), 0).Cursor

	const wait = 25 * time.Second
	got := make(chan wire.Changes, 1)
	began := time.Now()
	go func() { got <- b.changes(t, cur, wait) }()
	// Let the poll start waiting; it must wake whether or not it has.
	time.Sleep(100 * time.Millisecond)
	adm := a.admission(tks[0], kido.KindEntry, admitTime)
	if ans := a.upload(t, wire.UploadRequest{Admissions: []kido.Admission{adm}}); ans.status != 200 {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	var c wire.Changes
	select {
	case c = <-got:
	case <-time.After(wait + 5*time.Second):
		t.Fatal("long-poll never answered")
	}
	if took := time.Since(began); took >= wait {
		t.Fatalf("long-poll answered after %v: it was not woken by the upload", took)
	}
	if len(c.Changes) != 1 || c.Changes[0].Admission == nil || c.Changes[0].Admission.Hash != adm.Hash {
		t.Fatalf("changes: %+v", c)
	}
	// An empty long-poll times out with the head as its cursor, and nothing.
	empty := b.changes(t, c.Cursor, time.Second)
	if len(empty.Changes) != 0 || empty.Cursor != c.Cursor || empty.Resnapshot {
		t.Fatalf("empty poll: %+v", empty)
	}
	// Changes of another event move the cursor of an idle event's gate on.
	other := f.event(t)
	if again := b.changes(t, c.Cursor, 0); len(again.Changes) != 0 || again.Cursor == c.Cursor {
		t.Errorf("after event %d changed: %+v", other, again)
	}
	for _, bad := range []string{"", "12", "1.zz", "-1.0123456789abcdef", "01.0123456789abcdef", "0.1"} {
		if a := b.do(t, http.MethodGet, "/v1/gate/changes?cursor="+bad, nil); a.status != 400 || a.code() != wire.CodeBadCursor {
			t.Errorf("cursor %q: %d %s", bad, a.status, a.body)
		}
	}
	for _, bad := range []string{"31s", "-1s", "soon"} {
		if a := b.do(t, http.MethodGet, "/v1/gate/changes?cursor=0.0&wait="+bad, nil); a.status != 400 || a.code() != wire.CodeBadCursor {
			t.Errorf("wait %q: %d %s", bad, a.status, a.body)
		}
	}
}

func TestResnapshotAfterPruning(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	f := newFixtureWith(t, func(c *server.Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	g := f.gate(t, ev, "North 1")
	old := g.snapshotCursor(t)
	if c := g.changes(t, old, 0); c.Resnapshot {
		t.Fatal("fresh cursor sent to resnapshot")
	}
	// Later changes: the old cursor's row is no longer the head, which is
	// never pruned.
	f.issue(t, ev, "b2", 2)
	// Nothing is pruned within the retention window or before the event ended.
	if n, err := f.server.PruneChanges(ctx); err != nil || n != 0 {
		t.Fatalf("prune now: %d, %v", n, err)
	}
	mu.Lock()
	now = start.Add(11*time.Hour + 23*time.Hour) // the event ended 23 h ago
	mu.Unlock()
	if n, err := f.server.PruneChanges(ctx); err != nil || n != 0 {
		t.Fatalf("prune 23 h after the end: %d, %v", n, err)
	}
	mu.Lock()
	now = start.Add(30 * 24 * time.Hour)
	mu.Unlock()
	n, err := f.server.PruneChanges(ctx)
	if err != nil || n == 0 {
		t.Fatalf("prune after retention: %d, %v", n, err)
	}
	for _, cur := range []string{old, "0.0"} {
		c := g.changes(t, cur, 0)
		if !c.Resnapshot || c.Cursor != "" || len(c.Changes) != 0 {
			t.Errorf("cursor %s after pruning: %+v", cur, c)
		}
	}
	// A fresh snapshot's cursor works, and feeds what comes next.
	cur := g.snapshotCursor(t)
	adm := g.admission(tks[0], kido.KindEntry, admitTime)
	g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{adm}})
	if c := g.changes(t, cur, 0); c.Resnapshot || len(c.Changes) != 1 {
		t.Errorf("after resnapshot: %+v", c)
	}
	// A cursor with the right position but another tag (a server restored
	// from an older backup) is sent to resnapshot too.
	pos, _, _ := strings.Cut(cur, ".")
	if c := g.changes(t, pos+".0123456789abcdef", 0); !c.Resnapshot {
		t.Errorf("wrong tag: %+v", c)
	}
}

// TestFeedMissesNothingUnderConcurrentUploads pulls the feed while eight
// gates upload at once and checks every admission arrives exactly once.
func TestFeedMissesNothingUnderConcurrentUploads(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	const gates, perGate, batch = 8, 60, 5
	tks := f.issue(t, ev, "b1", gates*perGate)
	reader := f.gate(t, ev, "Reader")
	cur := reader.snapshotCursor(t)
	devs := make([]*gateDev, gates)
	for i := range devs {
		devs[i] = f.gate(t, ev, "Gate "+string(rune('A'+i)))
	}
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perGate; j += batch {
				var req wire.UploadRequest
				for k := j; k < j+batch; k++ {
					req.Admissions = append(req.Admissions, d.admission(tks[i*perGate+k], kido.KindEntry, admitTime))
				}
				for {
					a := d.upload(t, req)
					if a.status == 200 {
						break
					}
					if a.status != 503 && a.status != 429 {
						t.Errorf("upload: %d %s", a.status, a.body)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	seen := map[[2]uint64]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < gates*perGate && time.Now().Before(deadline) {
		c := reader.changes(t, cur, 2*time.Second)
		if c.Resnapshot {
			t.Fatal("resnapshot while following the feed")
		}
		for _, ch := range c.Changes {
			if a := ch.Admission; a != nil {
				seen[[2]uint64{uint64(a.Gate), a.Seq}]++
			}
		}
		cur = c.Cursor
	}
	wg.Wait()
	// Whatever was committed last is in the feed too.
	for _, ch := range reader.changes(t, cur, 0).Changes {
		if a := ch.Admission; a != nil {
			seen[[2]uint64{uint64(a.Gate), a.Seq}]++
		}
	}
	if len(seen) != gates*perGate {
		t.Fatalf("feed delivered %d distinct admissions, want %d", len(seen), gates*perGate)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("admission %v delivered %d times", k, n)
		}
	}
}

func TestDoubleEntryReport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 4)
	north, south := f.gate(t, ev, "North 1"), f.gateWith(t, ev, wire.GateCreate{Name: "South 1", Direction: kido.DirectionBoth})
	// Partition: ticket 0 admitted at both gates; ticket 1 enters and exits
	// at one gate (no conflict); ticket 2 once.
	first := north.admission(tks[0], kido.KindEntry, admitTime)
	second := south.admission(tks[0], kido.KindEntry, admitTime.Add(2*time.Minute))
	upload := func(g *gateDev, as ...kido.Admission) {
		if a := g.upload(t, wire.UploadRequest{Admissions: as}); a.status != 200 {
			t.Fatalf("upload: %d %s", a.status, a.body)
		}
	}
	upload(south, second, south.admission(tks[1], kido.KindEntry, admitTime), south.admission(tks[1], kido.KindExit, admitTime.Add(time.Minute)))
	upload(north, first, north.admission(tks[2], kido.KindEntry, admitTime))

	cs, err := f.admin.Conflicts(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d conflicts, want 1: %+v", len(cs), cs)
	}
	c := cs[0]
	if c.Serial != tks[0].Serial || c.Holder != "山田 太郎" || len(c.Admissions) != 2 {
		t.Fatalf("conflict %+v", c)
	}
	a0, a1 := c.Admissions[0], c.Admissions[1]
	if a0.Hash != first.Hash || a0.GateName != "North 1" || a0.Excess || a1.Hash != second.Hash || a1.GateName != "South 1" || !a1.Excess {
		t.Errorf("admissions not in corrected order with the excess marked: %+v", c.Admissions)
	}
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 4 || rep.UniqueHolders != 3 || rep.Exits != 1 || rep.DoubleEntries != 1 {
		t.Errorf("report %+v", rep)
	}
	want := map[uint32][2]int{north.id: {2, 0}, south.id: {2, 1}}
	for _, g := range rep.PerGate {
		if w := want[g.Gate]; g.Entries != w[0] || g.Exits != w[1] {
			t.Errorf("gate %d: %+v, want entries/exits %v", g.Gate, g, w)
		}
	}
	if rep.PerTier[0].Issued != 2 || rep.PerTier[0].Admitted+rep.PerTier[1].Admitted != 4 {
		t.Errorf("per tier %+v", rep.PerTier)
	}
}

func TestDoubleEntryRules(t *testing.T) {
	at := func(m int) time.Time { return admitTime.Add(time.Duration(m) * time.Minute) }
	adm := func(gate uint32, seq uint64, kind string, m int) kido.Admission {
		return kido.Admission{Gate: gate, Seq: seq, Serial: 7, Tier: 1, Kind: kind, Corrected: at(m)}
	}
	cases := []struct {
		name    string
		entries kido.EntryRule
		as      []kido.Admission
		excess  []bool // in corrected order; nil: no conflict
	}{
		{"single, once", 1, []kido.Admission{adm(1, 1, kido.KindEntry, 0)}, nil},
		{"single, exits change nothing", 1, []kido.Admission{adm(1, 2, kido.KindEntry, 5), adm(1, 1, kido.KindEntry, 0), adm(1, 3, kido.KindExit, 3)}, []bool{false, false, true}},
		{"two entries allowed", 2, []kido.Admission{adm(1, 1, kido.KindEntry, 0), adm(2, 1, kido.KindManual, 1)}, nil},
		{"unlimited with exit", 0, []kido.Admission{adm(1, 1, kido.KindEntry, 0), adm(1, 2, kido.KindExit, 1), adm(2, 1, kido.KindEntry, 2)}, nil},
		{"unlimited without exit", 0, []kido.Admission{adm(1, 1, kido.KindEntry, 0), adm(2, 1, kido.KindEntry, 2)}, []bool{false, true}},
		{"same time, gate order", 1, []kido.Admission{adm(2, 1, kido.KindEntry, 0), adm(1, 1, kido.KindEntry, 0)}, []bool{false, true}},
	}
	for _, c := range cases {
		er := &server.EventRecords{Tiers: []kido.Tier{{ID: 1, Entries: c.entries}}, Admissions: c.as}
		cs := server.DoubleEntries(er)
		var got []bool
		if len(cs) == 1 {
			for _, a := range cs[0].Admissions {
				got = append(got, a.Excess)
			}
			if !sort.SliceIsSorted(cs[0].Admissions, func(i, j int) bool {
				x, y := cs[0].Admissions[i], cs[0].Admissions[j]
				return x.Corrected.Before(y.Corrected) || x.Corrected.Equal(y.Corrected) && x.Gate < y.Gate
			}) {
				t.Errorf("%s: not in corrected order", c.name)
			}
		}
		if len(cs) > 1 || !slices.Equal(got, c.excess) {
			t.Errorf("%s: %d conflicts, excess %v, want %v", c.name, len(cs), got, c.excess)
		}
	}
}

// TestSheddingKeepsHealthResponsive floods a server with tiny budgets with
// uploads and long-polls while checking that health answers throughout.
func TestSheddingKeepsHealthResponsive(t *testing.T) {
	f := newFixtureWith(t, func(c *server.Config) { c.UploadWorkers, c.LongPolls = 1, 4 })
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 500)
	const n = 12
	devs := make([]*gateDev, n)
	for i := range devs {
		devs[i] = f.gate(t, ev, "G"+string(rune('a'+i)))
	}
	var statuses sync.Map // status → *atomic.Int64
	count := func(s int) {
		v, _ := statuses.LoadOrStore(s, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	var badRetry atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range devs {
		// Two uploaders per gate, so that the same gate collides with itself.
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < 20; r++ {
					select {
					case <-stop:
						return
					default:
					}
					var req wire.UploadRequest
					dd := &gateDev{id: d.id, f: f, seq: uint64(r * 40)}
					for j := 0; j < 40; j++ {
						req.Admissions = append(req.Admissions, dd.admission(tks[(i*40+j)%len(tks)], kido.KindEntry, admitTime))
					}
					a := d.upload(t, req)
					count(a.status)
					if a.status == 503 || a.status == 429 {
						ra := a.header.Get("Retry-After")
						if (a.status == 429 && ra != "1") || (a.status == 503 && (len(ra) != 1 || ra < "1" || ra > "5")) || a.code() != wire.CodeBusy {
							badRetry.Store(a.status)
						}
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 5; r++ {
				a := d.do(t, http.MethodGet, "/v1/gate/changes?cursor=0.0&wait=1s", nil)
				count(a.status + 1000) // long-polls counted apart
			}
		}()
	}
	// Health and an operator endpoint answer all along.
	var worst time.Duration
	checks := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for loop := true; loop && checks < 10000; checks++ {
		select {
		case <-done:
			loop = false
		case <-time.After(20 * time.Millisecond):
		}
		t0 := time.Now()
		h, err := f.client(t, "").Health(context.Background())
		if err != nil || h.Status != "ok" || h.Database != "ok" {
			t.Fatalf("health during the flood: %+v, %v", h, err)
		}
		if _, err := f.admin.GateStatuses(context.Background(), ev, 0); err != nil {
			t.Fatalf("gates during the flood: %v", err)
		}
		worst = max(worst, time.Since(t0))
	}
	close(stop)
	get := func(s int) int64 {
		if v, ok := statuses.Load(s); ok {
			return v.(*atomic.Int64).Load()
		}
		return 0
	}
	t.Logf("uploads: 200=%d 429=%d 503=%d; long-polls: 200=%d 503=%d; %d health checks, slowest health+gates %v",
		get(200), get(429), get(503), get(1200), get(1503), checks, worst)
	if get(200) == 0 || get(503) == 0 || get(429) == 0 || get(1503) == 0 || get(1200) == 0 {
		t.Error("the flood did not both serve and shed uploads and long-polls")
	}
	if v := badRetry.Load(); v != nil {
		t.Errorf("a %d answer without a proper Retry-After and busy code", v)
	}
	statuses.Range(func(k, v any) bool {
		switch k.(int) {
		case 200, 429, 503, 1200, 1503:
		default:
			t.Errorf("unexpected status %v ×%d", k, v.(*atomic.Int64).Load())
		}
		return true
	})
	// Metrics show the shedding; key ages come from the periodic check. A
	// long-poll's place is given back just after its answer is sent, so
	// the gauge reaches 0 a moment after the last client has its answer.
	f.server.CheckNow(context.Background())
	for i := 0; f.metric(t, "kido_longpolls_active") != 0; i++ {
		if i == 500 {
			t.Fatal("kido_longpolls_active never came back to 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/metrics", nil)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	json.NewDecoder(resp.Body) // the body is text, read it whole below
	b := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(b)
		buf.Write(b[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	for _, want := range []string{`kido_shed_total{kind="upload"} `, `kido_requests_total{endpoint="upload",status="503"} `, "kido_database_up 1", `kido_signing_key_age_seconds{event="1"}`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), `kido_shed_total{kind="upload"} 0`) {
		t.Error("metrics show no upload shed")
	}
}

// FuzzUpload sends arbitrary bodies through the upload handler of a real
// server over a real SQLite store: it never panics or fails with 500, and
// anything but a 200 leaves the state as it was.
func FuzzUpload(f *testing.F) {
	fx := newFixture(f)
	ev := fx.event(f)
	tks := fx.issue(f, ev, "b1", 3)
	g := fx.gate(f, ev, "North 1")
	good := g.admission(tks[0], kido.KindEntry, admitTime)
	seed, _ := json.Marshal(wire.UploadRequest{Admissions: []kido.Admission{good}})
	f.Add(seed)
	f.Add([]byte(`{"admissions":[],"audits":[]}`))
	f.Add([]byte(`{"admissions":[{"gate":1,"seq":-1}]}`))
	f.Add([]byte(`{"audits":[{"gate":1,"seq":1,"kind":"entry","reason":"x","at":"2027-01-01T00:00:00Z","corrected":"2027-01-01T00:00:00Z","text":"\ufffd","hash":""}]}`))
	f.Add([]byte(`[]`))
	h := fx.server.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := fx.state(t, ev)
		req := httptest.NewRequest(http.MethodPost, "/v1/gate/upload", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+g.cred)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 409:
		case 400, 403, 413:
			if after := fx.state(t, ev); after != before {
				t.Fatalf("refused upload (%d %s) changed the state:\n%s\n%s", rec.Code, rec.Body, before, after)
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var e wire.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); rec.Code != 200 && (err != nil || e.Code == "") {
			t.Fatalf("status %d without a wire.Error: %s", rec.Code, rec.Body)
		}
	})
}

// TestLongPollYieldsToQueuedUploads holds one upload in a server's only
// upload worker and queues a second behind it: a long-poll that arrives
// then, although changes are waiting for it, is held back until no upload
// is queued, so its answer already carries the first upload's admission.
// heldUploads is a Store whose Upload for a gate waits until the test
// lets it go, so that the upload holds its worker meanwhile.
type heldUploads struct {
	server.Store
	mu   sync.Mutex
	held map[uint32]chan struct{}
}

func (h *heldUploads) hold(gate uint32) (release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := make(chan struct{})
	h.held[gate] = c
	return func() { close(c) }
}

func (h *heldUploads) Upload(ctx context.Context, ev, gate uint32, req *wire.UploadRequest, flags map[uint64]wire.Flag, now time.Time) (wire.UploadResponse, error) {
	h.mu.Lock()
	c := h.held[gate]
	h.mu.Unlock()
	if c != nil {
		select {
		case <-c:
		case <-ctx.Done():
			return wire.UploadResponse{}, ctx.Err()
		}
	}
	return h.Store.Upload(ctx, ev, gate, req, flags, now)
}

func TestLongPollYieldsToQueuedUploads(t *testing.T) {
	hs := &heldUploads{held: map[uint32]chan struct{}{}}
	f := newFixtureWith(t, func(c *server.Config) {
		c.UploadWorkers = 1
		hs.Store = c.Store
		c.Store = hs
	})
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 2)
	g1, g2, reader := f.gate(t, ev, "North 1"), f.gate(t, ev, "North 2"), f.gate(t, ev, "South 1")

	// An upload that is stored only when send is called: it holds its
	// worker (or its place in the queue) until then.
	slow := func(g *gateDev, a kido.Admission) (send func(), done <-chan answer) {
		release := hs.hold(g.id)
		out := make(chan answer, 1)
		go func() { out <- g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{a}}) }()
		// A test that stops early must not leave the upload hanging.
		var once sync.Once
		t.Cleanup(func() { once.Do(release) })
		return func() { once.Do(release) }, out
	}
	waitFor := func(metric string, want int) {
		t.Helper()
		for i := 0; f.metric(t, metric) != want; i++ {
			if i == 500 {
				t.Fatalf("%s never reached %d", metric, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := g1.admission(tks[0], kido.KindEntry, admitTime)
	send1, done1 := slow(g1, first)
	waitFor("kido_uploads_active", 1)
	send2, done2 := slow(g2, g2.admission(tks[1], kido.KindEntry, admitTime))
	waitFor("kido_uploads_active", 2) // the second waits for the worker

	polled := make(chan answer, 1)
	go func() { polled <- reader.do(t, http.MethodGet, "/v1/gate/changes?cursor=0.0&wait=25s", nil) }()
	for i := 0; f.metric(t, "kido_longpolls_active") != 1; i++ {
		if i == 500 || len(polled) > 0 {
			t.Fatal("the long-poll was not held back while an upload was queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
	send1()
	if a := <-done1; a.status != 200 {
		t.Fatalf("first upload: %d %s", a.status, a.body)
	}
	a := <-polled
	var ch wire.Changes
	if err := json.Unmarshal(a.body, &ch); a.status != 200 || err != nil {
		t.Fatalf("long-poll: %d %s", a.status, a.body)
	}
	found := false
	for _, c := range ch.Changes {
		found = found || (c.Admission != nil && c.Admission.Hash == first.Hash)
	}
	if !found {
		t.Errorf("the long-poll answered while an upload was queued: %d changes without the first upload's admission", len(ch.Changes))
	}
	send2()
	if a := <-done2; a.status != 200 {
		t.Fatalf("second upload: %d %s", a.status, a.body)
	}
}

// TestClientGoneIsNotAServerError: a poll whose gate went away before it
// was answered is counted as 499, never as a 500 or logged as a fault.
func TestClientGoneIsNotAServerError(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	g := f.gate(t, ev, "North 1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/gate/changes?cursor=0.0&wait=25s", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+g.cred)
	rec := httptest.NewRecorder()
	f.server.Handler().ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Errorf("status %d, want 499", rec.Code)
	}
	if n := f.metric(t, `kido_requests_total{endpoint="changes",status="499"}`); n != 1 {
		t.Errorf("metrics count %d polls whose client left, want 1", n)
	}
	if strings.Contains(f.logs.String(), "request failed") {
		t.Errorf("a client going away was logged as a failure:\n%s", f.logs.String())
	}
}
