package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/cmd/internal/plural"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/wire"
)

// readinessSkew is the clock offset beyond which a gate is not ready: as
// kido-gate doctor's clock check, a minute.
const readinessSkew = time.Minute

// readiness is kidoctl readiness -json's answer.
type readiness struct {
	Event    uint32      `json:"event"`
	Gates    int         `json:"gates"`     // unrevoked gates
	NotReady int         `json:"not_ready"` // of which not ready
	Verdict  string      `json:"verdict"`
	Each     []gateReady `json:"each"`
}

type gateReady struct {
	wire.GateStatus
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

func runReadiness(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "readiness", "readiness [-event] ID [-contact-within 2m]",
		"The check before the doors open, across every unrevoked gate of the event: a gate is ready when it was in contact and its replica synced within -contact-within, "+
			"has no records waiting to upload, its clock is within a minute of the server's, 64 MiB or more free, and nothing of it is quarantined or refused. "+
			"Prints each gate and one verdict line; exits 1 when a gate is not ready. On a gate, kido-gate doctor names the fault.",
		"kidoctl readiness 1")
	ev := fs.Uint("event", 0, "event `id`")
	within := fs.Duration("contact-within", 2*time.Minute, "a gate must have been in contact within this `duration` (30s to 24h)")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if *within < 30*time.Second || *within > 24*time.Hour {
		return usagef("-contact-within %s: give a duration from 30s to 24h", *within)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	sts, err := cl.GateStatuses(ctx, id, *within)
	if err != nil {
		return err
	}
	rd := judge(id, sts, time.Now(), *within)
	if c.json {
		if err := printJSON(e.stdout, rd); err != nil {
			return err
		}
	} else {
		rows := [][]string{{"GATE", "NAME", "READY", "LAST CONTACT", "PENDING", "SKEW", "REPLICA", "FREE", "VERSION", "WHY NOT"}}
		now := time.Now()
		for _, g := range rd.Each {
			last, pending := "never", "?"
			if g.LastContact != nil {
				last = ago(now.Sub(*g.LastContact))
			}
			if g.Pending >= 0 {
				pending = strconv.FormatInt(g.Pending, 10)
			}
			ready := "yes"
			if !g.Ready {
				ready = "NO"
			}
			rows = append(rows, []string{strconv.FormatUint(uint64(g.ID), 10), g.Name, ready, last, pending, skewText(g.GateStatus), replicaAge(g.GateStatus, now), freeText(g.FreeBytes), dash(g.Version), dash(strings.Join(g.Reasons, "; "))})
		}
		if err := termtable.Write(e.stdout, rows); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, rd.Verdict)
	}
	if rd.NotReady > 0 {
		return exitSilently{}
	}
	return nil
}

// judge decides each unrevoked gate's readiness and the verdict.
func judge(event uint32, sts []wire.GateStatus, now time.Time, within time.Duration) readiness {
	rd := readiness{Event: event}
	var why []string
	versions := map[string]int{}
	for _, st := range sts {
		if st.Revoked {
			continue
		}
		g := gateReady{GateStatus: st}
		switch {
		case st.LastContact == nil:
			g.Reasons = append(g.Reasons, "never in contact")
		case now.Sub(*st.LastContact) > within:
			g.Reasons = append(g.Reasons, "last contact "+now.Sub(*st.LastContact).Round(time.Second).String()+" ago")
		}
		switch {
		case st.LastContact == nil:
		case st.Pending < 0:
			g.Reasons = append(g.Reasons, "pending records unknown")
		case st.Pending > 0:
			g.Reasons = append(g.Reasons, plural.Count(st.Pending, "record", "records")+" not uploaded")
		}
		if skew := time.Duration(st.ClockSkewMS) * time.Millisecond; st.LastContact != nil && absDur(skew) >= readinessSkew {
			dir := "ahead"
			if skew < 0 {
				dir = "behind"
			}
			g.Reasons = append(g.Reasons, fmt.Sprintf("clock %s %s", absDur(skew).Round(time.Second), dir))
		}
		if st.LastContact != nil && st.Synced != nil && now.Sub(*st.Synced) > within {
			g.Reasons = append(g.Reasons, "replica last synced "+now.Sub(*st.Synced).Round(time.Second).String()+" ago")
		}
		if st.FreeBytes >= 0 && st.FreeBytes < doctor.GateMinFree {
			g.Reasons = append(g.Reasons, fmt.Sprintf("disk nearly full (%d MiB free)", st.FreeBytes>>20))
		}
		if st.Quarantined > 0 {
			g.Reasons = append(g.Reasons, plural.Count(st.Quarantined, "record", "records")+" quarantined")
		}
		if st.Refused > 0 {
			g.Reasons = append(g.Reasons, plural.Count(st.Refused, "upload", "uploads")+" refused")
		}
		g.Ready = len(g.Reasons) == 0
		if !g.Ready {
			rd.NotReady++
			why = append(why, fmt.Sprintf("%s (%s)", g.Name, strings.Join(g.Reasons, ", ")))
		}
		if st.Version != "" {
			versions[st.Version]++
		}
		rd.Gates++
		rd.Each = append(rd.Each, g)
	}
	switch {
	case rd.Gates == 0:
		rd.NotReady = 1 // nothing can admit anyone
		rd.Verdict = fmt.Sprintf("event %d has no gates: add them with kidoctl gate add", event)
	case rd.NotReady == 0:
		rd.Verdict = fmt.Sprintf("all %d gates ready", rd.Gates)
	default:
		rd.Verdict = fmt.Sprintf("%d of %d gates not ready: %s", rd.NotReady, rd.Gates, strings.Join(why, "; "))
	}
	if len(versions) > 1 {
		var vs []string
		for _, v := range slices.Sorted(maps.Keys(versions)) {
			vs = append(vs, fmt.Sprintf("%s ×%d", v, versions[v]))
		}
		rd.Verdict += "; gates run different versions: " + strings.Join(vs, ", ")
	}
	return rd
}
