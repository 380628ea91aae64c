package kido_test

import (
	"testing"
	"time"

	"kido.dev/kido"
)

var now = time.Date(2027, 8, 1, 12, 0, 0, 0, time.UTC)

// fakeDevice is a device clock that tests can set, as a user would: its
// wall time t, and its monotonic time m, which only runs forward.
type fakeDevice struct {
	t time.Time
	m time.Duration
}

func (f *fakeDevice) now() time.Time          { return f.t }
func (f *fakeDevice) mono() time.Duration     { return f.m }
func (f *fakeDevice) advance(d time.Duration) { f.t, f.m = f.t.Add(d), f.m+d }

func TestClock(t *testing.T) {
	dev := &fakeDevice{t: now}
	c := kido.NewClock(dev.now, dev.mono)
	if r := c.Now(); !r.Trusted.Equal(now) || r.DeviceBehind() {
		t.Fatalf("fresh clock: trusted %v behind %v, want device time and not behind", r.Trusted, r.Behind)
	}

	// The server says it is 10 minutes later: trusted time follows it and
	// advances with the (fake) elapsed time, and the device is behind.
	c.Observe(now.Add(10 * time.Minute))
	dev.advance(30 * time.Second)
	r := c.Now()
	if want := now.Add(10*time.Minute + 30*time.Second); !r.Trusted.Equal(want) {
		t.Errorf("trusted %v, want %v", r.Trusted, want)
	}
	if !r.DeviceBehind() || r.Behind != 10*time.Minute {
		t.Errorf("behind %v, want 10m", r.Behind)
	}

	// An older server time changes nothing.
	c.Observe(now)
	if got := c.Now().Trusted; !got.Equal(r.Trusted) {
		t.Errorf("older observation moved trusted time to %v", got)
	}

	// A device clock ahead of the server time is used as it is.
	dev = &fakeDevice{t: now.Add(time.Hour)}
	c = kido.NewClock(dev.now, dev.mono)
	c.Observe(now)
	if r := c.Now(); !r.Trusted.Equal(dev.t) || r.DeviceBehind() {
		t.Errorf("device ahead: trusted %v behind %v", r.Trusted, r.Behind)
	}
}

func TestClockIgnoresWallClockSetBack(t *testing.T) {
	dev := &fakeDevice{t: now}
	c := kido.NewClock(dev.now, dev.mono)
	c.Observe(now)
	dev.advance(time.Minute)
	// Someone sets the wall clock back a day; a minute later trusted time
	// is two minutes after the server time, as the monotonic clock says.
	dev.t = dev.t.Add(-24 * time.Hour)
	dev.advance(time.Minute)
	r := c.Now()
	if want := now.Add(2 * time.Minute); !r.Trusted.Equal(want) {
		t.Errorf("after the wall clock was set back: trusted %v, want %v", r.Trusted, want)
	}
	if !r.DeviceBehind() {
		t.Errorf("device clock a day behind is not reported behind (%v)", r.Behind)
	}
}

// TestClockRealMonotonic: with the real clock, trusted time keeps advancing
// from an observed time ahead of the wall clock.
func TestClockRealMonotonic(t *testing.T) {
	c := kido.NewClock(nil, nil)
	future := time.Now().Add(time.Hour)
	c.Observe(future)
	a := c.Now().Trusted
	for b := a; !b.After(a); b = c.Now().Trusted { // the monotonic clock moves on
		if b.Before(a) {
			t.Fatalf("trusted time went back from %v to %v", a, b)
		}
	}
	if a.Before(future) {
		t.Errorf("trusted %v, want ≥ %v", a, future)
	}
}

// TestClockServerReplacesLocalFloor is issue 9's repro at the clock: a
// local floor taken from records made while the device ran 10 h ahead
// holds trusted time up until a server time is seen, which lowers it; a
// server floor is never lowered.
func TestClockServerReplacesLocalFloor(t *testing.T) {
	dev := &fakeDevice{t: now}
	c := kido.NewClock(dev.now, dev.mono)
	c.ObserveRecorded(now.Add(10 * time.Hour)) // the last scan, stamped 10 h ahead
	if r := c.Now(); !r.Trusted.Equal(now.Add(10 * time.Hour)) {
		t.Fatalf("local floor: trusted %v, want %v", r.Trusted, now.Add(10*time.Hour))
	}
	dev.advance(time.Second)
	c.Observe(now) // an upload ack: the server's time
	if r := c.Now(); !r.Trusted.Equal(now.Add(time.Second)) || r.DeviceBehind() {
		t.Errorf("after a server time: trusted %v (behind %v), want the device time %v", r.Trusted, r.Behind, now.Add(time.Second))
	}
	// The server floor holds against a lower server time and a lower
	// recorded time, and a device clock set back.
	c.Observe(now.Add(time.Hour))
	c.Observe(now)
	c.ObserveRecorded(now)
	dev.t = now.Add(-time.Hour)
	if r := c.Now(); !r.Trusted.Equal(now.Add(time.Hour)) {
		t.Errorf("server floor: trusted %v, want %v", r.Trusted, now.Add(time.Hour))
	}
}

// TestClockHoldsDeviceWithinYears: a tablet whose clock was reset to 1970
// (a flat battery) reads as kido's first instant, so its records are
// accepted everywhere, and trusted time still comes from the server.
func TestClockHoldsDeviceWithinYears(t *testing.T) {
	c := kido.NewClock(func() time.Time { return time.Unix(0, 0) }, func() time.Duration { return 0 })
	if r := c.Now(); !r.Device.Equal(kido.MinTime) || !r.Trusted.Equal(kido.MinTime) {
		t.Errorf("1970 device clock read as %+v, want MinTime", r)
	}
	seen := time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC)
	c.Observe(seen)
	if r := c.Now(); !r.Trusted.Equal(seen) || !r.DeviceBehind() {
		t.Errorf("after a server time: %+v, want trusted %s and the device behind", r, seen)
	}
}
