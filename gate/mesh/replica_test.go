package mesh

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// The tests in this file run nodes over real replicas (gate/replica) of
// the fabricated event, whose gates have keys and mesh addresses on
// loopback (gatetest.Keyed): records are signed and verified for real.

// keyedReplica is the replica of gate id, opened with its key, and its
// node listening at the address the gate list gives it.
func keyedReplica(t *testing.T, id uint32, log *logBook, peers ...string) (*replica.Replica, *Node, *gatetest.Fixture) {
	t.Helper()
	f := gatetest.New(50, id, time.Now()).Keyed()
	r, err := replica.Create(filepath.Join(t.TempDir(), "replica.db"), replica.Options{Key: gatetest.GateKey(id)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Apply(context.Background(), &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	n, err := Listen(Config{Store: r, Event: gatetest.EventID, Gate: id, Key: gatetest.GateKey(id),
		Listen: gatetest.MeshAddr(id), Peers: peers, PullEvery: fastPull, Log: log.add})
	if err != nil {
		t.Fatal(err)
	}
	return r, n, f
}

// runNode runs n until the test ends.
func runNode(t *testing.T, n *Node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// pollUntil waits for cond, re-checking it every few milliseconds: a
// replica has no change signal to wait on.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s did not happen", waitFor, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// An admission at one gate reaches the others through the mesh alone,
// and they reject the ticket as used, naming the gate.
func TestReplicasMesh(t *testing.T) {
	log := logBook{changed: &signal{}}
	north, nn, f := keyedReplica(t, gatetest.GateBoth, &log)
	south, ns, _ := keyedReplica(t, gatetest.GateEntry, &log)
	east, ne, _ := keyedReplica(t, gatetest.GateExit, &log)
	for _, n := range []*Node{nn, ns, ne} {
		runNode(t, n)
	}
	const serial = 5 // GA: South admits it
	text := f.Ticket(serial)
	d, err := south.Scan(context.Background(), gate.Line{Text: text, Length: int64(len(text))}, false)
	if err != nil || !d.Admit {
		t.Fatalf("scan at South: %+v, %v", d, err)
	}
	ns.Poke()
	for name, r := range map[string]*replica.Replica{"North": north, "East": east} {
		pollUntil(t, name+" learns South's admission", func() bool {
			v, err := r.MeshVector(context.Background())
			return err == nil && v[gatetest.GateEntry] == d.Seq
		})
	}
	d, err = north.Scan(context.Background(), gate.Line{Text: text, Length: int64(len(text))}, false)
	if err != nil || d.Reason != gate.AlreadyUsed || !strings.Contains(d.Message(), "South") {
		t.Errorf("scan at North: %s %q (%v), want already used at South", d.Reason, d.Message(), err)
	}
	if t.Failed() {
		t.Log(log.String())
	}
}

var _ Store = (*replica.Replica)(nil)

// A hostile peer (South, its key stolen) sends signed records it altered
// or forged, and one of a revoked gate: North's replica refuses each with
// why, logged, and learns only the true one.
func TestReplicaRefusesTampered(t *testing.T) {
	log := logBook{changed: &signal{}}
	north, nn, f := keyedReplica(t, gatetest.GateBoth, &log)
	runNode(t, nn)

	at := time.Now().Add(-time.Minute).UTC()
	rec := func(g uint32, seq uint64, serial uint32) kido.Admission {
		return kido.Admission{Gate: g, Seq: seq, Serial: serial, Tier: gatetest.TierOf(serial), Kind: kido.KindEntry,
			At: at, Corrected: at, Text: f.Ticket(serial)}
	}
	southKey := gatetest.GateKey(gatetest.GateEntry)
	good := wire.SignAdmission(southKey, rec(gatetest.GateEntry, 1, 5))
	serial := wire.SignAdmission(southKey, rec(gatetest.GateEntry, 2, 6))
	serial.Serial, serial.Text = 7, f.Ticket(7)
	serial.Hash = wire.AdmissionHash(serial)                             // the signature stays the original's
	forged := wire.SignAdmission(southKey, rec(gatetest.GateExit, 1, 8)) // East's id, South's key
	// East, revoked a second before, and its key stolen too: its own
	// signature on a record made after the revocation.
	revoked := rec(gatetest.GateExit, 2, 9)
	revoked.Kind = kido.KindExit
	revoked = wire.SignAdmission(gatetest.GateKey(gatetest.GateExit), revoked)
	revokedAt := at.Add(-time.Second)
	for _, g := range f.Snapshot.Gates {
		if g.ID == gatetest.GateExit {
			g.Revoked, g.RevokedAt = true, &revokedAt
			ch := &wire.Changes{Cursor: "c1", ServerTime: time.Now().UTC(), Changes: []wire.Change{{Kind: wire.ChangeGate, Gate: &g}}}
			if _, err := north.ApplyChanges(context.Background(), ch); err != nil {
				t.Fatal(err)
			}
		}
	}

	hostile := newMemStore(gatetest.GateEntry, &signal{})
	hostile.mu.Lock()
	for _, a := range []kido.Admission{good, serial, forged, revoked} {
		hostile.put(a)
	}
	hostile.mu.Unlock()
	hostile.know(gateKey{event: gatetest.EventID, id: gatetest.GateBoth, priv: gatetest.GateKey(gatetest.GateBoth)}, "")
	hn, err := Listen(Config{Store: hostile, Event: gatetest.EventID, Gate: gatetest.GateEntry, Key: southKey,
		Listen: "127.0.0.1:0", Peers: []string{gatetest.MeshAddr(gatetest.GateBoth)}, PullEvery: fastPull})
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, hn)

	until(t, log.changed, "North refuses the altered and the forged record", func() bool {
		return log.has("gate 2 seq 2 from gate 2") && log.has("gate 3 seq 1 from gate 2") && log.has("gate 3 seq 2 from gate 2")
	}, &log)
	v, err := north.MeshVector(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v[gatetest.GateEntry] != 1 || v[gatetest.GateExit] != 0 {
		t.Errorf("North's vector %v, want South 1 and nothing of East", v)
	}
	for _, serial := range []uint32{7, 8} { // 9 was an exit, which needs no entry
		text := f.Ticket(serial)
		d, err := north.Scan(context.Background(), gate.Line{Text: text, Length: int64(len(text))}, false)
		if err != nil || !d.Admit {
			t.Errorf("ticket %d at North after the refused records: %s %q (%v), want admitted", serial, d.Reason, d.Message(), err)
		}
	}
}
