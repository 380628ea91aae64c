package gatetest

import (
	"sync"
	"testing"
	"time"
)

// A Bell tells a waiting test that something it watches may have changed
// (a sync status, a request to a server): the test then looks again, rather
// than sleeping between looks. The zero Bell is ready to use.
type Bell struct {
	mu sync.Mutex
	ch chan struct{}
}

// Ring wakes every Await in progress.
func (b *Bell) Ring() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

func (b *Bell) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// Await returns how long it waited for cond to hold, looking once at the
// start and again each time b rings. If cond does not hold within limit,
// it fails the test naming what it waited for.
func (b *Bell) Await(tb testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		rung := b.next() // before cond: a ring in between is not lost
		if cond() {
			return time.Since(start)
		}
		select {
		case <-rung:
		case <-deadline.C:
			tb.Fatalf("%s: not within %v", what, limit)
		}
	}
}
