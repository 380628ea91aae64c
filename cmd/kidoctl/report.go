package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

func runReport(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "report", "report [-event] ID",
		"Prints an event's attendance as the server knows it: admissions, unique holders, exits, tickets inside now (whose latest passage is an entry), double entries, rejected scans and quarantined records, per gate and per tier; then every suspect, refused and voided admission with why, and the voids, none of which is counted above. Times are in the event's time zone, named.",
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
		{"rejected scans", strconv.Itoa(rep.Rejected)},
		{"quarantined", strconv.Itoa(rep.Quarantined)},
		{"suspect", strconv.Itoa(rep.Suspect)},
		{"refused", strconv.Itoa(rep.Refused)},
		{"voided", strconv.Itoa(rep.Voided)},
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
	for _, v := range rep.Voids {
		fmt.Fprintf(w, "\ngate %d voided from %s by %s at %s: %s", v.Gate, ev.zone.Stamp(v.From), v.By, ev.zone.Stamp(v.Created), v.Reason)
	}
	if len(rep.Voids) > 0 {
		fmt.Fprintln(w)
	}
	if rep.DoubleEntries > 0 {
		fmt.Fprintf(w, "\n%d double entries: kidoctl conflicts -event %d lists them\n", rep.DoubleEntries, rep.Event)
	}
	return nil
}

func runConflicts(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "conflicts", "conflicts [-event] ID",
		"Lists an event's double entries: tickets admitted beyond their tier's entry rule, with every admission of the ticket in corrected-time order (gate, time in the event's zone, kind); "+
			"the admissions that broke the rule are marked EXCESS. With -json, an array with one object per double entry.",
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
	fmt.Fprintf(w, "\n%d double entries\n", len(cs))
	return nil
}
