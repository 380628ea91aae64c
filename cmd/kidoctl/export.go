package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"
	_ "time/tzdata" // times are shown in the event's zone, also on a laptop without a zone database

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/ticketpdf"
	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/internal/safecsv"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// exportTime is how a time is written into an exported CSV cell: a form
// every spreadsheet reads as a date and time, in the zone the column's
// header names.
const exportTime = "2006-01-02 15:04:05"

func runExport(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "export", "export [-event] ID -what admissions|conflicts|tickets [-format csv|json] [-o FILE]",
		`Writes an event's admissions, double entries or tickets for a spreadsheet.

  admissions  every stored admission: gate, seq, serial, tier, holder, kind, the
              gate's clock and its corrected time, and its status (counted, or
              suspect, refused, voided with why); manual admissions with their reason
  conflicts   one row per admission of each double entry, EXCESS marking those
              beyond the tier's entry rule (as kidoctl conflicts)
  tickets     every ticket with holder, e-mail, order, batch, revoked, the
              serial it replaces or was replaced by, and its mail record
              (kidoctl send: sending, sent or failed, address, answer, time)

Times are in the event's time zone, named in the column headers (CSV) or
carried as offsets with time_zone beside them (JSON). CSV cells that a
spreadsheet could run as formulas are written as text. The file holds
personal data: -o writes it with mode 0600, whole or not at all.`,
		"kidoctl export 1 -what admissions -o admissions.csv")
	ev := fs.Uint("event", 0, "event `id`")
	what := fs.String("what", "", "`what` to export: admissions, conflicts or tickets")
	format := fs.String("format", "csv", "`format`: csv or json (-json is -format json)")
	out := fs.String("o", "", "write to `file` (mode 0600) instead of standard output")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if c.json {
		*format = "json"
	}
	if *format != "csv" && *format != "json" {
		return usagef("-format %q: give csv or json", *format)
	}
	ex, ok := exporters[*what]
	if !ok {
		return usagef("-what %q: give admissions, conflicts or tickets", *what)
	}
	cl, detail, err := eventDetail(ctx, c, id)
	if err != nil {
		return err
	}
	loc, zone := ticketpdf.Zone(detail.Event)
	tiers := map[uint8]string{}
	for _, t := range detail.Tiers {
		tiers[t.ID] = t.Name
	}
	tab, err := ex(ctx, cl, id, exportCtx{loc: loc, zone: zone, tiers: tiers})
	if err != nil {
		return err
	}
	write := func(w io.Writer) error {
		if *format == "json" {
			return printJSON(w, map[string]any{"event": id, "time_zone": zone, *what: tab.json})
		}
		cw := safecsv.NewWriter(w)
		cw.Write(tab.header)
		for _, r := range tab.rows {
			cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	}
	if *out == "" {
		return write(e.stdout)
	}
	if err := atomicfile.WriteFile(*out, privfile.Mode, write); err != nil {
		return fmt.Errorf("%w\nhint: -o names a file in a directory that exists (%s)", err, filepath.Dir(*out))
	}
	fmt.Fprintf(e.stdout, "wrote %s of event %d to %s: %d rows, times in %s\n", *what, id, *out, len(tab.rows), zone)
	return nil
}

// exportCtx is what every export writes times and tiers with.
type exportCtx struct {
	loc   *time.Location
	zone  string
	tiers map[uint8]string
}

func (x exportCtx) time(t time.Time) string { return t.In(x.loc).Format(exportTime) }

// table is one export: the CSV's header and rows, and the JSON value (the
// server's records with their times moved into the event's zone).
type table struct {
	header []string
	rows   [][]string
	json   any
}

var exporters = map[string]func(context.Context, *client.Client, uint32, exportCtx) (table, error){
	"admissions": exportAdmissions,
	"conflicts":  exportConflicts,
	"tickets":    exportTickets,
}

func num[T uint8 | uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

func exportAdmissions(ctx context.Context, cl *client.Client, id uint32, x exportCtx) (table, error) {
	as, err := cl.Admissions(ctx, id)
	if err != nil {
		return table{}, err
	}
	tab := table{header: []string{"gate", "gate_name", "seq", "serial", "tier", "tier_name", "holder", "kind",
		"gate_clock (" + x.zone + ")", "corrected (" + x.zone + ")", "status", "why", "reason"}}
	for i := range as {
		a := &as[i]
		a.At, a.Corrected = a.At.In(x.loc), a.Corrected.In(x.loc)
		status := a.Status
		switch {
		case status == "" && a.Kind == kido.KindUndo:
			status, a.Why = "undo", fmt.Sprintf("undoes seq %d", a.Undoes) // the record that annuls, counted nowhere
		case status == "":
			status = "counted"
		}
		tab.rows = append(tab.rows, []string{num(a.Gate), a.GateName, num(a.Seq), num(a.Serial), num(a.Tier), x.tiers[a.Tier], a.Holder, a.Kind,
			x.time(a.At), x.time(a.Corrected), status, a.Why, a.Reason})
	}
	if as == nil {
		as = []wire.AdmissionRecord{}
	}
	tab.json = as
	return tab, nil
}

func exportConflicts(ctx context.Context, cl *client.Client, id uint32, x exportCtx) (table, error) {
	cs, err := cl.Conflicts(ctx, id)
	if err != nil {
		return table{}, err
	}
	tab := table{header: []string{"serial", "tier", "tier_name", "holder", "gate", "gate_name", "seq", "kind", "corrected (" + x.zone + ")", "excess",
		"reviewed_by", "reviewed (" + x.zone + ")", "review_note"}}
	for _, cf := range cs {
		review := []string{"", "", ""}
		if rv := cf.Review; rv != nil {
			rv.At = rv.At.In(x.loc)
			review = []string{rv.By, x.time(rv.At), rv.Note}
		}
		for i := range cf.Admissions {
			a := &cf.Admissions[i]
			a.At, a.Corrected = a.At.In(x.loc), a.Corrected.In(x.loc)
			excess := ""
			if a.Excess {
				excess = "EXCESS"
			}
			tab.rows = append(tab.rows, append([]string{num(cf.Serial), num(cf.Tier), x.tiers[cf.Tier], cf.Holder, num(a.Gate), a.GateName, num(a.Seq), a.Kind,
				x.time(a.Corrected), excess}, review...))
		}
	}
	if cs == nil {
		cs = []wire.Conflict{}
	}
	tab.json = cs
	return tab, nil
}

func exportTickets(ctx context.Context, cl *client.Client, id uint32, x exportCtx) (table, error) {
	ts, err := cl.Tickets(ctx, id)
	if err != nil {
		return table{}, err
	}
	tab := table{header: []string{"serial", "tier", "tier_name", "holder", "reading", "email", "order_ref", "batch", "status", "replaces", "replaced_by",
		"mail", "mailed_to", "mail_answer", "mailed (" + x.zone + ")"}}
	opt := func(v uint32) string {
		if v == 0 {
			return ""
		}
		return num(v)
	}
	for _, t := range ts {
		status := "valid"
		if t.Revoked {
			status = "revoked"
		}
		row := []string{num(t.Serial), num(t.Tier), x.tiers[t.Tier], t.Holder, t.Reading, t.Email, t.OrderRef, t.Batch, status, opt(t.Replaces), opt(t.ReplacedBy)}
		if m := t.Mail; m != nil {
			m.At = m.At.In(x.loc)
			row = append(row, m.State, m.To, m.Answer, x.time(m.At))
		} else {
			row = append(row, "", "", "", "")
		}
		tab.rows = append(tab.rows, row)
	}
	if ts == nil {
		ts = []wire.TicketRecord{}
	}
	tab.json = ts
	return tab, nil
}
