package bench

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestMeasureScans(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "replica.db")
	b, err := BuildReplica(ctx, path, 200, 50)
	if err != nil {
		t.Fatal(err)
	}
	if b.Roster != 200 || b.Admissions != 50 {
		t.Errorf("built %+v", b)
	}
	first, err := FreshTickets(200, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	second, err := FreshTickets(200, 20, 20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range append(first, second...) {
		if seen[s] {
			t.Fatalf("ticket %s… given twice", s[:20])
		}
		seen[s] = true
	}
	s, err := MeasureScans(ctx, path, first)
	if err != nil {
		t.Fatal(err)
	}
	for name, ds := range map[string][]time.Duration{"scan": s.Scan, "verify": s.Verify, "commit": s.Commit, "irreducible": s.Irreducible} {
		if len(ds) != 20 {
			t.Errorf("%s: %d durations, want 20", name, len(ds))
		}
	}
	for i := range s.Irreducible {
		if s.Irreducible[i] != s.Verify[i]+s.Commit[i] {
			t.Errorf("irreducible %d = %v, want %v + %v", i, s.Irreducible[i], s.Verify[i], s.Commit[i])
		}
	}
	// The same tickets again are already used: a measurement that needs
	// every scan to admit refuses them.
	if _, err := MeasureScans(ctx, path, first[:1]); err == nil {
		t.Error("a used ticket was measured as an admission")
	}
	if _, err := MeasureScans(ctx, path, second); err != nil {
		t.Errorf("a disjoint set: %v", err)
	}
	if _, err := FreshTickets(200, 0, 1000); err == nil {
		t.Error("asked for more tickets than the roster has: no error")
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {50, 50}, {99, 99}, {100, 100}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if ds[0] != 100 {
		t.Error("Percentile sorted its argument")
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v", got)
	}
}
