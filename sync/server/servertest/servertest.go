// Package servertest runs the real kido server core (sync/server on a
// fresh SQLite store) over loopback, for the tests of the packages that
// talk to a server: enrolment, sync, the CLIs.
package servertest

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
	"kido.dev/kido/sync/wire"
)

// Server is a running server. Everything it holds is removed when the
// test ends.
type Server struct {
	URL   string         // where it listens
	Token string         // the admin token
	Admin *client.Client // with Token
	Info  wire.Server    // its identity
	Core  *server.Server
	HTTP  *httptest.Server
}

// Start starts a server with a new identity and an empty store.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartClock(tb, nil)
}

// StartClock is Start with the server's clock read from now (nil:
// time.Now), for tests of what gates do with the times a server vouches
// for.
func StartClock(tb testing.TB, now func() time.Time) *Server {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "kido.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	master := make([]byte, server.MasterKeySize)
	rand.Read(master)
	core, err := server.New(ctx, server.Config{Store: store, MasterKey: master, Version: "test", Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Info: core.Info(), Core: core}
	if _, err := core.EnsureAdminToken(ctx, func(secret string) error { s.Token = secret; return nil }); err != nil {
		tb.Fatal(err)
	}
	s.HTTP = httptest.NewServer(core.Handler())
	tb.Cleanup(s.HTTP.Close)
	tb.Cleanup(core.StopWaiting) // runs first: long-polls answer so Close need not wait
	s.URL = s.HTTP.URL
	if s.Admin, err = client.New(s.URL, s.Token, nil); err != nil {
		tb.Fatal(err)
	}
	return s
}

// Listen serves the same server at one more loopback address, as after a
// move to a new URL, and returns that URL.
func (s *Server) Listen(tb testing.TB) string {
	tb.Helper()
	hs := httptest.NewServer(s.Core.Handler())
	tb.Cleanup(hs.Close)
	return hs.URL
}
