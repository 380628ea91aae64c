package server

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/sync/wire"
)

// Feed pages are built once and served to every gate of an event that
// asks from the same cursor in the same encoding (docs/sync-protocol.md
// §4.6): nothing in a page is gate-specific, and its signature binds only
// the event and the cursor asked from. A page is kept with its gzip form
// and its signature.

// feedEncoding is the encoding of a feed answer.
type feedEncoding uint8

const (
	feedJSON    feedEncoding = 1 // version 1: wire.Changes in JSON
	feedCompact feedEncoding = 2 // version 2: wire.MarshalFeed
)

// feedEncodingOf returns the encoding a feed request accepts: version 2
// when its Accept header names wire.FeedV2Type, JSON otherwise (a gate of
// before version 2).
func feedEncodingOf(r *http.Request) feedEncoding {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(media), wire.FeedV2Type) {
				return feedCompact
			}
		}
	}
	return feedJSON
}

// pageKey names a page: what the gate asked and how.
type pageKey struct {
	event  uint32
	cursor string // exactly as asked: it is signed
	enc    feedEncoding
}

// page is a feed answer as built, ready to send.
type page struct {
	body, gz   []byte
	sig        string
	changes    int
	resnapshot bool
	next       Cursor
	// final pages hold pageLimit changes: what follows the cursor asked
	// up to their last change never changes (the log is append-only), so
	// they stay valid as long as the log holds their rows. Other pages
	// end at the log head of their read and are valid only until the
	// next commit (of any event: the head moves), and for at most
	// tailFresh, so that the server time of an idle gate's answers stays
	// fresh.
	final bool
	gen   uint64 // the hub's generation before the read
	built time.Time
}

// tailFresh is how long a page that ends at the log head is served from
// the cache, at most.
const tailFresh = time.Second

// maxPageCache bounds the bytes of pages kept (bodies and their gzip).
const maxPageCache = 64 << 20

// page returns the page for key, read from cur (at or after the cursor
// asked, with nothing of the event in between) when no valid one is
// cached; gen is the hub's generation, taken before.
func (s *Server) page(ctx context.Context, key pageKey, cur Cursor, gen uint64) (*page, error) {
	valid := func(p *page) bool {
		return p.final || (p.gen == gen && time.Since(p.built) < tailFresh)
	}
	return s.pages.get(ctx, key, valid, func() (*page, error) {
		p, err := s.buildPage(ctx, key, cur, gen)
		if err == nil && p.final {
			s.prefetch(key, p.next, gen)
		}
		return p, err
	})
}

// prefetch builds, in the background, the page that follows a full one
// (from next), unless it is cached: the gate that asked for the full page
// is behind and asks for that one as soon as it has read this, so the
// server builds while the gate applies instead of each waiting for the
// other. One page ahead, and only after a build, not after a cache hit:
// the first gate along a chain of pages pays for it once.
func (s *Server) prefetch(key pageKey, next Cursor, gen uint64) {
	key.cursor = next.String()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.page(ctx, key, next, gen)
	}()
}

// buildPage reads a page of the log and encodes, compresses and signs it.
func (s *Server) buildPage(ctx context.Context, key pageKey, cur Cursor, gen uint64) (*page, error) {
	limit := pageLimit(key.enc)
	fp, err := s.readFeed(ctx, key.event, cur, limit)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := &page{changes: len(fp.Changes), resnapshot: fp.Resnapshot, next: fp.Next, final: len(fp.Changes) == limit, gen: gen, built: time.Now()}
	var msg []byte
	if key.enc == feedCompact {
		if p.body, err = compactPage(fp, now); err != nil {
			return nil, err
		}
		msg = wire.ChangesV2SignedMessage(key.event, key.cursor, p.body)
	} else {
		p.body = jsonPage(fp, now)
		msg = wire.ChangesSignedMessage(key.event, key.cursor, p.body)
	}
	p.sig = wire.SignAnswer(s.identity, msg)
	var gz bytes.Buffer
	// BestSpeed: a compact page is no smaller at higher levels (9.7 bytes
	// an admission against 9.5 at level 9, BenchmarkCompactPage), and a
	// JSON page costs several times the CPU there.
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(p.body)
	zw.Close()
	p.gz = gz.Bytes()
	return p, nil
}

// writePage sends p, gzip-compressed when the client takes it.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, enc feedEncoding, p *page) {
	s.metrics.feed.Observe(float64(p.changes))
	h := w.Header()
	h.Set(wire.HeaderSignature, p.sig)
	h.Set("Content-Type", "application/json")
	if enc == feedCompact {
		h.Set("Content-Type", wire.FeedV2Type)
	}
	h.Set("Vary", "Accept, Accept-Encoding")
	body := p.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = p.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// pageCache holds built pages by key, the most recently used first, up to
// maxPageCache bytes; a page being built is waited for, not built twice.
type pageCache struct {
	mu      sync.Mutex
	entries map[pageKey]*pageEntry
	lru     list.List // of pageKey; front: most recently used
	size    int
	builds  map[pageKey]int // pages built, by key: for tests
}

type pageEntry struct {
	done chan struct{} // closed when p and err are set
	p    *page
	err  error
	elem *list.Element // nil until stored in lru
}

func newPageCache() *pageCache {
	return &pageCache{entries: map[pageKey]*pageEntry{}, builds: map[pageKey]int{}}
}

// get returns a page for key that valid accepts: a cached one, one being
// built by another request, or one it builds. Resnapshot answers and
// failures are not kept.
func (c *pageCache) get(ctx context.Context, key pageKey, valid func(*page) bool, build func() (*page, error)) (*page, error) {
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if ok {
			select {
			case <-e.done:
				if e.err == nil && valid(e.p) {
					c.lru.MoveToFront(e.elem)
					c.mu.Unlock()
					return e.p, nil
				}
				c.drop(key, e)
			default:
				c.mu.Unlock()
				select {
				case <-e.done:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if e.err == nil && valid(e.p) {
					return e.p, nil
				}
				continue // built for an older generation, or failed: try again
			}
		}
		e = &pageEntry{done: make(chan struct{})}
		c.entries[key] = e
		c.builds[key]++
		c.mu.Unlock()

		p, err := build()
		c.mu.Lock()
		e.p, e.err = p, err
		close(e.done)
		if c.entries[key] == e {
			if err != nil || p.resnapshot {
				delete(c.entries, key)
			} else {
				e.elem = c.lru.PushFront(key)
				c.size += len(p.body) + len(p.gz)
				for c.size > maxPageCache && c.lru.Len() > 1 {
					old := c.lru.Back().Value.(pageKey)
					c.drop(old, c.entries[old])
				}
			}
		}
		c.mu.Unlock()
		return p, err
	}
}

// drop removes a stored entry; c.mu is held.
func (c *pageCache) drop(key pageKey, e *pageEntry) {
	if e.elem != nil {
		c.lru.Remove(e.elem)
		c.size -= len(e.p.body) + len(e.p.gz)
	}
	delete(c.entries, key)
}

// clear forgets every stored page.
func (c *pageCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if e.elem != nil {
			c.drop(key, e)
		}
	}
}

// built returns how many times the page of key was built.
func (c *pageCache) built(key pageKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.builds[key]
}
