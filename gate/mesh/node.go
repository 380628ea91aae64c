package mesh

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"kido.dev/kido"
)

// Store is what a node needs of the gate's replica (gate/replica
// implements it).
type Store interface {
	// MeshVector returns, per origin gate, the highest seq s such that
	// every signed record of that gate with seq 1..s is held.
	MeshVector(ctx context.Context) (map[uint32]uint64, error)
	// MeshSince returns at most limit signed records of origin with seq
	// above after, in seq order.
	MeshSince(ctx context.Context, origin uint32, after uint64, limit int) ([]kido.Admission, error)
	// MeshLearn verifies records sent by gate from (each against its
	// origin gate's key, origin and revocation) and stores the valid ones
	// in one transaction; refused lists why each other one was refused.
	MeshLearn(ctx context.Context, from uint32, recs []kido.Admission) (learnt int, refused []error, err error)
	// MeshPeer returns gate g's public key and mesh address; ok is false
	// if g is unknown, has no key or is revoked.
	MeshPeer(ctx context.Context, g uint32) (pub ed25519.PublicKey, addr string, ok bool, err error)
	// MeshPeers lists every other gate of the event that has a key and a
	// mesh address and is not revoked; the node reads ID and Mesh.
	MeshPeers(ctx context.Context) ([]kido.Gate, error)
}

// Defaults of Config (docs/mesh.md, "Timing").
const (
	// DefaultPort is the port a gate listens on for peers, on every
	// interface, unless told otherwise: the port after the staff app's
	// 8710.
	DefaultPort   = "8711"
	DefaultListen = ":" + DefaultPort
	// DefaultPullEvery is how often a node pulls from each peer, give or
	// take half of it.
	DefaultPullEvery = 5 * time.Second
)

// Bounds of the network (docs/mesh.md, "Timing").
const (
	maxRounds     = 64 // rounds in one session with a peer
	maxConns      = 64 // connections a node serves at once
	dialTimeout   = 3 * time.Second
	roundTimeout  = 15 * time.Second // one exchange, from dial to the last byte of the answer
	serverTimeout = 15 * time.Second // reading a request, writing an answer
)

// Config sets up a Node. Store, Event, Gate and Key are required.
type Config struct {
	Store Store
	Event uint32             // the event of this gate
	Gate  uint32             // this gate
	Key   ed25519.PrivateKey // this gate's key; its public half is in every replica's gate list

	Listen    string        // address to listen on; "" means DefaultListen
	Peers     []string      // peer addresses given by hand, besides those the Store lists
	PullEvery time.Duration // 0 means DefaultPullEvery

	// Log, if set, receives one line per event worth a person's notice: a
	// refused peer or record, a peer lost or found again. It is called
	// from the node's goroutines and must not block for long.
	Log func(msg string)
	// Jitter returns a duration uniform in [0, max); nil means math/rand.
	Jitter func(max time.Duration) time.Duration
}

// A Node is a gate's member of the venue mesh: a TLS server for its peers
// and a client of each of them.
type Node struct {
	cfg  Config
	ln   net.Listener
	cert tls.Certificate
	srv  *http.Server
	logs limiter
	kick chan struct{} // Poke's signal to Run

	sent, received atomic.Int64 // bytes on the wire, TLS included, both roles

	mu    sync.Mutex
	peers map[string]*peer             // by address
	known map[uint32]map[uint32]uint64 // the vector each peer gate last sent

	// onSession, set by tests, is called after each session with a peer.
	onSession func(addr string, gate uint32, push bool, err error)
}

// Listen checks cfg, makes the node's certificate from its key and starts
// listening; Run serves and gossips. The address is bound before Listen
// returns, so Addr can be reported to the server at once.
func Listen(cfg Config) (*Node, error) {
	if cfg.Store == nil || cfg.Event == 0 || cfg.Gate == 0 || len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("mesh: Config needs Store, Event, Gate and an Ed25519 Key")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.PullEvery <= 0 {
		cfg.PullEvery = DefaultPullEvery
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(max)))
		}
	}
	cert, err := certificate(cfg.Event, cfg.Gate, cfg.Key)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("mesh: %w\nhint: another program uses this address; pick another with -mesh ADDR, or -mesh off", err)
	}
	n := &Node{
		cfg:   cfg,
		cert:  cert,
		peers: map[string]*peer{},
		known: map[uint32]map[uint32]uint64{},
		logs:  limiter{per: time.Minute, max: 20},
		kick:  make(chan struct{}, 1),
	}
	n.ln = &limitListener{Listener: ln, sem: make(chan struct{}, maxConns), n: n}
	n.srv = &http.Server{
		Handler:           http.HandlerFunc(n.serveExchange),
		TLSConfig:         n.serverTLS(),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       serverTimeout,
		WriteTimeout:      serverTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		// Failed handshakes are logged, rate-limited, by the verifier.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return n, nil
}

// Addr returns the address the node listens on.
func (n *Node) Addr() net.Addr { return n.ln.Addr() }

// Close stops listening; for a node whose Run was never called.
func (n *Node) Close() error { return n.ln.Close() }

// Run serves peers and keeps them converged until ctx ends, then closes
// the listener and waits for its goroutines. It returns nil when ctx
// ended, or why serving stopped.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		n.mu.Lock()
		for _, p := range n.peers {
			p.cancel()
		}
		n.mu.Unlock()
		wg.Wait()
	}()
	served := make(chan error, 1)
	go func() { served <- n.srv.ServeTLS(n.ln, "", "") }()
	defer func() {
		shut, stop := context.WithTimeout(context.Background(), 2*time.Second)
		defer stop()
		if n.srv.Shutdown(shut) != nil {
			n.srv.Close()
		}
	}()
	t := time.NewTimer(n.cfg.PullEvery)
	defer t.Stop()
	poked := false
	for {
		n.refresh(ctx, &wg)
		if poked {
			// After reading the peer list again: a gate whose address
			// came with the feed since the last read gets this push too.
			n.pokePeers()
			poked = false
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			return fmt.Errorf("mesh: serve: %w", err)
		case <-n.kick:
			poked = true
		case <-t.C:
			t.Reset(n.cfg.PullEvery)
		}
	}
}

// Poke tells the node that the gate recorded an admission: each peer is
// sent the gate's records it lacks at once. It never blocks; pokes that
// arrive while a push is under way are served by one more push.
func (n *Node) Poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *Node) pokePeers() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.peers {
		select {
		case p.poke <- struct{}{}:
		default:
		}
	}
}

// PeerStatus is what a node knows of one peer.
type PeerStatus struct {
	Addr string
	Gate uint32    // 0 until a peer given by hand has answered
	OK   bool      // the last exchange succeeded
	Last time.Time // when the last exchange succeeded
	Err  string    // why the last exchange failed
}

// Status returns what the node knows of each peer it dials.
func (n *Node) Status() []PeerStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]PeerStatus, 0, len(n.peers))
	for _, p := range n.peers {
		out = append(out, p.status)
	}
	return out
}

// refresh starts a goroutine for each peer to dial and stops those no
// longer listed: every peer given by hand, and every peer the Store lists
// unless a peer given by hand turned out to be that gate.
func (n *Node) refresh(ctx context.Context, wg *sync.WaitGroup) {
	listed, err := n.cfg.Store.MeshPeers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log("mesh: list peers: %v", err)
		}
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	want := map[string]uint32{}
	byHand := map[uint32]bool{}
	for _, a := range n.cfg.Peers {
		want[a] = 0
		if p := n.peers[a]; p != nil && p.status.Gate != 0 {
			byHand[p.status.Gate] = true
		}
	}
	for _, l := range listed {
		if _, dup := want[l.Mesh]; dup || byHand[l.ID] || l.ID == n.cfg.Gate || l.Mesh == "" {
			continue
		}
		want[l.Mesh] = l.ID
	}
	for addr, p := range n.peers {
		if g, ok := want[addr]; !ok || g != p.want {
			p.cancel()
			delete(n.peers, addr)
		}
	}
	for addr, g := range want {
		if n.peers[addr] != nil {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		p := &peer{addr: addr, want: g, poke: make(chan struct{}, 1), cancel: cancel, status: PeerStatus{Addr: addr, Gate: g}}
		p.client = n.client(addr, g)
		n.peers[addr] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.client.CloseIdleConnections()
			n.runPeer(pctx, p)
		}()
	}
}

func (n *Node) setKnown(gate uint32, v []Entry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.known[gate] = vectorMap(v)
}

func (n *Node) knownOf(gate uint32) (map[uint32]uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.known[gate]
	return v, ok
}

// checkPeer decides whether the certificate chain raw belongs to a gate
// this node may talk to: of this event, not this gate, want if want is
// not 0, and holding the key the Store holds for that gate, which must be
// known and not revoked. Errors other than a Store fault wrap
// ErrRefusedPeer.
func (n *Node) checkPeer(ctx context.Context, raw [][]byte, want uint32) (claim, error) {
	c, err := parseClaim(raw)
	if err != nil {
		return claim{}, err
	}
	switch {
	case c.event != n.cfg.Event:
		return claim{}, fmt.Errorf("%w: gate %d of event %d, not of this event %d", ErrRefusedPeer, c.gate, c.event, n.cfg.Event)
	case c.gate == n.cfg.Gate:
		return claim{}, fmt.Errorf("%w: gate %d is this gate", ErrRefusedPeer, c.gate)
	case want != 0 && c.gate != want:
		return claim{}, fmt.Errorf("%w: answered as gate %d, expected gate %d", ErrRefusedPeer, c.gate, want)
	}
	pub, _, ok, err := n.cfg.Store.MeshPeer(ctx, c.gate)
	switch {
	case err != nil:
		return claim{}, fmt.Errorf("mesh: check gate %d: %w", c.gate, err)
	case !ok:
		return claim{}, fmt.Errorf("%w: gate %d is unknown to this gate, has no key or is revoked", ErrRefusedPeer, c.gate)
	case !pub.Equal(c.key):
		return claim{}, fmt.Errorf("%w: gate %d presented a key that is not its key in this gate's list", ErrRefusedPeer, c.gate)
	}
	return c, nil
}

// verifier returns a tls.Config.VerifyPeerCertificate that runs checkPeer.
// The chain is self-signed: what makes it trustworthy is the key, checked
// against the gate list, and the handshake, which proves the peer holds
// its private half.
func (n *Node) verifier(want uint32, remote string, server bool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n.checkPeer(ctx, raw, want)
		if err != nil && server {
			n.log("mesh: refused a connection from %s: %v", remote, err)
		}
		return err
	}
}

func (n *Node) serverTLS() *tls.Config {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{n.cert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{"http/1.1"},
		// A resumed session skips VerifyPeerCertificate; every
		// connection is verified afresh instead.
		SessionTicketsDisabled: true,
	}
	cfg := base.Clone()
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.VerifyPeerCertificate = n.verifier(0, hello.Conn.RemoteAddr().String(), true)
		return c, nil
	}
	return cfg
}

func (n *Node) clientTLS(addr string, want uint32) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The peer's certificate is self-signed: VerifyPeerCertificate
		// checks its key against the gate list instead of a CA.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &n.cert, nil
		},
		VerifyPeerCertificate: n.verifier(want, addr, false),
		NextProtos:            []string{"http/1.1"},
	}
}

// log sends one line to Config.Log, at most limiter.max lines a minute:
// a hostile host on the LAN must not flood the gate's log.
func (n *Node) log(format string, args ...any) {
	if msg, ok := n.logs.allow(time.Now()); ok {
		if msg != "" {
			n.cfg.Log(msg)
		}
		n.cfg.Log(fmt.Sprintf(format, args...))
	}
}

// limiter lets max events through per period and counts the others, to
// say how many were dropped when the next period begins.
type limiter struct {
	per     time.Duration
	max     int
	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

func (l *limiter) allow(now time.Time) (dropped string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.per {
		if l.dropped > 0 {
			dropped = fmt.Sprintf("mesh: %d more log lines dropped in the last %v", l.dropped, l.per)
		}
		l.start, l.n, l.dropped = now, 0, 0
	}
	if l.n >= l.max {
		l.dropped++
		return "", false
	}
	l.n++
	return dropped, true
}

// Traffic returns the bytes the node has sent and received, TLS included,
// as server and as client: the cost of the mesh on the LAN.
func (n *Node) Traffic() (sent, received int64) {
	return n.sent.Load(), n.received.Load()
}

// countConn counts a connection's bytes into its node's Traffic.
type countConn struct {
	net.Conn
	n *Node
}

func (c countConn) Read(b []byte) (int, error) {
	k, err := c.Conn.Read(b)
	c.n.received.Add(int64(k))
	return k, err
}

func (c countConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.sent.Add(int64(k))
	return k, err
}

// limitListener serves at most cap(sem) connections at once; Accept waits
// for one to close.
type limitListener struct {
	net.Listener
	sem chan struct{}
	n   *Node
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: countConn{Conn: c, n: l.n}, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
