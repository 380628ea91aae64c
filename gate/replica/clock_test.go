package replica

import (
	"path/filepath"
	"testing"
	"time"

	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// TestTrustedTimeComesBackDown is issue 9's repro: the device clock runs
// 10 h ahead for one scan, is fixed, the replica is reopened and a server
// time arrives with an upload ack. Until then the scan's time holds trusted
// time up (the gate cannot know better); from then on trusted time is the
// server's, later admissions are stamped with it, and a second reopen does
// not bring the 10 h back.
func TestTrustedTimeComesBackDown(t *testing.T) {
	real := time.Date(2027, 8, 1, 18, 0, 0, 0, time.UTC)
	f := gatetest.New(10, gatetest.GateBoth, real.Add(-time.Hour)) // an event running for hours
	f.Snapshot.Event.End = real.Add(24 * time.Hour)
	dev := real.Add(10 * time.Hour)
	opts := Options{Now: func() time.Time { return dev }}
	path := filepath.Join(t.TempDir(), "replica.db")
	r, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if d := scan(t, r, f.Ticket(2), false); !d.Admit || !d.At.Equal(dev) {
		t.Fatalf("scan with the clock ahead: admit %v at %v", d.Admit, d.At)
	}
	r.Close()

	dev = real // the clock is fixed
	reopen := func() *Replica {
		t.Helper()
		r, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	r = reopen()
	if got := r.Clock().Now(); !got.Trusted.Equal(real.Add(10 * time.Hour)) {
		t.Fatalf("reopened before any server time: trusted %v, want the scan's %v", got.Trusted, real.Add(10*time.Hour))
	}
	if err := r.AckUpload(ctx, &wire.UploadResponse{Acked: 1, Highest: 1, ServerTime: real}); err != nil {
		t.Fatal(err)
	}
	if got := r.Clock().Now(); !got.Trusted.Equal(real) || got.DeviceBehind() {
		t.Errorf("after the server's time: trusted %v (device behind %v), want %v", got.Trusted, got.Behind, real)
	}
	r.Close()

	r = reopen()
	if got := r.Clock().Now(); !got.Trusted.Equal(real) {
		t.Errorf("second reopen: trusted %v, want %v", got.Trusted, real)
	}
	if d := scan(t, r, f.Ticket(3), false); !d.Admit || !d.At.Equal(real) {
		t.Errorf("next admission, after a second reopen: admit %v stamped %v, want %v", d.Admit, d.At, real)
	}
}
