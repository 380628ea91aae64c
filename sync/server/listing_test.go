package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// TestListings: the admissions and tickets a promoter exports, each
// answered only to a token of the event.
func TestListings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev, other := f.event(t), f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	if _, err := f.admin.Revoke(ctx, ev, wire.Selection{Serials: []uint32{tks[2].Serial}}); err != nil {
		t.Fatal(err)
	}
	north := f.gate(t, ev, "North 1")
	first := north.admission(tks[0], kido.KindEntry, admitTime)
	second := north.admission(tks[1], kido.KindEntry, admitTime.Add(time.Minute))
	if a := north.upload(t, wire.UploadRequest{Admissions: []kido.Admission{first, second}}); a.status != 200 {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}

	as, err := f.admin.Admissions(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].Hash != first.Hash || as[1].Hash != second.Hash {
		t.Fatalf("admissions %+v, want the two uploaded in seq order", as)
	}
	for _, a := range as {
		if a.GateName != "North 1" || a.Holder != "山田 太郎" || a.Status != "" {
			t.Errorf("admission %+v: want gate name, holder, counted", a)
		}
	}

	got, err := f.admin.Tickets(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Email != "taro@example.jp" || got[0].Batch != "b1" || got[0].Revoked || !got[2].Revoked {
		t.Errorf("tickets %+v", got)
	}
	if ts, err := f.admin.Tickets(ctx, other); err != nil || len(ts) != 0 {
		t.Errorf("tickets of an event without any: %+v, %v; want [], nil", ts, err)
	}

	// A promoter of the other event is refused both.
	tok, err := f.admin.CreateToken(ctx, wire.TokenCreate{Name: "other promoter", Scope: wire.ScopePromoter, Events: []uint32{other}})
	if err != nil {
		t.Fatal(err)
	}
	p := f.client(t, tok.Secret)
	if _, err := p.Tickets(ctx, ev); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("tickets for another event's promoter: %v, want forbidden", err)
	}
	if _, err := p.Admissions(ctx, ev); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("admissions for another event's promoter: %v, want forbidden", err)
	}
}

// TestDeliveriesChecked: a delivery request with a bad run id, a line
// break in an answer, or for another event's promoter changes nothing.
func TestDeliveriesChecked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev, other := f.event(t), f.event(t)
	tks := f.issue(t, ev, "b1", 1)
	const run = "0123456789abcdef"
	for _, req := range []wire.DeliveryRequest{
		{Run: "short", Claim: []uint32{tks[0].Serial}},
		{Run: "0123456789ABCDEF", Claim: []uint32{tks[0].Serial}},
		{Run: run, Claim: []uint32{tks[0].Serial}, Results: []wire.DeliveryResult{{Serial: tks[0].Serial, Accepted: true, Answer: "250 ok\r\nBcc: x@evil"}}},
	} {
		if _, err := f.admin.Deliver(ctx, ev, req); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("Deliver %+v: %v, want bad request", req, err)
		}
	}
	tok, err := f.admin.CreateToken(ctx, wire.TokenCreate{Name: "other promoter", Scope: wire.ScopePromoter, Events: []uint32{other}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client(t, tok.Secret).Deliver(ctx, ev, wire.DeliveryRequest{Run: run, Claim: []uint32{tks[0].Serial}}); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("Deliver for another event's promoter: %v, want forbidden", err)
	}
	ts, err := f.admin.Tickets(ctx, ev)
	if err != nil || ts[0].Mail != nil {
		t.Fatalf("after refused requests: %+v, %v; want no mail record", ts, err)
	}
	resp, err := f.admin.Deliver(ctx, ev, wire.DeliveryRequest{Run: run, Claim: []uint32{tks[0].Serial}})
	if err != nil || len(resp.Claimed) != 1 {
		t.Errorf("Deliver: %+v, %v", resp, err)
	}
}

// TestRevokeTwice: the answer names the tickets revoked before, by serial
// and by order.
func TestRevokeTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 2) // both of order ORD-b1
	res, err := f.admin.Revoke(ctx, ev, wire.Selection{Serials: []uint32{tks[0].Serial}})
	if err != nil || len(res.AlreadyRevoked) != 0 {
		t.Fatalf("first revocation: %+v, %v; want none already revoked", res, err)
	}
	res, err = f.admin.Revoke(ctx, ev, wire.Selection{Serials: []uint32{tks[0].Serial, tks[1].Serial, tks[0].Serial}})
	if err != nil || len(res.AlreadyRevoked) != 1 || res.AlreadyRevoked[0] != tks[0].Serial {
		t.Errorf("second revocation: %+v, %v; want serial %d already revoked", res, err, tks[0].Serial)
	}
	res, err = f.admin.Revoke(ctx, ev, wire.Selection{OrderRef: "ORD-b1"})
	if err != nil || len(res.AlreadyRevoked) != 2 {
		t.Errorf("revocation of the order: %+v, %v; want both already revoked", res, err)
	}
}
