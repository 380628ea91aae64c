package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// metrics are the counters behind GET /metrics, in the Prometheus text
// format (written by hand: a few counters do not need a client library).
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // endpoint, status
	sheds    map[string]int64
	// Uploaded admissions checked against the issued text, and by
	// signature (docs/sync-protocol.md §3.3).
	byText, bySignature int64
	// Uploaded admissions stored as suspect or refused
	// (docs/sync-protocol.md §3.6).
	suspect, refused int64
	// Enrolment attempts by outcome: ok, failed (a code looked at and
	// refused), throttled (no budget left; no code looked at).
	enrolments map[string]int64
}

func (m *metrics) flagged(status string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if status == wire.StatusRefused {
		m.refused++
	} else {
		m.suspect++
	}
}

func (m *metrics) enrolment(outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.enrolments == nil {
		m.enrolments = map[string]int64{}
	}
	m.enrolments[outcome]++
}

func (m *metrics) verified(byText, bySignature int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byText += int64(byText)
	m.bySignature += int64(bySignature)
}

func (m *metrics) request(endpoint string, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[[2]string]int64{}
	}
	m.requests[[2]string{endpoint, fmt.Sprint(status)}]++
}

func (m *metrics) shed(what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sheds == nil {
		m.sheds = map[string]int64{}
	}
	m.sheds[what]++
}

// endpointOf names the sync endpoints for metrics; everything else is
// "api".
func endpointOf(path string) string {
	switch path {
	case "/v1/gate/upload":
		return "upload"
	case "/v1/gate/changes":
		return "changes"
	case "/v1/gate/snapshot":
		return "snapshot"
	case "/v1/health":
		return "health"
	}
	return "api"
}

// serveMetrics writes GET /metrics. It needs no token and shows counts
// only, never names of events or gates.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	s.metrics.mu.Lock()
	reqs := make([][2]string, 0, len(s.metrics.requests))
	for k := range s.metrics.requests {
		reqs = append(reqs, k)
	}
	slices.SortFunc(reqs, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	b.WriteString("# HELP kido_requests_total HTTP requests answered, by endpoint and status.\n# TYPE kido_requests_total counter\n")
	for _, k := range reqs {
		fmt.Fprintf(&b, "kido_requests_total{endpoint=%q,status=%q} %d\n", k[0], k[1], s.metrics.requests[k])
	}
	b.WriteString("# HELP kido_shed_total Requests shed with 429 or 503, by kind.\n# TYPE kido_shed_total counter\n")
	for _, what := range []string{"upload", "long-poll", "snapshot", "upload-body"} {
		fmt.Fprintf(&b, "kido_shed_total{kind=%q} %d\n", what, s.metrics.sheds[what])
	}
	b.WriteString("# HELP kido_upload_checks_total Uploaded admissions checked, by how: the text the server issued, or the signature.\n# TYPE kido_upload_checks_total counter\n")
	fmt.Fprintf(&b, "kido_upload_checks_total{by=\"issued_text\"} %d\nkido_upload_checks_total{by=\"signature\"} %d\n", s.metrics.byText, s.metrics.bySignature)
	b.WriteString("# HELP kido_flagged_admissions_total Uploaded admissions stored as suspect or refused, counted nowhere.\n# TYPE kido_flagged_admissions_total counter\n")
	fmt.Fprintf(&b, "kido_flagged_admissions_total{status=\"suspect\"} %d\nkido_flagged_admissions_total{status=\"refused\"} %d\n", s.metrics.suspect, s.metrics.refused)
	b.WriteString("# HELP kido_enrolments_total Enrolment attempts, by outcome: ok, failed (a code refused), throttled (over the attempt budget).\n# TYPE kido_enrolments_total counter\n")
	for _, o := range []string{"ok", "failed", "throttled"} {
		fmt.Fprintf(&b, "kido_enrolments_total{outcome=%q} %d\n", o, s.metrics.enrolments[o])
	}
	s.metrics.mu.Unlock()
	fmt.Fprintf(&b, "# HELP kido_longpolls_active Long-polls waiting or being answered.\n# TYPE kido_longpolls_active gauge\nkido_longpolls_active %d\n", len(s.polls))
	if l := s.conns.Load(); l != nil {
		fmt.Fprintf(&b, "# HELP kido_connections_open Client connections open.\n# TYPE kido_connections_open gauge\nkido_connections_open %d\n", l.open())
		fmt.Fprintf(&b, "# HELP kido_connections_limit Most client connections open at once; more wait to be accepted.\n# TYPE kido_connections_limit gauge\nkido_connections_limit %d\n", cap(l.slots))
	}
	fmt.Fprintf(&b, "# HELP kido_uploads_active Uploads being worked on or queued.\n# TYPE kido_uploads_active gauge\nkido_uploads_active %d\n", s.uploads.inUse())

	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	silent, err := s.silentGates(ctx)
	if err == nil {
		fmt.Fprintf(&b, "# HELP kido_gates_silent Gates of running events silent longer than the threshold.\n# TYPE kido_gates_silent gauge\nkido_gates_silent %d\n", len(silent))
	}
	if keys, err := s.store.Keys(ctx, 0); err == nil {
		b.WriteString("# HELP kido_signing_key_age_seconds Age of each event's current signing key.\n# TYPE kido_signing_key_age_seconds gauge\n")
		for _, k := range keys {
			if k.Current && !k.Revoked {
				fmt.Fprintf(&b, "kido_signing_key_age_seconds{event=\"%d\"} %.0f\n", k.Event, s.now().Sub(k.Created).Seconds())
			}
		}
	}
	if c, err := s.dbState(r.Context()); err == nil {
		dbUp := 1
		if c.err != nil {
			dbUp = 0
		}
		fmt.Fprintf(&b, "# HELP kido_database_up Whether the latest database check passed, as health reports it: a read, a write, free space.\n# TYPE kido_database_up gauge\nkido_database_up %d\n", dbUp)
		if c.free >= 0 {
			fmt.Fprintf(&b, "# HELP kido_data_free_bytes Free space where the database writes.\n# TYPE kido_data_free_bytes gauge\nkido_data_free_bytes %d\n", c.free)
		}
	}
	if !s.tlsExpiry.IsZero() {
		fmt.Fprintf(&b, "# HELP kido_tls_certificate_expiry_seconds Time left until the TLS certificate expires.\n# TYPE kido_tls_certificate_expiry_seconds gauge\nkido_tls_certificate_expiry_seconds %.0f\n", s.tlsExpiry.Sub(s.now()).Seconds())
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	io.WriteString(w, b.String())
}

// defaultSilentAfter is how long a gate may go without contact during its
// event before it is flagged silent (an online gate polls every 30 s).
const defaultSilentAfter = 2 * time.Minute

// markSilent sets Silent on the statuses of gates of event ev: unrevoked,
// the server's clock between 3 h before the event's start and its end, and
// no contact for longer than after (or never).
func markSilent(sts []wire.GateStatus, ev kido.Event, now time.Time, after time.Duration) {
	during := !now.Before(ev.Start.Add(-3*time.Hour)) && !now.After(ev.End)
	for i := range sts {
		st := &sts[i]
		st.Silent = during && !st.Revoked && (st.LastContact == nil || now.Sub(*st.LastContact) > after)
	}
}

// gateStatuses returns the event's gates with the freshest heartbeats
// (those in memory win over those stored) and Silent set.
func (s *Server) gateStatuses(ctx context.Context, ev kido.Event, after time.Duration) ([]wire.GateStatus, error) {
	sts, err := s.store.GateStatuses(ctx, ev.ID)
	if err != nil {
		return nil, err
	}
	for i := range sts {
		if hb, ok := s.hbs.get(sts[i].ID); ok {
			t := hb.LastContact
			sts[i].LastContact, sts[i].Pending, sts[i].ClockSkewMS, sts[i].Version = &t, hb.Pending, hb.ClockSkewMS, hb.Version
		}
	}
	markSilent(sts, ev, s.now(), after)
	return sts, nil
}

// silentGates returns the silent gates of every event under way.
func (s *Server) silentGates(ctx context.Context) ([]wire.GateStatus, error) {
	evs, err := s.store.Events(ctx, nil)
	if err != nil {
		return nil, err
	}
	var out []wire.GateStatus
	now := s.now()
	for _, ev := range evs {
		if now.Before(ev.Start.Add(-3*time.Hour)) || now.After(ev.End) {
			continue
		}
		sts, err := s.gateStatuses(ctx, ev, defaultSilentAfter)
		if err != nil {
			return nil, err
		}
		for _, st := range sts {
			if st.Silent {
				out = append(out, st)
			}
		}
	}
	return out, nil
}
