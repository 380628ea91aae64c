package evtime

import (
	"testing"
	"time"

	"kido.dev/kido"
)

func TestOf(t *testing.T) {
	jst := time.FixedZone("", 9*3600)
	at := time.Date(2027, 8, 1, 1, 2, 3, 4e6, time.UTC) // 10:02:03 in Tokyo
	tests := []struct {
		name     string
		ev       kido.Event
		fallback *time.Location
		label    string
		time     string
	}{
		{"named zone", kido.Event{TimeZone: "Asia/Tokyo", Start: at}, time.UTC, "Asia/Tokyo", "2027-08-01 10:02:03"},
		{"the start's offset", kido.Event{Start: at.In(jst)}, jst, "UTC+09:00", "2027-08-01 10:02:03"},
		{"a zone this machine does not know", kido.Event{TimeZone: "Mars/Olympus", Start: at.In(jst)}, jst, "UTC+09:00", "2027-08-01 10:02:03"},
		{"a device in UTC", kido.Event{Start: at}, time.UTC, "UTC", "2027-08-01 01:02:03"},
		{"west of UTC", kido.Event{Start: at}, time.FixedZone("", -5*3600), "UTC-05:00", "2027-07-31 20:02:03"},
	}
	for _, tt := range tests {
		z := Of(tt.ev, tt.fallback)
		if z.Label != tt.label || z.Time(at) != tt.time {
			t.Errorf("%s: %q %q, want %q %q", tt.name, z.Label, z.Time(at), tt.label, tt.time)
		}
		if got, want := z.Stamp(at), tt.time+" "+tt.label; got != want {
			t.Errorf("%s: Stamp %q, want %q", tt.name, got, want)
		}
	}
	z := Of(kido.Event{TimeZone: "Asia/Tokyo"}, time.UTC)
	if got := z.Millis(at); got != "2027-08-01 10:02:03.004" {
		t.Errorf("Millis %q", got)
	}
	if got := z.Header("TIME"); got != "TIME (Asia/Tokyo)" {
		t.Errorf("Header %q", got)
	}
}
