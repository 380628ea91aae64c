package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

func runEvent(ctx context.Context, e env, args []string) error {
	return subcommands(ctx, e, "event", "kidoctl event show 1", args, map[string]func(context.Context, env, []string) error{
		"create":  runEventCreate,
		"edit":    runEventEdit,
		"history": runEventHistory,
		"list":    runEventList,
		"show":    runEventShow,
	})
}

// eventID checks an -event flag value.
func eventID(v uint) (uint32, error) {
	if v == 0 || v > math.MaxUint32 {
		return 0, usagef("-event ID is required\nhint: kidoctl event list shows the event ids")
	}
	return uint32(v), nil
}

func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usagef("%s is required\nhint: write it as RFC 3339 with the venue's offset, e.g. 2027-08-01T10:00:00+09:00", flag)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("%s %q is not a time\nhint: write it as RFC 3339 with the venue's offset, e.g. 2027-08-01T10:00:00+09:00", flag, s)
	}
	if err := kido.CheckTime(flag, t); err != nil {
		return time.Time{}, usagef("%v\nhint: events take place in the years 2000 to 2199; check the year", err)
	}
	return t, nil
}

func runEventCreate(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "event create", "event create -name NAME -venue VENUE -start TIME -end TIME [-tz ZONE]",
		"Creates an event and its first signing key, and prints the event's id.",
		`kidoctl event create -name "Summer Fes" -venue "Makuhari Messe" -start 2027-08-01T10:00:00+09:00 -end 2027-08-01T21:00:00+09:00`)
	name := fs.String("name", "", "event `name`")
	venue := fs.String("venue", "", "`venue`")
	start := fs.String("start", "", "doors open, RFC 3339 `time` with offset")
	end := fs.String("end", "", "event ends, RFC 3339 `time` with offset")
	tz := fs.String("tz", "", "IANA time `zone` of the venue, e.g. Asia/Tokyo (optional)")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	in := wire.EventCreate{Name: *name, Venue: *venue, TimeZone: *tz}
	if strings.TrimSpace(in.Name) == "" {
		return usagef("-name is required")
	}
	var err error
	if in.Start, err = parseTime("-start", *start); err != nil {
		return err
	}
	if in.End, err = parseTime("-end", *end); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ev, err := cl.CreateEvent(ctx, in)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, ev)
	}
	fmt.Fprintf(e.stdout, "created event %d: %s\n", ev.ID, ev.Name)
	return nil
}

func eventRow(ev kido.Event) []string {
	return []string{strconv.FormatUint(uint64(ev.ID), 10), ev.Name, ev.Venue, ev.Start.Format(time.RFC3339), ev.End.Format(time.RFC3339)}
}

func runEventList(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "event list", "event list", "Lists the events this token may manage.", "kidoctl event list -json")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	evs, err := cl.Events(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, evs)
	}
	rows := [][]string{{"ID", "NAME", "VENUE", "START", "END"}}
	for _, ev := range evs {
		rows = append(rows, eventRow(ev))
	}
	return termtable.Write(e.stdout, rows)
}

func runEventShow(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "event show", "event show [-event] ID", "Shows an event: its tiers, signing keys, gates and ticket counts.", "kidoctl event show 1")
	ev := fs.Uint("event", 0, "event `id`")
	return askEvent(ctx, e, fs, c, ev, args, true, (*client.Client).Event, printEvent)
}

func printEvent(w io.Writer, _ uint32, d wire.EventDetail) error {
	fmt.Fprintf(w, "event %d: %s\nvenue:   %s\nstart:   %s\nend:     %s\n", d.Event.ID, d.Event.Name, d.Event.Venue,
		d.Event.Start.Format(time.RFC3339), d.Event.End.Format(time.RFC3339))
	if d.Event.TimeZone != "" {
		fmt.Fprintf(w, "zone:    %s\n", d.Event.TimeZone)
	}
	fmt.Fprintf(w, "tickets: %d issued, %d revoked\n\n", d.Issued, d.Revoked)
	rows := [][]string{{"TIER", "NAME", "ENTRY RULE"}}
	for _, t := range d.Tiers {
		rule := entriesText(t.Entries)
		if t.Retired {
			rule += " (retired: refused at the gates)"
		}
		rows = append(rows, []string{strconv.Itoa(int(t.ID)), t.Name, rule})
	}
	if err := termtable.Write(w, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := termtable.Write(w, keyRows(d.Keys)); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return termtable.Write(w, gateRows(d.Gates, d.Tiers))
}
