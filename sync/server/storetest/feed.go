package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// feedTests cover the change log and its cursors (docs/sync-protocol.md
// §4.4).
var feedTests = []storeTest{
	{"EmptyLog", testEmptyLog},
	{"Pages", testPages},
	{"EventsApart", testEventsApart},
	{"Resnapshot", testResnapshot},
	{"Prune", testPrune},
	{"ConcurrentCommits", testConcurrentCommits},
}

func testEmptyLog(t *testing.T, f *fixture) {
	p := f.page(1, server.Cursor{}, 10)
	if len(p.Changes) != 0 || p.Next != (server.Cursor{}) {
		t.Errorf("Changes of an empty log = %+v, want nothing and the start of the log", p)
	}
}

// testPages reads the same changes in pages of every size: a full page
// continues after its last change, a short one from the head.
func testPages(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	f.issue(a, "b", 5)
	f.gate(a.ID, "North")
	all, head := f.feed(a.ID, server.Cursor{})
	if len(all) != 2+1+5+1 {
		t.Fatalf("feed of a new event: %s, want event, key, tier, 5 roster, gate", kinds(all))
	}
	for _, limit := range []int{1, 2, 3, len(all) - 1, len(all), len(all) + 1} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []wire.Change
			c := server.Cursor{}
			for {
				p := f.page(a.ID, c, limit)
				if len(p.Changes) > limit {
					t.Fatalf("a page of %d changes, limit %d", len(p.Changes), limit)
				}
				for _, raw := range p.Changes {
					got = append(got, f.decode(raw))
				}
				c = p.Next
				if len(p.Changes) < limit {
					break
				}
			}
			if jsonOf(got) != jsonOf(all) {
				t.Errorf("read in pages of %d: %s, want %s", limit, kinds(got), kinds(all))
			}
			if c != head {
				t.Errorf("cursor after the last page %v, want %v", c, head)
			}
		})
	}
	// At the head, nothing more and the same place: an idle gate's cursor
	// does not move.
	if p := f.page(a.ID, head, 10); len(p.Changes) != 0 || p.Next != head {
		t.Errorf("Changes at the head = %+v, want nothing and cursor %v", p, head)
	}
}

// testEventsApart checks that an event's feed carries its changes only,
// and that another event's changes do not disturb its cursor.
func testEventsApart(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	headA := f.head(a.ID)
	b := f.liveEvent("B")
	f.issue(b, "b", 3)
	bg := f.gate(b.ID, "B gate")
	_, err := f.s.RevokeGate(f.ctx, b.ID, bg.ID, t0)
	ok(t, "RevokeGate", err)
	if changes, _ := f.feed(a.ID, headA); len(changes) != 0 {
		t.Errorf("event A's feed carries %s of event B", kinds(changes))
	}
	f.issue(a, "b", 1)
	changes, _ := f.feed(a.ID, headA)
	if kinds(changes) != wire.ChangeRoster || changes[0].Roster.Serial != 1 {
		t.Errorf("event A's feed after its own issue: %+v", changes)
	}
	all, _ := f.feed(b.ID, server.Cursor{})
	for _, c := range all {
		if (c.Event != nil && c.Event.ID != b.ID) || (c.Key != nil && c.Key.Event != b.ID) ||
			(c.Tier != nil && c.Tier.Event != b.ID) || (c.Gate != nil && c.Gate.Event != b.ID) {
			t.Errorf("event B's feed carries %+v", c)
		}
	}
}

// testResnapshot checks that a cursor naming a position whose row is gone
// or carries another tag (a server restored from an older backup) is
// answered with a resnapshot and nothing else.
func testResnapshot(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	head := f.head(a.ID)
	if head.Tag == "" {
		t.Fatalf("head %v of a non-empty log has no tag", head)
	}
	otherTag := head
	otherTag.Tag = fmt.Sprintf("%016x", ^hexValue(t, head.Tag))
	past := head
	past.Pos += 1_000_000
	for _, c := range []struct {
		what string
		c    server.Cursor
	}{
		{"another tag", otherTag},
		{"a position past the head", past},
	} {
		p, err := f.s.Changes(f.ctx, a.ID, c.c, 10)
		ok(t, "Changes", err)
		if !p.Resnapshot || len(p.Changes) != 0 || p.Next != (server.Cursor{}) {
			t.Errorf("Changes after a cursor with %s = %+v, want a resnapshot and nothing else", c.what, p)
		}
	}
}

func hexValue(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("tag %q is not hex: %v", s, err)
	}
	return v
}

// testPrune checks retention: rows of ended events go, rows of others
// stay, the head stays (an idle gate's cursor stays valid), and the start
// of a pruned log is no longer a valid place.
func testPrune(t *testing.T, f *fixture) {
	ended := f.event("Ended", t0.Add(12*time.Hour))
	f.issue(ended, "b", 3)
	live := f.liveEvent("Live")
	// A cursor into the live event's log, with changes after it.
	first := f.page(live.ID, server.Cursor{}, 1)
	f.issue(live, "b", 2)
	liveAfter, _ := f.feed(live.ID, first.Next)
	// The ended event writes last, so its head is the newest row of the log.
	_, err := f.s.AddTier(f.ctx, ended.ID, "Late", 1)
	ok(t, "AddTier", err)
	endedHead := f.head(ended.ID)
	endedAll, _ := f.feed(ended.ID, server.Cursor{})

	// The store stamps rows with its own clock: the real one.
	now := time.Now()
	afterEnd := t0.Add(36 * time.Hour)
	for _, c := range []struct {
		what          string
		cutoff, ended time.Time
	}{
		{"rows younger than the cutoff", now.Add(-time.Hour), afterEnd},
		{"events not ended", now.Add(24 * time.Hour), t0},
	} {
		n, err := f.s.PruneChanges(f.ctx, c.cutoff, c.ended)
		ok(t, "PruneChanges", err)
		if n != 0 {
			t.Errorf("PruneChanges of %s pruned %d rows", c.what, n)
		}
	}
	if again, _ := f.feed(ended.ID, server.Cursor{}); jsonOf(again) != jsonOf(endedAll) {
		t.Fatalf("feed after pruning nothing: %s, want %s", kinds(again), kinds(endedAll))
	}

	n, err := f.s.PruneChanges(f.ctx, now.Add(24*time.Hour), afterEnd)
	ok(t, "PruneChanges", err)
	if n < 1 || n > int64(len(endedAll)) {
		t.Errorf("PruneChanges pruned %d rows, want 1 to the ended event's %d", n, len(endedAll))
	}
	p, err := f.s.Changes(f.ctx, ended.ID, server.Cursor{}, 10)
	ok(t, "Changes", err)
	if !p.Resnapshot {
		t.Errorf("Changes from the start of a pruned log = %+v, want a resnapshot", p)
	}
	if p := f.page(ended.ID, endedHead, 10); len(p.Changes) != 0 {
		t.Errorf("Changes at the ended event's head after pruning = %+v, want nothing", p)
	}
	if got, _ := f.feed(live.ID, first.Next); jsonOf(got) != jsonOf(liveAfter) {
		t.Errorf("live event's feed after pruning: %s, want %s", kinds(got), kinds(liveAfter))
	}
}

// broadcast wakes readers after each commit, as the server's hub does: a
// reader takes the channel before it reads, so no commit is missed.
type broadcast struct {
	mu sync.Mutex
	c  chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{c: make(chan struct{})} }

func (b *broadcast) channel() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.c)
	b.c = make(chan struct{})
}

// walk follows ev's feed from c in pages of limit, as a gate does, until
// done is closed and a read begun after that reaches the head. It returns
// the changes in the order read. It runs beside the test's goroutine, so
// it reports errors instead of failing the test.
func walk(f *fixture, ev uint32, c server.Cursor, limit int, committed *broadcast, done <-chan struct{}) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for {
		woken := committed.channel()
		var finished bool
		select {
		case <-done:
			finished = true
		default:
		}
		p, err := f.s.Changes(f.ctx, ev, c, limit)
		if err != nil {
			return out, err
		}
		if p.Resnapshot {
			return out, fmt.Errorf("resnapshot after %d changes at cursor %v", len(out), c)
		}
		out = append(out, p.Changes...)
		c = p.Next
		if len(p.Changes) == limit {
			continue
		}
		if finished {
			return out, nil
		}
		select {
		case <-woken:
		case <-done:
		}
	}
}

// testConcurrentCommits has writers commit changes of two events at once
// while readers walk event A's feed in pages of several sizes and a gate
// takes a snapshot and follows it. Every walk must see exactly the log as
// read after the writers stopped: every change once, in commit order,
// none skipped; and the snapshot and the feed after it must hold every
// admission exactly once between them.
func testConcurrentCommits(t *testing.T, f *fixture) {
	const uploaders, batches, batch = 4, 8, 3
	const issues = 8
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "setup", uploaders*batches*batch)
	btks := f.issue(b, "setup", batches)
	gates := make([]kido.Gate, uploaders)
	for i := range gates {
		gates[i] = f.gate(a.ID, fmt.Sprint("Gate ", i))
	}
	bg := f.gate(b.ID, "B gate")
	reader := f.gate(a.ID, "Reader")
	start := f.head(a.ID)

	committed := newBroadcast()
	done := make(chan struct{})
	errs := make(chan error, 64)
	var writers sync.WaitGroup
	write := func(fn func() error) {
		writers.Add(1)
		go func() {
			defer writers.Done()
			if err := fn(); err != nil {
				errs <- err
			}
		}()
	}
	for i, g := range gates {
		write(func() error {
			for j := range batches {
				var req wire.UploadRequest
				for k := range batch {
					seq := uint64(j*batch + k + 1)
					req.Admissions = append(req.Admissions, admission(g.ID, seq, tks[i*batches*batch+int(seq)-1]))
				}
				if _, err := f.s.Upload(f.ctx, a.ID, g.ID, &req, nil, t0); err != nil {
					return fmt.Errorf("gate %d upload %d: %w", g.ID, j, err)
				}
				committed.notify()
			}
			return nil
		})
	}
	write(func() error { // tickets of event A, in their own transactions
		for j := range issues {
			req := wire.IssueRequest{Batch: "during", Offset: 2 * j, Tickets: []wire.IssueItem{item(2 * j), item(2*j + 1)}}
			if _, err := f.s.Issue(f.ctx, a.ID, req, signer(a.key)); err != nil {
				return fmt.Errorf("issue %d: %w", j, err)
			}
			committed.notify()
		}
		return nil
	})
	write(func() error { // event B's admissions, which A's feed never carries
		for j := range batches {
			req := wire.UploadRequest{Admissions: []kido.Admission{admission(bg.ID, uint64(j+1), btks[j])}}
			if _, err := f.s.Upload(f.ctx, b.ID, bg.ID, &req, nil, t0); err != nil {
				return fmt.Errorf("event B upload %d: %w", j, err)
			}
			committed.notify()
		}
		return nil
	})

	limits := []int{1, 4, 1000}
	walks := make([][]json.RawMessage, len(limits))
	var readers sync.WaitGroup
	for i, limit := range limits {
		readers.Add(1)
		go func() {
			defer readers.Done()
			var err error
			if walks[i], err = walk(f, a.ID, start, limit, committed, done); err != nil {
				errs <- fmt.Errorf("walk in pages of %d: %w", limit, err)
			}
		}()
	}
	// Snapshots taken as commits land, each followed later from its cursor.
	const snapshots = 16
	var snaps []*wire.Snapshot
	readers.Add(1)
	go func() {
		defer readers.Done()
		for range snapshots {
			select {
			case <-committed.channel():
			case <-done:
			}
			snap, err := f.s.Snapshot(f.ctx, reader.ID)
			if err != nil {
				errs <- fmt.Errorf("snapshot: %w", err)
				return
			}
			snaps = append(snaps, snap)
		}
	}()

	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// The log as read after every commit: each admission and each ticket
	// issued during the run once, each writer's in its commit order.
	var final []json.RawMessage
	for c := start; ; {
		p := f.page(a.ID, c, 1000)
		final = append(final, p.Changes...)
		if c = p.Next; len(p.Changes) < 1000 {
			break
		}
	}
	var admitted []kido.Admission
	var serials []uint32
	lastSeq := map[uint32]uint64{}
	for _, raw := range final {
		ch := f.decode(raw)
		switch {
		case ch.Admission != nil:
			ad := *ch.Admission
			if ad.Seq != lastSeq[ad.Gate]+1 {
				t.Errorf("gate %d's admission %d follows its %d in the feed", ad.Gate, ad.Seq, lastSeq[ad.Gate])
			}
			lastSeq[ad.Gate] = ad.Seq
			admitted = append(admitted, ad)
		case ch.Roster != nil:
			serials = append(serials, ch.Roster.Serial)
		default:
			t.Errorf("unexpected %s change in the feed", ch.Kind)
		}
	}
	var want []kido.Admission
	for i, g := range gates {
		for seq := uint64(1); seq <= batches*batch; seq++ {
			want = append(want, admission(g.ID, seq, tks[i*batches*batch+int(seq)-1]))
		}
	}
	checkAdmissions(t, "admissions in the feed", admitted, want)
	first := uint32(len(tks)) + 1
	wantSerials := make([]uint32, 2*issues)
	for i := range wantSerials {
		wantSerials[i] = first + uint32(i)
	}
	if !slices.Equal(serials, wantSerials) {
		t.Errorf("tickets in the feed: %v, want %v", serials, wantSerials)
	}

	for i, w := range walks {
		if !sameRaw(w, final) {
			t.Errorf("walk in pages of %d saw %d changes, not the %d of the log in its order", limits[i], len(w), len(final))
		}
	}

	// A snapshot and the feed after its cursor: every admission and every
	// ticket once between them.
	for i, snap := range snaps {
		c, err := server.ParseCursor(snap.Cursor)
		ok(t, "ParseCursor of a snapshot's cursor", err)
		after, _ := f.feed(a.ID, c)
		seen := map[string]int{}
		for _, ad := range snap.Admissions {
			seen[fmt.Sprint("admission ", ad.Gate, "/", ad.Seq)]++
		}
		for _, r := range snap.Roster {
			seen[fmt.Sprint("ticket ", r.Serial)]++
		}
		for _, ch := range after {
			switch {
			case ch.Admission != nil:
				seen[fmt.Sprint("admission ", ch.Admission.Gate, "/", ch.Admission.Seq)]++
			case ch.Roster != nil:
				seen[fmt.Sprint("ticket ", ch.Roster.Serial)]++
			}
		}
		var missing, twice []string
		for _, ad := range want {
			k := fmt.Sprint("admission ", ad.Gate, "/", ad.Seq)
			if seen[k] == 0 {
				missing = append(missing, k)
			}
		}
		for _, serial := range wantSerials {
			if k := fmt.Sprint("ticket ", serial); seen[k] == 0 {
				missing = append(missing, k)
			}
		}
		for k, n := range seen {
			if n > 1 {
				twice = append(twice, k)
			}
		}
		if len(missing) > 0 || len(twice) > 0 {
			t.Errorf("snapshot %d and the feed after it: missing %v, twice %v", i, missing, twice)
		}
	}
}

func sameRaw(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return string(x) == string(y) })
}
