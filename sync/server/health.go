package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	"kido.dev/kido/sync/wire"
)

// A database check (docs/api.md, Health) tests what the server needs to
// work: a read on a connection of its own, a small write that queues
// behind other writes as every write does, and the free space of the data
// directory. Health answers from the latest check, so that it does no I/O
// of its own and a flood of health requests costs the database nothing.
const (
	checkEvery  = time.Second // Run checks this often
	readTimeout = 2 * time.Second
	// writeTimeout: a write that cannot commit within this is a fault. It
	// exceeds the SQLite store's busy timeout (5 s), so that a write lock held
	// elsewhere is reported as such.
	writeTimeout = 6 * time.Second
	// checkFresh is how long a check answers health. Run checks far more
	// often; a check of a database that hangs (two tries that time out)
	// may take longer, and then health waits answerWithin for it.
	checkFresh = 10 * time.Second
	// answerWithin is how long health waits for a check under way when the
	// latest is stale (Run not running, or the process was stopped).
	answerWithin = 2 * time.Second
)

// DefaultMinFree is the free space of the data directory below which
// health fails unless Config.MinFree says otherwise: enough for SQLite to
// checkpoint its write-ahead log.
const DefaultMinFree = 64 << 20

// dbCheck is the result of one database check.
type dbCheck struct {
	at   time.Time
	err  error // nil: the database took a read and a write, and space is left
	free int64 // bytes free in Config.DataDir; -1: not known
}

// dbChecks holds the latest check and the one under way; at most one runs
// at a time, whoever asks for it.
type dbChecks struct {
	mu      sync.Mutex
	last    *dbCheck      // nil before the first check ends
	running chan struct{} // closed when the check under way ends; nil if none runs
}

// health answers GET /v1/health at once whatever the load, from the
// latest database check.
func (s *Server) health(r *http.Request) (int, any, error) {
	h := wire.Health{Status: "ok", Server: s.info, ServerTime: s.now().UTC(), Database: "ok"}
	if w := s.warns.Load(); w != nil {
		h.Warnings = *w
	}
	c, err := s.dbState(r.Context())
	if err != nil {
		// The client went away (499): that says nothing of the database.
		return 0, nil, err
	}
	if c.free >= 0 {
		h.FreeBytes = c.free
	}
	if c.err != nil {
		h.Status, h.Database = "error", c.err.Error()
		return http.StatusServiceUnavailable, h, nil
	}
	return http.StatusOK, h, nil
}

// dbState returns the latest check if it is fresh. Otherwise it starts a
// check, or joins the one under way, and waits for it up to answerWithin,
// after which the database counts as not answering. It fails only if ctx
// ends first.
func (s *Server) dbState(ctx context.Context) (dbCheck, error) {
	s.checks.mu.Lock()
	last := s.checks.last
	s.checks.mu.Unlock()
	if last != nil && time.Since(last.at) < checkFresh {
		return *last, nil
	}
	done := s.startCheck()
	t := time.NewTimer(answerWithin)
	defer t.Stop()
	select {
	case <-done:
		s.checks.mu.Lock()
		defer s.checks.mu.Unlock()
		return *s.checks.last, nil
	case <-ctx.Done():
		return dbCheck{}, ctx.Err()
	case <-t.C:
		c := dbCheck{at: time.Now(), free: -1, err: fmt.Errorf("server: the database did not answer a check within %s", answerWithin)}
		if last != nil {
			c.free = last.free
		}
		return c, nil
	}
}

// checkDatabase checks the database every checkEvery until ctx ends, and
// returns once its last check has ended.
func (s *Server) checkDatabase(ctx context.Context) {
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		done := s.startCheck()
		select {
		case <-done:
		case <-ctx.Done():
			<-done
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startCheck starts a check unless one is under way and returns a channel
// closed when that check has ended. The check runs under timeouts of its
// own, never under a request's context: a client that gives up is not a
// database that fails.
func (s *Server) startCheck() <-chan struct{} {
	s.checks.mu.Lock()
	defer s.checks.mu.Unlock()
	if s.checks.running == nil {
		done := make(chan struct{})
		s.checks.running = done
		go func() {
			c := s.checkOnce()
			s.checks.mu.Lock()
			prev := s.checks.last
			s.checks.last, s.checks.running = &c, nil
			s.checks.mu.Unlock()
			s.metrics.databaseChecked(c)
			s.logCheck(prev, c)
			close(done)
		}()
	}
	return s.checks.running
}

// checkOnce reads, writes and measures free space.
func (s *Server) checkOnce() dbCheck {
	c := dbCheck{free: -1}
	c.err = s.readWrite()
	if errors.Is(c.err, context.DeadlineExceeded) {
		// The timeout may have run out while the process was stopped
		// (SIGSTOP) rather than while the database hung; a database that
		// hangs runs out of time again.
		c.err = s.readWrite()
	}
	if s.dataDir != "" {
		free, err := freeSpace(s.dataDir)
		switch {
		case err != nil:
			err = fmt.Errorf("server: free space of the data directory: %w", err)
		case free < s.minFree:
			err = fmt.Errorf("server: disk nearly full: %s free for the database, less than the %s it needs", mib(free), mib(s.minFree))
		}
		c.free = free
		if c.err == nil {
			c.err = err
		}
	}
	c.at = time.Now()
	return c
}

// readWrite asks the database for a read, then a write.
func (s *Server) readWrite() error {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	err := s.store.Ping(ctx)
	cancel()
	if err != nil {
		return err
	}
	ctx, cancel = context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return s.store.Probe(ctx)
}

// logCheck logs a check that fails, once per fault, and the return to
// health.
func (s *Server) logCheck(prev *dbCheck, c dbCheck) {
	switch {
	case c.err != nil && (prev == nil || prev.err == nil || prev.err.Error() != c.err.Error()):
		s.log.Error("database check failed", "err", c.err, "free_bytes", c.free)
	case c.err == nil && prev != nil && prev.err != nil:
		s.log.Info("database check passes again", "free_bytes", c.free)
	}
}

// freeSpace returns the bytes an unprivileged writer may still use on the
// file system of dir, or -1 and the error.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
