package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

func runReport(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "report", "report [-event] ID",
		"Prints an event's attendance as the server knows it: admissions, unique holders, exits, tickets inside now (whose latest passage is an entry), double entries, rejected scans and quarantined records, per gate and per tier; then every suspect, refused and voided admission with why, the voids, and every admission its gate undid (a wrong ticket scanned), none of which is counted above. Times are in the event's time zone, named.",
		"kidoctl report 1")
	ev := fs.Uint("event", 0, "event `id`")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	return askView(ctx, e, c, id, (*client.Client).Report, printReport)
}

func printReport(w io.Writer, _ uint32, rep wire.Report, ev eventView) error {
	fmt.Fprintf(w, "event %d at %s\n\n", rep.Event, ev.zone.Stamp(rep.ServerTime))
	if err := termtable.Write(w, [][]string{
		{"admitted", strconv.Itoa(rep.Admitted)},
		{"unique holders", strconv.Itoa(rep.UniqueHolders)},
		{"exits", strconv.Itoa(rep.Exits)},
		{"inside now", strconv.Itoa(rep.Inside)},
		{"double entries", strconv.Itoa(rep.DoubleEntries)},
		{"  reviewed", strconv.Itoa(rep.Reviewed)},
		{"  open", strconv.Itoa(rep.DoubleEntries - rep.Reviewed)},
		{"rejected scans", strconv.Itoa(rep.Rejected)},
		{"quarantined", strconv.Itoa(rep.Quarantined)},
		{"suspect", strconv.Itoa(rep.Suspect)},
		{"refused", strconv.Itoa(rep.Refused)},
		{"voided", strconv.Itoa(rep.Voided)},
		{"undone", strconv.Itoa(rep.Undone)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := [][]string{{"GATE", "NAME", "ENTRIES", "MANUAL", "EXITS", "REJECTED"}}
	for _, g := range rep.PerGate {
		rows = append(rows, []string{strconv.FormatUint(uint64(g.Gate), 10), g.Name, strconv.Itoa(g.Entries), strconv.Itoa(g.Manual), strconv.Itoa(g.Exits), strconv.Itoa(g.Rejected)})
	}
	if err := termtable.Write(w, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = [][]string{{"TIER", "NAME", "ISSUED", "ADMITTED", "UNIQUE", "INSIDE"}}
	for _, t := range rep.PerTier {
		rows = append(rows, []string{strconv.Itoa(int(t.Tier)), t.Name, strconv.Itoa(t.Issued), strconv.Itoa(t.Admitted), strconv.Itoa(t.UniqueHolders), strconv.Itoa(t.Inside)})
	}
	if err := termtable.Write(w, rows); err != nil {
		return err
	}
	if len(rep.Flagged) > 0 {
		// Kept for audit and counted nowhere above (docs/sync-protocol.md §3.6).
		fmt.Fprintln(w)
		rows = [][]string{{"STATUS", "GATE", "SEQ", "SERIAL", "TIER", "KIND", ev.zone.Header("AT"), "WHY"}}
		for _, f := range rep.Flagged {
			rows = append(rows, []string{strings.ToUpper(f.Status), f.GateName, strconv.FormatUint(f.Seq, 10), strconv.FormatUint(uint64(f.Serial), 10),
				ev.tier(f.Tier), f.Kind, ev.zone.Time(f.Corrected), f.Why})
		}
		if err := termtable.Write(w, rows); err != nil {
			return err
		}
	}
	if len(rep.Undos) > 0 {
		// Annulled by the gate's staff within minutes (docs/sync-protocol.md §3.7).
		fmt.Fprintln(w)
		rows = [][]string{{"UNDONE", "GATE", "SEQ", "SERIAL", "HOLDER", "KIND", "AT", "UNDONE AT"}}
		for _, u := range rep.Undos {
			rows = append(rows, []string{"UNDONE", u.GateName, strconv.FormatUint(u.Seq, 10), strconv.FormatUint(uint64(u.Serial), 10), u.Holder,
				u.Kind, ev.zone.Stamp(u.Corrected), ev.zone.Stamp(u.UndoneAt)})
		}
		if err := termtable.Write(w, rows); err != nil {
			return err
		}
	}
	for _, v := range rep.Voids {
		fmt.Fprintf(w, "\ngate %d voided from %s by %s at %s: %s", v.Gate, ev.zone.Stamp(v.From), v.By, ev.zone.Stamp(v.Created), v.Reason)
	}
	if len(rep.Voids) > 0 {
		fmt.Fprintln(w)
	}
	if open := rep.DoubleEntries - rep.Reviewed; open > 0 {
		fmt.Fprintf(w, "\n%s not reviewed: kidoctl conflicts -event %d lists them, kidoctl conflicts review marks one reviewed\n", plural.Count(open, "double entry", "double entries"), rep.Event)
	}
	return nil
}

func runConflicts(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && args[0] == "review" {
		return runReview(ctx, e, args[1:])
	}
	fs, c := newFlags(e, "conflicts", "conflicts [-event] ID",
		"Lists an event's double entries: tickets admitted beyond their tier's entry rule, with every admission of the ticket in corrected-time order (gate, time in the event's zone, kind); "+
			"the admissions that broke the rule are marked EXCESS; a reviewed one shows its review (kidoctl conflicts review -h). With -json, an array with one object per double entry.",
		"kidoctl conflicts 1 -json")
	ev := fs.Uint("event", 0, "event `id`")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	return askView(ctx, e, c, id, func(cl *client.Client, ctx context.Context, id uint32) ([]wire.Conflict, error) {
		cs, err := cl.Conflicts(ctx, id)
		if cs == nil {
			cs = []wire.Conflict{} // -json prints [], not null
		}
		return cs, err
	}, printConflicts)
}

func printConflicts(w io.Writer, id uint32, cs []wire.Conflict, ev eventView) error {
	if len(cs) == 0 {
		fmt.Fprintf(w, "no double entries in event %d\n", id)
		return nil
	}
	rows := [][]string{{"SERIAL", "TIER", "HOLDER", "GATE", ev.zone.Header("CORRECTED TIME"), "KIND", ""}}
	for _, cf := range cs {
		for i, a := range cf.Admissions {
			serial, tier, holder := "", "", ""
			if i == 0 {
				serial, tier, holder = strconv.FormatUint(uint64(cf.Serial), 10), ev.tier(cf.Tier), dash(cf.Holder)
			}
			mark := ""
			if a.Excess {
				mark = "EXCESS"
			}
			rows = append(rows, []string{serial, tier, holder, fmt.Sprintf("%d %s", a.Gate, a.GateName),
				ev.zone.Millis(a.Corrected), a.Kind, mark})
		}
	}
	if err := termtable.Write(w, rows); err != nil {
		return err
	}
	reviewed := 0
	for _, cf := range cs {
		if rv := cf.Review; rv != nil {
			reviewed++
			if reviewed == 1 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "ticket %d reviewed by %s at %s: %s\n", cf.Serial, rv.By, ev.zone.Stamp(rv.At), rv.Note)
		}
	}
	fmt.Fprintf(w, "\n%s: %d reviewed, %d open\n", plural.Count(len(cs), "double entry", "double entries"), reviewed, len(cs)-reviewed)
	return nil
}

func runReview(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "conflicts review", "conflicts review [-event] ID -serial S -note TEXT",
		"Marks the double entry of ticket S reviewed, with a note saying what was found or done; the server records who (the token's name) and when. "+
			"A review again replaces the note. kidoctl report counts reviewed and open double entries apart; kidoctl conflicts and kidoctl export -what conflicts show the review.",
		`kidoctl conflicts review 1 -serial 17 -note "one holder, two gates: the North scan was a test"`)
	ev := fs.Uint("event", 0, "event `id`")
	serial := fs.Uint("serial", 0, "the double entry's ticket `serial` (kidoctl conflicts lists them)")
	note := fs.String("note", "", "what was found or done, at most 500 characters")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if *serial == 0 || *serial > math.MaxUint32 {
		return usagef("-serial: give the ticket serial of the double entry\nhint: kidoctl conflicts -event %d lists them", id)
	}
	if strings.TrimSpace(*note) == "" {
		return usagef("-note: say what was found or done\nhint: kidoctl conflicts review -event %d -serial %d -note \"refunded\"", id, *serial)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cf, err := cl.ReviewConflict(ctx, id, uint32(*serial), *note)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, cf)
	}
	if cf.Review == nil {
		return fmt.Errorf("the server answered without the review\nhint: kidoctl conflicts -event %d shows whether it was recorded", id)
	}
	view, err := viewOf(ctx, cl, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "double entry of ticket %d reviewed by %s at %s: %s\n", cf.Serial, cf.Review.By, view.zone.Stamp(cf.Review.At), cf.Review.Note)
	return nil
}
