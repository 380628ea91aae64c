package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"kido.dev/kido/cmd/internal/manifest"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/wire"
)

// selection reads SERIAL… arguments or -order.
func selection(serials []string, order string) (wire.Selection, error) {
	var sel wire.Selection
	if (len(serials) > 0) == (order != "") {
		return sel, usagef("give serials or -order REF, exactly one of the two")
	}
	sel.OrderRef = order
	for _, a := range serials {
		n, err := strconv.ParseUint(a, 10, 32)
		if err != nil || n == 0 {
			return sel, usagef("%q is not a ticket serial\nhint: serials are the numbers in manifest.csv", a)
		}
		sel.Serials = append(sel.Serials, uint32(n))
	}
	return sel, nil
}

func runRevoke(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "revoke", "revoke -event ID (SERIAL… | -order REF)",
		"Revokes tickets: gates refuse them after their next sync. All or nothing: one unknown serial and none is revoked.",
		"kidoctl revoke -event 1 17 18")
	ev := fs.Uint("event", 0, "event `id`")
	order := fs.String("order", "", "revoke every ticket of this order `reference`")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	event, err := eventID(*ev)
	if err != nil {
		return err
	}
	sel, err := selection(pos, *order)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	res, err := cl.Revoke(ctx, event, sel)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, res.Tickets)
	}
	view, err := viewOf(ctx, cl, event)
	if err != nil {
		return err
	}
	already := map[uint32]bool{}
	for _, s := range res.AlreadyRevoked {
		already[s] = true
	}
	rows := [][]string{{"SERIAL", "TIER", "HOLDER", "ORDER", "REVOKED"}}
	for _, t := range res.Tickets {
		revoked := yesNo(t.Revoked)
		if already[t.Serial] {
			revoked = "already"
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(t.Serial), 10), view.tier(t.Tier), t.Holder, t.OrderRef, revoked})
	}
	if err := termtable.Write(e.stdout, rows); err != nil {
		return err
	}
	switch n := len(already); {
	case n == len(res.Tickets):
		fmt.Fprintf(e.stdout, "\nevery ticket selected was already revoked: nothing changed\n")
	case n > 0:
		fmt.Fprintf(e.stdout, "\nrevoked %d tickets; %d were already revoked\n", len(res.Tickets)-n, n)
	}
	return nil
}

func runReissue(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "reissue", "reissue -event ID (SERIAL… | -order REF) -out DIR [-font FILE.ttf] [-pdf=false]",
		`Revokes tickets and issues replacements for the same holders, writing their images,
printable PDFs (one per ticket and DIR/reissue.pdf, as kidoctl issue does) and
DIR/reissue.csv (the manifest columns plus "replaces"). Reissuing a serial that was already
reissued gives back its replacement, so a retry issues nothing twice. After their next
sync the gates refuse an old ticket as "replaced by serial N", naming its replacement.`,
		"kidoctl reissue -event 1 17 -out reissued/")
	ev := fs.Uint("event", 0, "event `id`")
	order := fs.String("order", "", "reissue the valid tickets of this order `reference`")
	out := fs.String("out", "", "output `directory` for the new images and reissue.csv")
	fontPath := fs.String("font", "", "TrueType `file` for the PDFs (default: IPAexGothic of fonts-ipaexfont)")
	withPDF := fs.Bool("pdf", true, "write printable PDFs beside the images")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	event, err := eventID(*ev)
	if err != nil {
		return err
	}
	sel, err := selection(pos, *order)
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef("-out DIR is required: where the new images go")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	d, err := cl.Event(ctx, event)
	if err != nil {
		return err
	}
	if *withPDF {
		// Checked before anything is revoked: a missing font must not
		// leave revoked tickets without their replacements' files.
		if _, err := ticketpdf.LoadFont(*fontPath); err != nil {
			return fmt.Errorf("%w\nnothing was revoked", err)
		}
	}
	if err := privfile.MkdirAll(*out); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	res, err := cl.Reissue(ctx, event, sel)
	if err != nil {
		return err
	}
	var print *printer
	if *withPDF {
		if print, err = newPrinter(*fontPath, &d, *out, holderTexts(res.Tickets)); err != nil {
			return fmt.Errorf("%w\nhint: the tickets were reissued; kidoctl reissue again with a font gives back the same replacements", err)
		}
	}
	r, _ := newRenderer(ctx, event, *out, print)
	for i := range res.Tickets {
		if err := checkIssued(event, res.Tickets[i]); err != nil {
			r.fail(err)
			break
		}
		r.jobs <- &res.Tickets[i]
	}
	if err := r.wait(); err != nil {
		return err
	}
	if print != nil {
		if _, err := print.writeAll(manifest.ReissuedPDF, res.Tickets); err != nil {
			return err
		}
	}
	if err := manifest.Write(filepath.Join(*out, manifest.Reissued), event, res.Tickets, newTierIndex(d.Tiers).byID, true); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, res.Tickets)
	}
	rows := [][]string{{"SERIAL", "REPLACES", "HOLDER", "ORDER", "IMAGE"}}
	for _, t := range res.Tickets {
		rows = append(rows, []string{strconv.FormatUint(uint64(t.Serial), 10), strconv.FormatUint(uint64(t.Replaces), 10), t.Holder, t.OrderRef, manifest.ImageName(event, t.Serial)})
	}
	return termtable.Write(e.stdout, rows)
}
