package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// faultStore is a Store whose reads can be made to fail or to hang until
// released, and which counts and signals its pings.
type faultStore struct {
	server.Store
	down atomic.Bool
	// timeouts is how many pings fail with a timeout before the others
	// pass, as after a SIGSTOP during a check.
	timeouts atomic.Int64
	hold     chan struct{} // if not nil, Ping waits for it to close
	pings    atomic.Int64
	pinged   chan struct{} // a ping began
}

func (s *faultStore) Ping(ctx context.Context) error {
	s.pings.Add(1)
	select {
	case s.pinged <- struct{}{}:
	default:
	}
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.down.Load() {
		return errors.New("disk gone")
	}
	if s.timeouts.Add(-1) >= 0 {
		return fmt.Errorf("sqlite: ping: %w", context.DeadlineExceeded)
	}
	return s.Store.Ping(ctx)
}

func newFaultFixture(t *testing.T, configure func(*server.Config)) (*fixture, *faultStore) {
	var fs *faultStore
	f := newFixtureWith(t, func(c *server.Config) {
		fs = &faultStore{Store: c.Store, pinged: make(chan struct{}, 1)}
		c.Store = fs
		if configure != nil {
			configure(c)
		}
	})
	return f, fs
}

// health asks the fixture's server for its health.
func (f *fixture) health(t *testing.T) (int, wire.Health) {
	t.Helper()
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h wire.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("health: %d, %v", resp.StatusCode, err)
	}
	return resp.StatusCode, h
}

// TestHealthFailsWhenWritesFail: a SQLite database that answers reads but
// takes no write (another connection holds the write lock, as a second
// server or a stray sqlite3 shell would) is a 503, and health is 200
// again once writes work.
func TestHealthFailsWhenWritesFail(t *testing.T) {
	f, _ := newFaultFixture(t, nil)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(f.dir, "kido.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	f.server.CheckDatabase()
	code, h := f.health(t)
	if code != http.StatusServiceUnavailable || h.Status != "error" || !strings.Contains(h.Database, "sqlite: begin: ") {
		t.Errorf("writes blocked: health %d %+v; want 503 naming the write that failed", code, h)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	f.server.CheckDatabase()
	if code, h := f.health(t); code != http.StatusOK || h.Database != "ok" {
		t.Errorf("writes work again: health %d %+v; want 200", code, h)
	}
	if !strings.Contains(f.logs.String(), `level=ERROR msg="database check failed"`) || !strings.Contains(f.logs.String(), `msg="database check passes again"`) {
		t.Errorf("the log does not tell the fault and its end:\n%s", f.logs.String())
	}
}

// TestHealthFreeSpace: health reports the free space of the data directory
// and fails below the minimum.
func TestHealthFreeSpace(t *testing.T) {
	for _, c := range []struct {
		name    string
		minFree int64
		code    int
		db      string
	}{
		{"enough", 1, http.StatusOK, "ok"},
		{"too little", 1 << 62, http.StatusServiceUnavailable, "server: disk nearly full: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := newFaultFixture(t, func(cfg *server.Config) { cfg.DataDir, cfg.MinFree = t.TempDir(), c.minFree })
			code, h := f.health(t)
			if code != c.code || !strings.HasPrefix(h.Database, c.db) || h.FreeBytes <= 0 {
				t.Errorf("health %d %+v; want %d, database %q…, the free bytes", code, h, c.code, c.db)
			}
			if up := f.metric(t, "kido_database_up"); up != map[bool]int{true: 1}[c.code == http.StatusOK] {
				t.Errorf("kido_database_up %d with health %d", up, code)
			}
		})
	}
}

// TestHealthClientGoneIsNotADatabaseFault: a health request whose client
// left while the database check was under way (as after SIGSTOP/SIGCONT of
// the server) is a 499, logs no fault, and leaves health at 200.
func TestHealthClientGoneIsNotADatabaseFault(t *testing.T) {
	f, fs := newFaultFixture(t, nil)
	release := make(chan struct{})
	fs.hold = release
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	f.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/health", nil).WithContext(ctx))
	if rec.Code != 499 {
		t.Errorf("health of a client that left: %d, want 499", rec.Code)
	}
	close(release)
	if code, h := f.health(t); code != http.StatusOK || h.Database != "ok" {
		t.Errorf("next health: %d %+v; want 200", code, h)
	}
	if n := f.metric(t, `kido_requests_total{endpoint="health",status="499"}`); n != 1 {
		t.Errorf("metrics count %d health requests whose client left, want 1", n)
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("a client that left was logged as a fault:\n%s", f.logs.String())
	}
}

// TestHealthCheckTimeoutTriedAgain: a check that ran out of time while the
// server was stopped (SIGSTOP) is tried again at once, not reported as a
// fault; a database that runs out of time again is.
func TestHealthCheckTimeoutTriedAgain(t *testing.T) {
	f, fs := newFaultFixture(t, nil)
	fs.timeouts.Store(1)
	f.server.CheckDatabase()
	if code, h := f.health(t); code != http.StatusOK {
		t.Errorf("one timeout: health %d %+v, want 200", code, h)
	}
	if strings.Contains(f.logs.String(), "level=ERROR") {
		t.Errorf("one timeout was logged as a fault:\n%s", f.logs.String())
	}
	fs.timeouts.Store(2)
	f.server.CheckDatabase()
	if code, h := f.health(t); code != http.StatusServiceUnavailable || !strings.Contains(h.Database, "deadline exceeded") {
		t.Errorf("two timeouts in a row: health %d %+v, want 503", code, h)
	}
}

// TestHealthFromBackgroundCheck: Run checks the database without being
// asked; health answers from those checks, with no read of its own, and
// follows the database going down and coming back.
func TestHealthFromBackgroundCheck(t *testing.T) {
	f, fs := newFaultFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.server.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-fs.pinged:
	case <-time.After(30 * time.Second):
		t.Fatal("Run never checked the database")
	}
	f.server.CheckDatabase()
	p0 := fs.pings.Load()
	for range 10 {
		if code, _ := f.health(t); code != http.StatusOK {
			t.Fatalf("with Run, database up: health %d", code)
		}
	}
	// Run checks once a second: ten answers from reads of their own would
	// have added ten.
	if n := fs.pings.Load() - p0; n >= 10 {
		t.Errorf("10 health answers made %d database pings; want them answered from Run's checks", n)
	}
	fs.down.Store(true)
	f.server.CheckDatabase()
	if code, h := f.health(t); code != http.StatusServiceUnavailable || h.Database != "disk gone" {
		t.Errorf("database down: health %d %+v, want 503 naming the fault", code, h)
	}
	fs.down.Store(false)
	f.server.CheckDatabase()
	if code, _ := f.health(t); code != http.StatusOK {
		t.Errorf("database back: health %d, want 200", code)
	}
}
