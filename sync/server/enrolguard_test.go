package server

import (
	"fmt"
	"testing"
	"time"
)

// TestEnrolGuardGlobalBudget: guesses spread over many sources still
// share the global budget.
func TestEnrolGuardGlobalBudget(t *testing.T) {
	now := time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC)
	g := newEnrolGuard(func() time.Time { return now }, 24*time.Hour)
	taken := 0
	for i := range 1000 {
		if g.take(fmt.Sprintf("192.0.2.%d", i%250)) {
			taken++
		}
	}
	if taken != enrolGlobalBurst {
		t.Errorf("1000 attempts from 250 sources: %d taken, want the global burst %v", taken, enrolGlobalBurst)
	}
	now = now.Add(3 * time.Second)
	if !g.take("198.51.100.1") {
		t.Error("no attempt allowed after the global budget refilled for 3 s")
	}
	if len(g.sources) > enrolSourcesPrune+1 {
		t.Errorf("%d source buckets kept", len(g.sources))
	}
}

// TestEnrolGuardRefund: a success gives back its token, so a source that
// enrols many gates is never throttled.
func TestEnrolGuardRefund(t *testing.T) {
	now := time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC)
	g := newEnrolGuard(func() time.Time { return now }, 24*time.Hour)
	for i := range 100 {
		if !g.take("192.0.2.1") {
			t.Fatalf("successful enrolment %d throttled", i)
		}
		g.refund("192.0.2.1")
	}
}

// TestEnrolGuardBurnsACode: a code id that failed maxCodeFailures times is
// refused until the code lifetime after its first failure.
func TestEnrolGuardBurnsACode(t *testing.T) {
	now := time.Date(2027, 8, 1, 9, 0, 0, 0, time.UTC)
	g := newEnrolGuard(func() time.Time { return now }, 24*time.Hour)
	for range maxCodeFailures - 1 {
		g.failed("0714")
	}
	if g.burned("0714") {
		t.Fatalf("burned after %d failures", maxCodeFailures-1)
	}
	g.failed("0714")
	if !g.burned("0714") || g.burned("0715") {
		t.Fatalf("after %d failures: 0714 burned %v, 0715 burned %v; want true, false", maxCodeFailures, g.burned("0714"), g.burned("0715"))
	}
	now = now.Add(24 * time.Hour)
	if g.burned("0714") {
		t.Error("still burned a code lifetime later")
	}
}

func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"pipe":                       "pipe",
	} {
		if got := sourceOf(in); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", in, got, want)
		}
	}
}
