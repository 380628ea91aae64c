package kido_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
)

func TestCheckTime(t *testing.T) {
	for _, ok := range []time.Time{{}, kido.MinTime, time.Date(2027, 8, 1, 10, 0, 0, 0, time.FixedZone("JST", 9*3600)), kido.MaxTime.Add(-time.Nanosecond)} {
		if err := kido.CheckTime("start", ok); err != nil {
			t.Errorf("CheckTime(%s) = %v", ok, err)
		}
	}
	for _, bad := range []time.Time{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), kido.MinTime.Add(-time.Nanosecond), kido.MaxTime, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		err := kido.CheckTime("start", bad)
		if !errors.Is(err, kido.ErrTimeRange) || !strings.Contains(err.Error(), "start "+bad.Format(time.RFC3339)) {
			t.Errorf("CheckTime(%s) = %v, want ErrTimeRange naming it", bad, err)
		}
	}
	for _, c := range []struct{ in, want time.Time }{
		{time.Unix(0, 0), kido.MinTime},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), kido.MaxTime.Add(-time.Nanosecond)},
		{kido.MinTime.Add(time.Hour), kido.MinTime.Add(time.Hour)},
	} {
		got := kido.ClampTime(c.in)
		if !got.Equal(c.want) || kido.CheckTime("t", got) != nil {
			t.Errorf("ClampTime(%s) = %s, want %s, accepted by CheckTime", c.in, got, c.want)
		}
	}
	// Every accepted time survives the gate's Unix-nanosecond storage.
	for _, tm := range []time.Time{kido.MinTime, kido.MaxTime} {
		if back := time.Unix(0, tm.UnixNano()).UTC(); !back.Equal(tm) {
			t.Errorf("%s stored as nanoseconds reads back as %s", tm, back)
		}
	}
}

// TestEventLocation: an event's zone when this machine knows it, else the
// fallback given, nil included.
func TestEventLocation(t *testing.T) {
	utc9 := time.FixedZone("venue", 9*3600)
	for _, c := range []struct {
		zone     string
		fallback *time.Location
		want     string // the location's name; "" for nil
	}{
		{"Asia/Tokyo", utc9, "Asia/Tokyo"},
		{"Asia/Tokyo", nil, "Asia/Tokyo"},
		{"", utc9, utc9.String()},
		{"", nil, ""},
		{"Mars/Olympus_Mons", utc9, utc9.String()},
		{"Mars/Olympus_Mons", nil, ""},
	} {
		got, name := kido.Event{TimeZone: c.zone}.Location(c.fallback), ""
		if got != nil {
			name = got.String()
		}
		if name != c.want {
			t.Errorf("zone %q, fallback %v: %q, want %q", c.zone, c.fallback, name, c.want)
		}
	}
}
