package kido

import (
	"sync"
	"time"
)

// ClockTolerance is how far the device clock may run behind trusted time
// before it is reported as behind.
const ClockTolerance = 2 * time.Second

// A Clock gives trusted time: the latest of the device clock and two
// floors, each plus the monotonic time elapsed since it was set:
//
//   - the server floor: the highest time a server vouched for;
//   - the local floor: the latest trusted time this gate recorded before a
//     restart, which it derived from its own records.
//
// Setting the device clock back therefore cannot make an expired ticket
// valid again or reorder this gate's admissions. The two floors are kept
// apart because they are not worth the same: a local floor may have come
// from a device clock that ran ahead, so a server time observed later
// replaces it, even when the server time is lower; a server floor is only
// ever raised. A Clock is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	wall   func() time.Time
	mono   func() time.Duration
	server floor
	local  floor
}

// A floor is a time vouched for and the monotonic reading when it was set.
type floor struct {
	at   time.Time
	base time.Duration
	set  bool
}

// from returns the floor carried forward to the monotonic reading mono: the
// elapsed time comes from a clock that setting the wall clock cannot move.
func (f floor) from(mono time.Duration) time.Time {
	if !f.set {
		return time.Time{}
	}
	return f.at.Add(mono - f.base)
}

// NewClock returns a clock reading the device's wall time from wall and its
// elapsed time from mono. When wall is nil it is time.Now; when mono is nil
// it is the time elapsed since the clock was made, measured on the
// readings of wall (monotonic with time.Now, whatever the wall clock does).
func NewClock(wall func() time.Time, mono func() time.Duration) *Clock {
	if wall == nil {
		wall = time.Now
	}
	if mono == nil {
		start := wall()
		mono = func() time.Duration { return wall().Sub(start) }
	}
	return &Clock{wall: wall, mono: mono}
}

// Observe takes a time a server vouched for: every server time seen, and
// after a restart the persisted highest one. It raises the server floor to
// t if t is later, and drops the local floor: the server's word replaces
// what the gate derived from its own records.
func (c *Clock) Observe(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mono()
	if t.After(c.server.from(m)) {
		c.server = floor{t, m, true}
	}
	c.local = floor{}
}

// ObserveRecorded takes a trusted time this gate recorded before a
// restart, with no server time seen since: it raises the local floor to t
// if t is later.
func (c *Clock) ObserveRecorded(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mono()
	if t.After(c.local.from(m)) {
		c.local = floor{t, m, true}
	}
}

// Reading is one reading of the clock.
type Reading struct {
	Device  time.Time     // the device clock, held within kido's years (ClampTime)
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
	dev := ClampTime(c.wall().Round(0)) // trusted time is wall time
	m := c.mono()
	tr := dev
	for _, f := range []time.Time{c.server.from(m), c.local.from(m)} {
		if f.After(tr) {
			tr = f
		}
	}
	return Reading{Device: dev, Trusted: tr, Behind: tr.Sub(dev)}
}
