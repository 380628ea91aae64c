package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

func runRender(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "render", "render [-event] ID -dir DIR [-manifest manifest.csv|reissue.csv] [-font FILE.ttf]",
		`Writes again the images and printable PDFs of the tickets a manifest in DIR lists,
and the combined PDF (tickets.pdf for manifest.csv, reissue.pdf for reissue.csv):
the same manifest, event and font give the same files, byte for byte. Use it after
kidoctl issue -pdf=false, with another -font, or when files were lost. The event's
name, venue and times are read from the server, so an event changed since shows
its new details.`,
		`kidoctl render -event 1 -dir tickets/`)
	ev := fs.Uint("event", 0, "event `id`")
	dir := fs.String("dir", "", "`directory` holding the manifest; the files are written there")
	name := fs.String("manifest", manifest.Issued, "the manifest's file `name` in DIR: "+manifest.Issued+" or "+manifest.Reissued)
	fontPath := fs.String("font", "", "TrueType `file` for the PDFs (default: IPAexGothic of fonts-ipaexfont)")
	event, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if *dir == "" {
		return usagef("-dir DIR is required: the directory kidoctl issue wrote")
	}
	combined := map[string]string{manifest.Issued: manifest.IssuedPDF, manifest.Reissued: manifest.ReissuedPDF}[*name]
	if combined == "" {
		return usagef("-manifest %q: give %s or %s, the name of a manifest in DIR", *name, manifest.Issued, manifest.Reissued)
	}
	tickets, err := readManifest(*dir, *name, event, "nothing was written")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	d, err := cl.Event(ctx, event)
	if err != nil {
		return err
	}
	print, err := newPrinter(*fontPath, &d, *dir, holderTexts(tickets))
	if err != nil {
		return err
	}
	r, _ := newRenderer(ctx, event, *dir, print)
	for i := range tickets {
		r.jobs <- &tickets[i]
	}
	if err := r.wait(); err != nil {
		return err
	}
	all, err := print.writeAll(combined, tickets)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, struct {
			Event    uint32   `json:"event"`
			Tickets  int      `json:"tickets"`
			Combined []string `json:"combined"`
		}{event, len(tickets), all})
	}
	fmt.Fprintf(e.stdout, "rendered %d tickets of event %d: images and PDFs in %s, all of them in %s\n", len(tickets), event, *dir, strings.Join(all, ", "))
	return nil
}

// readManifest reads the manifest name in dir for a command about event:
// each ticket's tier is the one its signed text carries, never the
// manifest's name for it, and a text that does not name this event is
// refused, the error ending with nothing (what the command did not do).
func readManifest(dir, name string, event uint32, nothing string) ([]wire.IssuedTicket, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("%w\nhint: -dir is the -out directory of kidoctl issue (or reissue, with -manifest %s)", err, manifest.Reissued)
	}
	tickets, err := manifest.Read(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	for i := range tickets {
		p, err := ticket.Parse(tickets[i].Text)
		if err != nil {
			return nil, fmt.Errorf("%s: serial %d: %w\n%s", name, tickets[i].Serial, err, nothing)
		}
		tickets[i].Tier = p.Tier
		if err := checkIssued(event, tickets[i]); err != nil {
			return nil, fmt.Errorf("%s: %w\nhint: is this manifest of event %d?\n%s", name, err, event, nothing)
		}
	}
	return tickets, nil
}
