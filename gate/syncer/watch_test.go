package syncer

import (
	"context"
	"testing"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// limit bounds every wait on a signal in these tests: reaching it fails
// the test.
const limit = 10 * time.Second

// otherProcess opens the gate's replica on a connection of its own, as
// kido-gate scan in another process does.
func otherProcess(t *testing.T, g *gateUnderTest) *replica.Replica {
	t.Helper()
	r, err := replica.Open(g.r.Path(), replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func scanWith(t *testing.T, r *replica.Replica, text string) {
	t.Helper()
	d, err := r.Scan(ctx, gate.Line{Text: text, Length: int64(len(text))}, false)
	if err != nil || !d.Admit {
		t.Fatalf("scan: %+v, %v", d, err)
	}
}

// TestWatchSeesOtherConnections drives the watcher tick by tick: a commit
// by another connection that leaves records waiting nudges the uploader
// and refreshes the status; one by the syncer's own connection, or one
// that leaves nothing waiting, does not nudge.
func TestWatchSeesOtherConnections(t *testing.T) {
	g := newGate(t, false, nil)
	other := otherProcess(t, g)
	seen, err := g.r.DataVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tick := make(chan time.Time)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { g.s.watch(wctx, seen, tick); close(done) }()
	defer func() { cancel(); <-done }()
	// look makes the watcher look twice: the unbuffered send of the second
	// tick is taken only once the first look is over.
	look := func() {
		t.Helper()
		for range 2 {
			select {
			case tick <- time.Now():
			case <-time.After(limit):
				t.Fatal("the watcher does not take its ticks")
			}
		}
	}
	nudged := func() bool {
		select {
		case <-g.s.nudge:
			return true
		default:
			return false
		}
	}

	g.scan(t, g.f.Ticket(1))
	look()
	if nudged() {
		t.Error("a scan on the syncer's own connection nudged the uploader (kido-gate run nudges after its own scans)")
	}

	scanWith(t, other, g.f.Ticket(2))
	look()
	if !nudged() {
		t.Fatal("a scan by another connection did not nudge the uploader")
	}
	if st := g.s.Status(); st.Pending != 2 {
		t.Errorf("status pending %d after the other connection's scan, want 2", st.Pending)
	}

	// Another process syncs (kido-gate sync): nothing waits any more, and
	// its last sync shows.
	synced := time.Date(2027, 8, 1, 12, 0, 0, 0, time.UTC)
	if err := other.AckUpload(ctx, &wire.UploadResponse{Acked: 2, Highest: 2, ServerTime: synced}); err != nil {
		t.Fatal(err)
	}
	look()
	if nudged() {
		t.Error("a commit that left nothing waiting nudged the uploader")
	}
	if st := g.s.Status(); st.Pending != 0 || !st.LastSync.Equal(synced) {
		t.Errorf("status after another process synced: pending %d, last sync %v; want 0, %v", st.Pending, st.LastSync, synced)
	}
}

// TestRunUploadsWhatAnotherProcessRecorded: with the uploader idle (its
// clock never moves on, so only a nudge wakes it), an admission committed
// by another connection is uploaded.
func TestRunUploadsWhatAnotherProcessRecorded(t *testing.T) {
	g := newGate(t, false, func(c *Config) { c.Watch = 10 * time.Millisecond })
	other := otherProcess(t, g)
	uploaded := make(chan struct{}, 10)
	g.srv.uploadsOut = func() { uploaded <- struct{}{} }
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.s.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	waitAsked := func(want time.Duration) {
		t.Helper()
		for {
			select {
			case d := <-g.clock.asked:
				if d == want {
					return
				}
			case <-time.After(limit):
				t.Fatalf("no wait of %v asked of the clock", want)
			}
		}
	}
	waitAsked(DefaultStartDelay / 2) // both loops' random start
	waitAsked(DefaultStartDelay / 2)
	g.clock.Advance(DefaultStartDelay)
	waitAsked(DefaultIdle) // the first upload, empty, is answered: the uploader is idle
	<-uploaded

	scanWith(t, other, g.f.Ticket(3))
	select {
	case <-uploaded:
	case <-time.After(limit):
		t.Fatalf("the admission another connection recorded was not uploaded within %v", limit)
	}
	ups := g.srv.requests("/v1/gate/upload")
	if adm, _ := seqs(ups[len(ups)-1].upload); len(adm) != 1 || adm[0] != 1 {
		t.Errorf("upload after the other connection's scan: admissions %v, want seq 1", adm)
	}
}

// TestRunStatusStartsFromReplica: before any request, the status shows the
// last sync the replica holds (here the enrolment's snapshot), and that it
// is connecting rather than offline.
func TestRunStatusStartsFromReplica(t *testing.T) {
	g := newGate(t, false, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.s.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-g.clock.asked: // a loop has started: Run has read the replica
	case <-time.After(limit):
		t.Fatal("Run did not start its loops")
	}
	st := g.s.Status()
	if want := g.f.Snapshot.ServerTime; !st.LastSync.Equal(want) {
		t.Errorf("last sync at start %v, want the replica's %v", st.LastSync, want)
	}
	if !st.Connecting() || st.Online {
		t.Errorf("status at start: connecting %v, online %v; want connecting, not online", st.Connecting(), st.Online)
	}
}
