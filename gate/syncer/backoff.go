package syncer

import (
	"math/rand/v2"
	"time"
)

// A Clock is the time the loops wait by.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// uniform is the default Jitter: uniform in [0, max).
func uniform(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max)))
}

// Backoff computes the wait after the attempt-th consecutive failure
// (attempt counts from 0): uniform in [0, min(Cap, Base × 2^attempt)),
// "full jitter".
type Backoff struct {
	Base, Cap time.Duration
	Jitter    func(max time.Duration) time.Duration // uniform in [0, max)
}

// Wait returns the wait after the attempt-th consecutive failure.
func (b Backoff) Wait(attempt int) time.Duration {
	ceiling := b.Base
	for i := 0; i < attempt && ceiling < b.Cap; i++ {
		ceiling *= 2
	}
	return b.Jitter(min(ceiling, b.Cap))
}

// Paced returns the wait a server asked for with Retry-After, plus up to a
// second of jitter so that gates told the same moment do not return in it.
func (b Backoff) Paced(retryAfter time.Duration) time.Duration {
	return retryAfter + b.Jitter(time.Second)
}
