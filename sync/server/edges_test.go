package server_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
)

// edgeServer is the server core behind its real edges (HTTPServer and
// Listener), on loopback.
func edgeServer(t *testing.T, maxConns int, bodyWait time.Duration) (*server.Server, string, string) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "kido.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	master := make([]byte, server.MasterKeySize)
	s, err := server.New(context.Background(), server.Config{Store: store, MasterKey: master, Version: "test", BodyWait: bodyWait, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var token string
	if _, err := s.EnsureAdminToken(context.Background(), func(secret string) error { token = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = s.HTTPServer()
	ts.Listener = s.Listener(ts.Listener, maxConns)
	ts.Start()
	t.Cleanup(ts.Close)
	return s, ts.Listener.Addr().String(), token
}

// rawRequest sends text on a fresh connection and returns the status
// line of the answer.
func rawRequest(t *testing.T, addr, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write([]byte(text)) // the server may answer before it reads it all
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(line)
}

// TestHugeHeaderRefused: a 1 MB header is refused with 431 before any
// handler runs (it was accepted, and the server's memory grew by 500 MB
// under many of them).
func TestHugeHeaderRefused(t *testing.T) {
	_, addr, _ := edgeServer(t, 0, 0)
	huge := "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 1<<20) + "\r\n\r\n"
	if got := rawRequest(t, addr, huge); !strings.Contains(got, "431") {
		t.Errorf("1 MB header: %q, want 431", got)
	}
	if got := rawRequest(t, addr, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.Contains(got, "200") {
		t.Errorf("health after: %q", got)
	}
}

// TestSlowBodiesCapped: twenty API requests whose bodies never finish
// hold at most the connection cap between them, each is cut with 429
// slow_body at its body deadline, and the server answers afterwards.
func TestSlowBodiesCapped(t *testing.T) {
	s, addr, token := edgeServer(t, 4, time.Second)
	const n = 20
	lines := make(chan string, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":", token)
		go func() {
			line, _ := bufio.NewReader(c).ReadString('\n')
			lines <- line
		}()
	}
	for range n {
		if got := <-lines; !strings.Contains(got, "429") {
			t.Errorf("slow body: %q, want 429", got)
		}
	}
	if got := s.ConnsHighest(); got > 4 {
		t.Errorf("%d connections open at once, want at most the cap of 4", got)
	}
	if got := rawRequest(t, addr, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.Contains(got, "200") {
		t.Errorf("health after: %q", got)
	}
}
