// Package storetest is the conformance suite of server.Store, in the
// manner of Litestream's replica client tests: every Store implementation
// runs Run from its own tests, so a second implementation is trusted by
// construction.
//
// The suite checks every method of the interface: its results, the
// changes it appends to the change log, and its documented errors (the
// sentinels of package server); idempotent upload, quarantine and
// acknowledgements (docs/sync-protocol.md §3.4, §3.5); and the cursor
// guarantees of §4.4, with readers walking the feed while several writers
// commit at once. It uses only the Store interface and treats cursors as
// opaque, so it holds for a store whose change-log positions are global
// (SQLite) as well as per event (PostgreSQL).
//
// The times the suite gives a store are whole seconds, which every
// database keeps exactly; admission times carry nanoseconds, because the
// content hash covers them.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Run runs the suite. open must return a new, empty store on each call;
// Run closes it when the subtest ends, before the cleanups open
// registered (such as its t.TempDir) run.
func Run(t *testing.T, open func(t *testing.T) server.Store) {
	areas := []struct {
		name  string
		tests []storeTest
	}{
		{"events", eventTests},
		{"tickets", ticketTests},
		{"gates", gateTests},
		{"identity", identityTests},
		{"upload", uploadTests},
		{"feed", feedTests},
		{"flags", flagTests},
		{"undo", undoTests},
		{"edits", editTests},
		{"review", reviewTests},
	}
	for _, area := range areas {
		t.Run(area.name, func(t *testing.T) {
			for _, tt := range area.tests {
				t.Run(tt.name, func(t *testing.T) {
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tt.run(t, newFixture(t, s))
				})
			}
		})
	}
}

// storeTest is one subtest, run on a fresh store.
type storeTest struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// t0 is where the suite's clock starts.
var t0 = time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)

// jst is the venue's offset in the suite's events and admissions.
var jst = time.FixedZone("JST", 9*60*60)

// fixture is a store with the helpers that fill it. Helpers fail the test
// on an error; they must not be called from goroutines other than the
// test's.
type fixture struct {
	t       *testing.T
	s       server.Store
	ctx     context.Context
	nextKey uint64
}

func newFixture(t *testing.T, s server.Store) *fixture {
	return &fixture{t: t, s: s, ctx: t.Context(), nextKey: 1}
}

// testKey returns the suite's i-th signing key, the same on every run.
func testKey(i uint64) ticket.PrivateKey {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	seed := sha256.Sum256(append([]byte("kido storetest key "), b[:]...))
	k, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		panic(err) // a 32-byte seed always makes a key
	}
	return k
}

// Keys 70718 and 72776 of testKey have the same key id, fefb49af: found
// by a birthday search, for the case of one key id in two events.
const collidingKeyA, collidingKeyB = 70718, 72776

// newKey returns a signing key not used before in this test.
func (f *fixture) newKey() ticket.PrivateKey {
	k := testKey(f.nextKey)
	f.nextKey++
	return k
}

// sealed returns k as a store keeps it. The sealed bytes are opaque to a
// store, so any bytes that name the key will do.
func sealed(k ticket.PrivateKey) server.SealedKey {
	return server.SealedKey{Public: k.Public(), Sealed: []byte("sealed " + k.Public().String())}
}

// signer returns a Signer for k.
func signer(k ticket.PrivateKey) server.Signer {
	return server.Signer{
		Key:  k.Public().ID().String(),
		Sign: func(c ticket.Claims) string { return ticket.Sign(k, c).String() },
	}
}

// rotate adds a new current key to event ev and returns it.
func (f *fixture) rotate(ev uint32) ticket.PrivateKey {
	f.t.Helper()
	k := f.newKey()
	if _, err := f.s.AddKey(f.ctx, ev, sealed(k), t0); err != nil {
		f.t.Fatalf("AddKey: %v", err)
	}
	return k
}

// event is an event made by the fixture with its current key.
type event struct {
	kido.Event
	key ticket.PrivateKey
}

// event creates an event ending at end, with a tier "GA" (id 1, single
// entry).
func (f *fixture) event(name string, end time.Time) event {
	f.t.Helper()
	k := f.newKey()
	ev, err := f.s.CreateEvent(f.ctx, wire.EventCreate{Name: name, Venue: "Hall", Start: t0.In(jst), End: end}, sealed(k), t0)
	if err != nil {
		f.t.Fatalf("CreateEvent: %v", err)
	}
	if _, err := f.s.AddTier(f.ctx, ev.ID, "GA", kido.EntriesSingle); err != nil {
		f.t.Fatalf("AddTier: %v", err)
	}
	return event{Event: ev, key: k}
}

// liveEvent creates an event that ends after every time the suite uses.
func (f *fixture) liveEvent(name string) event {
	return f.event(name, time.Date(2100, 1, 1, 0, 0, 0, 0, jst))
}

// item returns the i-th ticket to issue in the suite's batches. Odd items
// have a reading, so that every roster check sees it carried or absent.
func item(i int) wire.IssueItem {
	h := fmt.Sprintf("Holder %d", i)
	return wire.IssueItem{Tier: 1, Holder: h, Reading: readingOf(h), Email: fmt.Sprintf("holder%d@example.jp", i), OrderRef: fmt.Sprintf("O-%d", i)}
}

// readingOf is the reading item gives the holder h: a reissue's
// replacement and every roster entry carry it from the holder they name.
func readingOf(h string) string {
	var i int
	if _, err := fmt.Sscanf(h, "Holder %d", &i); err != nil || i%2 == 0 {
		return ""
	}
	return fmt.Sprintf("ほるだー %d", i)
}

// issue issues n tickets of tier 1 as items 0..n-1 of batch.
func (f *fixture) issue(ev event, batch string, n int) []wire.IssuedTicket {
	f.t.Helper()
	req := wire.IssueRequest{Batch: batch}
	for i := range n {
		req.Tickets = append(req.Tickets, item(i))
	}
	out, err := f.s.Issue(f.ctx, ev.ID, req, signer(ev.key))
	if err != nil {
		f.t.Fatalf("Issue: %v", err)
	}
	return out
}

// gateCode returns the enrolment code stored for the gate named name.
func gateCode(name string) server.GateCode {
	return server.GateCode{Hash: server.HashToken("code " + name), Expires: t0.Add(24 * time.Hour)}
}

// gate adds an entry gate for every tier, with gateCode(name).
func (f *fixture) gate(ev uint32, name string) kido.Gate {
	f.t.Helper()
	g, err := f.s.AddGate(f.ctx, kido.Gate{Event: ev, Name: name, Direction: kido.DirectionEntry}, gateCode(name))
	if err != nil {
		f.t.Fatalf("AddGate: %v", err)
	}
	return g
}

// enroll enrols the gate named name and returns its credential's hash.
func (f *fixture) enroll(name string) server.TokenHash {
	f.t.Helper()
	h := server.HashToken("credential " + name)
	cred := server.NewToken{Token: wire.Token{Scope: wire.ScopeGate}, Hash: h}
	if _, err := f.s.Enroll(f.ctx, gateCode(name).Hash, "tablet", nil, cred, t0.Add(time.Hour)); err != nil {
		f.t.Fatalf("Enroll: %v", err)
	}
	return h
}

// admission returns gate g's admission seq of ticket tk, with its hash.
// Its times carry the venue's offset and nanoseconds: a store must give
// back the instant exactly, or the hash no longer matches the content.
func admission(g uint32, seq uint64, tk wire.IssuedTicket) kido.Admission {
	at := t0.Add(time.Duration(seq) * time.Second).In(jst)
	a := kido.Admission{Gate: g, Seq: seq, Serial: tk.Serial, Tier: tk.Tier, Kind: kido.KindEntry,
		At: at, Corrected: at.Add(123456789 * time.Nanosecond).UTC(), Text: tk.Text}
	a.Hash = wire.AdmissionHash(a)
	return a
}

// audit returns gate g's audit record seq of a rejected scan.
func audit(g uint32, seq uint64, reason string) wire.AuditRecord {
	at := t0.Add(time.Duration(seq) * time.Second)
	r := wire.AuditRecord{Gate: g, Seq: seq, Kind: kido.KindEntry, Reason: reason,
		At: at, Corrected: at.Add(987654321 * time.Nanosecond), Text: wire.AuditText("presented " + reason)}
	r.Hash = wire.AuditHash(r)
	return r
}

// upload uploads req as gate g of ev, at t0.
func (f *fixture) upload(ev, g uint32, req wire.UploadRequest) wire.UploadResponse {
	f.t.Helper()
	resp, err := f.s.Upload(f.ctx, ev, g, &req, nil, t0)
	if err != nil {
		f.t.Fatalf("Upload: %v", err)
	}
	return resp
}

// page reads one page of the feed; a resnapshot fails the test.
func (f *fixture) page(ev uint32, c server.Cursor, limit int) server.FeedPage {
	f.t.Helper()
	p, err := f.s.Changes(f.ctx, ev, c, limit)
	if err != nil {
		f.t.Fatalf("Changes(%d, %v): %v", ev, c, err)
	}
	if p.Resnapshot {
		f.t.Fatalf("Changes(%d, %v): resnapshot", ev, c)
	}
	// Gates carry the cursor as text: it must survive the trip.
	if back, err := server.ParseCursor(p.Next.String()); err != nil || back != p.Next {
		f.t.Fatalf("Changes(%d, %v): cursor %+v does not survive its text form: %v, %v", ev, c, p.Next, back, err)
	}
	return p
}

// feed reads every change of ev after c, page by page as a gate does, and
// returns them with the cursor to continue from.
func (f *fixture) feed(ev uint32, c server.Cursor) ([]wire.Change, server.Cursor) {
	f.t.Helper()
	const limit = 1000
	var out []wire.Change
	for {
		p := f.page(ev, c, limit)
		for _, raw := range p.Changes {
			out = append(out, f.decode(raw))
		}
		c = p.Next
		if len(p.Changes) < limit {
			return out, c
		}
	}
}

// decode reads a change as a gate does: unknown fields are an error.
func (f *fixture) decode(raw json.RawMessage) wire.Change {
	f.t.Helper()
	ch, err := decodeChange(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func decodeChange(raw json.RawMessage) (wire.Change, error) {
	var ch wire.Change
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&ch); err != nil {
		return ch, fmt.Errorf("change %s is not a wire.Change: %v", raw, err)
	}
	return ch, nil
}

// head returns the cursor after every change of ev committed so far.
func (f *fixture) head(ev uint32) server.Cursor {
	f.t.Helper()
	_, c := f.feed(ev, server.Cursor{})
	return c
}

// appended runs op and returns the changes of ev it appended to the log.
func (f *fixture) appended(ev uint32, op func()) []wire.Change {
	f.t.Helper()
	c := f.head(ev)
	op()
	out, _ := f.feed(ev, c)
	return out
}

// kinds lists the kinds of changes, sorted: the order of the changes one
// transaction appends is the store's to choose.
func kinds(cs []wire.Change) string {
	ks := make([]string, len(cs))
	for i, c := range cs {
		ks[i] = c.Kind
	}
	slices.Sort(ks)
	return strings.Join(ks, " ")
}

// objectsOf returns the objects that get finds in changes, failing the
// test on a change of another kind.
func objectsOf[T any](t *testing.T, cs []wire.Change, get func(wire.Change) *T) []T {
	t.Helper()
	var out []T
	for _, c := range cs {
		v := get(c)
		if v == nil {
			t.Errorf("unexpected %s change", c.Kind)
			continue
		}
		out = append(out, *v)
	}
	return out
}

func admissionOf(c wire.Change) *kido.Admission { return c.Admission }

// only returns the one change of kind among cs.
func only(t *testing.T, cs []wire.Change, kind string) wire.Change {
	t.Helper()
	var found []wire.Change
	for _, c := range cs {
		if c.Kind == kind {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s changes among %s, want one", len(found), kind, kinds(cs))
	}
	return found[0]
}

// wantErr fails the test unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// ok fails the test now on an error.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// jsonOf returns v in JSON, to compare values whose times may differ in
// location only after normalising them.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the suite marshals only wire types
	}
	return string(b)
}
