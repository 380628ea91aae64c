package server

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Enrolment attempt budgets (docs/api.md, POST /v1/enroll): every attempt
// takes a token from the global bucket and from its source's bucket before
// any code is looked at, and a successful one gives them back, so only
// failures spend. A code id that failed maxCodeFailures times is refused
// until codeTTL after its first failure.
const (
	enrolGlobalRate, enrolGlobalBurst = 1.0, 10.0
	enrolSourceRate, enrolSourceBurst = 0.1, 5.0
	maxCodeFailures                   = 5
	// enrolSourcesPrune is the number of source buckets above which full
	// ones are forgotten: a bucket refills in enrolSourceBurst /
	// enrolSourceRate = 50 s, and the global budget lets at most 60
	// failures through in that time, so few buckets are ever not full.
	enrolSourcesPrune = 256
)

// bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
}

// codeFailures counts the failed attempts that named one code id.
type codeFailures struct {
	n     int
	since time.Time
}

// enrolGuard decides, atomically, whether an enrolment attempt may be
// evaluated: the check and the spending happen under one lock, so that
// concurrent guesses cannot all pass a check that only one of them may.
type enrolGuard struct {
	mu       sync.Mutex
	now      func() time.Time
	ttl      time.Duration
	global   bucket
	sources  map[string]*bucket
	failures map[string]*codeFailures // by wire.EnrollCode.ID: at most 10^4
}

func newEnrolGuard(now func() time.Time, ttl time.Duration) *enrolGuard {
	return &enrolGuard{now: now, ttl: ttl, sources: map[string]*bucket{}, failures: map[string]*codeFailures{}}
}

// take spends one attempt of the global budget and of source's, and
// reports false, spending nothing, when either is empty.
func (g *enrolGuard) take(source string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.global.refill(now, enrolGlobalRate, enrolGlobalBurst)
	src := g.sources[source]
	if src == nil {
		g.prune(now)
		src = &bucket{}
		g.sources[source] = src
	}
	src.refill(now, enrolSourceRate, enrolSourceBurst)
	if g.global.tokens < 1 || src.tokens < 1 {
		return false
	}
	g.global.tokens--
	src.tokens--
	return true
}

// refund gives back what take spent, for an attempt that succeeded.
func (g *enrolGuard) refund(source string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.global.tokens = min(enrolGlobalBurst, g.global.tokens+1)
	if src := g.sources[source]; src != nil {
		src.tokens = min(enrolSourceBurst, src.tokens+1)
	}
}

// prune forgets source buckets that have refilled: they hold nothing a
// fresh bucket would not.
func (g *enrolGuard) prune(now time.Time) {
	if len(g.sources) < enrolSourcesPrune {
		return
	}
	for k, b := range g.sources {
		if b.tokens+now.Sub(b.last).Seconds()*enrolSourceRate >= enrolSourceBurst {
			delete(g.sources, k)
		}
	}
}

// burned reports whether the code id has failed too often lately.
func (g *enrolGuard) burned(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.failures[id]
	return f != nil && g.now().Sub(f.since) < g.ttl && f.n >= maxCodeFailures
}

// failed counts a failed attempt against the code id it named.
func (g *enrolGuard) failed(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	f := g.failures[id]
	if f == nil || now.Sub(f.since) >= g.ttl {
		f = &codeFailures{since: now}
		g.failures[id] = f
	}
	f.n++
}

// sourceOf names the source an attempt is budgeted under: its IP address,
// or for IPv6 its /64, the block one subscriber usually holds.
func sourceOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
