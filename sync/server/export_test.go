package server

import (
	"context"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
)

// CheckDatabase returns once a database check that started after the call
// has ended, for tests that change the database and then ask health.
func (s *Server) CheckDatabase() {
	s.checks.mu.Lock()
	under := s.checks.running // may have started before the call
	s.checks.mu.Unlock()
	if under != nil {
		<-under
	}
	<-s.startCheck()
}

// ConnsHighest returns the most connections that were open at once on the
// listener from Listener.
func (s *Server) ConnsHighest() int64 { return s.conns.Load().highest.Load() }

// CheckNow runs the server's periodic check once (warnings, silent gates,
// the per-event gauges of the metrics), as Run does every minute.
func (s *Server) CheckNow(ctx context.Context) { s.check(ctx) }

// MetricNames returns the name of every metric the server registers,
// whether or not it has a sample yet.
func (s *Server) MetricNames() []string {
	var names []string
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range s.metrics.all {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// PagesBuilt returns how many times the server has built (read, encoded,
// compressed and signed) the feed page of event from cursor, compact or
// JSON.
func (s *Server) PagesBuilt(event uint32, cursor string, compact bool) int {
	enc := feedJSON
	if compact {
		enc = feedCompact
	}
	return s.pages.built(pageKey{event: event, cursor: cursor, enc: enc})
}

// ForgetPages empties the feed page cache, so that the next pages are
// built again.
func (s *Server) ForgetPages() { s.pages.clear() }

// The most changes of a feed page in JSON and in the compact encoding.
const (
	MaxChanges        = maxChanges
	MaxCompactChanges = maxCompactChanges
)
