package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kido.dev/kido/sync/wire"
)

// metrics are the server's Prometheus metrics, served by GET /metrics
// (docs/api.md lists them). Every metric is declared and registered here,
// in newMetrics, and nowhere else: a new counter is one field and one
// line below. A scrape reads only memory: the gauges that need the store
// are set by the database check (every second) and by the periodic check
// (every minute), never by the scrape, so a scraper adds no load to the
// database whatever its interval.
type metrics struct {
	reg *prometheus.Registry
	all []prometheus.Collector // every collector registered, kido's and the standard ones

	requests *prometheus.CounterVec   // endpoint, status
	latency  *prometheus.HistogramVec // endpoint
	sheds    *prometheus.CounterVec   // kind
	checks   *prometheus.CounterVec   // by
	batch    prometheus.Histogram     // records per upload
	feed     prometheus.Histogram     // changes per feed answer
	records  *prometheus.CounterVec   // result: stored, duplicate, quarantined
	flags    *prometheus.CounterVec   // status: suspect, refused
	enrols   *prometheus.CounterVec   // outcome: ok, failed, throttled

	dbUp, dataFree prometheus.Gauge
	lastBackup     prometheus.Gauge

	// Per event, set by the periodic check.
	gatesSilent, pending, oldestPending, doubleEntries *prometheus.GaugeVec
	keyAge, keyExpiry                                  *prometheus.GaugeVec
}

// latencyBuckets reach past the longest long-poll (30 s) so that a
// changes request that waited its whole time lands in a bucket of its own.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(s *Server, cfg Config) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	register := func(cs ...prometheus.Collector) {
		m.reg.MustRegister(cs...)
		m.all = append(m.all, cs...)
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		register(c)
		return c
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		register(g)
		return g
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		register(g)
		return g
	}
	gaugeFunc := func(name, help string, f func() float64) {
		register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}

	m.requests = counterVec("kido_requests_total", "HTTP requests answered, by endpoint and status (499: the client left first).", "endpoint", "status")
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kido_request_duration_seconds",
		Help: "Time from a request's arrival to the end of its answer, by endpoint; changes includes the long-poll's wait.", Buckets: latencyBuckets}, []string{"endpoint"})
	register(m.latency)
	m.sheds = counterVec("kido_shed_total", "Requests shed with 429 or 503, by kind.", "kind")
	for _, kind := range []string{"upload", "long-poll", "snapshot", "upload-body"} {
		m.sheds.WithLabelValues(kind) // shown as 0 before the first shed
	}
	m.checks = counterVec("kido_upload_checks_total", "Uploaded admissions checked, by how: the text the server issued, or the signature.", "by")
	m.checks.WithLabelValues("issued_text")
	m.checks.WithLabelValues("signature")
	m.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kido_upload_batch_records",
		Help: "Records (admissions and audit records) per upload request that passed its checks.", Buckets: prometheus.ExponentialBuckets(1, 4, 7)})
	m.feed = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kido_feed_answer_changes",
		Help: "Changes per answer of the delta feed (GET /v1/gate/changes).", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}) // to 16,384: a full compact page is 5,000
	register(m.batch, m.feed)
	m.records = counterVec("kido_upload_records_total", "Uploaded records by result: stored (new), duplicate (already stored alike), quarantined (same gate and seq, other content).", "result")
	for _, r := range []string{"stored", "duplicate", "quarantined"} {
		m.records.WithLabelValues(r)
	}
	m.flags = counterVec("kido_flagged_admissions_total", "Uploaded admissions stored as suspect or refused (docs/sync-protocol.md §3.6), counted nowhere else.", "status")
	for _, st := range []string{wire.StatusSuspect, wire.StatusRefused} {
		m.flags.WithLabelValues(st)
	}
	m.enrols = counterVec("kido_enrolments_total", "Enrolment attempts, by outcome: ok, failed (a code refused), throttled (over the attempt budget).", "outcome")
	for _, o := range []string{"ok", "failed", "throttled"} {
		m.enrols.WithLabelValues(o)
	}

	gaugeFunc("kido_longpolls_active", "Long-polls waiting or being answered.", func() float64 { return float64(len(s.polls)) })
	gaugeFunc("kido_uploads_active", "Uploads being worked on or queued.", func() float64 { return float64(s.uploads.inUse()) })
	register(connsCollector{s})
	if !cfg.TLSExpiry.IsZero() {
		gaugeFunc("kido_tls_certificate_expiry_seconds", "Time left until the served TLS certificate expires.", func() float64 { return s.tlsExpiry.Sub(s.now()).Round(time.Second).Seconds() })
	}
	m.dbUp = gauge("kido_database_up", "Whether the latest database check passed, as health reports it: a read, a write, free space.")
	m.dataFree = gauge("kido_data_free_bytes", "Free space where the database writes, at the latest database check.")
	if cfg.DataDir != "" {
		m.lastBackup = gauge("kido_backup_last_success_timestamp_seconds", "When kido-server backup last wrote a checked copy of this data directory's database (Unix time; 0: never), at the latest periodic check.")
	}

	m.gatesSilent = gaugeVec("kido_gates_silent", "Gates of an event under way silent longer than the threshold (2 min), at the latest periodic check.", "event")
	m.pending = gaugeVec("kido_gate_pending_records", "Records not yet acknowledged, as the gates of an event under way last reported them, less what their uploads acknowledged since.", "event")
	m.oldestPending = gaugeVec("kido_gate_oldest_pending_seconds", "How long the gate of an event under way that has reported pending records longest has been reporting them: a lower bound of the oldest unsynced record's age (0: none pending).", "event")
	m.doubleEntries = gaugeVec("kido_double_entries", "Tickets of an event under way with at least one excess admission, at the latest periodic check.", "event")
	m.keyAge = gaugeVec("kido_signing_key_age_seconds", "Age of each event's current signing key.", "event")
	m.keyExpiry = gaugeVec("kido_signing_key_expiry_seconds", "Time left until each event's current signing key stops being valid (only keys with an end of validity).", "event")

	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kido_build_info", Help: "The running server's build: always 1.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "revision": cfg.Revision, "goversion": runtime.Version()}})
	info.Set(1)
	register(info,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) verified(byText, bySignature int) {
	m.checks.WithLabelValues("issued_text").Add(float64(byText))
	m.checks.WithLabelValues("signature").Add(float64(bySignature))
}

func (m *metrics) request(endpoint string, status int, took time.Duration) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(endpoint).Observe(took.Seconds())
}

func (m *metrics) shed(what string) { m.sheds.WithLabelValues(what).Inc() }

func (m *metrics) uploaded(req *wire.UploadRequest, resp *wire.UploadResponse) {
	m.batch.Observe(float64(len(req.Admissions) + len(req.Audits)))
	m.records.WithLabelValues("stored").Add(float64(resp.Stored))
	m.records.WithLabelValues("duplicate").Add(float64(resp.Duplicates))
	m.records.WithLabelValues("quarantined").Add(float64(len(resp.Quarantined)))
}

// flagged counts an admission stored as suspect or refused.
func (m *metrics) flagged(status string) { m.flags.WithLabelValues(status).Inc() }

// enrolment counts an enrolment attempt by its outcome.
func (m *metrics) enrolment(outcome string) { m.enrols.WithLabelValues(outcome).Inc() }

func (m *metrics) databaseChecked(c dbCheck) {
	up := 0.0
	if c.err == nil {
		up = 1
	}
	m.dbUp.Set(up)
	if c.free >= 0 {
		m.dataFree.Set(float64(c.free))
	}
}

// connsCollector shows the listener's connections once Listener has
// wrapped one (kido-server always does; a Handler served by other means
// has none to show).
type connsCollector struct{ s *Server }

var (
	connsOpen  = prometheus.NewDesc("kido_connections_open", "Client connections open.", nil, nil)
	connsLimit = prometheus.NewDesc("kido_connections_limit", "Most client connections open at once; more wait to be accepted.", nil, nil)
)

func (c connsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connsOpen; ch <- connsLimit }

func (c connsCollector) Collect(ch chan<- prometheus.Metric) {
	if l := c.s.conns.Load(); l != nil {
		ch <- prometheus.MustNewConstMetric(connsOpen, prometheus.GaugeValue, float64(l.open()))
		ch <- prometheus.MustNewConstMetric(connsLimit, prometheus.GaugeValue, float64(cap(l.slots)))
	}
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

// serveMetrics answers GET /metrics from memory. It needs no token and
// shows counts only, never names of events or gates.
func (s *Server) serveMetrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Error("metrics", "err", v) }

// pendingSince remembers, per gate, since when its heartbeats have
// reported pending records without a break (in memory only: a restart
// starts it again, so it is a lower bound).
type pendingSince struct {
	mu    sync.Mutex
	since map[uint32]time.Time
}

func (p *pendingSince) note(gate uint32, pending int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.since == nil {
		p.since = map[uint32]time.Time{}
	}
	switch _, ok := p.since[gate]; {
	case pending == 0:
		delete(p.since, gate)
	case pending > 0 && !ok:
		p.since[gate] = now
	}
}

func (p *pendingSince) get(gate uint32) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.since[gate]
	return t, ok
}

// LastBackupFile is the file in the data directory that kido-server backup
// rewrites after each checked copy; its modification time is the metric
// kido_backup_last_success_timestamp_seconds.
const LastBackupFile = "last-backup"

// refreshBackupGauge reads when the last backup was taken (a stat, no
// store read).
func (s *Server) refreshBackupGauge() {
	if s.metrics.lastBackup == nil {
		return
	}
	st, err := os.Stat(filepath.Join(s.dataDir, LastBackupFile))
	if err != nil {
		s.metrics.lastBackup.Set(0)
		return
	}
	s.metrics.lastBackup.Set(float64(st.ModTime().Unix()))
}

// refreshEventGauges sets the per-event gauges from the store, for the
// events under way (3 h before the start to the end); the gauges of other
// events are dropped. The periodic check calls it.
func (s *Server) refreshEventGauges(ctx context.Context) {
	m := s.metrics
	now := s.now()
	evs, err := s.store.Events(ctx, nil)
	if err != nil {
		s.log.Error("event gauges not refreshed", "err", err)
		return
	}
	keys, err := s.store.Keys(ctx, 0)
	if err != nil {
		s.log.Error("event gauges not refreshed", "err", err)
		return
	}
	for _, v := range []*prometheus.GaugeVec{m.gatesSilent, m.pending, m.oldestPending, m.doubleEntries, m.keyAge, m.keyExpiry} {
		v.Reset()
	}
	for _, k := range keys {
		if !k.Current || k.Revoked {
			continue
		}
		ev := strconv.FormatUint(uint64(k.Event), 10)
		m.keyAge.WithLabelValues(ev).Set(now.Sub(k.Created).Round(time.Second).Seconds())
		if k.NotAfter != nil {
			m.keyExpiry.WithLabelValues(ev).Set(k.NotAfter.Sub(now).Round(time.Second).Seconds())
		}
	}
	for _, e := range evs {
		if !underWay(e, now) {
			continue
		}
		ev := strconv.FormatUint(uint64(e.ID), 10)
		sts, err := s.gateStatuses(ctx, e, defaultSilentAfter)
		if err != nil {
			s.log.Error("event gauges not refreshed", "event", e.ID, "err", err)
			continue
		}
		var silent, pending int
		var oldest time.Duration
		for _, st := range sts {
			if st.Silent {
				silent++
			}
			if st.Revoked || st.Pending <= 0 {
				continue
			}
			pending += int(st.Pending)
			if t, ok := s.pendingSince.get(st.ID); ok {
				oldest = max(oldest, now.Sub(t))
			}
		}
		m.gatesSilent.WithLabelValues(ev).Set(float64(silent))
		m.pending.WithLabelValues(ev).Set(float64(pending))
		m.oldestPending.WithLabelValues(ev).Set(oldest.Round(time.Second).Seconds())
		if n, err := s.doubleEntries(ctx, e.ID); err != nil {
			s.log.Error("double entries not counted", "event", e.ID, "err", err)
		} else {
			m.doubleEntries.WithLabelValues(ev).Set(float64(n))
		}
	}
}

// recountEvery bounds how long an event's double entries go uncounted.
const recountEvery = 5 * time.Minute

// doubleEntries counts event's double entries, reading every admission of
// the event (seconds of CPU at half a million) only when a change of the
// event was committed since the last count, or recountEvery has passed:
// admissions, voids and entry rules all reach the log, and every commit
// notifies the hub, other instances' through the store's notifications;
// the recount bounds what a notification lost would leave stale.
func (s *Server) doubleEntries(ctx context.Context, event uint32) (int, error) {
	v, now := s.feed.version(event), s.now()
	if c, ok := s.doubles[event]; ok && c.at == v && now.Sub(c.when) < recountEvery {
		return c.n, nil
	}
	er, err := s.store.EventRecords(ctx, event)
	if err != nil {
		return 0, err
	}
	n := len(DoubleEntries(er))
	if s.doubles == nil {
		s.doubles = map[uint32]counted{}
	}
	s.doubles[event] = counted{at: v, when: now, n: n}
	return n, nil
}
