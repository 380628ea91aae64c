package mesh

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
)

// Short enough that a healed partition converges quickly in a test; the
// push tests use an hour, so that only a push can deliver.
const (
	fastPull = 50 * time.Millisecond
	noPull   = time.Hour
)

func TestTwoNodesConverge(t *testing.T) {
	nodes, changed := world(t, 2, fastPull)
	a, b := nodes[0], nodes[1]
	// More than MaxRecords on one side: the exchange goes in batches.
	for i := range 2*MaxRecords + 7 {
		a.store.admit(uint32(1000 + i))
	}
	for i := range 5 {
		b.store.admit(uint32(5000 + i))
	}
	want := union(a, b)
	a.run(t)
	b.run(t)
	until(t, changed, "both gates hold every record", func() bool {
		return a.store.count() == len(want) && b.store.count() == len(want)
	})
	sameRecords(t, want, a, b)
}

func TestThreeNodesConverge(t *testing.T) {
	nodes, changed := world(t, 3, fastPull)
	for i, n := range nodes {
		for j := range 20 {
			n.store.admit(uint32(100*i + j))
		}
	}
	want := union(nodes...)
	for _, n := range nodes {
		n.run(t)
	}
	until(t, changed, "all three gates hold every record", func() bool {
		for _, n := range nodes {
			if n.store.count() != len(want) {
				return false
			}
		}
		return true
	})
	sameRecords(t, want, nodes...)
}

// A gate that reaches only one peer still gets what that peer learnt from
// a third: records are relayed, each checked against its origin's key.
func TestRelayThroughAPeer(t *testing.T) {
	nodes, changed := world(t, 3, fastPull)
	a, b, c := nodes[0], nodes[1], nodes[2]
	// c lists no address for a, and a none for c: they never dial each
	// other, and nothing but b can carry a's records to c.
	c.store.know(a.key, "")
	a.store.know(c.key, "")
	a.store.admit(7)
	for _, n := range nodes {
		n.run(t)
	}
	until(t, changed, "c learns a's record", func() bool { return c.store.count() == 1 })
	c.store.mu.Lock()
	from := slices.Clone(c.store.learnFrom)
	c.store.mu.Unlock()
	if !slices.Equal(from, []uint32{b.key.id}) {
		t.Errorf("c learnt from gates %v, want only b (%d)", from, b.key.id)
	}
	sameRecords(t, union(a), b, c)
}

// With the periodic pull an hour away, the admission reaches the peer only
// because Poke pushed it.
func TestPushWithoutPull(t *testing.T) {
	nodes, changed := world(t, 3, noPull)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		n.run(t)
	}
	// The first session with each peer happens at start; after it, the
	// next pull is half an hour away at the earliest.
	until(t, changed, "a's first sessions with b and c", func() bool {
		return a.sessionsWith(b.key.id) > 0 && a.sessionsWith(c.key.id) > 0 &&
			b.sessionsWith(a.key.id) > 0 && c.sessionsWith(a.key.id) > 0
	})
	sent0, _ := a.node.Traffic()
	rec := a.store.admit(42)
	a.node.Poke()
	until(t, changed, "b and c learn the pushed admission", func() bool {
		return b.store.count() == 1 && c.store.count() == 1
	})
	sameRecords(t, []kido.Admission{rec}, a, b, c)
	// One record to two peers over connections kept open: a few KiB at
	// most, whatever the exact framing.
	if sent, _ := a.node.Traffic(); sent-sent0 <= 0 || sent-sent0 > 16<<10 {
		t.Errorf("a sent %d bytes for one push to two peers", sent-sent0)
	}
}

// A peer whose address the gate list gained after the node started gets
// the next push at once, without waiting for the peer list's periodic
// read.
func TestPushToPeerListedLate(t *testing.T) {
	nodes, changed := world(t, 2, noPull)
	a, b := nodes[0], nodes[1]
	a.store.know(b.key, "")
	a.run(t)
	b.run(t)
	until(t, changed, "b's first session with a", func() bool { return b.sessionsWith(a.key.id) > 0 })
	a.store.know(b.key, b.addr())
	rec := a.store.admit(42)
	a.node.Poke()
	until(t, changed, "b learns the pushed admission", func() bool { return b.store.count() == 1 })
	sameRecords(t, []kido.Admission{rec}, a, b)
}

// A gate that was down catches up when it returns, from its own first
// session, and what it recorded while cut off reaches the others.
func TestDownNodeCatchesUp(t *testing.T) {
	nodes, changed := world(t, 2, noPull)
	a, b := nodes[0], nodes[1]
	a.run(t)
	b.run(t)
	until(t, changed, "a first session", func() bool { return a.sessionsWith(b.key.id) > 0 })
	b.stop()
	for i := range 10 {
		a.store.admit(uint32(i + 1))
		a.node.Poke()
	}
	b.store.admit(99) // recorded while b's node was down
	until(t, changed, "a's pushes fail while b is down", func() bool { return len(a.sessionErrs()) > 0 })

	// b returns on another port, as a restarted gate may; a learns the
	// new address from its gate list.
	b2 := listen(t, b.key, b.store, noPull)
	a.store.know(b.key, b2.addr())
	b.store.know(b.key, b2.addr())
	b2.run(t)
	want := union(a, b2)
	until(t, changed, "both gates hold every record", func() bool {
		return a.store.count() == len(want) && b2.store.count() == len(want)
	})
	sameRecords(t, want, a, b2)
	if len(want) != 11 {
		t.Errorf("%d records in all, want 11", len(want))
	}
}

// A peer given by hand (-peer ADDR) needs no address in the gate list: it
// is dialled at once and checked like any other.
func TestPeerByHand(t *testing.T) {
	changed := &signal{}
	ka, kb := newGateKey(t, 1, 1), newGateKey(t, 1, 2)
	sa, sb := newMemStore(1, changed), newMemStore(2, changed)
	b := listen(t, kb, sb, fastPull)
	a := listen(t, ka, sa, fastPull, b.addr())
	for _, s := range []*memStore{sa, sb} {
		s.know(ka, "")
		s.know(kb, "")
	}
	sb.admit(1)
	sa.admit(2)
	a.run(t)
	b.run(t)
	until(t, changed, "both gates hold both records", func() bool {
		return sa.count() == 2 && sb.count() == 2 && a.sessionsWith(kb.id) > 0
	})
	st := a.node.Status()
	if len(st) != 1 || st[0].Gate != kb.id || !st[0].OK || st[0].Addr != b.addr() {
		t.Errorf("a's status = %+v, want gate %d at %s, ok", st, kb.id, b.addr())
	}
}

// A gate that is not one of this event's live gates is refused both ways,
// and nothing passes between them.
func TestRefusedPeers(t *testing.T) {
	tests := []struct {
		name   string
		bad    func(t *testing.T) gateKey
		listed func(s *memStore, bad gateKey) // what the good gate's list says of it
		reason string
	}{
		{
			name:   "unknown gate",
			bad:    func(t *testing.T) gateKey { return newGateKey(t, 1, 9) },
			listed: func(s *memStore, bad gateKey) {},
			reason: "gate 9 is unknown to this gate",
		},
		{
			name:   "revoked gate",
			bad:    func(t *testing.T) gateKey { return newGateKey(t, 1, 9) },
			listed: func(s *memStore, bad gateKey) { s.know(bad, ""); s.revoke(bad.id) },
			reason: "gate 9 is unknown to this gate, has no key or is revoked",
		},
		{
			name:   "gate of another event",
			bad:    func(t *testing.T) gateKey { return newGateKey(t, 2, 9) },
			listed: func(s *memStore, bad gateKey) { s.know(bad, "") },
			reason: "gate 9 of event 2, not of this event 1",
		},
		{
			// Its certificate names gate 2, whose key the good gate holds;
			// the key it presents is another.
			name:   "stolen gate id",
			bad:    func(t *testing.T) gateKey { return newGateKey(t, 1, 2) },
			listed: func(s *memStore, bad gateKey) {},
			reason: "gate 2 presented a key that is not its key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := &signal{}
			good := newGateKey(t, 1, 1)
			real2 := newGateKey(t, 1, 2)
			bad := tt.bad(t)
			gs, bs := newMemStore(good.id, changed), newMemStore(bad.id, changed)
			gs.know(good, "")
			gs.know(real2, "")
			tt.listed(gs, bad)
			bs.know(good, "")
			bs.know(bad, "")
			gs.admit(1)
			bs.admit(2)
			g := listen(t, good, gs, fastPull)
			// The bad gate dials the good one; and the good one is told by
			// hand to dial the bad one.
			b := listen(t, bad, bs, fastPull, g.addr())
			// A hostile gate does not refuse the good one first, as a gate
			// of another event would, in the handshake.
			b.node.cfg.Event = good.event
			g2 := listen(t, good, gs, fastPull, b.addr())
			g.run(t)
			g2.run(t)
			b.run(t)
			until(t, changed, "the good gate refuses the bad one both ways", func() bool {
				return g.log.has("refused a connection") && g.log.has(tt.reason) &&
					slices.ContainsFunc(g2.sessionErrs(), func(err error) bool {
						return errors.Is(err, ErrRefusedPeer) && strings.Contains(err.Error(), tt.reason)
					}) && len(b.sessionErrs()) > 0
			}, g.log, g2, b)
			if got := gs.all(); len(got) != 1 || got[0].Gate != good.id {
				t.Errorf("good gate holds %v, want only its own record", got)
			}
			if got := bs.all(); len(got) != 1 || got[0].Gate != bad.id {
				t.Errorf("bad gate holds %v, want only its own record", got)
			}
		})
	}
}

// Records that fail the Store's checks (a changed serial, another gate's
// id, a revoked gate's record) are refused and logged, whichever way they
// come, and change nothing.
func TestTamperedRecordsRefused(t *testing.T) {
	changed := &signal{}
	ka, kb, kr := newGateKey(t, 1, 1), newGateKey(t, 1, 2), newGateKey(t, 1, 3)
	sa, sb := newMemStore(1, changed), newMemStore(2, changed)
	for _, s := range []*memStore{sa, sb} {
		s.know(ka, "")
		s.know(kb, "")
		s.know(kr, "")
	}
	sb.revoke(kr.id)
	// a's store holds what a hostile or broken gate would send: records
	// a real replica would never have accepted.
	good := record(1, 1, 10)
	serial := record(1, 2, 11)
	serial.Serial = 12 // the hash no longer matches
	other := record(1, 1, 13)
	other.Gate = 2 // claims to be one of b's own
	revoked := record(3, 1, 14)
	sa.mu.Lock()
	for _, r := range []kido.Admission{good, serial, other, revoked} {
		sa.put(r)
	}
	sa.mu.Unlock()

	b := listen(t, kb, sb, fastPull)
	sa.know(kb, b.addr())
	a := listen(t, ka, sa, fastPull)
	a.run(t)
	b.run(t)
	until(t, changed, "b learns the good record and refuses the others", func() bool {
		return sb.count() == 1 && b.log.has("record (1, 2): hash") && b.log.has("record (2, 1): hash") &&
			b.log.has("record (3, 1): gate 3 is unknown or revoked")
	})
	if got := sb.all(); len(got) != 1 || got[0].Hash != good.Hash {
		t.Errorf("b holds %v, want only the good record", got)
	}
}

// A node never resumes a TLS session: a resumed session would skip the
// check of the peer's key against the gate list.
func TestNoSessionResumption(t *testing.T) {
	nodes, _ := world(t, 2, noPull)
	a, b := nodes[0], nodes[1]
	a.run(t)
	cert, err := certificate(b.key.event, b.key.id, b.key.priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		ClientSessionCache: tls.NewLRUClientSessionCache(4), NextProtos: []string{"http/1.1"}}
	for i := range 2 {
		c, err := tls.Dial("tcp", a.addr(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// In TLS 1.3 a ticket arrives after the handshake: read until the
		// server has had its say (it closes an idle connection only later,
		// so a short deadline ends the read).
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		c.Read(make([]byte, 1))
		if c.ConnectionState().DidResume {
			t.Errorf("connection %d resumed a session", i+1)
		}
		c.Close()
	}
}
