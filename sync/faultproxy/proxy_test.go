package faultproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backend is a real HTTP server behind the proxy. "/" answers "hit N" with
// N counting requests; "/block" announces itself on entered and waits for
// its request to be cancelled, reporting that on cancelled.
type backend struct {
	srv       *httptest.Server
	hits      atomic.Int64
	entered   chan struct{}
	cancelled chan struct{}
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{entered: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := b.hits.Add(1)
		if r.URL.Path == "/block" {
			b.entered <- struct{}{}
			select {
			case <-r.Context().Done():
				b.cancelled <- struct{}{}
			case <-time.After(10 * time.Second):
			}
			return
		}
		fmt.Fprintf(w, "hit %d", n)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func newProxy(t *testing.T, b *backend) *Proxy {
	t.Helper()
	p, err := New(b.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client returns an HTTP client with its own connection pool and a timeout
// that bounds every test request.
func client() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// dial opens a raw connection through the proxy, for tests that must see
// exactly what happens on the wire.
func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const request = "GET / HTTP/1.1\r\nHost: kido\r\n\r\n"

// readResponse reads one HTTP response body from c within d.
func readResponse(c net.Conn, br *bufio.Reader, d time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestPass(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	body, err := get(client(), p.URL())
	if err != nil || body != "hit 1" {
		t.Fatalf("GET = %q, %v; want \"hit 1\"", body, err)
	}
}

func TestDropSparesOpenConnections(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	old := client()
	if _, err := get(old, p.URL()); err != nil {
		t.Fatal(err)
	}
	p.Set(Drop)
	if body, err := get(old, p.URL()); err != nil || body != "hit 2" {
		t.Errorf("kept-alive connection under Drop: %q, %v; want \"hit 2\"", body, err)
	}
	if body, err := get(client(), p.URL()); err == nil {
		t.Errorf("new connection under Drop got %q, want an error", body)
	}
	if got := b.hits.Load(); got != 2 {
		t.Errorf("backend hits = %d, want 2", got)
	}
	p.Set(Pass)
	if _, err := get(client(), p.URL()); err != nil {
		t.Errorf("after Pass: %v", err)
	}
}

func TestDelay(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	const d = 150 * time.Millisecond
	p.SetDelay(d)
	if p.Mode() != Delay {
		t.Fatalf("mode = %v, want delay", p.Mode())
	}
	start := time.Now()
	body, err := get(client(), p.URL())
	elapsed := time.Since(start)
	if err != nil || body != "hit 1" {
		t.Fatalf("GET = %q, %v", body, err)
	}
	// One chunk up and at least one down, each held d.
	if elapsed < 2*d {
		t.Errorf("request took %v through a %v delay each way, want at least %v", elapsed, d, 2*d)
	}
}

func TestResetSendsRST(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	c := dial(t, p)
	if _, err := io.WriteString(c, "GET /block HTTP/1.1\r\nHost: kido\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.entered:
	case <-time.After(2 * time.Second):
		t.Fatal("request never reached the backend")
	}
	p.Set(Reset)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read after Reset = %v, want ECONNRESET", err)
	}
	select {
	case <-b.cancelled:
	case <-time.After(2 * time.Second):
		t.Error("backend request not cancelled: the target side was not reset")
	}
	waitFor(t, "no active connections", func() bool { return p.Active() == 0 })

	// New connections are reset too. On loopback the RST can arrive before
	// the dial returns, so the reset may show in the dial or in the read.
	c2, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err == nil {
		defer c2.Close()
		c2.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c2.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("new connection under Reset: %v, want ECONNRESET", err)
	}
}

func TestBlackHoleUp(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	c := dial(t, p)
	br := bufio.NewReader(c)
	p.Set(BlackHoleUp)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if _, err := readResponse(c, br, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read under BlackHoleUp = %v, want a timeout (connection open, no answer)", err)
	}
	if got := b.hits.Load(); got != 0 {
		t.Fatalf("backend hits = %d, want 0: the request should have vanished", got)
	}
	// The connection is still open: healed, it carries the next request.
	p.Set(Pass)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	body, err := readResponse(c, br, 2*time.Second)
	if err != nil || body != "hit 1" {
		t.Errorf("after healing: %q, %v; want \"hit 1\"", body, err)
	}
}

func TestBlackHoleDown(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	c := dial(t, p)
	br := bufio.NewReader(c)
	p.Set(BlackHoleDown)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the request to reach the backend", func() bool { return b.hits.Load() == 1 })
	if _, err := readResponse(c, br, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read under BlackHoleDown = %v, want a timeout", err)
	}
	p.Set(Pass)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	// The first answer was discarded; the second arrives on the same connection.
	body, err := readResponse(c, br, 2*time.Second)
	if err != nil || body != "hit 2" {
		t.Errorf("after healing: %q, %v; want \"hit 2\"", body, err)
	}
}

func TestPartition(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	c := dial(t, p)
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	if _, err := readResponse(c, br, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(Partition)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == nil || isTimeout(err) {
		t.Errorf("open connection under Partition: read = %v, want it closed", err)
	}
	if body, err := get(client(), p.URL()); err == nil {
		t.Errorf("new request under Partition got %q, want an error", body)
	}
	if got := b.hits.Load(); got != 1 {
		t.Errorf("backend hits = %d, want 1", got)
	}
	p.Set(Pass)
	if body, err := get(client(), p.URL()); err != nil || body != "hit 2" {
		t.Errorf("after healing: %q, %v; want \"hit 2\"", body, err)
	}
}

func TestMaxConns(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	p.mu.Lock()
	p.maxConns = 2
	p.mu.Unlock()
	dial(t, p)
	dial(t, p)
	waitFor(t, "two active connections", func() bool { return p.Active() == 2 })
	c := dial(t, p)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("third connection: read = %v, want it closed", err)
	}
	if got := p.Active(); got != 2 {
		t.Errorf("active = %d, want 2", got)
	}
}

// Close ends every goroutine, also with delayed chunks in flight.
func TestCloseStopsEverything(t *testing.T) {
	b := newBackend(t)
	before := runtime.NumGoroutine()
	p, err := New(b.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.SetDelay(time.Hour)
	conns := make([]net.Conn, 4)
	for i := range conns {
		conns[i] = dial(t, p)
		io.WriteString(conns[i], request)
	}
	waitFor(t, "four active connections", func() bool { return p.Active() == 4 })
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return")
	}
	if p.Active() != 0 {
		t.Errorf("active after Close = %d", p.Active())
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("connection after Close: read = %v, want it closed", err)
		}
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("proxy still accepts after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	client().CloseIdleConnections()
	waitFor(t, "goroutines to return to their count before New", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// Switching modes from many goroutines while requests flow is safe (run
// with -race) and the proxy still works once healed.
func TestConcurrentSwitching(t *testing.T) {
	b := newBackend(t)
	p := newProxy(t, b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				get(c, p.URL())
			}
		}()
	}
	modes := []Mode{Pass, Drop, Reset, BlackHoleUp, BlackHoleDown, Partition, Pass}
	for i := 0; i < 100; i++ {
		if i%7 == 2 {
			p.SetDelay(time.Millisecond)
		} else {
			p.Set(modes[i%len(modes)])
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	p.Set(Pass)
	body, err := get(client(), p.URL())
	if err != nil || !strings.HasPrefix(body, "hit ") {
		t.Fatalf("after the storm: %q, %v", body, err)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Pass: "pass", BlackHoleDown: "blackhole-down", Partition: "partition", Mode(99): "Mode(99)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}
