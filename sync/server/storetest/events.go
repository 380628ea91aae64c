package storetest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// eventTests cover the server identity, events, tiers and signing keys.
var eventTests = []storeTest{
	{"Identity", testIdentity},
	{"Ping", testPing},
	{"Probe", testProbe},
	{"CreateEvent", testCreateEvent},
	{"Events", testEvents},
	{"EventDetail", testEventDetail},
	{"AddTier", testAddTier},
	{"TierNamesFoldCase", testTierNamesFoldCase},
	{"TierLimit", testTierLimit},
	{"AddKey", testAddKey},
	{"RevokeKey", testRevokeKey},
	{"RevokeKeyInSeveralEvents", testRevokeKeyInSeveralEvents},
}

func sameSealed(a, b server.SealedKey) bool {
	return a.Public.Equal(b.Public) && string(a.Sealed) == string(b.Sealed)
}

func testIdentity(t *testing.T, f *fixture) {
	_, err := f.s.Identity(f.ctx)
	wantErr(t, "Identity of an empty store", err, server.ErrNotFound)
	first := sealed(f.newKey())
	got, err := f.s.SetIdentity(f.ctx, first)
	ok(t, "SetIdentity", err)
	if !sameSealed(got, first) {
		t.Errorf("SetIdentity returned %v, want the key given", got.Public)
	}
	// A second identity never replaces the first: gates enrolled with the
	// first one's fingerprint.
	got, err = f.s.SetIdentity(f.ctx, sealed(f.newKey()))
	ok(t, "second SetIdentity", err)
	if !sameSealed(got, first) {
		t.Errorf("second SetIdentity returned %v, want the first key %v", got.Public, first.Public)
	}
	got, err = f.s.Identity(f.ctx)
	ok(t, "Identity", err)
	if !sameSealed(got, first) {
		t.Errorf("Identity = %v, want the first key %v", got.Public, first.Public)
	}
}

func testPing(t *testing.T, f *fixture) {
	ok(t, "Ping of an empty store", f.s.Ping(f.ctx))
	f.liveEvent("A")
	ok(t, "Ping", f.s.Ping(f.ctx))
}

// testProbe: the write probe of the health check succeeds on a healthy
// store, again and again, and is invisible to gates: it appends nothing to
// the change log.
func testProbe(t *testing.T, f *fixture) {
	ok(t, "Probe of an empty store", f.s.Probe(f.ctx))
	ev := f.liveEvent("A")
	if cs := f.appended(ev.ID, func() {
		for i := 0; i < 3; i++ {
			ok(t, "Probe", f.s.Probe(f.ctx))
		}
	}); len(cs) != 0 {
		t.Errorf("Probe appended %s to the change log, want nothing", kinds(cs))
	}
}

// sameEvent reports whether got is want: the same fields, and start and
// end at the same instants with the same offset (the venue's).
func sameEvent(got, want kido.Event) bool {
	_, gs := got.Start.Zone()
	_, ws := want.Start.Zone()
	_, ge := got.End.Zone()
	_, we := want.End.Zone()
	return got.ID == want.ID && got.Name == want.Name && got.Venue == want.Venue && got.TimeZone == want.TimeZone &&
		got.Start.Equal(want.Start) && got.End.Equal(want.End) && gs == ws && ge == we
}

func testCreateEvent(t *testing.T, f *fixture) {
	ny := time.FixedZone("EST", -5*60*60)
	cases := []wire.EventCreate{
		{Name: "Summer Fes", Venue: "Makuhari Messe", Start: t0.In(jst), End: t0.Add(11 * time.Hour).In(jst), TimeZone: "Asia/Tokyo"},
		{Name: "Winter Fes", Venue: "Hall", Start: t0.In(ny), End: t0.Add(time.Hour).In(ny)},
	}
	seen := map[uint32]bool{}
	for _, in := range cases {
		k := f.newKey()
		ev, err := f.s.CreateEvent(f.ctx, in, sealed(k), t0)
		ok(t, "CreateEvent", err)
		want := kido.Event{ID: ev.ID, Name: in.Name, Venue: in.Venue, Start: in.Start, End: in.End, TimeZone: in.TimeZone}
		if ev.ID == 0 || seen[ev.ID] || !sameEvent(ev, want) {
			t.Errorf("CreateEvent(%+v) = %+v", in, ev)
		}
		seen[ev.ID] = true

		// The event and its first key reach the gates through the feed.
		changes, _ := f.feed(ev.ID, server.Cursor{})
		if got := kinds(changes); got != "event key" {
			t.Fatalf("changes of a new event: %q, want %q", got, "event key")
		}
		if e := only(t, changes, wire.ChangeEvent).Event; !sameEvent(*e, want) {
			t.Errorf("event change %+v, want %+v", *e, want)
		}
		wantKey := wireKey(ev.ID, k, true, false)
		if k := only(t, changes, wire.ChangeKey).Key; !sameKey(*k, wantKey) {
			t.Errorf("key change %+v, want %+v", *k, wantKey)
		}

		// The first key is the current one, stored as given.
		cur, err := f.s.CurrentKey(f.ctx, ev.ID)
		ok(t, "CurrentKey", err)
		if !sameSealed(cur, sealed(k)) {
			t.Errorf("CurrentKey = %v, want the key given to CreateEvent", cur.Public)
		}
		keys, err := f.s.Keys(f.ctx, ev.ID)
		ok(t, "Keys", err)
		if len(keys) != 1 || !sameKey(keys[0], wantKey) || !keys[0].Created.Equal(t0) {
			t.Errorf("Keys = %+v, want [%+v] created %v", keys, wantKey, t0)
		}
	}
	_, err := f.s.CurrentKey(f.ctx, 999)
	wantErr(t, "CurrentKey of an unknown event", err, server.ErrNotFound)
}

// wireKey is how a store describes key k of event ev.
func wireKey(ev uint32, k ticket.PrivateKey, current, revoked bool) kido.Key {
	return kido.Key{ID: k.Public().ID().String(), Public: k.Public().String(), Event: ev, Current: current, Revoked: revoked}
}

// sameKey compares keys without their creation time.
func sameKey(got, want kido.Key) bool {
	return got.ID == want.ID && got.Public == want.Public && got.Event == want.Event &&
		got.Current == want.Current && got.Revoked == want.Revoked
}

func eventIDs(evs []kido.Event) []uint32 {
	ids := make([]uint32, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

func testEvents(t *testing.T, f *fixture) {
	all, err := f.s.Events(f.ctx, nil)
	ok(t, "Events of an empty store", err)
	if len(all) != 0 {
		t.Errorf("Events of an empty store = %v", all)
	}
	a, b := f.liveEvent("A"), f.liveEvent("B")
	all, err = f.s.Events(f.ctx, nil)
	ok(t, "Events(nil)", err)
	got := eventIDs(all)
	slices.Sort(got)
	if want := []uint32{min(a.ID, b.ID), max(a.ID, b.ID)}; !slices.Equal(got, want) {
		t.Errorf("Events(nil) = %v, want %v", got, want)
	}
	for _, e := range all {
		want := a.Event
		if e.ID == b.ID {
			want = b.Event
		}
		if !sameEvent(e, want) {
			t.Errorf("Events(nil) has %+v, want %+v", e, want)
		}
	}
	cases := []struct {
		ids  []uint32
		want []uint32
		err  error
	}{
		{[]uint32{b.ID, a.ID}, []uint32{b.ID, a.ID}, nil}, // in the order asked
		{[]uint32{a.ID}, []uint32{a.ID}, nil},
		{[]uint32{}, []uint32{}, nil}, // none asked, none given: only nil means all
		{[]uint32{a.ID, 999}, nil, server.ErrNotFound},
	}
	for _, c := range cases {
		evs, err := f.s.Events(f.ctx, c.ids)
		if c.err != nil {
			wantErr(t, "Events of an unknown id", err, c.err)
			continue
		}
		ok(t, "Events", err)
		if got := eventIDs(evs); !slices.Equal(got, c.want) {
			t.Errorf("Events(%v) = %v, want %v", c.ids, got, c.want)
		}
	}
}

func testEventDetail(t *testing.T, f *fixture) {
	_, err := f.s.EventDetail(f.ctx, 999)
	wantErr(t, "EventDetail of an unknown event", err, server.ErrNotFound)
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	f.issue(b, "b", 2)
	f.gate(b.ID, "South")

	d, err := f.s.EventDetail(f.ctx, a.ID)
	ok(t, "EventDetail", err)
	if !sameEvent(d.Event, a.Event) || len(d.Tiers) != 1 || len(d.Keys) != 1 || len(d.Gates) != 0 || d.Issued != 0 || d.Revoked != 0 {
		t.Errorf("EventDetail of a new event = %+v", d)
	}
	tks := f.issue(a, "b", 3)
	g := f.gate(a.ID, "North")
	_, err = f.s.Revoke(f.ctx, a.ID, wire.Selection{Serials: []uint32{tks[1].Serial}})
	ok(t, "Revoke", err)
	d, err = f.s.EventDetail(f.ctx, a.ID)
	ok(t, "EventDetail", err)
	if d.Issued != 3 || d.Revoked != 1 {
		t.Errorf("EventDetail counts issued %d, revoked %d; want 3, 1", d.Issued, d.Revoked)
	}
	if len(d.Gates) != 1 || d.Gates[0].ID != g.ID || len(d.Tiers) != 1 || d.Tiers[0].Name != "GA" {
		t.Errorf("EventDetail gates %+v, tiers %+v; want only this event's", d.Gates, d.Tiers)
	}
}

func testAddTier(t *testing.T, f *fixture) {
	a := f.liveEvent("A") // has GA, id 1
	b := f.liveEvent("B")
	cases := []struct {
		ev      uint32
		name    string
		entries kido.EntryRule
		want    kido.Tier
		err     error
	}{
		{a.ID, "VIP", kido.EntriesSingle, kido.Tier{ID: 2, Event: a.ID, Name: "VIP", Entries: 1}, nil},
		{a.ID, "Day pass", kido.EntriesUnlimited, kido.Tier{ID: 3, Event: a.ID, Name: "Day pass", Entries: 0}, nil},
		{a.ID, "Three", 3, kido.Tier{ID: 4, Event: a.ID, Name: "Three", Entries: 3}, nil},
		{b.ID, "VIP", 2, kido.Tier{ID: 2, Event: b.ID, Name: "VIP", Entries: 2}, nil}, // ids and names per event
		{a.ID, "vip", 1, kido.Tier{}, server.ErrConflict},
		{a.ID, "GA", 0, kido.Tier{}, server.ErrConflict},
		{999, "VIP", 1, kido.Tier{}, server.ErrNotFound},
	}
	for _, c := range cases {
		var got kido.Tier
		changes := f.appended(c.ev, func() {
			var err error
			got, err = f.s.AddTier(f.ctx, c.ev, c.name, c.entries)
			if c.err != nil {
				wantErr(t, "AddTier "+c.name, err, c.err)
				return
			}
			ok(t, "AddTier "+c.name, err)
		})
		if c.err != nil {
			if len(changes) != 0 {
				t.Errorf("refused AddTier(%d, %q) appended %s", c.ev, c.name, kinds(changes))
			}
			continue
		}
		if got != c.want {
			t.Errorf("AddTier(%d, %q, %d) = %+v, want %+v", c.ev, c.name, c.entries, got, c.want)
		}
		if len(changes) != 1 || changes[0].Tier == nil || *changes[0].Tier != c.want {
			t.Errorf("AddTier(%q) appended %+v, want one tier change", c.name, changes)
		}
	}
	ts, err := f.s.Tiers(f.ctx, a.ID)
	ok(t, "Tiers", err)
	var names []string
	for _, tr := range ts {
		names = append(names, tr.Name)
	}
	if want := []string{"GA", "VIP", "Day pass", "Three"}; !slices.Equal(names, want) {
		t.Errorf("Tiers = %v, want %v in id order", names, want)
	}
	_, err = f.s.Tiers(f.ctx, 999)
	wantErr(t, "Tiers of an unknown event", err, server.ErrNotFound)
}

// testTierNamesFoldCase checks that tier names are unique whatever their
// case, as the server matches them (strings.EqualFold): two tiers whose
// names differ only in case would make a name name either.
func testTierNamesFoldCase(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	pairs := [][2]string{
		{"VIP", "vip"},
		{"Ärzte", "ärzte"},
		{"ＶＩＰ", "ｖｉｐ"}, // full-width, as a Japanese keyboard types them
		{"Σίσυφος", "ΣΊΣΥΦΟΣ"},
	}
	for _, p := range pairs {
		_, err := f.s.AddTier(f.ctx, a.ID, p[0], 1)
		ok(t, "AddTier "+p[0], err)
		_, err = f.s.AddTier(f.ctx, a.ID, p[1], 1)
		wantErr(t, "AddTier "+p[1]+" after "+p[0], err, server.ErrConflict)
	}
	ts, err := f.s.Tiers(f.ctx, a.ID)
	ok(t, "Tiers", err)
	if len(ts) != 1+len(pairs) {
		t.Errorf("Tiers = %+v, want GA and the first of each pair", ts)
	}
}

// testTierLimit checks that tier ids stay within a ticket's uint8.
func testTierLimit(t *testing.T, f *fixture) {
	a := f.liveEvent("A") // tier 1
	for i := 2; i <= 255; i++ {
		tr, err := f.s.AddTier(f.ctx, a.ID, "Tier "+strconv.Itoa(i), 1)
		ok(t, "AddTier", err)
		if int(tr.ID) != i {
			t.Fatalf("tier %d got id %d", i, tr.ID)
		}
	}
	_, err := f.s.AddTier(f.ctx, a.ID, "One too many", 1)
	wantErr(t, "AddTier of a 256th tier", err, server.ErrConflict)
}

func testAddKey(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	k2 := f.newKey()
	var got kido.Key
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.AddKey(f.ctx, a.ID, sealed(k2), t0.Add(time.Hour))
		ok(t, "AddKey", err)
	})
	if want := wireKey(a.ID, k2, true, false); !sameKey(got, want) || !got.Created.Equal(t0.Add(time.Hour)) {
		t.Errorf("AddKey = %+v, want %+v created %v", got, want, t0.Add(time.Hour))
	}
	// The old key stays trusted, no longer current; gates learn both.
	wantKeys := []kido.Key{wireKey(a.ID, a.key, false, false), wireKey(a.ID, k2, true, false)}
	checkKeys(t, "changes of AddKey", keysOf(t, changes), wantKeys)
	keys, err := f.s.Keys(f.ctx, a.ID)
	ok(t, "Keys", err)
	checkKeys(t, "Keys after AddKey", keys, wantKeys)
	cur, err := f.s.CurrentKey(f.ctx, a.ID)
	ok(t, "CurrentKey", err)
	if !sameSealed(cur, sealed(k2)) {
		t.Errorf("CurrentKey = %v, want the added key", cur.Public)
	}

	// A key already stored is refused and nothing changes.
	changes = f.appended(a.ID, func() {
		_, err := f.s.AddKey(f.ctx, a.ID, sealed(a.key), t0)
		wantErr(t, "AddKey of a key the event has", err, server.ErrConflict)
	})
	if len(changes) != 0 {
		t.Errorf("refused AddKey appended %s", kinds(changes))
	}
	keys, err = f.s.Keys(f.ctx, a.ID)
	ok(t, "Keys", err)
	checkKeys(t, "Keys after a refused AddKey", keys, wantKeys)

	_, err = f.s.AddKey(f.ctx, 999, sealed(f.newKey()), t0)
	wantErr(t, "AddKey to an unknown event", err, server.ErrNotFound)
	_, err = f.s.Keys(f.ctx, 999)
	wantErr(t, "Keys of an unknown event", err, server.ErrNotFound)
	all, err := f.s.Keys(f.ctx, 0)
	ok(t, "Keys(0)", err)
	checkKeys(t, "Keys(0)", all, append(wantKeys, wireKey(b.ID, b.key, true, false)))
}

// keysOf returns the keys of key changes, failing on any other kind.
func keysOf(t *testing.T, cs []wire.Change) []kido.Key {
	t.Helper()
	return objectsOf(t, cs, func(c wire.Change) *kido.Key { return c.Key })
}

// checkKeys compares keys as sets: a store may list them in any order.
func checkKeys(t *testing.T, what string, got, want []kido.Key) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys %+v, want %+v", what, len(got), got, want)
		return
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g kido.Key) bool { return sameKey(g, w) }) {
			t.Errorf("%s: %+v, want %+v among them", what, got, w)
		}
	}
}

func testRevokeKey(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	k2 := f.rotate(a.ID)
	id1, id2 := a.key.Public().ID().String(), k2.Public().ID().String()

	// Revoking an older key leaves the current one current.
	var got kido.Key
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.RevokeKey(f.ctx, a.ID, id1)
		ok(t, "RevokeKey", err)
	})
	want := wireKey(a.ID, a.key, false, true)
	if !sameKey(got, want) {
		t.Errorf("RevokeKey = %+v, want %+v", got, want)
	}
	checkKeys(t, "changes of RevokeKey", keysOf(t, changes), []kido.Key{want})
	cur, err := f.s.CurrentKey(f.ctx, a.ID)
	ok(t, "CurrentKey", err)
	if !sameSealed(cur, sealed(k2)) {
		t.Errorf("CurrentKey after revoking an old key = %v, want the current one", cur.Public)
	}

	// Revoking the current key (event 0: whichever event has it) leaves
	// the event without one.
	got, err = f.s.RevokeKey(f.ctx, 0, id2)
	ok(t, "RevokeKey(0)", err)
	if want := wireKey(a.ID, k2, false, true); !sameKey(got, want) {
		t.Errorf("RevokeKey(0) = %+v, want %+v", got, want)
	}
	_, err = f.s.CurrentKey(f.ctx, a.ID)
	wantErr(t, "CurrentKey after revoking the current key", err, server.ErrNotFound)
	keys, err := f.s.Keys(f.ctx, a.ID)
	ok(t, "Keys", err)
	checkKeys(t, "Keys after revoking both", keys, []kido.Key{wireKey(a.ID, a.key, false, true), wireKey(a.ID, k2, false, true)})

	for _, c := range []struct {
		what  string
		event uint32
		id    string
	}{
		{"an unknown key", a.ID, "00000000"},
		{"a key of another event", b.ID, id1},
		{"a key of an unknown event", 999, id1},
	} {
		changes := f.appended(a.ID, func() {
			_, err := f.s.RevokeKey(f.ctx, c.event, c.id)
			wantErr(t, "RevokeKey of "+c.what, err, server.ErrNotFound)
		})
		if len(changes) != 0 {
			t.Errorf("refused RevokeKey of %s appended %s", c.what, kinds(changes))
		}
	}
	if cur, err := f.s.CurrentKey(f.ctx, b.ID); err != nil || !sameSealed(cur, sealed(b.key)) {
		t.Errorf("event B's key after revocations in A: %v, %v", cur.Public, err)
	}
}

// testRevokeKeyInSeveralEvents revokes a key id that two events have.
func testRevokeKeyInSeveralEvents(t *testing.T, f *fixture) {
	ka, kb := testKey(collidingKeyA), testKey(collidingKeyB)
	id := ka.Public().ID().String()
	if kb.Public().ID().String() != id {
		t.Fatalf("keys %d and %d have ids %s and %s, want one id", collidingKeyA, collidingKeyB, id, kb.Public().ID())
	}
	var evs [2]uint32
	for i, k := range []ticket.PrivateKey{ka, kb} {
		ev, err := f.s.CreateEvent(f.ctx, wire.EventCreate{Name: "E", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, sealed(k), t0)
		ok(t, "CreateEvent", err)
		evs[i] = ev.ID
	}
	_, err := f.s.RevokeKey(f.ctx, 0, id)
	wantErr(t, "RevokeKey(0) of a key id in two events", err, server.ErrConflict)
	for i, k := range []ticket.PrivateKey{ka, kb} {
		if cur, err := f.s.CurrentKey(f.ctx, evs[i]); err != nil || !sameSealed(cur, sealed(k)) {
			t.Errorf("event %d's key after a refused revocation: %v, %v", evs[i], cur.Public, err)
		}
	}
	got, err := f.s.RevokeKey(f.ctx, evs[1], id)
	ok(t, "RevokeKey naming the event", err)
	if want := wireKey(evs[1], kb, false, true); !sameKey(got, want) {
		t.Errorf("RevokeKey(%d) = %+v, want %+v", evs[1], got, want)
	}
	if _, err := f.s.CurrentKey(f.ctx, evs[0]); err != nil {
		t.Errorf("the other event's key was revoked too: %v", err)
	}
}
