package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// ticketTests cover issuing, revoking and reissuing tickets.
var ticketTests = []storeTest{
	{"Issue", testIssue},
	{"IssueIsAllOrNothing", testIssueAllOrNothing},
	{"IssueChecksSigner", testIssueChecksSigner},
	{"Revoke", testRevoke},
	{"Reissue", testReissue},
	{"IssuedTickets", testIssuedTickets},
	{"Tickets", testTickets},
	{"Deliver", testDeliver},
}

// checkIssued checks that tk is item it issued as serial (replacing
// replaces), with the text k signs for it.
func checkIssued(t *testing.T, ev uint32, k ticket.PrivateKey, tk wire.IssuedTicket, it wire.IssueItem, serial, replaces uint32) {
	t.Helper()
	want := wire.IssuedTicket{Serial: serial, Tier: it.Tier, Holder: it.Holder, OrderRef: it.OrderRef,
		Text: ticket.Sign(k, ticket.Claims{Event: ev, Serial: serial, Tier: it.Tier}).String(), Replaces: replaces}
	if tk != want {
		t.Errorf("issued %+v, want %+v", tk, want)
	}
}

// rosterOf returns the roster entries of roster changes, failing on any
// other kind. The changes were decoded rejecting unknown fields, so no
// e-mail address went into them.
func rosterOf(t *testing.T, cs []wire.Change) []kido.RosterEntry {
	t.Helper()
	return objectsOf(t, cs, func(c wire.Change) *kido.RosterEntry { return c.Roster })
}

func entry(tk wire.IssuedTicket, revoked bool) kido.RosterEntry {
	return kido.RosterEntry{Serial: tk.Serial, Tier: tk.Tier, Holder: tk.Holder, Reading: readingOf(tk.Holder), OrderRef: tk.OrderRef, Revoked: revoked}
}

// checkRoster compares roster entries as sets.
func checkRoster(t *testing.T, what string, got, want []kido.RosterEntry) {
	t.Helper()
	m := map[kido.RosterEntry]int{}
	for _, e := range got {
		m[e]++
	}
	for _, e := range want {
		m[e]--
	}
	for _, n := range m {
		if n != 0 {
			t.Errorf("%s: %+v, want %+v", what, got, want)
			return
		}
	}
}

func (f *fixture) issued(ev uint32) (issued, revoked int) {
	f.t.Helper()
	d, err := f.s.EventDetail(f.ctx, ev)
	ok(f.t, "EventDetail", err)
	return d.Issued, d.Revoked
}

func testIssue(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	sg := signer(a.key)
	req := wire.IssueRequest{Batch: "presale", Tickets: []wire.IssueItem{item(0), item(1), item(2)}}
	var got []wire.IssuedTicket
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.Issue(f.ctx, a.ID, req, sg)
		ok(t, "Issue", err)
	})
	if len(got) != 3 {
		t.Fatalf("Issue of 3 items gave %d tickets", len(got))
	}
	var want []kido.RosterEntry
	for i, tk := range got {
		// Serials of an event count from 1.
		checkIssued(t, a.ID, a.key, tk, item(i), uint32(i+1), 0)
		want = append(want, entry(tk, false))
	}
	checkRoster(t, "changes of Issue", rosterOf(t, changes), want)

	for i, tk := range got {
		if tk.Existing {
			t.Errorf("new ticket %d marked existing", i)
		}
	}
	// The same request again gives back the same tickets, each marked as
	// issued before, and issues nothing.
	given := func(tk wire.IssuedTicket) wire.IssuedTicket { tk.Existing = true; return tk }
	changes = f.appended(a.ID, func() {
		again, err := f.s.Issue(f.ctx, a.ID, req, sg)
		ok(t, "Issue retried", err)
		if len(again) != 3 || again[0] != given(got[0]) || again[2] != given(got[2]) {
			t.Errorf("retried Issue = %+v, want %+v marked existing", again, got)
		}
	})
	if len(changes) != 0 {
		t.Errorf("retried Issue appended %s", kinds(changes))
	}

	// A chunk overlapping the last one: item 2 as before, item 3 new.
	chunk := wire.IssueRequest{Batch: "presale", Offset: 2, Tickets: []wire.IssueItem{item(2), item(3)}}
	changes = f.appended(a.ID, func() {
		out, err := f.s.Issue(f.ctx, a.ID, chunk, sg)
		ok(t, "Issue of an overlapping chunk", err)
		if len(out) != 2 || out[0] != given(got[2]) || out[1].Existing {
			t.Fatalf("overlapping chunk = %+v, want item 2 as issued before (%+v) and a new ticket", out, got[2])
		}
		checkIssued(t, a.ID, a.key, out[1], item(3), 4, 0)
	})
	if len(changes) != 1 {
		t.Errorf("overlapping chunk appended %s, want one roster change", kinds(changes))
	}

	// Another batch numbers on; another event has serials of its own.
	out, err := f.s.Issue(f.ctx, a.ID, wire.IssueRequest{Batch: "door", Tickets: []wire.IssueItem{item(0)}}, sg)
	ok(t, "Issue of another batch", err)
	checkIssued(t, a.ID, a.key, out[0], item(0), 5, 0)
	out, err = f.s.Issue(f.ctx, b.ID, wire.IssueRequest{Batch: "presale", Tickets: []wire.IssueItem{item(0)}}, signer(b.key))
	ok(t, "Issue in another event", err)
	checkIssued(t, b.ID, b.key, out[0], item(0), 1, 0)

	_, err = f.s.Issue(f.ctx, 999, req, sg)
	wantErr(t, "Issue for an unknown event", err, server.ErrNotFound)
	if n, _ := f.issued(a.ID); n != 5 {
		t.Errorf("event A has %d tickets, want 5", n)
	}
}

func testIssueAllOrNothing(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	sg := signer(a.key)
	_, err := f.s.Issue(f.ctx, a.ID, wire.IssueRequest{Batch: "b", Tickets: []wire.IssueItem{item(0), item(1)}}, sg)
	ok(t, "Issue", err)
	changed := item(1)
	changed.Holder = "Someone Else"
	otherReading := item(1)
	otherReading.Reading = "べつじん"
	bad := item(3)
	bad.Tier = 9
	cases := []struct {
		what string
		req  wire.IssueRequest
		err  error
	}{
		// A new item first, then one that conflicts: neither is issued.
		{"an item issued before with other content", wire.IssueRequest{Batch: "b", Offset: 1, Tickets: []wire.IssueItem{changed, item(2)}}, server.ErrConflict},
		{"an item issued before with other content after a new one", wire.IssueRequest{Batch: "b", Offset: 0, Tickets: []wire.IssueItem{item(0), changed, item(2)}}, server.ErrConflict},
		{"an item issued before with another reading", wire.IssueRequest{Batch: "b", Offset: 1, Tickets: []wire.IssueItem{otherReading}}, server.ErrConflict},
		{"an unknown tier", wire.IssueRequest{Batch: "b", Offset: 2, Tickets: []wire.IssueItem{item(2), bad}}, server.ErrInvalid},
	}
	for _, c := range cases {
		changes := f.appended(a.ID, func() {
			_, err := f.s.Issue(f.ctx, a.ID, c.req, sg)
			wantErr(t, "Issue of "+c.what, err, c.err)
		})
		if len(changes) != 0 {
			t.Errorf("refused Issue of %s appended %s", c.what, kinds(changes))
		}
		if n, _ := f.issued(a.ID); n != 2 {
			t.Errorf("after the refused Issue of %s the event has %d tickets, want 2", c.what, n)
		}
	}
}

// testIssueChecksSigner checks that a ticket is signed only by the event's
// current, unrevoked key, checked in the issuing transaction: a rotation
// or revocation that raced the request wins.
func testIssueChecksSigner(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	k2 := f.rotate(a.ID)
	req := wire.IssueRequest{Batch: "b", Tickets: []wire.IssueItem{item(0)}}
	_, err := f.s.Issue(f.ctx, a.ID, req, signer(a.key))
	wantErr(t, "Issue signed by the key before a rotation", err, server.ErrConflict)
	_, err = f.s.Issue(f.ctx, a.ID, req, signer(b.key))
	wantErr(t, "Issue signed by another event's key", err, server.ErrConflict)
	_, err = f.s.RevokeKey(f.ctx, a.ID, k2.Public().ID().String())
	ok(t, "RevokeKey", err)
	_, err = f.s.Issue(f.ctx, a.ID, req, signer(k2))
	wantErr(t, "Issue signed by a revoked key", err, server.ErrConflict)
	if n, _ := f.issued(a.ID); n != 0 {
		t.Errorf("%d tickets issued with a stale signer", n)
	}
}

func testRevoke(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	// Two tickets in order O-1, one each in O-2 and O-3.
	items := []wire.IssueItem{item(1), item(1), item(2), item(3)}
	tks, err := f.s.Issue(f.ctx, a.ID, wire.IssueRequest{Batch: "b", Tickets: items}, signer(a.key))
	ok(t, "Issue", err)
	f.issue(b, "b", 4)
	cases := []struct {
		what    string
		ev      uint32
		sel     wire.Selection
		want    []kido.RosterEntry // answered, all revoked
		changed []kido.RosterEntry // appended to the log
		err     error
	}{
		{"a serial", a.ID, wire.Selection{Serials: []uint32{tks[0].Serial}},
			[]kido.RosterEntry{entry(tks[0], true)}, []kido.RosterEntry{entry(tks[0], true)}, nil},
		{"a revoked ticket again", a.ID, wire.Selection{Serials: []uint32{tks[0].Serial}},
			[]kido.RosterEntry{entry(tks[0], true)}, nil, nil},
		{"an order, one of its tickets revoked", a.ID, wire.Selection{OrderRef: "O-1"},
			[]kido.RosterEntry{entry(tks[0], true), entry(tks[1], true)}, []kido.RosterEntry{entry(tks[1], true)}, nil},
		{"a known and an unknown serial", a.ID, wire.Selection{Serials: []uint32{tks[2].Serial, 99}}, nil, nil, server.ErrNotFound},
		{"an unknown order", a.ID, wire.Selection{OrderRef: "O-9"}, nil, nil, server.ErrNotFound},
		{"a serial of an unknown event", 999, wire.Selection{Serials: []uint32{1}}, nil, nil, server.ErrNotFound},
	}
	for _, c := range cases {
		var got []kido.RosterEntry
		changes := f.appended(a.ID, func() {
			got, err = f.s.Revoke(f.ctx, c.ev, c.sel)
			if c.err != nil {
				wantErr(t, "Revoke of "+c.what, err, c.err)
				return
			}
			ok(t, "Revoke of "+c.what, err)
		})
		checkRoster(t, "Revoke of "+c.what, got, c.want)
		checkRoster(t, "changes of Revoke of "+c.what, rosterOf(t, changes), c.changed)
	}
	if n, r := f.issued(a.ID); n != 4 || r != 2 {
		t.Errorf("event A: %d issued, %d revoked; want 4, 2", n, r)
	}
	if _, r := f.issued(b.ID); r != 0 {
		t.Errorf("event B: %d revoked by revocations in A", r)
	}
}

func testReissue(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	sg := signer(a.key)
	// Serial 1 in order O-1, serials 2 and 3 in O-2, 4 in O-4.
	items := []wire.IssueItem{item(1), item(2), item(2), item(4)}
	tks, err := f.s.Issue(f.ctx, a.ID, wire.IssueRequest{Batch: "b", Tickets: items}, sg)
	ok(t, "Issue", err)

	// By serial: the ticket is revoked and replaced.
	var got []wire.IssuedTicket
	changes := f.appended(a.ID, func() {
		got, err = f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{1}}, sg)
		ok(t, "Reissue", err)
	})
	if len(got) != 1 {
		t.Fatalf("Reissue of one serial gave %+v", got)
	}
	checkIssued(t, a.ID, a.key, got[0], items[0], 5, 1)
	// The revocation names the replacement, for the gates to say so.
	replaced := entry(tks[0], true)
	replaced.ReplacedBy = got[0].Serial
	checkRoster(t, "changes of Reissue", rosterOf(t, changes), []kido.RosterEntry{replaced, entry(got[0], false)})

	// Again: the replacement given back, marked as issued before, nothing
	// issued.
	changes = f.appended(a.ID, func() {
		again, err := f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{1}}, sg)
		ok(t, "Reissue retried", err)
		want := got[0]
		want.Existing = true
		if len(again) != 1 || again[0] != want || got[0].Existing {
			t.Errorf("retried Reissue = %+v, want %+v marked existing after a new one", again, got)
		}
	})
	if len(changes) != 0 {
		t.Errorf("retried Reissue appended %s", kinds(changes))
	}

	// By order: its valid tickets.
	_, err = f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{2}})
	ok(t, "Revoke", err)
	got, err = f.s.Reissue(f.ctx, a.ID, wire.Selection{OrderRef: "O-2"}, sg)
	ok(t, "Reissue of an order", err)
	if len(got) != 1 {
		t.Fatalf("Reissue of an order with one valid ticket gave %+v", got)
	}
	checkIssued(t, a.ID, a.key, got[0], items[2], 6, 3)

	_, err = f.s.Revoke(f.ctx, a.ID, wire.Selection{OrderRef: "O-4"})
	ok(t, "Revoke", err)
	k2 := f.rotate(a.ID)
	cases := []struct {
		what string
		sel  wire.Selection
		sg   server.Signer
		err  error
	}{
		{"an order without valid tickets", wire.Selection{OrderRef: "O-4"}, signer(k2), server.ErrNotFound},
		{"an unknown serial", wire.Selection{Serials: []uint32{4, 99}}, signer(k2), server.ErrNotFound},
		{"a ticket with the key before a rotation as signer", wire.Selection{Serials: []uint32{4}}, sg, server.ErrConflict},
	}
	for _, c := range cases {
		changes := f.appended(a.ID, func() {
			_, err := f.s.Reissue(f.ctx, a.ID, c.sel, c.sg)
			wantErr(t, "Reissue of "+c.what, err, c.err)
		})
		if len(changes) != 0 {
			t.Errorf("refused Reissue of %s appended %s", c.what, kinds(changes))
		}
	}
	// A revoked ticket can be reissued by serial, signed by the new key;
	// its roster entry comes again, naming the replacement.
	changes = f.appended(a.ID, func() {
		got, err = f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{4}}, signer(k2))
		ok(t, "Reissue of a revoked ticket", err)
	})
	checkIssued(t, a.ID, k2, got[0], items[3], 7, 4)
	replaced = entry(tks[3], true)
	replaced.ReplacedBy = got[0].Serial
	checkRoster(t, "changes of Reissue of a revoked ticket", rosterOf(t, changes), []kido.RosterEntry{replaced, entry(got[0], false)})
	if n, r := f.issued(a.ID); n != 7 || r != 4 {
		t.Errorf("event A: %d issued, %d revoked; want 7, 4", n, r)
	}
}

func testIssuedTickets(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "b", 2)
	f.issue(b, "b", 3)
	_, err := f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[1].Serial}})
	ok(t, "Revoke", err)
	// Serial 3 exists in event B only; serial 1 is asked twice.
	got, err := f.s.IssuedTickets(f.ctx, a.ID, []uint32{1, 2, 3, 1})
	ok(t, "IssuedTickets", err)
	if len(got) != 2 {
		t.Errorf("IssuedTickets = %+v, want serials 1 and 2 only", got)
	}
	for _, tk := range tks {
		is, found := got[tk.Serial]
		// A store that keeps no ticket texts leaves Text empty.
		if !found || is.Tier != tk.Tier || (is.Text != "" && is.Text != tk.Text) {
			t.Errorf("IssuedTickets[%d] = %+v, %v; want tier %d and the issued text", tk.Serial, is, found, tk.Tier)
		}
	}
	got, err = f.s.IssuedTickets(f.ctx, a.ID, nil)
	ok(t, "IssuedTickets of no serial", err)
	if len(got) != 0 {
		t.Errorf("IssuedTickets of no serial = %+v", got)
	}
}

// testTickets: every ticket of the event in serial order with its e-mail,
// batch, revocation and replacement; none of another event.
func testTickets(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "b1", 3)
	f.issue(b, "b1", 1)
	re, err := f.s.Reissue(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[1].Serial}}, signer(a.key))
	ok(t, "Reissue", err)
	_, err = f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[2].Serial}})
	ok(t, "Revoke", err)
	got, err := f.s.Tickets(f.ctx, a.ID, "")
	ok(t, "Tickets", err)
	rec := func(i int, serial uint32) wire.TicketRecord {
		it := item(i)
		return wire.TicketRecord{Serial: serial, Tier: it.Tier, Holder: it.Holder, Reading: it.Reading, Email: it.Email, OrderRef: it.OrderRef, Batch: "b1"}
	}
	want := []wire.TicketRecord{rec(0, tks[0].Serial), rec(1, tks[1].Serial), rec(2, tks[2].Serial), rec(1, re[0].Serial)}
	want[1].Revoked, want[1].ReplacedBy = true, re[0].Serial
	want[2].Revoked = true
	want[3].Batch, want[3].Replaces = "", tks[1].Serial
	if len(got) != len(want) {
		t.Fatalf("Tickets = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i].Mail != nil {
			t.Errorf("Tickets[%d] has a mail record before any: %+v", i, got[i].Mail)
		}
		got[i].Mail = nil
		if got[i] != want[i] {
			t.Errorf("Tickets[%d] = %+v\nwant %+v", i, got[i], want[i])
		}
	}
	byOrder, err := f.s.Tickets(f.ctx, a.ID, item(1).OrderRef)
	ok(t, "Tickets of an order", err)
	if len(byOrder) != 2 || byOrder[0].Serial != tks[1].Serial || byOrder[1].Serial != re[0].Serial {
		t.Errorf("Tickets of order %s = %+v, want the revoked ticket and its replacement", item(1).OrderRef, byOrder)
	}
	if none, err := f.s.Tickets(f.ctx, a.ID, "no such order"); err != nil || len(none) != 0 {
		t.Errorf("Tickets of an unknown order = %+v, %v; want none", none, err)
	}
	_, err = f.s.Tickets(f.ctx, 999, "")
	wantErr(t, "Tickets of an unknown event", err, server.ErrNotFound)
}

// testDeliver: claims refuse revoked, unknown, sent tickets and another
// run's; results are recorded only for the run's own claims, all or
// nothing; a failed ticket may be claimed again, a retake takes an
// unfinished claim.
func testDeliver(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	tks := f.issue(a, "b1", 3)
	_, err := f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[2].Serial}})
	ok(t, "Revoke", err)
	s1, s2, s3 := tks[0].Serial, tks[1].Serial, tks[2].Serial
	const runA, runB = "runaaaaaaaaaaaaaaaaa", "runbbbbbbbbbbbbbbbbb"
	deliver := func(req wire.DeliveryRequest, at time.Time) wire.DeliveryResponse {
		t.Helper()
		resp, err := f.s.Deliver(f.ctx, a.ID, req, at)
		ok(t, "Deliver", err)
		return resp
	}
	why := func(resp wire.DeliveryResponse) map[uint32]string {
		m := map[uint32]string{}
		for _, r := range resp.Refused {
			m[r.Serial] = r.Why
		}
		return m
	}
	resp := deliver(wire.DeliveryRequest{Run: runA, Claim: []uint32{s1, s2, s3, 99}}, t0)
	if !slices.Equal(resp.Claimed, []uint32{s1, s2}) || !maps.Equal(why(resp), map[uint32]string{s3: "revoked", 99: "unknown"}) {
		t.Errorf("first claim: %+v", resp)
	}
	resp = deliver(wire.DeliveryRequest{Run: runB, Claim: []uint32{s1}}, t0)
	if len(resp.Claimed) != 0 || len(resp.Refused) != 1 || resp.Refused[0].Why != wire.MailSending || resp.Refused[0].Mail == nil || resp.Refused[0].Mail.Run != runA {
		t.Errorf("another run's claim: %+v", resp)
	}
	t1 := t0.Add(time.Minute)
	deliver(wire.DeliveryRequest{Run: runA, Results: []wire.DeliveryResult{
		{Serial: s1, Accepted: true, To: "holder0@example.jp", Answer: "250 2.0.0 Ok: queued as 4F3A"},
		{Serial: s2, To: "holder1@example.jp", Answer: "550 5.1.1 no such user"}}}, t1)
	got, err := f.s.Tickets(f.ctx, a.ID, "")
	ok(t, "Tickets", err)
	want1 := wire.Mail{State: wire.MailSent, Run: runA, To: "holder0@example.jp", Answer: "250 2.0.0 Ok: queued as 4F3A", At: t1, Attempts: 1}
	want2 := wire.Mail{State: wire.MailFailed, Run: runA, To: "holder1@example.jp", Answer: "550 5.1.1 no such user", At: t1, Attempts: 1}
	if got[0].Mail == nil || !got[0].Mail.At.Equal(t1) || got[1].Mail == nil || got[2].Mail != nil {
		t.Fatalf("mail records %+v %+v %+v", got[0].Mail, got[1].Mail, got[2].Mail)
	}
	got[0].Mail.At, got[1].Mail.At = t1, t1
	if *got[0].Mail != want1 || *got[1].Mail != want2 {
		t.Errorf("mail records\n%+v\n%+v\nwant\n%+v\n%+v", *got[0].Mail, *got[1].Mail, want1, want2)
	}

	// A result for a ticket the run does not hold is refused, and the
	// claim beside it is not made.
	_, err = f.s.Deliver(f.ctx, a.ID, wire.DeliveryRequest{Run: runB, Claim: []uint32{s2},
		Results: []wire.DeliveryResult{{Serial: s1, Accepted: true, To: "x@example.jp", Answer: "250 ok"}}}, t1)
	wantErr(t, "Deliver with another run's result", err, server.ErrConflict)
	resp = deliver(wire.DeliveryRequest{Run: runB, Claim: []uint32{s1, s2}}, t1)
	if !slices.Equal(resp.Claimed, []uint32{s2}) || !maps.Equal(why(resp), map[uint32]string{s1: wire.MailSent}) {
		t.Errorf("claim after the results: %+v", resp)
	}
	// runB never tells; runA may take the ticket over only with Retake.
	if resp := deliver(wire.DeliveryRequest{Run: runA, Claim: []uint32{s2}}, t1); len(resp.Claimed) != 0 {
		t.Errorf("claimed another run's unfinished ticket without Retake: %+v", resp)
	}
	if resp := deliver(wire.DeliveryRequest{Run: runA, Claim: []uint32{s2}, Retake: true}, t1); !slices.Equal(resp.Claimed, []uint32{s2}) {
		t.Errorf("Retake: %+v", resp)
	}
	got, err = f.s.Tickets(f.ctx, a.ID, "")
	ok(t, "Tickets", err)
	if m := got[1].Mail; m == nil || m.State != wire.MailSending || m.Run != runA || m.Attempts != 3 || m.Answer != "" {
		t.Errorf("retaken ticket's record %+v, want sending by run A, attempt 3", m)
	}
	_, err = f.s.Deliver(f.ctx, 999, wire.DeliveryRequest{Run: runA, Claim: []uint32{1}}, t1)
	wantErr(t, "Deliver in an unknown event", err, server.ErrNotFound)
}
