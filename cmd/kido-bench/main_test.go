package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"kido.dev/kido/internal/pgcluster"
)

// TestQuickTable runs the whole harness at -quick size, with the real
// binaries built from this module, and checks that the table has every row
// with a measured figure, a ratio and a mark. It keeps the harness from
// rotting; it asserts nothing about the timings themselves.
func TestQuickTable(t *testing.T) {
	if _, err := findChromium(); err != nil {
		t.Skip("chromium is not installed, and the staffapp row needs it; .ci/run installs it")
	}
	if err := pgcluster.Installed(); err != nil {
		t.Skipf("the PostgreSQL rows need it; .ci/run installs it: %v", err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quick", "-dir", filepath.Join(t.TempDir(), "work")}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("kido-bench -quick: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	rows := tableRows(t, stdout.String())
	wantRows := []string{
		"scan decision,",
		"gate RSS with that replica",
		"cross-gate propagation",
		"cross-instance propagation on PostgreSQL",
		"mesh propagation, server down",
		"mesh double entries, server down",
		"mesh bytes per admission per peer",
		"enrolment snapshot of a 20,000-ticket event",
		"herd:",
		"herd-pg: 20 gates",
		"herd-pg: lost or duplicated",
		"herd-pg: GET /v1/health",
		"issuance of 2,000 tickets with PNGs (",
		"issuance of 40 tickets with PNGs and printable PDFs",
		"QR version of a ticket at ECC M",
		"staff app: wedge scan, Enter to verdict painted",
		"staff app: camera, first frame showing a ticket",
	}
	for _, want := range wantRows {
		found := false
		for _, r := range rows {
			found = found || strings.HasPrefix(r[0], want)
		}
		if !found {
			t.Errorf("no row %q in\n%s", want, stdout.String())
		}
	}
	ratio := regexp.MustCompile(`^[0-9]+\.[0-9]{2}×$`)
	digit := regexp.MustCompile(`[0-9]`)
	for _, r := range rows {
		scenario, figure, goal, rat, mark := r[0], r[1], r[2], r[3], r[4]
		switch mark {
		case string(markPass), string(markFail):
			if !digit.MatchString(figure) || goal == "—" || !ratio.MatchString(rat) && rat != "—" {
				t.Errorf("row %q: figure %q, goal %q, ratio %q: want a number, a goal and a ratio or none", scenario, figure, goal, rat)
			}
		case string(markInfo):
			if !digit.MatchString(figure) {
				t.Errorf("row %q: figure %q has no number", scenario, figure)
			}
		default:
			t.Errorf("row %q: mark %q", scenario, mark)
		}
	}
}

// tableRows returns the cells of the Markdown table's body rows.
func tableRows(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| scenario |") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("row with %d cells, want 5: %q", len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("no table in:\n%s", out)
	}
	return rows
}

func TestBadFlags(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-only", "scan,nope"}, `no scenario "nope"`},
		{[]string{"-dir", full}, "is not empty"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-bin", t.TempDir()}, "-bin"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append(tc.args, "-quick"), nil, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: printed a table:\n%s", tc.args, stdout.String())
		}
	}
}
