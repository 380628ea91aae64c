package mesh

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// waitFor is how long a test waits for a condition before it fails.
const waitFor = 20 * time.Second

// signal is a broadcast of "something changed": wait returns a channel
// closed at the next change.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// until waits, without sleeping, until cond holds, re-checking it each
// time s fires; it fails the test after waitFor.
func until(t *testing.T, s *signal, what string, cond func() bool, show ...fmt.Stringer) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		ch := s.wait()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			for _, x := range show {
				t.Log(x)
			}
			t.Fatalf("after %v: %s did not happen", waitFor, what)
		}
	}
}

// gateKey is one gate of a test world.
type gateKey struct {
	event, id uint32
	priv      ed25519.PrivateKey
}

func newGateKey(t *testing.T, event, id uint32) gateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return gateKey{event: event, id: id, priv: priv}
}

// memStore is an in-memory Store. Its MeshLearn stands in for the
// replica's: it refuses a record whose origin it does not know or knows
// revoked, and one whose hash is not its content's, and keeps a record
// with a known key and another hash beside the first (a conflict).
type memStore struct {
	self uint32

	mu        sync.Mutex
	keys      map[uint32]ed25519.PublicKey
	addrs     map[uint32]string
	revoked   map[uint32]bool
	recs      map[uint32]map[uint64]kido.Admission
	conflicts []kido.Admission
	learnFrom []uint32 // the from of every MeshLearn call that learnt something
	changed   *signal  // fires on every change, shared by the stores of a test
}

var _ Store = (*memStore)(nil)

func newMemStore(self uint32, changed *signal) *memStore {
	return &memStore{self: self, changed: changed, keys: map[uint32]ed25519.PublicKey{}, addrs: map[uint32]string{},
		revoked: map[uint32]bool{}, recs: map[uint32]map[uint64]kido.Admission{}}
}

// know adds gate g to the store's gate list.
func (s *memStore) know(g gateKey, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[g.id] = g.priv.Public().(ed25519.PublicKey)
	s.addrs[g.id] = addr
}

func (s *memStore) revoke(g uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[g] = true
}

// admit records this gate's next admission, of ticket serial.
func (s *memStore) admit(serial uint32) kido.Admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := record(s.self, uint64(len(s.recs[s.self])+1), serial)
	s.put(a)
	return a
}

func (s *memStore) put(a kido.Admission) {
	if s.recs[a.Gate] == nil {
		s.recs[a.Gate] = map[uint64]kido.Admission{}
	}
	s.recs[a.Gate][a.Seq] = a
	s.changed.fire()
}

// record makes a well-formed admission of gate with seq and serial.
func record(gate uint32, seq uint64, serial uint32) kido.Admission {
	at := time.Date(2026, 12, 1, 18, 0, 0, int(seq), time.UTC)
	a := kido.Admission{Gate: gate, Seq: seq, Serial: serial, Tier: 1, Kind: kido.KindEntry, At: at, Corrected: at,
		Text: fmt.Sprintf("%0188d", serial)}
	a.Hash = wire.AdmissionHash(a)
	return a
}

// all returns every record held, in (gate, seq) order.
func (s *memStore) all() []kido.Admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kido.Admission
	for _, g := range slices.Sorted(maps.Keys(s.recs)) {
		for _, q := range slices.Sorted(maps.Keys(s.recs[g])) {
			out = append(out, s.recs[g][q])
		}
	}
	return out
}

func (s *memStore) count() int { return len(s.all()) }

func (s *memStore) MeshVector(ctx context.Context) (map[uint32]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := map[uint32]uint64{}
	for g, m := range s.recs {
		var q uint64
		for m[q+1].Seq != 0 {
			q++
		}
		if q > 0 {
			v[g] = q
		}
	}
	return v, nil
}

func (s *memStore) MeshSince(ctx context.Context, origin uint32, after uint64, limit int) ([]kido.Admission, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []kido.Admission{}
	for _, q := range slices.Sorted(maps.Keys(s.recs[origin])) {
		if q > after && len(out) < limit {
			out = append(out, s.recs[origin][q])
		}
	}
	return out, nil
}

func (s *memStore) MeshLearn(ctx context.Context, from uint32, recs []kido.Admission) (int, []error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var refused []error
	learnt := 0
	for _, a := range recs {
		switch {
		case s.keys[a.Gate] == nil || s.revoked[a.Gate]:
			refused = append(refused, fmt.Errorf("record (%d, %d): gate %d is unknown or revoked", a.Gate, a.Seq, a.Gate))
		case wire.AdmissionHash(a) != a.Hash:
			refused = append(refused, fmt.Errorf("record (%d, %d): hash is not the record's", a.Gate, a.Seq))
		default:
			old, ok := s.recs[a.Gate][a.Seq]
			switch {
			case !ok:
				s.put(a)
				learnt++
			case old.Hash != a.Hash:
				s.conflicts = append(s.conflicts, a)
			}
		}
	}
	if learnt > 0 {
		s.learnFrom = append(s.learnFrom, from)
	}
	return learnt, refused, nil
}

func (s *memStore) MeshPeer(ctx context.Context, g uint32) (ed25519.PublicKey, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[g]
	return k, s.addrs[g], k != nil && !s.revoked[g], nil
}

func (s *memStore) MeshPeers(ctx context.Context) ([]kido.Gate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kido.Gate
	for g, k := range s.keys {
		if g != s.self && k != nil && s.addrs[g] != "" && !s.revoked[g] {
			out = append(out, kido.Gate{ID: g, Pub: k, Mesh: s.addrs[g]})
		}
	}
	return out, nil
}

// logBook collects a node's log lines.
type logBook struct {
	mu      sync.Mutex
	lines   []string
	changed *signal
}

func (l *logBook) add(msg string) {
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
	l.changed.fire()
}

func (l *logBook) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

func (l *logBook) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// testNode is a node of a test, with its store and log. Its store's
// signal fires on every change to the store, every log line and every
// session.
type testNode struct {
	key   gateKey
	store *memStore
	log   *logBook
	node  *Node
	stop  func() // ends Run and waits for it

	mu   sync.Mutex
	ok   map[uint32]int // successful sessions per peer gate
	errs []error
}

// listen makes a node for key over store on a free loopback port.
func listen(t *testing.T, key gateKey, store *memStore, pull time.Duration, peers ...string) *testNode {
	t.Helper()
	tn := &testNode{key: key, store: store, log: &logBook{changed: store.changed}, ok: map[uint32]int{}}
	n, err := Listen(Config{Store: store, Event: key.event, Gate: key.id, Key: key.priv,
		Listen: "127.0.0.1:0", Peers: peers, PullEvery: pull, Log: tn.log.add})
	if err != nil {
		t.Fatal(err)
	}
	n.onSession = func(addr string, gate uint32, push bool, err error) {
		tn.mu.Lock()
		if err == nil {
			tn.ok[gate]++
		} else {
			tn.errs = append(tn.errs, err)
		}
		tn.mu.Unlock()
		store.changed.fire()
	}
	tn.node = n
	t.Cleanup(func() {
		if tn.stop != nil {
			tn.stop()
		} else {
			n.Close()
		}
	})
	return tn
}

func (tn *testNode) String() string {
	return fmt.Sprintf("gate %d: log:\n%v\nsession errors: %v", tn.key.id, tn.log, tn.sessionErrs())
}

func (tn *testNode) addr() string { return tn.node.Addr().String() }

// run starts the node's Run; stop ends it and checks it returned nil.
func (tn *testNode) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tn.node.Run(ctx) }()
	tn.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gate %d: Run: %v", tn.key.id, err)
		}
	})
}

// sessionsWith returns how many sessions with gate succeeded.
func (tn *testNode) sessionsWith(gate uint32) int {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.ok[gate]
}

func (tn *testNode) sessionErrs() []error {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return slices.Clone(tn.errs)
}

// world makes n gates of event 1 with ids 1..n, each store knowing every
// gate's key and address, listening on loopback.
func world(t *testing.T, count int, pull time.Duration) ([]*testNode, *signal) {
	t.Helper()
	changed := &signal{}
	var nodes []*testNode
	for i := 1; i <= count; i++ {
		k := newGateKey(t, 1, uint32(i))
		nodes = append(nodes, listen(t, k, newMemStore(k.id, changed), pull))
	}
	for _, a := range nodes {
		for _, b := range nodes {
			a.store.know(b.key, b.addr())
		}
	}
	return nodes, changed
}

// sameRecords fails the test unless every node holds exactly want.
func sameRecords(t *testing.T, want []kido.Admission, nodes ...*testNode) {
	t.Helper()
	for _, n := range nodes {
		got := n.store.all()
		if !slices.EqualFunc(got, want, func(a, b kido.Admission) bool { return a.Hash == b.Hash }) {
			t.Errorf("gate %d holds %d records, want %d: %v", n.key.id, len(got), len(want), got)
		}
		n.store.mu.Lock()
		conflicts := slices.Clone(n.store.conflicts)
		n.store.mu.Unlock()
		if len(conflicts) != 0 {
			t.Errorf("gate %d holds conflicts: %v", n.key.id, conflicts)
		}
	}
}

// union returns every record of the nodes' stores, in (gate, seq) order.
func union(nodes ...*testNode) []kido.Admission {
	m := map[[2]uint64]kido.Admission{}
	for _, n := range nodes {
		for _, a := range n.store.all() {
			m[[2]uint64{uint64(a.Gate), a.Seq}] = a
		}
	}
	var out []kido.Admission
	for _, k := range slices.SortedFunc(maps.Keys(m), func(a, b [2]uint64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		out = append(out, m[k])
	}
	return out
}
