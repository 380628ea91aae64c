package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// runEnrol issues an event's tickets through the API (no images: they are
// not what is measured), then times a real kido-gate enroll process against
// the real server: enrolment, snapshot download, replica build.
func runEnrol(ctx context.Context, h *harness) ([]row, error) {
	s, event, tier, err := h.sharedEvent(ctx, "Enrolment bench")
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if _, err := issueAPI(ctx, s.admin, event, tier, h.enrol); err != nil {
		return nil, err
	}
	h.logf("enrol: issued %s tickets through the API in %.1f s", count(h.enrol), time.Since(t0).Seconds())
	g, err := s.admin.AddGate(ctx, event, wire.GateCreate{Name: "North 1", Direction: kido.DirectionBoth})
	if err != nil {
		return nil, err
	}
	cmd := h.command(ctx, "kido-gate", "enroll", "-server", s.url, "-code", g.Code, "-data", filepath.Join(h.dir, "enrolled-gate"))
	t0 = time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("kido-gate enroll: %w\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf(", %d tickets,", h.enrol)) {
		return nil, fmt.Errorf("kido-gate enroll did not report %d tickets:\n%s", h.enrol, out)
	}
	h.logf("enrol: %s", strings.TrimSpace(string(out)))
	goal := h.scaled(10*time.Second, h.enrol, full.enrol)
	return []row{within(
		fmt.Sprintf("enrolment snapshot of a %s-ticket event (kido-gate enroll process)", count(h.enrol)),
		secs(took), "< "+goalText(goal, h.enrol != full.enrol), took.Seconds(), goal.Seconds(), false)}, nil
}

// goalText formats a time goal, saying when it was scaled down with the
// scenario.
func goalText(goal time.Duration, scaled bool) string {
	s := fmt.Sprintf("%g s", goal.Round(time.Millisecond).Seconds())
	if scaled {
		s += " (scaled)"
	}
	return s
}
