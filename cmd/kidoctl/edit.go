package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// Corrections: kidoctl event edit, tier edit, tier retire, gate edit and
// event history (docs/promoters.md, "Correcting mistakes").

// given reports which flags of fs were set on the command line: a
// correction sends only those, so that a flag left out keeps its value.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// textFlag is a text flag's value to send, nil when the flag was not
// given. Text a person would read differently from what it holds
// (kido.CheckText), or none, is refused before anything is sent.
func textFlag(set map[string]bool, name string, v *string) (*string, error) {
	if !set[name] {
		return nil, nil
	}
	if err := kido.CheckText(*v); err != nil {
		return nil, usagef("-%s: %s\nhint: type the text again without invisible or control characters", name, err.(*kido.TextError).Msg)
	}
	if strings.TrimSpace(*v) == "" {
		return nil, usagef("-%s is empty\nhint: leave the flag out to keep the current value", name)
	}
	return v, nil
}

func runEventEdit(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "event edit", "event edit [-event] ID [-name NAME] [-venue VENUE] [-start TIME] [-end TIME] [-tz ZONE]",
		"Corrects an event: only the flags given change. The gates learn the correction at their next sync and decide with it at once. "+
			"The window (-start, -end) must still hold every entry already recorded, with the gates' 5 minutes either side: "+
			"those admissions happened, and the server refuses a window that leaves them out. "+
			"-tz names the venue's zone for display; the window's instants stay what they are (give -start and -end again if they were wrong too). "+
			"Every correction is recorded with the token's name and the time: kidoctl event history shows them.",
		`kidoctl event edit -event 1 -name "Summer Fes 2027" -end 2027-08-01T22:00:00+09:00`)
	ev := fs.Uint("event", 0, "event `id`")
	name := fs.String("name", "", "new event `name`")
	venue := fs.String("venue", "", "new `venue`")
	start := fs.String("start", "", "doors open, RFC 3339 `time` with offset")
	end := fs.String("end", "", "event ends, RFC 3339 `time` with offset")
	tz := fs.String("tz", "", "IANA time `zone` of the venue, e.g. Asia/Tokyo; \"\" removes it")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	set := given(fs)
	var in wire.EventEdit
	if in.Name, err = textFlag(set, "name", name); err != nil {
		return err
	}
	if in.Venue, err = textFlag(set, "venue", venue); err != nil {
		return err
	}
	for _, f := range []struct {
		flag string
		v    *string
		to   **time.Time
	}{{"start", start, &in.Start}, {"end", end, &in.End}} {
		if set[f.flag] {
			t, err := parseTime("-"+f.flag, *f.v)
			if err != nil {
				return err
			}
			*f.to = &t
		}
	}
	if set["tz"] {
		if *tz != "" {
			if _, err := time.LoadLocation(*tz); err != nil {
				return usagef("-tz %q is not a time zone\nhint: use an IANA name such as Asia/Tokyo", *tz)
			}
		}
		in.TimeZone = tz
	}
	if len(set) == 0 || (in == wire.EventEdit{}) {
		return usagef("nothing to change\nhint: give -name, -venue, -start, -end or -tz")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	got, err := cl.EditEvent(ctx, id, in)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, got)
	}
	fmt.Fprintf(e.stdout, "corrected event %d: %s, %s, %s to %s", got.ID, got.Name, got.Venue, got.Start.Format(time.RFC3339), got.End.Format(time.RFC3339))
	if got.TimeZone != "" {
		fmt.Fprintf(e.stdout, " (%s)", got.TimeZone)
	}
	fmt.Fprintln(e.stdout, "\nthe gates take it at their next sync")
	return nil
}

// entryRuleHelp is what a changed entry rule does, for the help of tier
// add and tier edit and docs/promoters.md.
const entryRuleHelp = "Changing -entries during the event is allowed: the passages recorded so far stay, " +
	"and from the gates' next sync the new rule reads them as they are (a ticket used once under single entry may enter once more under -entries 2). " +
	"Lowering the rule makes entries already made beyond it count as double entries in kidoctl report and conflicts, which read every passage under the tier's current rule."

// lookupTier finds a tier of the event by name (any case) or id.
func lookupTier(d wire.EventDetail, s string) (kido.Tier, error) {
	i := slices.IndexFunc(d.Tiers, func(t kido.Tier) bool {
		return strings.EqualFold(t.Name, strings.TrimSpace(s)) || strconv.Itoa(int(t.ID)) == strings.TrimSpace(s)
	})
	if i < 0 {
		return kido.Tier{}, fmt.Errorf("event %d has no tier %q\nhint: kidoctl event show %d lists its tiers", d.Event.ID, s, d.Event.ID)
	}
	return d.Tiers[i], nil
}

// editTier sends a tier correction: the tier is named by -tier (name or
// id), looked up among the event's tiers.
func editTier(ctx context.Context, e env, c *common, id uint32, tier string, in wire.TierEdit) error {
	if strings.TrimSpace(tier) == "" {
		return usagef("-tier is required\nhint: kidoctl event show %d lists the tiers", id)
	}
	cl, d, err := eventDetail(ctx, c, id)
	if err != nil {
		return err
	}
	old, err := lookupTier(d, tier)
	if err != nil {
		return err
	}
	got, err := cl.EditTier(ctx, id, old.ID, in)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, got)
	}
	state := ""
	if got.Retired {
		state = ", retired: its tickets are refused"
	}
	if got == old {
		fmt.Fprintf(e.stdout, "tier %d of event %d is already so: %s (%s)%s\n", got.ID, got.Event, got.Name, entriesText(got.Entries), state)
		return nil
	}
	fmt.Fprintf(e.stdout, "corrected tier %d of event %d: %s (%s)%s\nthe gates take it at their next sync\n", got.ID, got.Event, got.Name, entriesText(got.Entries), state)
	return nil
}

func runTierEdit(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "tier edit", "tier edit [-event] ID -tier TIER [-name NAME] [-entries N]",
		"Corrects a tier's name or entry rule (-entries as in tier add); only the flags given change. TIER is the tier's name or id. "+entryRuleHelp,
		"kidoctl tier edit -event 1 -tier VIP -entries 2")
	ev := fs.Uint("event", 0, "event `id`")
	tier := fs.String("tier", "", "the `tier` to correct: name or id")
	name := fs.String("name", "", "new tier `name`")
	entries := fs.Int("entries", 0, "new entry rule: `N` entries; 0 unlimited with re-entry after exit")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	set := given(fs)
	var in wire.TierEdit
	if in.Name, err = textFlag(set, "name", name); err != nil {
		return err
	}
	if _, err := strconv.Atoi(strings.TrimSpace(*name)); err == nil && in.Name != nil {
		return usagef("-name %q is a number\nhint: name tiers with words (VIP, GA); kidoctl takes a number as a tier id", *name)
	}
	if set["entries"] {
		if *entries < 0 {
			return usagef("-entries %d is negative\nhint: 0 means unlimited with re-entry after an exit", *entries)
		}
		in.Entries = entries
	}
	if in.Name == nil && in.Entries == nil {
		return usagef("nothing to change\nhint: give -name or -entries; kidoctl tier retire withdraws a tier")
	}
	return editTier(ctx, e, c, id, *tier, in)
}

func runTierRetire(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "tier retire", "tier retire [-event] ID -tier TIER [-undo]",
		"Retires a tier: from the gates' next sync its tickets are refused with their own reason (tier_retired: \"this ticket type was withdrawn\"); "+
			"exits are still recorded, and passages made before stay. Nothing is deleted: -undo brings the tier back. TIER is the tier's name or id.",
		"kidoctl tier retire -event 1 -tier \"Early entry\"")
	ev := fs.Uint("event", 0, "event `id`")
	tier := fs.String("tier", "", "the `tier` to retire: name or id")
	undo := fs.Bool("undo", false, "bring a retired tier back")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	retired := !*undo
	return editTier(ctx, e, c, id, *tier, wire.TierEdit{Retired: &retired})
}

func runGateEdit(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gate edit", "gate edit [-event] ID -gate GATE [-name NAME] [-direction entry|exit|both] [-tiers VIP,GA|all]",
		"Corrects a gate's name, direction or tiers; only the flags given change. GATE is the gate's id or name. "+
			"The gate takes the correction at its next sync and decides with it at once (a gate made an exit records exits); "+
			"its enrolment and credential are unchanged.",
		`kidoctl gate edit -event 1 -gate 2 -name "South 1" -direction both -tiers all`)
	ev := fs.Uint("event", 0, "event `id`")
	gateName := fs.String("gate", "", "the `gate` to correct: id or name")
	name := fs.String("name", "", "new gate `name`")
	dir := fs.String("direction", "", "entry, exit or both")
	tiers := fs.String("tiers", "", "comma-separated tier `names` the gate admits, or all")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	set := given(fs)
	var in wire.GateEdit
	if in.Name, err = textFlag(set, "name", name); err != nil {
		return err
	}
	if set["direction"] {
		d := kido.Direction(*dir)
		if !d.Valid() {
			return usagef("-direction %q: use entry, exit or both", *dir)
		}
		in.Direction = &d
	}
	if set["tiers"] {
		ts := []string{}
		if !strings.EqualFold(strings.TrimSpace(*tiers), "all") {
			for _, t := range strings.Split(*tiers, ",") {
				if t = strings.TrimSpace(t); t != "" {
					ts = append(ts, t)
				}
			}
		}
		in.Tiers = &ts
	}
	if in.Name == nil && in.Direction == nil && in.Tiers == nil {
		return usagef("nothing to change\nhint: give -name, -direction or -tiers")
	}
	if strings.TrimSpace(*gateName) == "" {
		return usagef("-gate is required\nhint: kidoctl gate list %d lists the gates", id)
	}
	cl, d, err := eventDetail(ctx, c, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(d.Gates, func(g kido.Gate) bool {
		return strconv.FormatUint(uint64(g.ID), 10) == strings.TrimSpace(*gateName) || strings.EqualFold(g.Name, strings.TrimSpace(*gateName))
	})
	if i < 0 {
		return fmt.Errorf("event %d has no gate %q\nhint: kidoctl gate list %d lists the gates", id, *gateName, id)
	}
	g, err := cl.EditGate(ctx, id, d.Gates[i].ID, in)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, g)
	}
	fmt.Fprintf(e.stdout, "corrected gate %d of event %d\n", g.ID, g.Event)
	if err := termtable.Write(e.stdout, gateRows([]kido.Gate{g}, d.Tiers)); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "the gate takes it at its next sync")
	return nil
}

func runEventHistory(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "event history", "event history [-event] ID",
		"Lists the corrections made to an event, its tiers and gates, oldest first: when, by which token, what, and each field before and after.",
		"kidoctl event history 1")
	ev := fs.Uint("event", 0, "event `id`")
	return askEvent(ctx, e, fs, c, ev, args, true, func(cl *client.Client, ctx context.Context, id uint32) (historyOf, error) {
		d, err := cl.Event(ctx, id)
		if err != nil {
			return historyOf{}, err
		}
		es, err := cl.History(ctx, id)
		return historyOf{Event: d.Event, Edits: es}, err
	}, printHistory)
}

// historyOf is an event's corrections with the event, for its zone.
type historyOf struct {
	Event kido.Event  `json:"event"`
	Edits []wire.Edit `json:"edits"`
}

func printHistory(w io.Writer, id uint32, h historyOf) error {
	if len(h.Edits) == 0 {
		fmt.Fprintf(w, "event %d has not been corrected\n", id)
		return nil
	}
	loc := h.Event.Location(h.Event.Start.Location())
	rows := [][]string{{"WHEN", "BY", "WHAT", "CHANGES"}}
	for _, ed := range h.Edits {
		what := ed.Object
		if ed.Object != wire.EditEvent {
			what += " " + strconv.FormatUint(uint64(ed.Ref), 10) + " (" + objectName(ed.After) + ")"
		}
		rows = append(rows, []string{ed.At.In(loc).Format(time.RFC3339), ed.By, what, strings.Join(fieldChanges(ed.Before, ed.After), "; ")})
	}
	return termtable.Write(w, rows)
}

// fieldChanges lists the fields that differ between two JSON objects as
// `name: before → after`, in the order of the names.
func fieldChanges(before, after json.RawMessage) []string {
	var b, a map[string]json.RawMessage
	if json.Unmarshal(before, &b) != nil || json.Unmarshal(after, &a) != nil {
		return []string{"(unreadable record)"}
	}
	var names []string
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []string
	for _, k := range names {
		if !bytes.Equal(b[k], a[k]) {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, shown(b[k], a[k]), shown(a[k], b[k])))
		}
	}
	return out
}

// shown is a JSON value as printed in a history row. A field left out of
// the JSON (omitempty) holds its zero value, told by the other side's
// type.
func shown(v, other json.RawMessage) string {
	if len(v) > 0 {
		return string(v)
	}
	switch {
	case len(other) == 0:
		return "-"
	case other[0] == 't' || other[0] == 'f':
		return "false"
	case other[0] == '"':
		return `""`
	case other[0] == '[':
		return "[]"
	case other[0] == '{':
		return "{}"
	}
	return "0"
}

// objectName is the name an edit's object has after it, for a row.
func objectName(after json.RawMessage) string {
	var o struct {
		Name string `json:"name"`
	}
	json.Unmarshal(after, &o)
	return o.Name
}
