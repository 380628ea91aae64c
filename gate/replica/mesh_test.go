package replica

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// newKeyedReplica is the replica of gateID in an event whose gates all
// have keys and mesh addresses, opened with the gate's key.
func newKeyedReplica(t testing.TB, gateID uint32) (*Replica, *gatetest.Fixture) {
	t.Helper()
	f := gatetest.New(50, gateID, time.Now()).Keyed()
	r, err := Create(filepath.Join(t.TempDir(), "replica.db"), Options{Key: gatetest.GateKey(gateID)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	return r, f
}

// peerRecord is gate g's record seq of an entry of serial, signed with its
// key.
func peerRecord(f *gatetest.Fixture, g uint32, seq uint64, serial uint32, at time.Time) kido.Admission {
	a := kido.Admission{Gate: g, Seq: seq, Serial: serial, Tier: gatetest.TierOf(serial), Kind: kido.KindEntry,
		At: at.UTC(), Corrected: at.UTC(), Text: f.Ticket(serial)}
	return wire.SignAdmission(gatetest.GateKey(g), a)
}

// Every record a keyed gate makes is signed with its key, and uploaded
// with the signature; a gate whose key is recorded records nothing
// without it.
func TestOwnRecordsSigned(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	scan(t, r, f.Ticket(2), false)
	if _, err := r.Admit(ctx, 3, "phone battery dead"); err != nil {
		t.Fatal(err)
	}
	req, err := r.NextUpload(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Admissions) != 2 {
		t.Fatalf("%d admissions to upload, want 2", len(req.Admissions))
	}
	pub := gatetest.GateKey(gatetest.GateBoth).Public().(ed25519.PublicKey)
	for _, a := range req.Admissions {
		if err := wire.VerifyAdmission(pub, a); err != nil {
			t.Errorf("%s admission %d: %v", a.Kind, a.Seq, err)
		}
	}
	path := r.Path()
	r.Close()
	for name, key := range map[string]ed25519.PrivateKey{"no key": nil, "another gate's key": gatetest.GateKey(gatetest.GateEntry)} {
		r2, err := Open(path, Options{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r2.Scan(ctx, gate.Line{Text: f.Ticket(4), Length: 188}, false); !errors.Is(err, ErrNoGateKey) || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("%s: scan gave %v, want ErrNoGateKey with a hint", name, err)
		}
		if n, _, err := r2.Pending(ctx); err != nil || n != 2 {
			t.Errorf("%s: %d admissions pending, %v; want the 2 before", name, n, err)
		}
		r2.Close()
	}
}

// A passage learnt from a peer makes the gate reject the ticket as used,
// naming the gate where it was admitted.
func TestMeshLearnDecides(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	rec := peerRecord(f, gatetest.GateEntry, 1, 5, time.Now().Add(-time.Minute))
	learnt, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{rec})
	if err != nil || learnt != 1 || len(refused) != 0 {
		t.Fatalf("MeshLearn = %d, %v, %v", learnt, refused, err)
	}
	d := scan(t, r, f.Ticket(5), false)
	if d.Reason != gate.AlreadyUsed || !strings.Contains(d.Message(), "South") {
		t.Errorf("scan after the peer's admission: %s %q, want already used at South", d.Reason, d.Message())
	}
	// The same record again is nothing new.
	if learnt, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{rec}); err != nil || learnt != 0 || len(refused) != 0 {
		t.Errorf("MeshLearn again = %d, %v, %v; want nothing new", learnt, refused, err)
	}
}

// A tampered or forged record from a peer is refused with why, and
// changes nothing; the valid records beside it are learnt.
func TestMeshLearnRefuses(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	at := time.Now().Add(-time.Minute)
	revokedAt := at.Add(-time.Second)
	exitGate := f.Snapshot.Gates[2]
	exitGate.Revoked, exitGate.RevokedAt = true, &revokedAt
	if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeGate, Gate: &exitGate})); err != nil {
		t.Fatal(err)
	}
	good := peerRecord(f, gatetest.GateEntry, 1, 5, at)
	serial := good
	serial.Serial, serial.Text = 6, f.Ticket(6)
	serial.Hash = wire.AdmissionHash(serial) // the signature stays the original's
	forged := wire.SignAdmission(gatetest.GateKey(gatetest.GateEntry), kido.Admission{Gate: gatetest.GateBoth, Seq: 9, Serial: 7,
		Tier: gatetest.TierOf(7), Kind: kido.KindEntry, At: at.UTC(), Corrected: at.UTC(), Text: f.Ticket(7)})
	revoked := peerRecord(f, gatetest.GateExit, 1, 8, at)
	revoked.Kind = kido.KindExit
	revoked = wire.SignAdmission(gatetest.GateKey(gatetest.GateExit), revoked)
	unknown := wire.SignAdmission(gatetest.GateKey(99), kido.Admission{Gate: 99, Seq: 1, Serial: 9, Tier: gatetest.TierOf(9), Kind: kido.KindEntry,
		At: at.UTC(), Corrected: at.UTC(), Text: f.Ticket(9)})
	unsigned := peerRecord(f, gatetest.GateEntry, 2, 10, at)
	unsigned.Sig = nil
	badHash := peerRecord(f, gatetest.GateEntry, 3, 11, at)
	badHash.Hash = strings.Repeat("0", 64)

	before := meshState(t, r)
	cases := []struct {
		rec  kido.Admission
		want error
	}{
		{serial, wire.ErrBadRecordSig},
		{forged, wire.ErrBadRecordSig},
		{revoked, ErrRevokedGate},
		{unknown, ErrUnknownGate},
		{unsigned, wire.ErrUnsignedRecord},
		{badHash, wire.ErrBadUpload},
	}
	for _, c := range cases {
		learnt, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{c.rec})
		if err != nil || learnt != 0 || len(refused) != 1 || !errors.Is(refused[0], c.want) || !errors.Is(refused[0], ErrPeerRecord) {
			t.Errorf("gate %d seq %d: %d learnt, %v, %v; want refused with %v", c.rec.Gate, c.rec.Seq, learnt, refused, err, c.want)
			continue
		}
		if msg := refused[0].Error(); !strings.Contains(msg, "seq") || !strings.Contains(msg, "gate") {
			t.Errorf("refusal %q does not name the gate and seq", msg)
		}
		if got := meshState(t, r); got != before {
			t.Errorf("gate %d seq %d refused, yet the replica changed: %s, was %s", c.rec.Gate, c.rec.Seq, got, before)
		}
	}
	if d := scan(t, r, f.Ticket(6), false); d.Reason != gate.OK {
		t.Errorf("serial 6 after the refused record: %s", d.Reason)
	}
	// In one batch, the good record is learnt and the bad ones refused.
	learnt, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{serial, good, forged})
	if err != nil || learnt != 1 || len(refused) != 2 {
		t.Errorf("mixed batch: %d learnt, %v, %v; want 1 learnt, 2 refused", learnt, refused, err)
	}
	// A record the revoked gate made before its revocation is learnt.
	early := peerRecord(f, gatetest.GateExit, 1, 8, revokedAt.Add(-time.Second))
	early.Kind = kido.KindExit
	early = wire.SignAdmission(gatetest.GateKey(gatetest.GateExit), early)
	if learnt, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{early}); err != nil || learnt != 1 || len(refused) != 0 {
		t.Errorf("revoked gate's record before its revocation: %d, %v, %v", learnt, refused, err)
	}
	// Another record under a held (gate, seq), validly signed by its
	// gate (a cloned disk), is kept beside the first and surfaced.
	other := peerRecord(f, gatetest.GateEntry, 1, 12, at)
	learnt, refused, err = r.MeshLearn(ctx, gatetest.GateEntry, []kido.Admission{other})
	if err != nil || learnt != 0 || len(refused) != 1 || !errors.Is(refused[0], ErrRecordKeptBy) {
		t.Errorf("conflicting record: %d, %v, %v", learnt, refused, err)
	}
	if d := scan(t, r, f.Ticket(12), false); d.Reason != gate.AlreadyUsed {
		t.Errorf("the conflicting record's ticket: %s, want already used (both records count)", d.Reason)
	}
}

// meshState is what a refused record must not change.
func meshState(t *testing.T, r *Replica) string {
	t.Helper()
	var n, c int
	if err := r.conn.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM admissions), (SELECT count(*) FROM conflicting_admissions)").Scan(&n, &c); err != nil {
		t.Fatal(err)
	}
	v, err := r.MeshVector(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d admissions, %d conflicting, vector %s", n, c, fmtVector(v))
}

// TestMeshVectorSince: the vector counts contiguous signed records from
// 1, own ones included, not the feed's unsigned ones; MeshSince pages
// through a gate's signed records.
func TestMeshVectorSince(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	at := time.Now().Add(-time.Minute)
	scan(t, r, f.Ticket(2), false)
	recs := []kido.Admission{
		peerRecord(f, gatetest.GateEntry, 1, 5, at),
		peerRecord(f, gatetest.GateEntry, 2, 6, at),
		peerRecord(f, gatetest.GateEntry, 4, 7, at),
	}
	if n, refused, err := r.MeshLearn(ctx, gatetest.GateEntry, recs); err != nil || n != 3 || refused != nil {
		t.Fatalf("MeshLearn = %d, %v, %v", n, refused, err)
	}
	// The feed brings gate 3's record 1 unsigned, and gate 2's record 3.
	feed3 := peerRecord(f, gatetest.GateExit, 1, 8, at)
	feed3.Kind = kido.KindExit
	feed3.Hash, feed3.Sig = wire.AdmissionHash(feed3), nil
	feed2 := peerRecord(f, gatetest.GateEntry, 3, 9, at)
	signed2 := feed2
	feed2.Sig = nil
	if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeAdmission, Admission: &feed3}, wire.Change{Kind: wire.ChangeAdmission, Admission: &feed2})); err != nil {
		t.Fatal(err)
	}
	want := map[uint32]uint64{gatetest.GateBoth: 1, gatetest.GateEntry: 2}
	if v, err := r.MeshVector(ctx); err != nil || fmtVector(v) != fmtVector(want) {
		t.Errorf("vector %v, %v; want %v (the feed's unsigned records do not count)", v, err, want)
	}
	// The signed copy of the feed's record fills the gap: nothing new,
	// but now signed.
	if n, refused, err := r.MeshLearn(ctx, gatetest.GateBoth, []kido.Admission{signed2}); err != nil || n != 0 || refused != nil {
		t.Fatalf("MeshLearn of a record held unsigned = %d, %v, %v", n, refused, err)
	}
	want[gatetest.GateEntry] = 4
	if v, err := r.MeshVector(ctx); err != nil || fmtVector(v) != fmtVector(want) {
		t.Errorf("vector %v, %v; want %v", v, err, want)
	}
	got, err := r.MeshSince(ctx, gatetest.GateEntry, 1, 2)
	if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("MeshSince(2, 1, 2) = %+v, %v; want seqs 2 and 3", got, err)
	}
	pub := gatetest.GateKey(gatetest.GateEntry).Public().(ed25519.PublicKey)
	for _, a := range got {
		if err := wire.VerifyAdmission(pub, a); err != nil {
			t.Errorf("MeshSince gave seq %d: %v", a.Seq, err)
		}
	}
	if got, err := r.MeshSince(ctx, gatetest.GateExit, 0, 10); err != nil || len(got) != 0 {
		t.Errorf("MeshSince of the feed's unsigned records = %+v, %v; want none", got, err)
	}
}

// fmtVector prints a vector in gate order (fmt sorts map keys).
func fmtVector(v map[uint32]uint64) string { return fmt.Sprint(v) }

// MeshPeers lists the other gates with a key and an address, not revoked;
// MeshPeer tells each.
func TestMeshPeers(t *testing.T) {
	r, f := newKeyedReplica(t, gatetest.GateBoth)
	exitGate := f.Snapshot.Gates[2]
	revokedAt := time.Now().Add(-time.Minute).UTC()
	exitGate.Revoked, exitGate.RevokedAt = true, &revokedAt
	if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeGate, Gate: &exitGate})); err != nil {
		t.Fatal(err)
	}
	peers, err := r.MeshPeers(ctx)
	if err != nil || len(peers) != 1 || peers[0].ID != gatetest.GateEntry || peers[0].Mesh != gatetest.MeshAddr(gatetest.GateEntry) {
		t.Fatalf("MeshPeers = %+v, %v; want only gate %d", peers, err, gatetest.GateEntry)
	}
	pub, addr, ok, err := r.MeshPeer(ctx, gatetest.GateEntry)
	if err != nil || !ok || addr != gatetest.MeshAddr(gatetest.GateEntry) || !pub.Equal(gatetest.GateKey(gatetest.GateEntry).Public()) {
		t.Errorf("MeshPeer(%d) = %x, %q, %v, %v", gatetest.GateEntry, pub, addr, ok, err)
	}
	for _, g := range []uint32{gatetest.GateExit, 99} {
		if _, _, ok, err := r.MeshPeer(ctx, g); ok || err != nil {
			t.Errorf("MeshPeer(%d) = %v, %v; want not ok", g, ok, err)
		}
	}
	id, key, err := r.Own(ctx)
	if err != nil || id != gatetest.GateBoth || !key.Equal(gatetest.GateKey(gatetest.GateBoth)) {
		t.Errorf("Own = %d, %v", id, err)
	}
	// A junk address from the server is refused with the change.
	bad := f.Snapshot.Gates[1]
	bad.Mesh = "http://10.0.0.1:80"
	if _, err := r.ApplyChanges(ctx, changesOf("c2", wire.Change{Kind: wire.ChangeGate, Gate: &bad})); !errors.Is(err, ErrBadChange) {
		t.Errorf("a junk mesh address: %v, want ErrBadChange", err)
	}
}
