package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// wantOneAtATime checks a's answer is the 429 a gate gets for a second
// request of a kind it already has in progress.
func wantOneAtATime(t *testing.T, what string, a answer) {
	t.Helper()
	if a.status != http.StatusTooManyRequests || a.code() != wire.CodeBusy || a.header.Get("Retry-After") != "1" || !strings.Contains(string(a.body), "already has a "+what) {
		t.Errorf("second %s of one gate: %d %s (Retry-After %q), want 429 busy, Retry-After 1", what, a.status, a.body, a.header.Get("Retry-After"))
	}
}

// TestOneLongPollPerGate: a gate that opens many long-polls holds one
// place; the others are refused at once and another gate is served.
// Without the per-gate limit the first gate took both places of the
// budget and the other gate was shed.
func TestOneLongPollPerGate(t *testing.T) {
	f := newFixtureWith(t, func(c *server.Config) { c.LongPolls = 2 })
	ev := f.event(t)
	hog, other := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	cur := hog.snapshotCursor(t) // nothing after it: the polls wait
	answers := make(chan answer, 5)
	for range 5 {
		go func() { answers <- hog.do(t, http.MethodGet, "/v1/gate/changes?cursor="+cur+"&wait=30s", nil) }()
	}
	for range 4 {
		wantOneAtATime(t, "long-poll", <-answers)
	}
	if a := other.do(t, http.MethodGet, "/v1/gate/changes?cursor="+cur+"&wait=0s", nil); a.status != http.StatusOK {
		t.Errorf("another gate's long-poll while the first holds one: %d %s", a.status, a.body)
	}
	f.server.StopWaiting()
	if a := <-answers; a.status != http.StatusOK {
		t.Errorf("the held long-poll: %d %s", a.status, a.body)
	}
}

// heldSnapshots is a Store whose Snapshot for one gate waits until the
// test lets it go: a snapshot whose answer is not being read.
type heldSnapshots struct {
	server.Store
	mu      sync.Mutex
	gate    uint32
	entered chan struct{}
	release chan struct{}
}

func (h *heldSnapshots) Snapshot(ctx context.Context, gate uint32) (*wire.Snapshot, error) {
	h.mu.Lock()
	held := gate == h.gate
	h.gate = 0 // only the first: a second one is not held
	h.mu.Unlock()
	if held {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Store.Snapshot(ctx, gate)
}

// TestOneSnapshotPerGate: while a gate's snapshot is being sent, its
// second is refused at once and another gate's is served. Without the
// per-gate limit the two snapshots of one gate took both places and every
// other gate's snapshot was shed.
func TestOneSnapshotPerGate(t *testing.T) {
	hs := &heldSnapshots{entered: make(chan struct{}, 2), release: make(chan struct{})}
	f := newFixtureWith(t, func(c *server.Config) {
		c.Snapshots = 2
		hs.Store = c.Store
		c.Store = hs
	})
	ev := f.event(t)
	hog, other := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	hs.mu.Lock()
	hs.gate = hog.id
	hs.mu.Unlock()
	first := make(chan answer, 1)
	go func() {
		first <- hog.do(t, http.MethodGet, "/v1/gate/snapshot?nonce=00112233445566778899aabbccddeeff", nil)
	}()
	<-hs.entered
	wantOneAtATime(t, "snapshot", hog.do(t, http.MethodGet, "/v1/gate/snapshot?nonce=00112233445566778899aabbccddeeff", nil))
	if a := other.do(t, http.MethodGet, "/v1/gate/snapshot?nonce=00112233445566778899aabbccddeeff", nil); a.status != http.StatusOK {
		t.Errorf("another gate's snapshot while the first is held: %d %s", a.status, a.body)
	}
	close(hs.release)
	if a := <-first; a.status != http.StatusOK {
		t.Errorf("the held snapshot: %d %s", a.status, a.body)
	}
}

// slowUploads starts n uploads, each from its own gate, whose bodies
// trickle in: half sent, the rest never. It returns once the server has
// every one of them (their heartbeats are in), and the channel their
// answers come on.
func slowUploads(t *testing.T, f *fixture, ev uint32, tks []wire.IssuedTicket, n int) <-chan answer {
	t.Helper()
	answers := make(chan answer, n)
	for i := range n {
		g := f.gate(t, ev, "Slow "+string(rune('A'+i)))
		body, _ := json.Marshal(wire.UploadRequest{Admissions: []kido.Admission{g.admission(tks[i], kido.KindEntry, admitTime)}})
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(io.ErrClosedPipe) })
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/gate/upload", pr)
		req.ContentLength = int64(len(body))
		req.Header.Set("Authorization", "Bearer "+g.cred)
		go func() {
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				answers <- answer{status: -1, body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			answers <- answer{status: resp.StatusCode, header: resp.Header, body: b}
		}()
		go pw.Write(body[:len(body)/2])
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		sts, err := f.admin.GateStatuses(ctx, ev, 0)
		if err != nil {
			t.Fatal(err)
		}
		in := 0
		for _, st := range sts {
			if st.LastContact != nil {
				in++
			}
		}
		if in == n {
			return answers
		}
		if i == 1000 {
			t.Fatalf("%d of %d slow uploads reached the server", in, n)
		}
	}
}

// TestSlowUploadBodiesHoldNoWorker: four gates whose upload bodies
// trickle in hold no worker: a fifth gate's upload is stored at once.
// Before, the slow bodies were read by workers: one held the only worker,
// three the queue, and the fifth was shed after 2 s in the queue.
func TestSlowUploadBodiesHoldNoWorker(t *testing.T) {
	f := newFixtureWith(t, func(c *server.Config) {
		c.UploadWorkers = 1
		c.BodyWait = time.Minute
	})
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 5)
	slowUploads(t, f, ev, tks, 4)
	fast := f.gate(t, ev, "Fast")
	if a := fast.upload(t, wire.UploadRequest{Admissions: []kido.Admission{fast.admission(tks[4], kido.KindEntry, admitTime)}}); a.status != http.StatusOK || a.upload(t).Stored != 1 {
		t.Fatalf("an upload beside four slow bodies: %d %s", a.status, a.body)
	}
}

// TestSlowUploadBodyIsCut: a body not received within the body deadline
// is refused with 429 slow_body, and nothing is stored.
func TestSlowUploadBodyIsCut(t *testing.T) {
	f := newFixtureWith(t, func(c *server.Config) { c.BodyWait = time.Second })
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 2)
	answers := slowUploads(t, f, ev, tks, 2)
	before := f.state(t, ev)
	for range 2 {
		a := <-answers
		if a.status != http.StatusTooManyRequests || a.code() != wire.CodeSlowBody || a.header.Get("Retry-After") == "" {
			t.Errorf("slow body: %d %s, want 429 slow_body with Retry-After", a.status, a.body)
		}
	}
	if got := f.metric(t, `kido_shed_total{kind="upload-body"}`); got != 2 {
		t.Errorf("slow upload bodies counted %d, want 2", got)
	}
	if after := f.state(t, ev); after != before {
		t.Errorf("the refused slow uploads changed the state:\n%s\nwas\n%s", after, before)
	}
}
