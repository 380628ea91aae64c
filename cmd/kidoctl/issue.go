package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// issueChunk is how many tickets one issue request carries: large enough
// to amortise a round trip, small enough that rendering starts at once.
const issueChunk = 2000

func runIssue(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "issue", "issue [-event] ID [-tier T] (-count N | -roster FILE.csv) -out DIR [-batch ID] [-font FILE.ttf] [-pdf=false]",
		`Issues tickets: one PNG per ticket in DIR and DIR/manifest.csv with the header
serial,holder,tier,order_ref,text,image ("text" is exactly what the QR code holds),
and printable tickets: a PDF per ticket (e1-00000007.pdf) and DIR/tickets.pdf with
every ticket of the batch, one to a page (in volumes tickets-0001.pdf, … of 1,000
pages for a larger batch), showing the event, venue, date and time
in the event's zone, holder, tier, order, serial and the QR code. The PDFs need a
Japanese TrueType font: Debian's fonts-ipaexfont, or -font FILE.ttf. -pdf=false
writes images and manifest only (kidoctl render writes the PDFs later).

The roster is UTF-8 CSV with the header name,email,tier,order_ref, in any order,
and optionally reading: the name's furigana, searched at the gates like the name
(e-mail addresses never go to gates). An empty tier cell takes -tier. A bad row aborts the whole batch, naming its line, and nothing
is issued. Re-running with the same -batch ID issues no duplicates: tickets
already issued in that batch are given back and their images written again.`,
		`kidoctl issue -event 1 -roster fans.csv -out tickets/ -batch presale-1`)
	ev := fs.Uint("event", 0, "event `id`")
	tierFlag := fs.String("tier", "", "`tier` name or id: of every ticket with -count, the default with -roster")
	count := fs.Int("count", 0, "issue `N` tickets without holders")
	rosterPath := fs.String("roster", "", "roster CSV `file`")
	out := fs.String("out", "", "output `directory` for the images and manifest.csv")
	batch := fs.String("batch", "", "batch `id` making a re-run safe (default: a new one, printed)")
	fontPath := fs.String("font", "", "TrueType `file` for the PDFs (default: IPAexGothic of fonts-ipaexfont)")
	withPDF := fs.Bool("pdf", true, "write printable PDFs beside the images")
	event, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if (*count > 0) == (*rosterPath != "") {
		return usagef("give -count N or -roster FILE.csv, exactly one")
	}
	if *count < 0 {
		return usagef("-count must be positive")
	}
	if *out == "" {
		return usagef("-out DIR is required: where the images and manifest.csv go")
	}
	if *count > 0 && *tierFlag == "" {
		return usagef("-count needs -tier")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	d, err := cl.Event(ctx, event)
	if err != nil {
		return err
	}
	ti := newTierIndex(d.Tiers)
	var defTier uint8
	if *tierFlag != "" {
		var ok bool
		if defTier, ok = ti.lookup(*tierFlag); !ok {
			return fmt.Errorf("event %d has no tier %q\nhint: %s", event, *tierFlag, ti.known())
		}
	}
	var items []wire.IssueItem
	if *count > 0 {
		items = make([]wire.IssueItem, *count)
		for i := range items {
			items[i].Tier = defTier
		}
	} else {
		f, err := os.Open(*rosterPath)
		if err != nil {
			return fmt.Errorf("roster: %w", err)
		}
		items, err = parseRoster(f, ti, defTier, *tierFlag != "")
		f.Close()
		if err != nil {
			return fmt.Errorf("%w\nnothing was issued", err)
		}
	}
	if *batch == "" {
		*batch = newBatchID()
	}
	var print *printer
	if *withPDF {
		// The font is checked before anything is issued: a missing font
		// is the promoter's to fix, not a half-written batch.
		texts := make([]string, 0, 2*len(items))
		for _, it := range items {
			texts = append(texts, it.Holder, it.OrderRef)
		}
		if print, err = newPrinter(*fontPath, &d, *out, texts); err != nil {
			return fmt.Errorf("%w\nnothing was issued", err)
		}
	}
	if err := privfile.MkdirAll(*out); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	fmt.Fprintf(e.stderr, "kidoctl: issuing %d tickets of event %d as batch %s\n", len(items), event, *batch)
	tickets, err := issueAll(ctx, e, cl, event, *batch, items, *out, print)
	var combined []string
	if err == nil && print != nil {
		combined, err = print.writeAll(manifest.IssuedPDF, tickets)
	}
	if err != nil {
		return fmt.Errorf("%w\nhint: run the same command with -batch %s to finish: tickets already issued are given back, not issued twice", err, *batch)
	}
	manifestPath := filepath.Join(*out, manifest.Issued)
	if err := manifest.Write(manifestPath, event, tickets, ti.byID, false); err != nil {
		return err
	}
	existing := 0
	for _, t := range tickets {
		if t.Existing {
			existing++
		}
	}
	if c.json {
		return printJSON(e.stdout, struct {
			ID       string `json:"id"`
			Event    uint32 `json:"event"`
			Tickets  int    `json:"tickets"`
			New      int    `json:"new"`
			Existing int    `json:"existing"` // given back: issued by an earlier run of the batch
			Out      string `json:"out"`
			Manifest string `json:"manifest"`
		}{*batch, event, len(tickets), len(tickets) - existing, existing, *out, manifestPath})
	}
	files := "images and manifest.csv"
	if print != nil {
		files = "images, PDFs (all in " + strings.Join(combined, ", ") + ") and manifest.csv"
	}
	switch existing {
	case 0:
		fmt.Fprintf(e.stdout, "issued %d tickets of event %d (batch %s); %s in %s\n", len(tickets), event, *batch, files, *out)
	case len(tickets):
		fmt.Fprintf(e.stdout, "batch %s was already issued: its %d tickets of event %d were given back, none issued now; %s in %s\n", *batch, existing, event, files, *out)
	default:
		fmt.Fprintf(e.stdout, "issued %d new tickets of event %d (batch %s); %d were already issued in this batch and given back; %s in %s\n", len(tickets)-existing, event, *batch, existing, files, *out)
	}
	return nil
}

func newBatchID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// issueAll sends the batch in chunks while the images of the tickets
// already issued are being rendered.
func issueAll(ctx context.Context, e env, cl *client.Client, event uint32, batch string, items []wire.IssueItem, dir string, print *printer) ([]wire.IssuedTicket, error) {
	tickets := make([]wire.IssuedTicket, len(items))
	r, ctx := newRenderer(ctx, event, dir, print)
	var issued atomic.Int64
	stop := progress(e.stderr, len(items), issued.Load, r.done.Load)
	sendErr := func() error {
		for off := 0; off < len(items); off += issueChunk {
			chunk := items[off:min(off+issueChunk, len(items))]
			resp, err := cl.Issue(ctx, event, wire.IssueRequest{Batch: batch, Offset: off, Tickets: chunk})
			if err != nil {
				return err
			}
			if len(resp.Tickets) != len(chunk) {
				return fmt.Errorf("server answered %d tickets for %d", len(resp.Tickets), len(chunk))
			}
			for i, t := range resp.Tickets {
				if err := checkIssued(event, t); err != nil {
					return err
				}
				if t.Tier != chunk[i].Tier || t.Holder != chunk[i].Holder {
					return fmt.Errorf("server answered serial %d for another roster row than item %d", t.Serial, off+i)
				}
				tickets[off+i] = t
				r.jobs <- &tickets[off+i]
			}
			issued.Add(int64(len(chunk)))
		}
		return nil
	}()
	renderErr := r.wait()
	stop()
	if renderErr != nil {
		return nil, renderErr // the cause; sending then stopped
	}
	if sendErr != nil {
		return nil, sendErr
	}
	return tickets, nil
}
