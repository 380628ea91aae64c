package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/wire"
)

func runGate(ctx context.Context, e env, args []string) error {
	return subcommands(ctx, e, "gate", `kidoctl gate add 1 -name "North 1"`, args, map[string]func(context.Context, env, []string) error{
		"add":    runGateAdd,
		"edit":   runGateEdit,
		"list":   runGateList,
		"revoke": runGateRevoke,
		"void":   runGateVoid,
	})
}

func gateRows(gs []kido.Gate, tiers []kido.Tier) [][]string {
	names := map[uint8]string{}
	for _, t := range tiers {
		names[t.ID] = t.Name
	}
	rows := [][]string{{"GATE", "NAME", "DIRECTION", "TIERS", "REVOKED"}}
	for _, g := range gs {
		ts := "all"
		if len(g.Tiers) > 0 {
			var s []string
			for _, id := range g.Tiers {
				if n, ok := names[id]; ok {
					s = append(s, n)
				} else {
					s = append(s, strconv.Itoa(int(id)))
				}
			}
			ts = strings.Join(s, ",")
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(g.ID), 10), g.Name, string(g.Direction), ts, yesNo(g.Revoked)})
	}
	return rows
}

// gateAddJSON is what gate add -json prints: the gate, with its id in id,
// and the code in code.
type gateAddJSON struct {
	kido.Gate
	Code        string    `json:"code"`
	Expires     time.Time `json:"expires"`
	Fingerprint string    `json:"fingerprint"`
	QR          string    `json:"qr,omitempty"`
}

func runGateAdd(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gate add", `gate add [-event] ID -name NAME [-tiers VIP,GA] [-direction entry|exit|both] [-qr FILE.png]`,
		"Adds a gate to an event and prints its single-use enrolment code, for kido-gate enroll. The code ends with the server's fingerprint, so a gate enrolled with it trusts no other server. It expires after 24 hours.",
		`kidoctl gate add -event 1 -name "North 1" -tiers VIP,GA -direction entry`)
	ev := fs.Uint("event", 0, "event `id`")
	name := fs.String("name", "", "gate `name`, e.g. \"North 1\"")
	tiers := fs.String("tiers", "", "comma-separated tier `names` this gate admits (default: all)")
	dir := fs.String("direction", string(kido.DirectionEntry), "entry, exit or both")
	qrPath := fs.String("qr", "", "also write the code as a QR image to `file`")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usagef("-name is required")
	}
	switch kido.Direction(*dir) {
	case kido.DirectionEntry, kido.DirectionExit, kido.DirectionBoth:
	default:
		return usagef("-direction %q: use entry, exit or both", *dir)
	}
	var ts []string
	for _, t := range strings.Split(*tiers, ",") {
		if t = strings.TrimSpace(t); t != "" {
			ts = append(ts, t)
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	g, err := cl.AddGate(ctx, id, wire.GateCreate{Name: *name, Tiers: ts, Direction: kido.Direction(*dir)})
	if err != nil {
		return err
	}
	digits := strings.ReplaceAll(g.Code, " ", "")
	if *qrPath != "" {
		// The code is a credential until used: the image is private.
		png, err := qrcode.Encode(digits, qrcode.Medium, 256)
		if err == nil {
			err = privfile.WriteFile(*qrPath, png)
		}
		if err != nil {
			return fmt.Errorf("write QR image: %w", err)
		}
	}
	if c.json {
		return printJSON(e.stdout, gateAddJSON{Gate: g.Gate, Code: g.Code, Expires: g.Expires, Fingerprint: g.Server.Fingerprint, QR: *qrPath})
	}
	w := e.stdout
	fmt.Fprintf(w, "added gate %d (%s) to event %d\n\nenrolment code:  %s\n\n", g.Gate.ID, g.Gate.Name, g.Gate.Event, g.Code)
	fmt.Fprintf(w, "single use, valid until %s; server fingerprint %s\n", g.Expires.Local().Format(time.RFC3339), g.Server.Fingerprint)
	fmt.Fprintf(w, "on the gate: kido-gate enroll -server %s -code %q\n", cl.BaseURL(), g.Code)
	if *qrPath != "" {
		fmt.Fprintf(w, "QR image: %s\n", *qrPath)
	}
	if isTerminal(w) {
		if q, err := qrcode.New(digits, qrcode.Medium); err == nil {
			fmt.Fprint(w, "\n"+q.ToSmallString(false))
		}
	}
	return nil
}

func runGateList(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gate list", "gate list [-event] ID", "Lists the gates of an event.", "kidoctl gate list 1")
	ev := fs.Uint("event", 0, "event `id`")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	_, d, err := eventDetail(ctx, c, id)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, d.Gates)
	}
	return termtable.Write(e.stdout, gateRows(d.Gates, d.Tiers))
}

func runGateRevoke(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gate revoke", "gate revoke -event ID [-force] GATE",
		"Revokes a gate (a lost or stolen device): its credential stops working, its next contact is refused with gate_revoked and it wipes its replica, "+
			"and the other gates learn it is revoked. When the gate's last heartbeat reported records not yet uploaded, those would be lost with the wipe: "+
			"kidoctl refuses unless -force is given.",
		"kidoctl gate revoke -event 1 3")
	ev := fs.Uint("event", 0, "event `id`")
	force := fs.Bool("force", false, "revoke even though the gate has records not yet uploaded")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	id, err := eventID(*ev)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give exactly one gate id\nhint: kidoctl gates -event %d lists them", id)
	}
	gid, err := strconv.ParseUint(pos[0], 10, 32)
	if err != nil || gid == 0 {
		return usagef("gate id %q is not a positive number\nhint: kidoctl gates -event %d lists them", pos[0], id)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if !*force {
		sts, err := cl.GateStatuses(ctx, id, 0)
		if err != nil {
			return err
		}
		for _, st := range sts {
			if st.ID == uint32(gid) && st.Pending > 0 && !st.Revoked {
				return fmt.Errorf("gate %d (%s) reported %s not yet uploaded; revoking wipes them from the device\nhint: let it sync first, or add -force to revoke anyway", st.ID, st.Name, plural.Count(st.Pending, "record", "records"))
			}
		}
	}
	g, err := cl.RevokeGate(ctx, id, uint32(gid))
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, g)
	}
	fmt.Fprintf(e.stdout, "revoked gate %d (%s) of event %d; its next contact wipes its replica\n", g.ID, g.Name, g.Event)
	return nil
}

func runGateVoid(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gate void", "gate void -event ID -gate G -from TIME -reason TEXT",
		"Voids a revoked gate's admissions from TIME on (trusted time at the gate), for a gate that was stolen or misused: "+
			"they stop counting in the report and double entries, and every gate stops counting them against the holders at its next sync, "+
			"so the real holders get in. Nothing is deleted: the report lists the voided admissions and the void, with who made it, when and why. "+
			"Only a revoked gate can be voided (kidoctl gate revoke first). Upgrade every kido-gate first: "+
			"one built before voids refuses the feed answer that carries the void and stops syncing until upgraded (docs/sync-protocol.md §3.6).",
		`kidoctl gate void -event 1 -gate 3 -from 2027-08-01T10:00:00+09:00 -reason "tablet stolen at North 1"`)
	ev := fs.Uint("event", 0, "event `id`")
	gid := fs.Uint("gate", 0, "`id` of the revoked gate (kidoctl gates lists them)")
	fromText := fs.String("from", "", "RFC 3339 `time` from which the gate's admissions are void, e.g. when the tablet went missing")
	reason := fs.String("reason", "", "why, one line, at most 200 bytes (required; recorded with the void)")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	id, err := eventID(*ev)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q\nhint: quote a reason of several words: -reason \"tablet stolen\"", pos[0])
	}
	if *gid == 0 || *gid > math.MaxUint32 {
		return usagef("-gate G is required\nhint: kidoctl gates -event %d lists the gates; revoke the gate first", id)
	}
	from, err := parseTime("-from", *fromText)
	if err != nil {
		return err
	}
	if !kido.HasReason(*reason) {
		return usagef("-reason is required: the void is recorded with why\nhint: -reason \"tablet stolen at North 1\"")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	v, err := cl.VoidGate(ctx, id, uint32(*gid), from, *reason)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "voided %d admissions of gate %d of event %d from %s (by %s: %s); gates stop counting them at their next sync\n",
		v.Voided, v.Void.Gate, v.Void.Event, v.Void.From.Local().Format(time.RFC3339), v.Void.By, v.Void.Reason)
	return nil
}
