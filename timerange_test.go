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
