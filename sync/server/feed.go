package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// maxChanges is the most changes one feed answer carries in JSON
// (version 1), and maxCompactChanges in the compact encoding (version 2):
// a gate pays per answer for a request, a signature check and a
// transaction, so a gate catching up after an outage learns five times as
// much per answer (about 65 KB of gzip), which every gate of version 2
// decodes (wire.UnmarshalFeed takes up to 100,000).
const (
	maxChanges        = 1000
	maxCompactChanges = 5000
)

// pageLimit is the most changes a page of enc carries.
func pageLimit(enc feedEncoding) int {
	if enc == feedCompact {
		return maxCompactChanges
	}
	return maxChanges
}

// hub wakes the long-polls of an event when changes for it commit
// (docs/sync-protocol.md §4.3): each event has a channel that is closed
// and replaced after every such commit. A poll takes the channel before
// it reads the log, so a commit between its read and its wait still
// closes the channel it waits on.
//
// The hub also counts the commits of every event (the generation), so
// that a cached feed page read before the latest commit is known to be
// stale: its cursor, the log head of its read, has moved on even when the
// commit was another event's.
type hub struct {
	mu    sync.Mutex
	chans map[uint32]chan struct{}
	gen   uint64
	// The commits notified of each event, and of all events at once
	// (notifyAll): what the periodic check compares to skip recounting
	// an event whose log has not moved.
	commits map[uint32]uint64
	all     uint64
	stop    chan struct{} // closed at shutdown: every waiter answers
	once    sync.Once
}

func newHub() *hub {
	return &hub{chans: map[uint32]chan struct{}{}, commits: map[uint32]uint64{}, stop: make(chan struct{})}
}

// logVersion names how far event's log has moved as far as this instance
// was told: equal versions, read before two reads of the store, mean no
// change of event was committed between them.
type logVersion struct{ event, all uint64 }

// version returns event's logVersion now.
func (h *hub) version(event uint32) logVersion {
	h.mu.Lock()
	defer h.mu.Unlock()
	return logVersion{h.commits[event], h.all}
}

// channel returns the channel the next commit for event will close, and
// the generation: how many commits were notified before it.
func (h *hub) channel(event uint32) (<-chan struct{}, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.chans[event]
	if !ok {
		c = make(chan struct{})
		h.chans[event] = c
	}
	return c, h.gen
}

// notify wakes the waiters of event; call it after the commit.
func (h *hub) notify(event uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.commits[event]++
	if c, ok := h.chans[event]; ok {
		close(c)
		delete(h.chans, event)
	}
}

// notifyAll wakes the waiters of every event.
func (h *hub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.all++
	for ev, c := range h.chans {
		close(c)
		delete(h.chans, ev)
	}
}

func (h *hub) shutdown() { h.once.Do(func() { close(h.stop) }) }

// StopWaiting makes every long-poll answer now with what it has; call it
// when the HTTP server shuts down (http.Server.RegisterOnShutdown).
func (s *Server) StopWaiting() { s.feed.shutdown() }

// changed is called by handlers after a commit that appended changes of
// event to the log.
func (s *Server) changed(event uint32) { s.feed.notify(event) }

// watchChanges wakes this instance's long-polls on the changes every
// instance sharing the store commits, until ctx ends.
func (s *Server) watchChanges(ctx context.Context, n ChangeNotifier) {
	n.WatchChanges(ctx, func(event uint32) {
		if event == 0 {
			s.feed.notifyAll()
			return
		}
		s.feed.notify(event)
	}, func(err error) {
		s.log.Warn("change notifications lost; long-polls wake late until reconnected", "err", err)
	})
}

// parseWait reads the wait parameter: a Go duration from 0 to wire.MaxWait,
// absent meaning 0.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > wire.MaxWait {
		return 0, codeErrorf(ErrInvalid, wire.CodeBadCursor, "wait is a Go duration such as 25s, at most 30s", "bad wait %q", v)
	}
	return d, nil
}

// changes serves GET /v1/gate/changes: the gate's event's changes after
// its cursor, waiting up to wait for one when there are none, in the
// encoding the gate accepts (docs/sync-protocol.md §4.5).
func (s *Server) changes(w http.ResponseWriter, r *http.Request, tok wire.Token) error {
	if err := s.heartbeat(r, tok); err != nil {
		return err
	}
	if !s.polling.start(tok.Gate) {
		s.shed(w, "long-poll", true)
		return nil
	}
	select {
	case s.polls <- struct{}{}:
	default:
		s.polling.done(tok.Gate)
		s.shed(w, "long-poll", false)
		return nil
	}
	// The places are given back before the answer is written: a gate
	// polls again as soon as it has read it, and must find its place free.
	leave := sync.OnceFunc(func() { <-s.polls; s.polling.done(tok.Gate) })
	defer leave()
	q := r.URL.Query()
	asked := q.Get("cursor") // signed as sent: the gate verifies against what it sent
	cur, err := ParseCursor(asked)
	if err != nil {
		return err
	}
	wait, err := parseWait(q.Get("wait"))
	if err != nil {
		return err
	}
	if hb, err := wire.ParseHeartbeat(r.Header); err == nil {
		s.marks.polled(tok.Gate, cur.Pos, hb.Pending)
	}
	ev := tok.Events[0]
	key := pageKey{event: ev, cursor: asked, enc: feedEncodingOf(r)}
	end := time.Now().Add(wait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.yieldToUploads(r.Context(), end)
		// Take the channel before reading: see hub.
		woken, gen := s.feed.channel(ev)
		pg, err := s.page(r.Context(), key, cur, gen)
		if err != nil {
			return err
		}
		if pg.resnapshot || pg.changes > 0 || !time.Now().Before(end) {
			leave()
			s.writePage(w, r, key.enc, pg)
			return nil
		}
		cur = pg.next
		select {
		case <-woken:
		case <-deadline.C:
			// Answer from a fresh read: the page read before the wait
			// carries the server time of then.
		case <-r.Context().Done():
			leave()
			s.writePage(w, r, key.enc, pg)
			return nil
		case <-s.feed.stop:
			leave()
			s.writePage(w, r, key.enc, pg)
			return nil
		}
	}
}

// readFeed reads a page of the change log, with at most cap(feedReads)
// pages read at once: a feed catching up pages through the log as fast as
// gates ask, and with a read per waiting gate at once it would take every
// core from uploads and health; one less than the cores leaves them one.
func (s *Server) readFeed(ctx context.Context, ev uint32, cur Cursor, limit int) (FeedPage, error) {
	select {
	case s.feedReads <- struct{}{}:
		defer func() { <-s.feedReads }()
	case <-ctx.Done():
		return FeedPage{}, ctx.Err()
	}
	return s.store.Changes(ctx, ev, cur, limit)
}

// yieldCheck is how often a long-poll held back by uploads looks again.
const yieldCheck = 200 * time.Millisecond

// yieldToUploads holds a long-poll back, until end at the latest, while
// uploads are under pressure (docs/sync-protocol.md §7.2): feed pages and
// the gates applying them would take the CPU and disk the queued uploads
// need, and an upload not stored is what a herd of reconnecting gates is
// waiting for. Without pressure it returns at once, so an online gate
// still learns an admission as soon as it commits.
func (s *Server) yieldToUploads(ctx context.Context, end time.Time) {
	for s.uploadPressure() {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		t := time.NewTimer(min(left, yieldCheck))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.feed.stop:
			t.Stop()
			return
		}
	}
}

// jsonPage writes a version 1 feed answer (wire.Changes in JSON) with the
// stored changes passed through as they are.
func jsonPage(p FeedPage, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(`{"changes":[`)
	for i, c := range p.Changes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(c)
	}
	b.WriteString(`],"cursor":`)
	cur := ""
	if !p.Resnapshot {
		cur = p.Next.String()
	}
	b.WriteString(strconv.Quote(cur))
	if p.Resnapshot {
		b.WriteString(`,"resnapshot":true`)
	}
	st, _ := json.Marshal(now.UTC())
	b.WriteString(`,"server_time":`)
	b.Write(st)
	b.WriteString("}\n")
	return b.Bytes()
}

// compactPage writes a version 2 feed answer (wire.MarshalFeed) of the
// stored changes.
func compactPage(p FeedPage, now time.Time) ([]byte, error) {
	ch := &wire.Changes{Changes: make([]wire.Change, len(p.Changes)), Resnapshot: p.Resnapshot, ServerTime: now}
	if !p.Resnapshot {
		ch.Cursor = p.Next.String()
	}
	admissions := make([]kido.Admission, len(p.Changes))
	for i, raw := range p.Changes {
		// An admission is read without its text and device time, which
		// the page leaves out: most of what decoding a stored change
		// costs, and nearly every change of a catch-up is one.
		var lean struct {
			Kind      string         `json:"kind"`
			Admission *leanAdmission `json:"admission"`
		}
		if err := json.Unmarshal(raw, &lean); err != nil {
			return nil, fmt.Errorf("server: stored change: %w", err)
		}
		if lean.Kind == wire.ChangeAdmission && lean.Admission != nil {
			a := lean.Admission
			admissions[i] = kido.Admission{Gate: a.Gate, Seq: a.Seq, Serial: a.Serial, Tier: a.Tier, Kind: a.Kind, Corrected: a.Corrected, Hash: a.Hash, Undoes: a.Undoes}
			ch.Changes[i] = wire.Change{Kind: wire.ChangeAdmission, Admission: &admissions[i]}
			continue
		}
		if err := json.Unmarshal(raw, &ch.Changes[i]); err != nil {
			return nil, fmt.Errorf("server: stored change: %w", err)
		}
	}
	b, err := wire.MarshalFeed(ch)
	if err != nil {
		return nil, fmt.Errorf("server: feed page: %w", err)
	}
	return b, nil
}

// leanAdmission is what a version 2 page carries of a stored admission.
type leanAdmission struct {
	Gate      uint32    `json:"gate"`
	Seq       uint64    `json:"seq"`
	Serial    uint32    `json:"serial"`
	Tier      uint8     `json:"tier"`
	Kind      string    `json:"kind"`
	Corrected time.Time `json:"corrected"`
	Hash      string    `json:"hash"`
	Undoes    uint64    `json:"undoes"`
}

// PruneChanges deletes change-log rows older than the retention window
// whose event ended more than 24 h ago (docs/sync-protocol.md §4.4).
// Gates whose cursor pointed at a pruned row are told to resnapshot.
func (s *Server) PruneChanges(ctx context.Context) (int64, error) {
	now := s.now()
	n, err := s.store.PruneChanges(ctx, now.Add(-s.retention), now.Add(-24*time.Hour))
	if n > 0 {
		// A cached page that leads to a pruned row would send its gates
		// on to resnapshot later than the log says; start afresh.
		s.pages.clear()
	}
	return n, err
}
