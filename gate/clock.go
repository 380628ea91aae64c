package gate

import (
	"sync"
	"time"
)

// ClockTolerance is how far the device clock may run behind trusted time
// before it is reported as behind.
const ClockTolerance = 2 * time.Second

// A Clock gives trusted time: the later of the device clock and the highest
// time vouched for (a server time seen, or a trusted time this gate already
// recorded) plus the monotonic time elapsed since. Setting the device clock
// back therefore cannot make an expired ticket valid again or reorder this
// gate's admissions. A Clock is safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	now   func() time.Time
	floor time.Time // highest vouched-for time
	base  time.Time // device reading (with its monotonic part) when floor was set
}

// NewClock returns a clock reading the device time from now (time.Now when
// nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Observe raises the clock's floor to t if t is later than the trusted time
// now: call it with every server time seen and, after a restart, with the
// persisted highest server time and the last trusted time recorded.
func (c *Clock) Observe(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dev := c.now()
	if t.After(c.trusted(dev)) {
		c.floor, c.base = t, dev
	}
}

// Reading is one reading of the clock.
type Reading struct {
	Device  time.Time     // the device clock
	Trusted time.Time     // the time decisions use
	Behind  time.Duration // how far the device clock is behind trusted time (0 if not)
}

// DeviceBehind reports whether the device clock is behind by more than
// ClockTolerance.
func (r Reading) DeviceBehind() bool { return r.Behind > ClockTolerance }

// Now reads the clock.
func (c *Clock) Now() Reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	dev := c.now()
	tr := c.trusted(dev)
	return Reading{Device: dev.Round(0), Trusted: tr, Behind: tr.Sub(dev.Round(0))}
}

func (c *Clock) trusted(dev time.Time) time.Time {
	wall := dev.Round(0) // strip the monotonic reading: trusted time is wall time
	if c.base.IsZero() {
		return wall
	}
	// Sub uses the monotonic readings of dev and base when both have one,
	// so it ignores changes to the device's wall clock.
	fromFloor := c.floor.Add(dev.Sub(c.base))
	if fromFloor.After(wall) {
		return fromFloor
	}
	return wall
}
