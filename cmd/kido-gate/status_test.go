package main

import (
	"testing"
	"time"
)

func TestEventWindow(t *testing.T) {
	start := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	end := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	summer := time.Date(2027, 7, 1, 14, 0, 0, 0, time.UTC)
	east := time.FixedZone("EST", -5*3600)
	for _, c := range []struct {
		name       string
		start, end time.Time
		zone       string
		device     *time.Location
		want       string
	}{
		{"venue zone on a UTC device", start, end, "Asia/Tokyo", time.UTC,
			"2026-11-22 10:00 – 2026-11-23 21:00 Asia/Tokyo time (UTC+09:00)"},
		{"venue zone wins over the device's", start, end, "Asia/Tokyo", east,
			"2026-11-22 10:00 – 2026-11-23 21:00 Asia/Tokyo time (UTC+09:00)"},
		{"summer time", summer, summer.Add(2 * time.Hour), "Europe/London", time.UTC,
			"2027-07-01 15:00 – 2027-07-01 17:00 Europe/London time (UTC+01:00)"},
		{"no zone named: the device's, said so", start, end, "", east,
			"2026-11-21 20:00 – 2026-11-23 07:00 device time (UTC-05:00)"},
		{"no zone named, UTC device", start, end, "", time.UTC,
			"2026-11-22 01:00 – 2026-11-23 12:00 device time (UTC)"},
		{"unknown zone name", start, end, "Mars/Olympus", time.UTC,
			"2026-11-22 01:00 – 2026-11-23 12:00 device time (UTC)"},
	} {
		if got := eventWindow(c.start, c.end, c.zone, c.device); got != c.want {
			t.Errorf("%s:\ngot  %s\nwant %s", c.name, got, c.want)
		}
	}
}
