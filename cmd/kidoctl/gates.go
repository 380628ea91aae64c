package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/wire"
)

// skewLimit is the clock skew beyond which kidoctl gates flags a gate.
const skewLimit = 5 * time.Minute

func runGates(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "gates", "gates [-event] ID [-silent-after 2m]",
		"Lists an event's gates with their last contact, records waiting to sync, clock skew, when the replica last synced, free disk, version and upload state. "+
			"During the event (from 3 h before its start to its end) a gate not heard from for longer than -silent-after is flagged SILENT; "+
			"a clock more than 5 min off is flagged SKEW; records in quarantine or refused uploads are flagged too.",
		"kidoctl gates 1 -silent-after 5m")
	ev := fs.Uint("event", 0, "event `id`")
	after := fs.Duration("silent-after", 2*time.Minute, "flag gates silent for longer than this `duration` (30s to 24h)")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if *after < 30*time.Second || *after > 24*time.Hour {
		return usagef("-silent-after %s: give a duration from 30s to 24h", *after)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	sts, err := cl.GateStatuses(ctx, id, *after)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, sts)
	}
	now := time.Now()
	rows := [][]string{{"GATE", "NAME", "DIRECTION", "LAST CONTACT", "PENDING", "SKEW", "REPLICA", "FREE", "VERSION", "ACKED", "FLAGS"}}
	flagged := 0
	for _, st := range sts {
		flags := gateFlags(st)
		if flags != "ok" {
			flagged++
		}
		last, pending := "never", "?"
		if st.LastContact != nil {
			last = ago(now.Sub(*st.LastContact))
		}
		if st.Pending >= 0 {
			pending = strconv.FormatInt(st.Pending, 10)
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(st.ID), 10), st.Name, string(st.Direction), last, pending,
			skewText(st), replicaAge(st, now), freeText(st.FreeBytes), dash(st.Version), fmt.Sprintf("%d/%d", st.Acked, st.AuditAcked), flags})
	}
	if err := termtable.Write(e.stdout, rows); err != nil {
		return err
	}
	if flagged > 0 {
		fmt.Fprintf(e.stderr, "%d of %d gates need attention\n", flagged, len(sts))
	}
	return nil
}

// gateFlags names what an operator must look at for a gate.
func gateFlags(st wire.GateStatus) string {
	var fl []string
	if st.Revoked {
		fl = append(fl, "REVOKED")
	}
	if st.Silent {
		fl = append(fl, "SILENT")
	}
	if st.LastContact != nil && absDur(time.Duration(st.ClockSkewMS)*time.Millisecond) > skewLimit {
		fl = append(fl, "SKEW")
	}
	if st.Quarantined > 0 {
		fl = append(fl, fmt.Sprintf("QUARANTINED:%d", st.Quarantined))
	}
	if st.Refused > 0 {
		fl = append(fl, fmt.Sprintf("REFUSED:%d", st.Refused))
	}
	if st.Suspect > 0 {
		fl = append(fl, fmt.Sprintf("SUSPECT:%d", st.Suspect))
	}
	if st.Voided > 0 {
		fl = append(fl, fmt.Sprintf("VOIDED:%d", st.Voided))
	}
	if len(fl) == 0 {
		return "ok"
	}
	return strings.Join(fl, ",")
}

// replicaAge is how long ago the gate's replica last took the server's
// changes, as its heartbeat said.
func replicaAge(st wire.GateStatus, now time.Time) string {
	if st.Synced == nil {
		return "-"
	}
	return ago(now.Sub(*st.Synced))
}

// freeText is the gate's free disk space in MiB or GiB.
func freeText(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n < 10<<30:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d GiB", n>>30)
}

func skewText(st wire.GateStatus) string {
	if st.LastContact == nil {
		return "-"
	}
	// Rounded before the sign is chosen: -0.4 s is "+0s", never "0s".
	d := (time.Duration(st.ClockSkewMS) * time.Millisecond).Round(time.Second)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

func ago(d time.Duration) string {
	if d < time.Second {
		return "now"
	}
	return d.Round(time.Second).String() + " ago"
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
