package server

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/sync/wire"
)

// uploadQueueWait is how long an upload may wait for a worker before it is
// shed (docs/sync-protocol.md §7.2).
const uploadQueueWait = 2 * time.Second

// budget bounds concurrent work of one kind. A request takes a place (at
// most cap(places)), then a worker (at most cap(workers)), waiting for the
// worker no longer than wait. Neither step touches the database.
type budget struct {
	places  chan struct{}
	workers chan struct{}
	wait    time.Duration
}

func newBudget(workers, queued int, wait time.Duration) *budget {
	return &budget{places: make(chan struct{}, workers+queued), workers: make(chan struct{}, workers), wait: wait}
}

// acquire reports whether the request may go on; if so release must be
// called when it is done.
func (b *budget) acquire(stop <-chan struct{}) bool {
	select {
	case b.places <- struct{}{}:
	default:
		return false
	}
	select {
	case b.workers <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case b.workers <- struct{}{}:
		return true
	case <-t.C:
	case <-stop:
	}
	<-b.places
	return false
}

func (b *budget) release() {
	<-b.workers
	<-b.places
}

// inUse returns how many requests hold a place.
func (b *budget) inUse() int { return len(b.places) }

// queued returns how many requests wait for a worker.
func (b *budget) queued() int { return len(b.places) - len(b.workers) }

// pressureAfterShed is how long an upload shed keeps the uploads under
// pressure: the shed gates come back within their Retry-After (at most
// 5 s), so the herd is not over while they are away.
const pressureAfterShed = 5 * time.Second

// uploadPressure reports whether uploads are waiting for a worker or one
// was shed lately: a herd of gates is reconnecting, and the feed yields
// to it (yieldToUploads).
func (s *Server) uploadPressure() bool {
	if s.uploads.queued() > 0 {
		return true
	}
	last := s.lastUploadShed.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < pressureAfterShed
}

// inflight tracks the gates that have a request of one kind (upload,
// long-poll, snapshot) in progress: one credential may hold one place of
// each shared budget, never all of them.
type inflight struct {
	mu    sync.Mutex
	gates map[uint32]bool
}

func (f *inflight) start(gate uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gates[gate] {
		return false
	}
	if f.gates == nil {
		f.gates = map[uint32]bool{}
	}
	f.gates[gate] = true
	return true
}

func (f *inflight) done(gate uint32) {
	f.mu.Lock()
	delete(f.gates, gate)
	f.mu.Unlock()
}

// shed answers a request the server will not serve now: 429 with
// Retry-After 1 for a gate that already has a request of this kind in
// progress, otherwise 503 with a Retry-After uniform in [1, 5] seconds so
// that a herd that was shed together comes back spread out.
func (s *Server) shed(w http.ResponseWriter, what string, sameGate bool) {
	s.metrics.shed(what)
	if what == "upload" && !sameGate {
		s.lastUploadShed.Store(time.Now().UnixNano())
	}
	status, after := http.StatusServiceUnavailable, 1+rand.IntN(5)
	msg := "server: busy, " + what + " shed"
	if sameGate {
		status, after = http.StatusTooManyRequests, 1
		msg = "server: this gate already has " + article(what) + " " + what + " in progress"
	}
	w.Header().Set("Retry-After", strconv.Itoa(after))
	writeJSON(w, status, wire.Error{Error: msg, Code: wire.CodeBusy, Hint: "retry after the Retry-After delay"})
}

func article(what string) string {
	if strings.ContainsRune("aeiou", rune(what[0])) {
		return "an"
	}
	return "a"
}
