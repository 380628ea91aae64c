package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/wire"
)

// TestVolumes: a batch larger than volumePages is printed in volumes of
// that many pages, in order; a smaller one in the one file named.
func TestVolumes(t *testing.T) {
	if _, err := ticketpdf.LoadFont(""); errors.Is(err, ticketpdf.ErrNoFont) {
		t.Skip("no Japanese font: install fonts-ipaexfont (.ci/run does)")
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext missing: install poppler-utils (.ci/run does)")
	}
	start := time.Date(2027, 8, 1, 10, 0, 0, 0, time.UTC)
	d := &wire.EventDetail{Event: kido.Event{ID: gatetest.EventID, Name: "夏フェス", Venue: "幕張", Start: start, End: start.Add(time.Hour)}}
	fx := gatetest.New(5, gatetest.GateBoth, start)
	var ts []wire.IssuedTicket
	for s := uint32(1); s <= 5; s++ {
		ts = append(ts, wire.IssuedTicket{Serial: s, Tier: gatetest.TierOf(s), Holder: fmt.Sprintf("山田 %d", s), Text: fx.Ticket(s)})
	}
	saved := volumePages
	defer func() { volumePages = saved }()
	for _, c := range []struct {
		per   int
		files []string
		pages []string // serials on each file's pages
	}{
		{2, []string{"tickets-0001.pdf", "tickets-0002.pdf", "tickets-0003.pdf"}, []string{"1 2", "3 4", "5"}},
		{5, []string{"tickets.pdf"}, []string{"1 2 3 4 5"}},
	} {
		volumePages = c.per
		dir := t.TempDir()
		p, err := newPrinter("", d, dir, holderTexts(ts))
		if err != nil {
			t.Fatal(err)
		}
		names, err := p.writeAll("tickets.pdf", ts)
		if err != nil || strings.Join(names, " ") != strings.Join(c.files, " ") {
			t.Fatalf("%d a volume: wrote %v, %v; want %v", c.per, names, err, c.files)
		}
		for i, name := range names {
			// Holder names are personal data: private whatever the umask.
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Error(err)
			} else if fi.Mode().Perm() != privfile.Mode {
				t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), privfile.Mode)
			}
			out, err := exec.Command("pdftotext", filepath.Join(dir, name), "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			var serials []string
			for _, page := range strings.Split(strings.TrimSuffix(string(out), "\f"), "\f") {
				for s := 1; s <= 5; s++ {
					if strings.Contains(page, fmt.Sprintf("No. %08d", s)) {
						serials = append(serials, fmt.Sprint(s))
					}
				}
			}
			if got := strings.Join(serials, " "); got != c.pages[i] {
				t.Errorf("%s holds serials %q, want %q", name, got, c.pages[i])
			}
		}
		if es, _ := os.ReadDir(dir); len(es) != len(c.files) {
			t.Errorf("%d files in the directory, want %d", len(es), len(c.files))
		}
	}
}
