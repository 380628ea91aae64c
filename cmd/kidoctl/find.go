package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/norm"

	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/wire"
)

// runFind finds tickets by their holder's e-mail address. The address is on
// the server only (gates never receive one), so this search is the
// promoter's, not the steward's.
func runFind(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "find", "find [-event] ID -email ADDRESS",
		"Lists an event's tickets mailed or to be mailed to an address: serial, tier, holder, reading, order, whether valid, and the mail record. "+
			"Case, surrounding spaces and full-width characters are ignored (ＴＡＲＯ＠example.jp finds taro@example.jp). "+
			"Gates never receive e-mail addresses; at the gate, search by name or order (kido-gate find).",
		"kidoctl find 1 -email taro@example.jp")
	ev := fs.Uint("event", 0, "event `id`")
	email := fs.String("email", "", "the holder's e-mail `address`")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	want := foldEmail(*email)
	if want == "" {
		return usagef("-email: give the address to find\nhint: kidoctl find -event %d -email taro@example.jp", id)
	}
	if !strings.Contains(want, "@") {
		return usagef("-email %q is not an address: it has no @", *email)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ts, err := cl.Tickets(ctx, id)
	if err != nil {
		return err
	}
	found := []wire.TicketRecord{}
	for _, t := range ts {
		if foldEmail(t.Email) == want {
			found = append(found, t)
		}
	}
	if c.json {
		return printJSON(e.stdout, found)
	}
	if len(found) == 0 {
		fmt.Fprintf(e.stdout, "no ticket of event %d has the address %s\n", id, want)
		return nil
	}
	view, err := viewOf(ctx, cl, id)
	if err != nil {
		return err
	}
	rows := [][]string{{"SERIAL", "TIER", "HOLDER", "READING", "ORDER", "STATUS", view.zone.Header("MAIL")}}
	for _, t := range found {
		status := "valid"
		switch {
		case t.ReplacedBy != 0:
			status = "replaced by " + strconv.FormatUint(uint64(t.ReplacedBy), 10)
		case t.Revoked:
			status = "revoked"
		}
		mail := "not mailed"
		if m := t.Mail; m != nil {
			mail = m.State + " " + view.zone.Time(m.At)
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(t.Serial), 10), view.tier(t.Tier), t.Holder, t.Reading, t.OrderRef, status, mail})
	}
	return termtable.Write(e.stdout, rows)
}

// foldEmail is how addresses are compared: full-width forms made ASCII
// (NFKC), case and surrounding spaces ignored.
func foldEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
}
