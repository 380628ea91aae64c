package storetest

import (
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// gateTests cover API tokens, gates, enrolment, gate revocation,
// snapshots and heartbeats.
var gateTests = []storeTest{
	{"Tokens", testTokens},
	{"LastAdminToken", testLastAdminToken},
	{"AddGate", testAddGate},
	{"Enroll", testEnroll},
	{"RevokeGate", testRevokeGate},
	{"RevokeGateCredential", testRevokeGateCredential},
	{"Snapshot", testSnapshot},
	{"Heartbeats", testHeartbeats},
}

// sameToken compares tokens; an empty want.Name is the store's to choose.
func sameToken(got, want wire.Token) bool {
	revoked := (got.Revoked == nil) == (want.Revoked == nil) &&
		(got.Revoked == nil || got.Revoked.Equal(*want.Revoked))
	return got.ID == want.ID && (want.Name == "" || got.Name == want.Name) && got.Scope == want.Scope &&
		slices.Equal(got.Events, want.Events) && got.Gate == want.Gate && got.Created.Equal(want.Created) && revoked
}

func sameGate(got, want kido.Gate) bool {
	return got.ID == want.ID && got.Event == want.Event && got.Name == want.Name &&
		slices.Equal(got.Tiers, want.Tiers) && got.Direction == want.Direction && got.Revoked == want.Revoked
}

func (f *fixture) countTokens() int {
	f.t.Helper()
	n, err := f.s.CountTokens(f.ctx)
	ok(f.t, "CountTokens", err)
	return n
}

func testTokens(t *testing.T, f *fixture) {
	if n := f.countTokens(); n != 0 {
		t.Errorf("CountTokens of an empty store = %d", n)
	}
	ts, err := f.s.Tokens(f.ctx)
	ok(t, "Tokens", err)
	if len(ts) != 0 {
		t.Errorf("Tokens of an empty store = %+v", ts)
	}
	a, b := f.liveEvent("A"), f.liveEvent("B")
	hAdmin, hProm := server.HashToken("admin secret"), server.HashToken("promoter secret")
	admin, err := f.s.CreateToken(f.ctx, server.NewToken{Token: wire.Token{Name: "root", Scope: wire.ScopeAdmin}, Hash: hAdmin}, t0)
	ok(t, "CreateToken", err)
	prom, err := f.s.CreateToken(f.ctx, server.NewToken{Token: wire.Token{Name: "Promoter", Scope: wire.ScopePromoter, Events: []uint32{a.ID, b.ID}}, Hash: hProm}, t0.Add(time.Second))
	ok(t, "CreateToken", err)
	if admin.ID == 0 || prom.ID == 0 || admin.ID == prom.ID {
		t.Errorf("token ids %d and %d, want two different non-zero ids", admin.ID, prom.ID)
	}
	wantAdmin := wire.Token{ID: admin.ID, Name: "root", Scope: wire.ScopeAdmin, Created: t0}
	wantProm := wire.Token{ID: prom.ID, Name: "Promoter", Scope: wire.ScopePromoter, Events: []uint32{a.ID, b.ID}, Created: t0.Add(time.Second)}
	if !sameToken(admin, wantAdmin) || !sameToken(prom, wantProm) {
		t.Errorf("CreateToken = %+v, %+v; want %+v, %+v", admin, prom, wantAdmin, wantProm)
	}

	got, err := f.s.TokenByHash(f.ctx, hProm)
	ok(t, "TokenByHash", err)
	if !sameToken(got, wantProm) {
		t.Errorf("TokenByHash = %+v, want %+v", got, wantProm)
	}
	_, err = f.s.TokenByHash(f.ctx, server.HashToken("unknown"))
	wantErr(t, "TokenByHash of an unknown secret", err, server.ErrNotFound)
	_, err = f.s.RevokedToken(f.ctx, hProm)
	wantErr(t, "RevokedToken of an unrevoked token", err, server.ErrNotFound)

	// Revoked: no longer found by hash, but known as revoked; the second
	// revocation keeps the first's time.
	t1 := t0.Add(time.Hour)
	got, err = f.s.RevokeToken(f.ctx, prom.ID, t1)
	ok(t, "RevokeToken", err)
	wantProm.Revoked = &t1
	if !sameToken(got, wantProm) {
		t.Errorf("RevokeToken = %+v, want %+v", got, wantProm)
	}
	got, err = f.s.RevokeToken(f.ctx, prom.ID, t1.Add(time.Hour))
	ok(t, "RevokeToken again", err)
	if !sameToken(got, wantProm) {
		t.Errorf("RevokeToken again = %+v, want %+v", got, wantProm)
	}
	_, err = f.s.TokenByHash(f.ctx, hProm)
	wantErr(t, "TokenByHash of a revoked token", err, server.ErrNotFound)
	got, err = f.s.RevokedToken(f.ctx, hProm)
	ok(t, "RevokedToken", err)
	if !sameToken(got, wantProm) {
		t.Errorf("RevokedToken = %+v, want %+v", got, wantProm)
	}
	_, err = f.s.RevokeToken(f.ctx, 999, t1)
	wantErr(t, "RevokeToken of an unknown token", err, server.ErrNotFound)

	// Revoked tokens are still counted and listed.
	if n := f.countTokens(); n != 2 {
		t.Errorf("CountTokens = %d, want 2 (revoked ones included)", n)
	}
	ts, err = f.s.Tokens(f.ctx)
	ok(t, "Tokens", err)
	slices.SortFunc(ts, func(x, y wire.Token) int { return int(x.ID) - int(y.ID) })
	want := []wire.Token{wantAdmin, wantProm}
	slices.SortFunc(want, func(x, y wire.Token) int { return int(x.ID) - int(y.ID) })
	if len(ts) != 2 || !sameToken(ts[0], want[0]) || !sameToken(ts[1], want[1]) {
		t.Errorf("Tokens = %+v, want %+v", ts, want)
	}
}

// testLastAdminToken checks that the last unrevoked admin token cannot be
// revoked: nobody could make another.
func testLastAdminToken(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	mk := func(name, scope string, events []uint32) wire.Token {
		tok, err := f.s.CreateToken(f.ctx, server.NewToken{Token: wire.Token{Name: name, Scope: scope, Events: events}, Hash: server.HashToken(name)}, t0)
		ok(t, "CreateToken", err)
		return tok
	}
	first := mk("first", wire.ScopeAdmin, nil)
	mk("promoter", wire.ScopePromoter, []uint32{a.ID}) // a promoter is no admin
	_, err := f.s.RevokeToken(f.ctx, first.ID, t0)
	wantErr(t, "RevokeToken of the only admin token", err, server.ErrConflict)
	if _, err := f.s.TokenByHash(f.ctx, server.HashToken("first")); err != nil {
		t.Errorf("the only admin token after a refused revocation: %v", err)
	}
	second := mk("second", wire.ScopeAdmin, nil)
	_, err = f.s.RevokeToken(f.ctx, first.ID, t0)
	ok(t, "RevokeToken of one of two admin tokens", err)
	_, err = f.s.RevokeToken(f.ctx, second.ID, t0)
	wantErr(t, "RevokeToken of the last admin token", err, server.ErrConflict)
}

func testAddGate(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	_, err := f.s.AddTier(f.ctx, a.ID, "VIP", 1)
	ok(t, "AddTier", err)
	cases := []struct {
		in  kido.Gate
		err error
	}{
		{kido.Gate{Event: a.ID, Name: "North 1", Tiers: kido.TierIDs{2}, Direction: kido.DirectionEntry}, nil},
		{kido.Gate{Event: a.ID, Name: "Exit", Direction: kido.DirectionExit}, nil}, // every tier
		{kido.Gate{Event: a.ID, Name: "Both", Tiers: kido.TierIDs{1, 2}, Direction: kido.DirectionBoth}, nil},
		{kido.Gate{Event: b.ID, Name: "South", Direction: kido.DirectionEntry}, nil},
		{kido.Gate{Event: a.ID, Name: "Bad tier", Tiers: kido.TierIDs{1, 9}, Direction: kido.DirectionEntry}, server.ErrInvalid},
		{kido.Gate{Event: b.ID, Name: "Tier of A", Tiers: kido.TierIDs{2}, Direction: kido.DirectionEntry}, server.ErrInvalid},
		{kido.Gate{Event: 999, Name: "Nowhere", Direction: kido.DirectionEntry}, server.ErrNotFound},
	}
	added := map[uint32][]kido.Gate{}
	for _, c := range cases {
		var g kido.Gate
		changes := f.appended(c.in.Event, func() {
			var err error
			g, err = f.s.AddGate(f.ctx, c.in, gateCode(c.in.Name))
			if c.err != nil {
				wantErr(t, "AddGate "+c.in.Name, err, c.err)
				return
			}
			ok(t, "AddGate "+c.in.Name, err)
		})
		if c.err != nil {
			if len(changes) != 0 {
				t.Errorf("refused AddGate %s appended %s", c.in.Name, kinds(changes))
			}
			continue
		}
		want := c.in
		want.ID = g.ID
		if g.ID == 0 || !sameGate(g, want) {
			t.Errorf("AddGate(%+v) = %+v", c.in, g)
		}
		if len(changes) != 1 || changes[0].Gate == nil || !sameGate(*changes[0].Gate, want) {
			t.Errorf("AddGate %s appended %+v, want its gate change", c.in.Name, changes)
		}
		added[c.in.Event] = append(added[c.in.Event], g)
	}
	for _, ev := range []uint32{a.ID, b.ID} {
		gs, err := f.s.Gates(f.ctx, ev)
		ok(t, "Gates", err)
		want := added[ev]
		if !slices.EqualFunc(gs, want, sameGate) {
			t.Errorf("Gates(%d) = %+v, want %+v in id order", ev, gs, want)
		}
	}
	_, err = f.s.Gates(f.ctx, 999)
	wantErr(t, "Gates of an unknown event", err, server.ErrNotFound)
}

func testEnroll(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g := f.gate(a.ID, "North")
	revoked := f.gate(a.ID, "Revoked")
	_, err := f.s.RevokeGate(f.ctx, a.ID, revoked.ID, t0)
	ok(t, "RevokeGate", err)
	hCred := server.HashToken("credential")
	cred := server.NewToken{Token: wire.Token{Scope: wire.ScopeGate}, Hash: hCred}
	expires := gateCode("North").Expires
	cases := []struct {
		what string
		code server.TokenHash
		now  time.Time
	}{
		{"an unknown code", server.HashToken("code nobody made"), t0},
		{"an expired code", gateCode("North").Hash, expires.Add(time.Second)},
		{"the code of a revoked gate", gateCode("Revoked").Hash, t0},
	}
	for _, c := range cases {
		_, err := f.s.Enroll(f.ctx, c.code, "tablet", nil, cred, c.now)
		wantErr(t, "Enroll with "+c.what, err, server.ErrNotFound)
	}
	if n := f.countTokens(); n != 0 {
		t.Fatalf("refused enrolments made %d tokens", n)
	}

	// The code refused once expired was not used up by the refusal.
	t1 := t0.Add(time.Hour)
	got, err := f.s.Enroll(f.ctx, gateCode("North").Hash, "tablet", nil, cred, t1)
	ok(t, "Enroll", err)
	if !sameGate(got, g) {
		t.Errorf("Enroll = %+v, want %+v", got, g)
	}
	tok, err := f.s.TokenByHash(f.ctx, hCred)
	ok(t, "TokenByHash of the gate's credential", err)
	want := wire.Token{ID: tok.ID, Scope: wire.ScopeGate, Events: []uint32{a.ID}, Gate: g.ID, Created: t1}
	if !sameToken(tok, want) {
		t.Errorf("gate credential %+v, want %+v", tok, want)
	}

	// A code works once.
	other := server.NewToken{Token: wire.Token{Scope: wire.ScopeGate}, Hash: server.HashToken("credential 2")}
	_, err = f.s.Enroll(f.ctx, gateCode("North").Hash, "tablet 2", nil, other, t1)
	wantErr(t, "Enroll with a used code", err, server.ErrNotFound)
	if n := f.countTokens(); n != 1 {
		t.Errorf("%d tokens after one enrolment", n)
	}
}

func testRevokeGate(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	g := f.gate(a.ID, "North")
	other := f.gate(a.ID, "South")
	hCred := f.enroll("North")
	hOther := f.enroll("South")

	t1 := t0.Add(2 * time.Hour)
	var got kido.Gate
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.RevokeGate(f.ctx, a.ID, g.ID, t1)
		ok(t, "RevokeGate", err)
	})
	want := g
	want.Revoked = true
	if !sameGate(got, want) {
		t.Errorf("RevokeGate = %+v, want %+v", got, want)
	}
	if len(changes) != 1 || changes[0].Gate == nil || !sameGate(*changes[0].Gate, want) {
		t.Errorf("RevokeGate appended %+v, want the revoked gate", changes)
	}
	// Its credential is revoked but kept, so the gate can be told.
	_, err := f.s.TokenByHash(f.ctx, hCred)
	wantErr(t, "TokenByHash of a revoked gate's credential", err, server.ErrNotFound)
	tok, err := f.s.RevokedToken(f.ctx, hCred)
	ok(t, "RevokedToken of a revoked gate's credential", err)
	if tok.Gate != g.ID || tok.Revoked == nil || !tok.Revoked.Equal(t1) {
		t.Errorf("revoked gate credential %+v, want gate %d revoked at %v", tok, g.ID, t1)
	}
	// The other gate is untouched.
	if _, err := f.s.TokenByHash(f.ctx, hOther); err != nil {
		t.Errorf("the other gate's credential: %v", err)
	}
	gs, err := f.s.Gates(f.ctx, a.ID)
	ok(t, "Gates", err)
	if !slices.EqualFunc(gs, []kido.Gate{want, other}, sameGate) {
		t.Errorf("Gates = %+v, want %+v", gs, []kido.Gate{want, other})
	}

	// Revoking a revoked gate is not an error and changes nothing.
	changes = f.appended(a.ID, func() {
		got, err := f.s.RevokeGate(f.ctx, a.ID, g.ID, t1.Add(time.Hour))
		ok(t, "RevokeGate again", err)
		if !sameGate(got, want) {
			t.Errorf("RevokeGate again = %+v, want %+v", got, want)
		}
	})
	if len(changes) != 0 {
		t.Errorf("RevokeGate again appended %s", kinds(changes))
	}
	for _, c := range []struct {
		what     string
		ev, gate uint32
	}{
		{"an unknown gate", a.ID, 999},
		{"a gate of another event", b.ID, other.ID},
	} {
		_, err := f.s.RevokeGate(f.ctx, c.ev, c.gate, t1)
		wantErr(t, "RevokeGate of "+c.what, err, server.ErrNotFound)
	}
	if _, err := f.s.TokenByHash(f.ctx, hOther); err != nil {
		t.Errorf("the other gate's credential after a refused revocation: %v", err)
	}
}

// testRevokeGateCredential revokes a gate through its credential: the
// gate no longer syncs, so the other gates learn it is revoked.
func testRevokeGateCredential(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g := f.gate(a.ID, "North")
	tok, err := f.s.TokenByHash(f.ctx, f.enroll("North"))
	ok(t, "TokenByHash", err)
	changes := f.appended(a.ID, func() {
		_, err := f.s.RevokeToken(f.ctx, tok.ID, t0)
		ok(t, "RevokeToken of a gate credential", err)
	})
	want := g
	want.Revoked = true
	if len(changes) != 1 || changes[0].Gate == nil || !sameGate(*changes[0].Gate, want) {
		t.Errorf("RevokeToken of a gate credential appended %+v, want the revoked gate", changes)
	}
	gs, err := f.s.Gates(f.ctx, a.ID)
	ok(t, "Gates", err)
	if len(gs) != 1 || !sameGate(gs[0], want) {
		t.Errorf("Gates = %+v, want %+v", gs, want)
	}
}

func testSnapshot(t *testing.T, f *fixture) {
	_, err := f.s.Snapshot(f.ctx, 999)
	wantErr(t, "Snapshot of an unknown gate", err, server.ErrNotFound)
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "b", 3)
	k2 := f.rotate(a.ID)
	_, err = f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[2].Serial}})
	ok(t, "Revoke", err)
	g := f.gate(a.ID, "North")
	other := f.gate(a.ID, "South")
	f.upload(a.ID, g.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g.ID, 1, tks[0]), admission(g.ID, 2, tks[1])}})
	// A conflicting record is quarantined, never in the snapshot.
	f.upload(a.ID, g.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(g.ID, 2, tks[0])}})
	// Event B's state is not event A's.
	btks := f.issue(b, "b", 1)
	bg := f.gate(b.ID, "B gate")
	f.upload(b.ID, bg.ID, wire.UploadRequest{Admissions: []kido.Admission{admission(bg.ID, 1, btks[0])}})

	snap, err := f.s.Snapshot(f.ctx, other.ID)
	ok(t, "Snapshot", err)
	if !sameGate(snap.Gate, other) || !sameEvent(snap.Event, a.Event) {
		t.Errorf("Snapshot gate %+v, event %+v; want %+v, %+v", snap.Gate, snap.Event, other, a.Event)
	}
	if len(snap.Tiers) != 1 || snap.Tiers[0] != (kido.Tier{ID: 1, Event: a.ID, Name: "GA", Entries: 1}) {
		t.Errorf("Snapshot tiers %+v", snap.Tiers)
	}
	checkKeys(t, "Snapshot keys", snap.Keys, []kido.Key{wireKey(a.ID, a.key, false, false), wireKey(a.ID, k2, true, false)})
	checkRoster(t, "Snapshot roster", snap.Roster, []kido.RosterEntry{entry(tks[0], false), entry(tks[1], false), entry(tks[2], true)})
	if !slices.EqualFunc(snap.Gates, []kido.Gate{g, other}, sameGate) {
		t.Errorf("Snapshot gates %+v, want %+v", snap.Gates, []kido.Gate{g, other})
	}
	checkAdmissions(t, "Snapshot admissions", snap.Admissions, []kido.Admission{admission(g.ID, 1, tks[0]), admission(g.ID, 2, tks[1])})

	// The feed continues from the snapshot's cursor with what came after
	// it, and nothing the snapshot had.
	c, err := server.ParseCursor(snap.Cursor)
	ok(t, "ParseCursor of the snapshot's cursor", err)
	if after, _ := f.feed(a.ID, c); len(after) != 0 {
		t.Errorf("changes after a fresh snapshot: %s", kinds(after))
	}
	_, err = f.s.AddTier(f.ctx, a.ID, "VIP", 1)
	ok(t, "AddTier", err)
	if after, _ := f.feed(a.ID, c); kinds(after) != wire.ChangeTier {
		t.Errorf("changes after the snapshot: %s, want the tier added since", kinds(after))
	}
}

func testHeartbeats(t *testing.T, f *fixture) {
	_, err := f.s.GateStatuses(f.ctx, 999)
	wantErr(t, "GateStatuses of an unknown event", err, server.ErrNotFound)
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	g1, g2 := f.gate(a.ID, "North"), f.gate(a.ID, "South")
	bg := f.gate(b.ID, "B gate")
	ok(t, "SaveHeartbeats of none", f.s.SaveHeartbeats(f.ctx, nil))

	// A gate never heard from: no contact, pending unknown.
	never := func(g kido.Gate) wire.GateStatus { return wire.GateStatus{Gate: g, Pending: -1} }
	checkStatuses(t, f, a.ID, []wire.GateStatus{never(g1), never(g2)})

	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	ok(t, "SaveHeartbeats", f.s.SaveHeartbeats(f.ctx, []server.GateHeartbeat{
		{Gate: g1.ID, LastContact: t1, Pending: 5, ClockSkewMS: -412, Version: "0.1.0"},
		{Gate: bg.ID, LastContact: t1, Pending: 1, ClockSkewMS: 3, Version: "0.1.0"},
	}))
	heard := wire.GateStatus{Gate: g1, LastContact: &t1, Pending: 5, ClockSkewMS: -412, Version: "0.1.0"}
	checkStatuses(t, f, a.ID, []wire.GateStatus{heard, never(g2)})

	// The latest heartbeat replaces the one before.
	ok(t, "SaveHeartbeats", f.s.SaveHeartbeats(f.ctx, []server.GateHeartbeat{{Gate: g1.ID, LastContact: t2, Pending: 0, ClockSkewMS: 10, Version: "0.2.0"}}))
	heard = wire.GateStatus{Gate: g1, LastContact: &t2, Pending: 0, ClockSkewMS: 10, Version: "0.2.0"}
	checkStatuses(t, f, a.ID, []wire.GateStatus{heard, never(g2)})
	checkStatuses(t, f, b.ID, []wire.GateStatus{{Gate: bg, LastContact: &t1, Pending: 1, ClockSkewMS: 3, Version: "0.1.0"}})
}

// checkStatuses compares the event's gate statuses, in id order, with
// want; Silent is the caller's and not compared.
func checkStatuses(t *testing.T, f *fixture, ev uint32, want []wire.GateStatus) {
	t.Helper()
	got, err := f.s.GateStatuses(f.ctx, ev)
	ok(t, "GateStatuses", err)
	same := func(g, w wire.GateStatus) bool {
		contact := (g.LastContact == nil) == (w.LastContact == nil) && (g.LastContact == nil || g.LastContact.Equal(*w.LastContact))
		return sameGate(g.Gate, w.Gate) && contact && g.Pending == w.Pending && g.ClockSkewMS == w.ClockSkewMS && g.Version == w.Version &&
			g.Acked == w.Acked && g.AuditAcked == w.AuditAcked && g.Quarantined == w.Quarantined && g.Refused == w.Refused
	}
	if !slices.EqualFunc(got, want, same) {
		t.Errorf("GateStatuses(%d) = %+v, want %+v", ev, got, want)
	}
}
