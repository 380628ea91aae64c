package server_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// keyedGate adds and enrols a gate with an Ed25519 key, as kido-gate
// enroll does.
func (f *fixture) keyedGate(t testing.TB, ev uint32, name string) *gateDev {
	t.Helper()
	ctx := context.Background()
	g, err := f.admin.AddGate(ctx, ev, wire.GateCreate{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	enr, err := f.client(t, "").EnrollKey(ctx, g.Code, name, pub)
	if err != nil {
		t.Fatal(err)
	}
	return &gateDev{id: g.Gate.ID, event: ev, cred: enr.Credential, f: f, client: f.gateClient(t, enr), key: key}
}

// signed is the gate's next admission of tk, signed with its key.
func (g *gateDev) signed(tk wire.IssuedTicket, at time.Time) kido.Admission {
	return wire.SignAdmission(g.key, g.admission(tk, kido.KindEntry, at))
}

// settable is a server clock a test moves.
type settable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settable) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *settable) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestEnrolRecordsGateKey(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	g := f.keyedGate(t, ev, "North")
	old := f.gate(t, ev, "Old")
	snap, err := old.client.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range snap.Gates {
		switch x.ID {
		case g.id:
			if pub := g.key.Public().(ed25519.PublicKey); !pub.Equal(ed25519.PublicKey(x.Pub)) {
				t.Errorf("gate list: North's key %x, want %x", x.Pub, pub)
			}
		case old.id:
			if x.Pub != nil {
				t.Errorf("gate list: a gate enrolled without a key has %x", x.Pub)
			}
		}
	}
	// A key of the wrong size is refused, and the code is not spent.
	added, err := f.admin.AddGate(context.Background(), ev, wire.GateCreate{Name: "South"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client(t, "").EnrollKey(context.Background(), added.Code, "x", make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := f.client(t, "").EnrollKey(context.Background(), added.Code, "x", pub); err != nil {
		t.Errorf("the code after a refused key: %v", err)
	}
}

// A gate that has a key uploads only records signed with it: a missing,
// tampered or foreign signature refuses the whole upload, and nothing is
// stored.
func TestUploadRefusesBadSignatures(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	a, b := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South")
	good := a.signed(tks[0], admitTime)
	before := f.state(t, ev)
	unsigned := good
	unsigned.Sig = nil
	tampered := good
	tampered.Sig = append([]byte(nil), good.Sig...)
	tampered.Sig[10] ^= 0x40
	serial := good
	serial.Serial, serial.Text = tks[1].Serial, tks[1].Text
	serial.Hash = wire.AdmissionHash(serial)
	foreign := wire.SignAdmission(b.key, good) // gate a's record, signed by gate b
	for name, rec := range map[string]kido.Admission{
		"missing signature":  unsigned,
		"tampered signature": tampered,
		"serial changed":     serial,
		"another gate's key": foreign,
	} {
		ans := a.upload(t, wire.UploadRequest{Admissions: []kido.Admission{rec}})
		if ans.status != http.StatusBadRequest || ans.code() != wire.CodeBadSig || !strings.Contains(string(ans.body), "hint") {
			t.Errorf("%s: %d %s, want 400 %s with a hint", name, ans.status, ans.body, wire.CodeBadSig)
		}
		if got := f.state(t, ev); got != before {
			t.Errorf("%s changed the state: %s, was %s", name, got, before)
		}
	}
	if ans := a.upload(t, wire.UploadRequest{Admissions: []kido.Admission{good}}); ans.status != http.StatusOK || ans.upload(t).Stored != 1 {
		t.Errorf("the signed record: %d %s", ans.status, ans.body)
	}
}

// A record relayed by another gate of the event is stored once however
// often it is relayed, and its origin's own upload of it is a duplicate.
func TestRelayCountsOnce(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	a, b := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South")
	rec := a.signed(tks[0], admitTime)
	cursor := b.snapshotCursor(t)
	for i := range 2 {
		ans := b.upload(t, wire.UploadRequest{Relayed: []kido.Admission{rec}})
		if ans.status != http.StatusOK {
			t.Fatalf("relay %d: %d %s", i, ans.status, ans.body)
		}
		got := ans.upload(t).Relayed
		if len(got) != 1 || got[0].Gate != a.id || got[0].Acked != 1 || got[0].Stored != 1-i || got[0].Duplicates != i {
			t.Errorf("relay %d: relayed %+v, want gate %d acked 1 stored %d", i, got, a.id, 1-i)
		}
	}
	ans := a.upload(t, wire.UploadRequest{Admissions: []kido.Admission{rec}})
	if r := ans.upload(t); ans.status != http.StatusOK || r.Stored != 0 || r.Duplicates != 1 || r.Acked != 1 {
		t.Errorf("the origin's own upload after the relay: %d %s", ans.status, ans.body)
	}
	rep, err := f.admin.Report(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 1 {
		t.Errorf("report admitted %d, want 1", rep.Admitted)
	}
	// The feed carries the record once, without its signature.
	var seen int
	for _, c := range b.changes(t, cursor, 0).Changes {
		if c.Admission != nil && c.Admission.Gate == a.id {
			seen++
			if c.Admission.Sig != nil {
				t.Errorf("the feed carries a signature")
			}
		}
	}
	if seen != 1 {
		t.Errorf("the feed carries the relayed record %d times", seen)
	}
}

// A relayed record must be signed by its origin gate's key: a forged
// origin, a record of the uploader itself, of an unknown gate or of a gate
// without a key is refused, with the whole upload.
func TestRelayRefusesForgeries(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	a, b := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South")
	old := f.gate(t, ev, "Old")
	other := f.keyedGate(t, f.event(t), "Elsewhere")
	before := f.state(t, ev)

	forged := wire.SignAdmission(b.key, a.admission(tks[0], kido.KindEntry, admitTime)) // b signs as a
	own := b.signed(tks[1], admitTime)
	unknown := wire.SignAdmission(other.key, other.admission(tks[2], kido.KindEntry, admitTime))
	keyless := wire.SignAdmission(b.key, old.admission(tks[2], kido.KindEntry, admitTime))
	good := a.signed(tks[0], admitTime)
	for _, c := range []struct {
		name   string
		rec    kido.Admission
		status int
		code   string
	}{
		{"forged origin", forged, http.StatusBadRequest, wire.CodeBadSig},
		{"the uploader's own record", own, http.StatusBadRequest, wire.CodeBadBatch},
		{"a gate of another event", unknown, http.StatusForbidden, wire.CodeWrongGate},
		{"a gate without a key", keyless, http.StatusBadRequest, wire.CodeBadSig},
	} {
		// A good relayed record beside the bad one is not stored either.
		relayed := []kido.Admission{good, c.rec}
		if c.rec.Gate < good.Gate || c.rec.Gate == good.Gate {
			relayed = []kido.Admission{c.rec}
		}
		ans := b.upload(t, wire.UploadRequest{Relayed: relayed})
		if ans.status != c.status || ans.code() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, ans.status, ans.body, c.status, c.code)
		}
		if got := f.state(t, ev); got != before {
			t.Errorf("%s changed the state: %s, was %s", c.name, got, before)
		}
	}
}

// A revoked gate's records relayed after its revocation are stored as
// suspect, counted nowhere; those it made before are counted.
func TestRelayOfRevokedGate(t *testing.T) {
	clock := &settable{t: start.Add(-time.Hour)}
	f := newFixtureWith(t, func(c *server.Config) { c.Now = clock.now })
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	a, b := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South")
	revokedAt := start.Add(10 * time.Minute)
	clock.set(revokedAt)
	if _, err := f.admin.RevokeGate(context.Background(), ev, a.id); err != nil {
		t.Fatal(err)
	}
	before := a.signed(tks[0], revokedAt.Add(-time.Second))
	at := a.signed(tks[1], revokedAt)
	ans := b.upload(t, wire.UploadRequest{Relayed: []kido.Admission{before, at}})
	if ans.status != http.StatusOK {
		t.Fatalf("relay: %d %s", ans.status, ans.body)
	}
	rep, err := f.admin.Report(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Admitted != 1 || rep.Suspect != 1 || len(rep.Flagged) != 1 || rep.Flagged[0].Seq != at.Seq || !strings.Contains(rep.Flagged[0].Why, "revoked") {
		t.Errorf("report admitted %d suspect %d flagged %+v; want the record made at the revocation flagged", rep.Admitted, rep.Suspect, rep.Flagged)
	}
}

// A gate's mesh address from its heartbeat reaches every replica's gate
// list through the feed, once; a malformed one is refused.
func TestHeartbeatMeshAddress(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	a, b := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South")
	cursor := b.snapshotCursor(t)
	send := func(addr string) answer {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/gate/upload", strings.NewReader(`{"admissions":[],"audits":[]}`))
		req.Header.Set("Authorization", "Bearer "+a.cred)
		req.Header.Set(wire.HeaderGateMesh, addr)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body strings.Builder
		io.Copy(&body, resp.Body)
		return answer{status: resp.StatusCode, header: resp.Header, body: []byte(body.String())}
	}
	for range 2 {
		if ans := send("192.168.1.20:7421"); ans.status != http.StatusOK {
			t.Fatalf("upload with a mesh address: %d %s", ans.status, ans.body)
		}
	}
	var seen []string
	for _, c := range b.changes(t, cursor, 0).Changes {
		if c.Gate != nil && c.Gate.ID == a.id {
			seen = append(seen, c.Gate.Mesh)
		}
	}
	if len(seen) != 1 || seen[0] != "192.168.1.20:7421" {
		t.Errorf("gate changes of North carry addresses %q, want one with 192.168.1.20:7421", seen)
	}
	for _, junk := range []string{"192.168.1.20", "http://192.168.1.20:7421", "a b:1"} {
		if ans := send(junk); ans.status != http.StatusBadRequest || ans.code() != wire.CodeBadHeader {
			t.Errorf("mesh address %q: %d %s, want 400 %s", junk, ans.status, ans.body, wire.CodeBadHeader)
		}
	}
	snap, err := b.client.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range snap.Gates {
		if g.ID == a.id && g.Mesh != "192.168.1.20:7421" {
			t.Errorf("snapshot: North's address %q after the junk", g.Mesh)
		}
	}
}
