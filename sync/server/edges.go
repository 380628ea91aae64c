package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP edges of the server (docs/api.md, Limits), in one place so that
// kido-server and the tests serve alike.
const (
	// MaxHeaderBytes bounds a request's header block: a bearer token and
	// the heartbeat headers need under 2 KiB. net/http answers 431 beyond
	// it (plus 4 KiB of slack it allows).
	MaxHeaderBytes = 16 << 10
	// DefaultMaxConns is the default cap on open connections. A gate holds
	// up to three (long-poll, upload, snapshot), so the default serves
	// 2,000 gates beside the operators; an idle connection costs some
	// 20 KiB, so the cap bounds memory near 160 MiB.
	DefaultMaxConns = 8192
	// readHeaderTimeout bounds the wait for a request's header block,
	// including a new connection's first byte.
	readHeaderTimeout = 10 * time.Second
)

// HTTPServer returns the http.Server that serves Handler with the edges
// set: header size and time, whole-request and idle timeouts (bodies have
// their own, shorter deadlines: bodyWithin), and long-polls that answer
// at once when shutdown begins. Serve it on a listener from Listener.
func (s *Server) HTTPServer() *http.Server {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.StopWaiting)
	return hs
}

// Listener returns l with at most max connections open at once
// (DefaultMaxConns when max is 0): beyond it Accept waits until one
// closes, and new connections wait in the kernel's backlog. GET /metrics
// shows the connections open.
func (s *Server) Listener(l net.Listener, max int) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	ll := &limitListener{Listener: l, slots: make(chan struct{}, max), done: make(chan struct{})}
	s.conns.Store(ll)
	return ll
}

// limitListener is netutil.LimitListener with a count of open
// connections for the metrics.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	highest   atomic.Int64 // most connections ever open at once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	if n := int64(len(l.slots)); n > l.highest.Load() {
		l.highest.Store(n) // racy max is fine: Accept runs on one goroutine
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open returns the connections open now.
func (l *limitListener) open() int { return len(l.slots) }

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
