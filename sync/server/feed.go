package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"kido.dev/kido/sync/wire"
)

// maxChanges is the most changes one feed answer carries.
const maxChanges = 1000

// hub wakes the long-polls of an event when changes for it commit
// (docs/sync-protocol.md §4.3): each event has a channel that is closed
// and replaced after every such commit. A poll takes the channel before
// it reads the log, so a commit between its read and its wait still
// closes the channel it waits on.
type hub struct {
	mu    sync.Mutex
	chans map[uint32]chan struct{}
	stop  chan struct{} // closed at shutdown: every waiter answers
	once  sync.Once
}

func newHub() *hub {
	return &hub{chans: map[uint32]chan struct{}{}, stop: make(chan struct{})}
}

// channel returns the channel the next commit for event will close.
func (h *hub) channel(event uint32) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.chans[event]
	if !ok {
		c = make(chan struct{})
		h.chans[event] = c
	}
	return c
}

// notify wakes the waiters of event; call it after the commit.
func (h *hub) notify(event uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.chans[event]; ok {
		close(c)
		delete(h.chans, event)
	}
}

// notifyAll wakes the waiters of every event.
func (h *hub) notifyAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
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
// its cursor, waiting up to wait for one when there are none.
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
	end := time.Now().Add(wait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.yieldToUploads(r.Context(), end)
		// Take the channel before reading: see hub.
		woken := s.feed.channel(ev)
		page, err := s.readFeed(r.Context(), ev, cur)
		if err != nil {
			return err
		}
		if page.Resnapshot || len(page.Changes) > 0 || !time.Now().Before(end) {
			leave()
			s.writeChanges(w, ev, asked, page)
			return nil
		}
		cur = page.Next
		select {
		case <-woken:
			continue
		case <-deadline.C:
		case <-r.Context().Done():
		case <-s.feed.stop:
		}
		leave()
		s.writeChanges(w, ev, asked, page)
		return nil
	}
}

// readFeed reads a page of the change log, with at most cap(feedReads)
// pages read at once: a feed catching up pages through the log as fast as
// gates ask, and with a read per waiting gate at once it would take every
// core from uploads and health; one less than the cores leaves them one.
func (s *Server) readFeed(ctx context.Context, ev uint32, cur Cursor) (FeedPage, error) {
	select {
	case s.feedReads <- struct{}{}:
		defer func() { <-s.feedReads }()
	case <-ctx.Done():
		return FeedPage{}, ctx.Err()
	}
	return s.store.Changes(ctx, ev, cur, maxChanges)
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

// writeChanges writes a wire.Changes with the stored changes passed
// through as they are, signed for the event and the cursor asked from
// (docs/sync-protocol.md §13). A page read from a later cursor than the
// one asked (the long-poll moved on past other events' changes) is still
// the whole truth about this event after the cursor asked.
func (s *Server) writeChanges(w http.ResponseWriter, ev uint32, asked string, p FeedPage) {
	s.metrics.feed.Observe(float64(len(p.Changes)))
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
	st, _ := json.Marshal(s.now().UTC())
	b.WriteString(`,"server_time":`)
	b.Write(st)
	b.WriteString("}\n")
	w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.ChangesSignedMessage(ev, asked, b.Bytes())))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// PruneChanges deletes change-log rows older than the retention window
// whose event ended more than 24 h ago (docs/sync-protocol.md §4.4).
// Gates whose cursor pointed at a pruned row are told to resnapshot.
func (s *Server) PruneChanges(ctx context.Context) (int64, error) {
	now := s.now()
	return s.store.PruneChanges(ctx, now.Add(-s.retention), now.Add(-24*time.Hour))
}
