package storetest

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// identityTests cover gate identity (docs/mesh.md): the key recorded at
// enrolment, the mesh address, the revocation time, and admissions
// uploaded with their signature.
var identityTests = []storeTest{
	{"EnrollKey", testEnrollKey},
	{"GateMesh", testGateMesh},
	{"RevokedAt", testRevokedAt},
	{"SignedUpload", testSignedUpload},
}

// gateKey is the suite's key of gate name.
func gateKey(name string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	return ed25519.NewKeyFromSeed(seed)
}

func testEnrollKey(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g := f.gate(a.ID, "North")
	old := f.gate(a.ID, "Old")
	pub := gateKey("North").Public().(ed25519.PublicKey)
	cred := server.NewToken{Token: wire.Token{Scope: wire.ScopeGate}, Hash: server.HashToken("credential")}
	var got kido.Gate
	changes := f.appended(a.ID, func() {
		var err error
		got, err = f.s.Enroll(f.ctx, gateCode("North").Hash, "tablet", pub, cred, t0.Add(time.Hour))
		ok(t, "Enroll with a key", err)
	})
	if !bytes.Equal(got.Pub, pub) {
		t.Errorf("Enroll gave key %x, want %x", got.Pub, pub)
	}
	if len(changes) != 1 || changes[0].Kind != wire.ChangeGate || changes[0].Gate.ID != g.ID || !bytes.Equal(changes[0].Gate.Pub, pub) {
		t.Errorf("enrolment with a key appended %+v, want one gate change carrying the key", changes)
	}
	// A gate enrolled without a key (an older kido-gate) has none, and its
	// enrolment tells the other gates nothing new.
	cred2 := server.NewToken{Token: wire.Token{Scope: wire.ScopeGate}, Hash: server.HashToken("credential 2")}
	changes = f.appended(a.ID, func() {
		_, err := f.s.Enroll(f.ctx, gateCode("Old").Hash, "tablet", nil, cred2, t0.Add(time.Hour))
		ok(t, "Enroll without a key", err)
	})
	if len(changes) != 0 {
		t.Errorf("enrolment without a key appended %+v", changes)
	}
	gs, err := f.s.Gates(f.ctx, a.ID)
	ok(t, "Gates", err)
	for _, x := range gs {
		switch x.ID {
		case g.ID:
			if !bytes.Equal(x.Pub, pub) {
				t.Errorf("Gates: North's key %x, want %x", x.Pub, pub)
			}
		case old.ID:
			if x.Pub != nil {
				t.Errorf("Gates: Old's key %x, want none", x.Pub)
			}
		}
	}
	snap, err := f.s.Snapshot(f.ctx, old.ID)
	ok(t, "Snapshot", err)
	for _, x := range snap.Gates {
		if x.ID == g.ID && !bytes.Equal(x.Pub, pub) {
			t.Errorf("snapshot's gate list: North's key %x, want %x", x.Pub, pub)
		}
	}
}

func testGateMesh(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	g := f.gate(a.ID, "North")
	var changed bool
	changes := f.appended(a.ID, func() {
		var err error
		changed, err = f.s.SetGateMesh(f.ctx, a.ID, g.ID, "192.168.1.20:7421")
		ok(t, "SetGateMesh", err)
	})
	if !changed || len(changes) != 1 || changes[0].Gate == nil || changes[0].Gate.Mesh != "192.168.1.20:7421" {
		t.Errorf("SetGateMesh = %v, appended %+v; want a gate change with the address", changed, changes)
	}
	changes = f.appended(a.ID, func() {
		var err error
		changed, err = f.s.SetGateMesh(f.ctx, a.ID, g.ID, "192.168.1.20:7421")
		ok(t, "SetGateMesh again", err)
	})
	if changed || len(changes) != 0 {
		t.Errorf("the same address again: %v, appended %+v; want nothing", changed, changes)
	}
	snap, err := f.s.Snapshot(f.ctx, g.ID)
	ok(t, "Snapshot", err)
	if snap.Gate.Mesh != "192.168.1.20:7421" {
		t.Errorf("snapshot's gate mesh %q", snap.Gate.Mesh)
	}
	_, err = f.s.SetGateMesh(f.ctx, b.ID, g.ID, "192.168.1.21:7421")
	wantErr(t, "SetGateMesh of another event's gate", err, server.ErrNotFound)
	_, err = f.s.RevokeGate(f.ctx, a.ID, g.ID, t0)
	ok(t, "RevokeGate", err)
	changes = f.appended(a.ID, func() {
		var err error
		changed, err = f.s.SetGateMesh(f.ctx, a.ID, g.ID, "192.168.1.22:7421")
		ok(t, "SetGateMesh of a revoked gate", err)
	})
	if changed || len(changes) != 0 {
		t.Errorf("a revoked gate's address: %v, appended %+v; want nothing", changed, changes)
	}
}

func testRevokedAt(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g := f.gate(a.ID, "North")
	h := f.gate(a.ID, "South")
	when := t0.Add(90*time.Minute + 250*time.Millisecond)
	changes := f.appended(a.ID, func() {
		_, err := f.s.RevokeGate(f.ctx, a.ID, g.ID, when)
		ok(t, "RevokeGate", err)
	})
	if len(changes) != 1 || changes[0].Gate == nil || changes[0].Gate.RevokedAt == nil || !changes[0].Gate.RevokedAt.Equal(when) {
		t.Errorf("RevokeGate appended %+v, want a gate change revoked at %v", changes, when)
	}
	// Revoking again keeps the first time.
	got, err := f.s.RevokeGate(f.ctx, a.ID, g.ID, when.Add(time.Hour))
	ok(t, "RevokeGate again", err)
	if got.RevokedAt == nil || !got.RevokedAt.Equal(when) {
		t.Errorf("revoked again: RevokedAt %v, want %v", got.RevokedAt, when)
	}
	// Revoking a gate's credential revokes the gate at that time.
	hCred := f.enroll("South")
	tok, err := f.s.TokenByHash(f.ctx, hCred)
	ok(t, "TokenByHash", err)
	_, err = f.s.RevokeToken(f.ctx, tok.ID, when)
	ok(t, "RevokeToken", err)
	st, err := f.s.UploadState(f.ctx, a.ID, h.ID, 1, 0)
	ok(t, "UploadState", err)
	if st.Gate.RevokedAt == nil || !st.Gate.RevokedAt.Equal(when) {
		t.Errorf("credential revoked: gate RevokedAt %v, want %v", st.Gate.RevokedAt, when)
	}
}

func testSignedUpload(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	g := f.gate(a.ID, "North")
	tk := f.issue(a, "b1", 1)[0]
	signed := wire.SignAdmission(gateKey("North"), admission(g.ID, 1, tk))
	var resp wire.UploadResponse
	changes := f.appended(a.ID, func() {
		resp = f.upload(a.ID, g.ID, wire.UploadRequest{Admissions: []kido.Admission{signed}})
	})
	if resp.Stored != 1 || len(changes) != 1 || changes[0].Admission == nil {
		t.Fatalf("upload stored %d, appended %+v", resp.Stored, changes)
	}
	if changes[0].Admission.Sig != nil || changes[0].Admission.Hash != signed.Hash {
		t.Errorf("the feed's admission %+v: want the record without its signature", changes[0].Admission)
	}
	// The same record again, signed or not, is a duplicate.
	unsigned := signed
	unsigned.Sig = nil
	if resp := f.upload(a.ID, g.ID, wire.UploadRequest{Admissions: []kido.Admission{unsigned}}); resp.Duplicates != 1 || resp.Stored != 0 {
		t.Errorf("upload again: %+v, want one duplicate", resp)
	}
}
