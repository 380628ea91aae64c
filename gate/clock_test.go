package gate_test

import (
	"testing"
	"time"

	"kido.dev/kido/gate"
)

// fakeDevice is a device clock that tests can set, as a user would.
type fakeDevice struct{ t time.Time }

func (f *fakeDevice) now() time.Time { return f.t }

func TestClock(t *testing.T) {
	dev := &fakeDevice{t: now}
	c := gate.NewClock(dev.now)
	if r := c.Now(); !r.Trusted.Equal(now) || r.DeviceBehind() {
		t.Fatalf("fresh clock: trusted %v behind %v, want device time and not behind", r.Trusted, r.Behind)
	}

	// The server says it is 10 minutes later: trusted time follows it and
	// advances with the (fake) elapsed time, and the device is behind.
	c.Observe(now.Add(10 * time.Minute))
	dev.t = now.Add(30 * time.Second)
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
	c = gate.NewClock(dev.now)
	c.Observe(now)
	if r := c.Now(); !r.Trusted.Equal(dev.t) || r.DeviceBehind() {
		t.Errorf("device ahead: trusted %v behind %v", r.Trusted, r.Behind)
	}
}

func TestClockIgnoresWallClockSetBack(t *testing.T) {
	// With the real clock, Observe stores a monotonic base: trusted time
	// keeps advancing from the observed time, whatever the wall clock says.
	c := gate.NewClock(nil)
	future := time.Now().Add(time.Hour)
	c.Observe(future)
	a := c.Now().Trusted
	time.Sleep(5 * time.Millisecond)
	b := c.Now().Trusted
	if a.Before(future) || !b.After(a) {
		t.Errorf("trusted %v then %v, want ≥ %v and advancing", a, b, future)
	}
}
