package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/wire"
)

// printer writes printable tickets: a PDF per ticket beside its image, and
// the batch's combined PDF. Its font is cut to the characters of the batch
// (ticketpdf.Font.Subset), which is what keeps a PDF per ticket cheap; the
// same batch gives the same subset, so a re-render gives the same files.
type printer struct {
	detail *wire.EventDetail
	tiers  map[uint8]string
	font   *ticketpdf.Font
	dir    string
}

// newPrinter loads the font (fontPath, or Debian's IPAexGothic) and cuts it
// to the characters the tickets will print: the event's and tiers' and
// those of texts, each ticket's holder and order reference.
func newPrinter(fontPath string, d *wire.EventDetail, dir string, texts []string) (*printer, error) {
	f, err := ticketpdf.LoadFont(fontPath)
	if err != nil {
		return nil, err
	}
	p := &printer{detail: d, tiers: newTierIndex(d.Tiers).byID, dir: dir}
	texts = append(texts, d.Event.Name, d.Event.Venue, ticketpdf.When(d.Event))
	for _, name := range p.tiers {
		texts = append(texts, name)
	}
	if p.font, err = f.Subset(texts); err != nil {
		return nil, err
	}
	return p, nil
}

// holderTexts are the holders and order references of tickets, for
// newPrinter.
func holderTexts(ts []wire.IssuedTicket) []string {
	texts := make([]string, 0, 2*len(ts))
	for _, t := range ts {
		texts = append(texts, t.Holder, t.OrderRef)
	}
	return texts
}

func (p *printer) ticket(t *wire.IssuedTicket) ticketpdf.Ticket {
	tier, ok := p.tiers[t.Tier]
	if !ok {
		tier = strconv.Itoa(int(t.Tier))
	}
	return ticketpdf.Ticket{Event: p.detail.Event, Tier: tier, Holder: t.Holder, OrderRef: t.OrderRef, Serial: t.Serial, Text: t.Text}
}

// writeOne writes the PDF of one ticket. Like its PNG it is written in
// place: the combined PDF and the manifest, written last and atomically,
// are what says a batch is complete.
func (p *printer) writeOne(t *wire.IssuedTicket) error {
	var b bytes.Buffer
	if err := ticketpdf.Write(&b, p.font, []ticketpdf.Ticket{p.ticket(t)}); err != nil {
		return fmt.Errorf("serial %d: %w", t.Serial, err)
	}
	if err := privfile.WriteFile(filepath.Join(p.dir, manifest.PDFName(p.detail.Event.ID, t.Serial)), b.Bytes()); err != nil {
		return fmt.Errorf("write ticket PDF: %w", err)
	}
	return nil
}

// volumePages is the most tickets one combined PDF holds. fpdf builds a
// whole document in memory, about 50 KiB a page, so a batch of 100,000 in
// one file would need gigabytes; a thousand pages is also a print job a
// printer takes.
var volumePages = 1000

// writeAll writes every ticket, in order, into one PDF named name, or, for
// more than volumePages tickets, into volumes of volumePages named like
// tickets-0001.pdf, tickets-0002.pdf; it returns the names written.
func (p *printer) writeAll(name string, ts []wire.IssuedTicket) ([]string, error) {
	var names []string
	for off := 0; off < len(ts); off += volumePages {
		chunk := ts[off:min(off+volumePages, len(ts))]
		file := name
		if len(ts) > volumePages {
			file = strings.TrimSuffix(name, ".pdf") + fmt.Sprintf("-%04d.pdf", off/volumePages+1)
		}
		pages := make([]ticketpdf.Ticket, len(chunk))
		for i := range chunk {
			pages[i] = p.ticket(&chunk[i])
		}
		err := atomicfile.WriteFile(filepath.Join(p.dir, file), privfile.Mode, func(w io.Writer) error {
			return ticketpdf.Write(w, p.font, pages)
		})
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", file, err)
		}
		names = append(names, file)
	}
	return names, nil
}
