package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what the proxy does to traffic.
type Mode int

const (
	// Pass forwards bytes both ways unchanged.
	Pass Mode = iota
	// Drop closes each new connection as soon as it is accepted; open
	// connections carry on.
	Drop
	// Delay holds every chunk of bytes, both ways, for the latency given to
	// SetDelay before forwarding it.
	Delay
	// Reset aborts every open connection with a TCP RST (linger 0), towards
	// the client and the target, and does the same to each new one.
	Reset
	// BlackHoleUp silently discards bytes from the client to the target
	// (including its FIN) while connections stay open.
	BlackHoleUp
	// BlackHoleDown silently discards bytes from the target to the client
	// while connections stay open.
	BlackHoleDown
	// Partition closes every open connection and each new one.
	Partition
)

var modeNames = [...]string{"pass", "drop", "delay", "reset", "blackhole-up", "blackhole-down", "partition"}

func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// MaxConns bounds the connections a Proxy holds open; more are closed on
// accept.
const MaxConns = 512

// DefaultDelay is the latency of Delay mode until SetDelay is called.
const DefaultDelay = 100 * time.Millisecond

// dialTimeout bounds the connection to the target.
const dialTimeout = 5 * time.Second

// direction of a pipe.
type direction int

const (
	up   direction = iota // client to target
	down                  // target to client
)

// A Proxy forwards TCP connections from its own loopback address to a
// target, applying the current Mode.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // cancelled by Close, aborts dials and delays
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	mode     Mode
	delay    time.Duration
	links    map[*link]struct{}
	closed   bool
	maxConns int
}

// link is one proxied connection: the client side and the target side.
type link struct {
	client, target net.Conn
	dead           chan struct{} // closed when the link is killed
	once           sync.Once
}

// New starts a proxy on 127.0.0.1 with an ephemeral port, forwarding to
// target (host:port), in Pass mode.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln:       ln,
		target:   target,
		ctx:      ctx,
		cancel:   cancel,
		delay:    DefaultDelay,
		links:    map[*link]struct{}{},
		maxConns: MaxConns,
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's address, host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns "http://" + Addr, for pointing an HTTP client at the proxy.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches to mode m. Reset and Partition act on the open connections
// before Set returns.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	switch m {
	case Reset:
		for l := range p.links {
			l.kill(true)
		}
	case Partition:
		for l := range p.links {
			l.kill(false)
		}
	}
}

// SetDelay switches to Delay mode with latency d per chunk. A negative d is
// taken as zero.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = max(d, 0)
	p.mode = Delay
}

// Active returns how many connections the proxy holds open.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops accepting, closes every connection and waits for every
// goroutine of the proxy to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	err := p.ln.Close()
	for l := range p.links {
		l.kill(false)
	}
	p.mu.Unlock()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("faultproxy: close: %w", err)
	}
	return nil
}

func (p *Proxy) state() (Mode, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept failure (e.g. out of file descriptors):
			// pause rather than spin.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		mode, full := p.mode, len(p.links) >= p.maxConns
		p.mu.Unlock()
		switch {
		case mode == Reset:
			abort(c)
		case mode == Drop || mode == Partition || full:
			c.Close()
		default:
			p.wg.Add(1)
			go p.serve(c)
		}
	}
}

// serve dials the target for client c and pipes both ways until both
// directions end or the link is killed.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	t, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, target: t, dead: make(chan struct{})}
	p.mu.Lock()
	// The mode may have changed while dialling; apply it now, under the
	// lock, so that no link escapes a Reset or Partition.
	switch {
	case p.closed || p.mode == Partition || p.mode == Drop:
		l.kill(false)
	case p.mode == Reset:
		l.kill(true)
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()

	var pipes sync.WaitGroup
	pipes.Add(1)
	go func() {
		defer pipes.Done()
		p.pipe(l, t, c, up)
	}()
	p.pipe(l, c, t, down)
	pipes.Wait()

	l.kill(false)
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// pipe copies src to dst chunk by chunk, applying the mode current when each
// chunk arrives. A clean end of src is passed on as a half-close; any other
// failure kills the link so the opposite pipe ends too.
func (p *Proxy) pipe(l *link, dst, src net.Conn, dir direction) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			mode, delay := p.state()
			switch {
			case mode == BlackHoleUp && dir == up, mode == BlackHoleDown && dir == down:
				// discarded
			default:
				if mode == Delay && !l.sleep(p.ctx, delay) {
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					l.kill(false)
					return
				}
			}
		}
		if err != nil {
			mode, _ := p.state()
			blackholed := mode == BlackHoleUp && dir == up || mode == BlackHoleDown && dir == down
			if errors.Is(err, io.EOF) && !blackholed {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
			if !errors.Is(err, io.EOF) {
				l.kill(false)
			}
			return
		}
	}
}

// sleep waits d, and reports false if the link or the proxy died meanwhile.
func (l *link) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.dead:
		return false
	case <-ctx.Done():
		return false
	}
}

// kill closes both sides, with an RST when rst is set. Only the first kill
// of a link acts.
func (l *link) kill(rst bool) {
	l.once.Do(func() {
		close(l.dead)
		if rst {
			abort(l.client)
			abort(l.target)
			return
		}
		l.client.Close()
		l.target.Close()
	})
}

// abort closes c with linger 0, so the kernel sends RST instead of FIN.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
