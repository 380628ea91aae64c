package server

import (
	"testing"
	"time"
)

// TestTimeLeft: the certificate warning never says "1 days", and never
// hides most of a day by truncation ("expires in 1 days" was printed for
// 47 hours).
func TestTimeLeft(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "less than a minute"},
		{time.Minute, "1 minute"},
		{59 * time.Minute, "59 minutes"},
		{time.Hour, "1 hour"},
		{47*time.Hour + 59*time.Minute, "47 hours"},
		{48 * time.Hour, "2 days"},
		{29*24*time.Hour + 23*time.Hour, "29 days"},
	} {
		if got := timeLeft(tt.d); got != tt.want {
			t.Errorf("timeLeft(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
