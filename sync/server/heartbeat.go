package server

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// heartbeats holds every gate's latest heartbeat in memory; flush writes
// the changed ones to the store in one transaction, so that a herd of
// contacts costs no write transactions of its own (docs/sync-protocol.md
// §6).
type heartbeats struct {
	mu    sync.Mutex
	last  map[uint32]GateHeartbeat
	dirty map[uint32]bool
	// health is what heartbeats say beyond GateHeartbeat, kept in memory
	// only: a restarted server knows it again from each gate's next
	// contact (every 30 s at most while online).
	health map[uint32]gateHealth
}

// gateHealth is a gate's free space and replica freshness.
type gateHealth struct {
	free   int64     // -1: unknown
	synced time.Time // server time; zero: unknown
}

func (h *heartbeats) recordHealth(gate uint32, g gateHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.health == nil {
		h.health = map[uint32]gateHealth{}
	}
	prev, ok := h.health[gate]
	// An absent header leaves the field as it was known.
	if ok && g.free < 0 {
		g.free = prev.free
	}
	if ok && g.synced.IsZero() {
		g.synced = prev.synced
	}
	h.health[gate] = g
}

func (h *heartbeats) getHealth(gate uint32) (gateHealth, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g, ok := h.health[gate]
	return g, ok
}

func (h *heartbeats) record(hb GateHeartbeat) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last, h.dirty = map[uint32]GateHeartbeat{}, map[uint32]bool{}
	}
	prev, ok := h.last[hb.Gate]
	// An absent header leaves the field as it was known.
	if ok {
		if hb.Version == "" {
			hb.Version = prev.Version
		}
		if hb.Pending < 0 {
			hb.Pending = prev.Pending
		}
	}
	h.last[hb.Gate] = hb
	h.dirty[hb.Gate] = true
}

func (h *heartbeats) get(gate uint32) (GateHeartbeat, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hb, ok := h.last[gate]
	return hb, ok
}

// acked lowers the gate's last reported pending count by n records an
// upload acknowledged, never below 0, and returns the new count (-1:
// unknown, left so).
func (h *heartbeats) acked(gate uint32, n int64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	hb, ok := h.last[gate]
	if !ok || hb.Pending < 0 {
		return -1
	}
	hb.Pending = max(hb.Pending-n, 0)
	h.last[gate] = hb
	h.dirty[gate] = true
	return hb.Pending
}

// takeDirty returns the heartbeats changed since the last call.
func (h *heartbeats) takeDirty() []GateHeartbeat {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]GateHeartbeat, 0, len(h.dirty))
	for _, g := range slices.Sorted(maps.Keys(h.dirty)) {
		out = append(out, h.last[g])
	}
	clear(h.dirty)
	return out
}

// putBack marks heartbeats dirty again after a failed flush, unless newer
// ones arrived meanwhile.
func (h *heartbeats) putBack(hbs []GateHeartbeat) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hb := range hbs {
		if h.last[hb.Gate].LastContact.Equal(hb.LastContact) {
			h.dirty[hb.Gate] = true
		}
	}
}

// heartbeat records the heartbeat headers of an authenticated gate
// request; a malformed header is 400 bad_header.
func (s *Server) heartbeat(r *http.Request, tok wire.Token) error {
	hb, err := wire.ParseHeartbeat(r.Header)
	if err != nil {
		return codeErrorf(ErrInvalid, wire.CodeBadHeader, "update kido-gate; the heartbeat headers are in docs/sync-protocol.md §6", "%v", err)
	}
	now := s.now()
	g := GateHeartbeat{Gate: tok.Gate, LastContact: now.UTC(), Pending: hb.Pending, Version: hb.Version}
	if !hb.Time.IsZero() {
		g.ClockSkewMS = hb.Time.Sub(now).Milliseconds()
	} else if prev, ok := s.hbs.get(tok.Gate); ok {
		g.ClockSkewMS = prev.ClockSkewMS
	}
	s.hbs.record(g)
	gh := gateHealth{free: hb.Free}
	if !hb.Synced.IsZero() {
		// The gate's clock, corrected by the skew measured now.
		gh.synced = hb.Synced.Add(-time.Duration(g.ClockSkewMS) * time.Millisecond).UTC()
	}
	s.hbs.recordHealth(tok.Gate, gh)
	if hb.Pending >= 0 {
		s.pendingSince.note(tok.Gate, hb.Pending, now)
	}
	if hb.Mesh != "" {
		return s.noteMesh(r.Context(), tok, hb.Mesh)
	}
	return nil
}

// uploadAcked brings the gate's pending count down by the records of req
// that resp acknowledges: the count the gate sent with this upload was
// taken before it, and without this a gate that uploaded everything
// would look to readiness as if it still held them until its next
// request (docs/sync-protocol.md §6).
func (s *Server) uploadAcked(gate uint32, req *wire.UploadRequest, resp *wire.UploadResponse) {
	var n int64
	for _, a := range req.Admissions {
		if a.Seq <= resp.Acked {
			n++
		}
	}
	for _, a := range req.Audits {
		if a.Seq <= resp.AuditAcked {
			n++
		}
	}
	if p := s.hbs.acked(gate, n); p >= 0 {
		s.pendingSince.note(gate, p, s.now())
	}
}

// FlushHeartbeats writes the heartbeats received since the last flush.
func (s *Server) FlushHeartbeats(ctx context.Context) error {
	hbs := s.hbs.takeDirty()
	if err := s.store.SaveHeartbeats(ctx, hbs); err != nil {
		s.hbs.putBack(hbs)
		return err
	}
	return nil
}

// Run does the server's background work until ctx ends: the database
// checked every second for health (a read, a write, free space);
// heartbeats written every 5 s; every minute, operator warnings and the
// per-event gauges of the metrics refreshed and gates that fell silent
// logged; every hour, the change log pruned; and, when the store is a
// ChangeNotifier, other instances' commits waking this one's long-polls.
// On return the last heartbeats are written.
func (s *Server) Run(ctx context.Context) {
	flush := time.NewTicker(5 * time.Second)
	defer flush.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	hourly := time.NewTicker(time.Hour)
	defer hourly.Stop()
	checked := make(chan struct{})
	go func() { s.checkDatabase(ctx); close(checked) }()
	watched := make(chan struct{})
	go func() {
		if n, ok := s.store.(ChangeNotifier); ok {
			s.watchChanges(ctx, n)
		}
		close(watched)
	}()
	s.prune(ctx)
	s.check(ctx)
	for {
		select {
		case <-ctx.Done():
			<-checked // no check left to use the store after Run
			<-watched
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.FlushHeartbeats(fctx); err != nil {
				s.log.Error("heartbeats not written at shutdown", "err", err)
			}
			cancel()
			return
		case <-flush.C:
			if err := s.FlushHeartbeats(ctx); err != nil {
				s.log.Error("heartbeats not written", "err", err)
			}
		case <-minute.C:
			s.check(ctx)
		case <-hourly.C:
			s.prune(ctx)
		}
	}
}

func (s *Server) prune(ctx context.Context) {
	if n, err := s.PruneChanges(ctx); err != nil {
		s.log.Error("change log not pruned", "err", err)
	} else if n > 0 {
		s.log.Info("change log pruned", "rows", n, "retention", s.retention.String())
	}
}

// check refreshes the warnings health shows and logs gates that fell
// silent or came back since the last check.
func (s *Server) check(ctx context.Context) {
	var warns []string
	if !s.tlsExpiry.IsZero() {
		left := s.tlsExpiry.Sub(s.now())
		switch {
		case left <= 0:
			warns = append(warns, fmt.Sprintf("TLS certificate expired at %s", s.tlsExpiry.UTC().Format(time.RFC3339)))
		case left < 30*24*time.Hour:
			warns = append(warns, fmt.Sprintf("TLS certificate expires in %s (%s): renew it and restart kido-server", timeLeft(left), s.tlsExpiry.UTC().Format(time.RFC3339)))
		}
	}
	if evs, err := s.store.Events(ctx, nil); err == nil {
		keys, err := s.store.Keys(ctx, 0)
		if err == nil {
			current := map[uint32]bool{}
			for _, k := range keys {
				current[k.Event] = current[k.Event] || (k.Current && !k.Revoked)
			}
			for _, ev := range evs {
				if !current[ev.ID] && s.now().Before(ev.End) {
					warns = append(warns, fmt.Sprintf("event %d has no current signing key: run kidoctl keys rotate -event %d", ev.ID, ev.ID))
				}
			}
		}
	}
	silent, err := s.silentGates(ctx)
	if err != nil {
		s.log.Error("gate check failed", "err", err)
	}
	now := map[uint32]bool{}
	for _, g := range silent {
		now[g.ID] = true
		if !s.wasSilent[g.ID] {
			s.log.Warn("gate silent", "event", g.Event, "gate", g.ID, "name", g.Name, "last_contact", g.LastContact)
		}
	}
	for id := range s.wasSilent {
		if !now[id] {
			s.log.Info("gate back in contact", "gate", id)
		}
	}
	s.wasSilent = now
	s.refreshEventGauges(ctx)
	s.refreshBackupGauge()
	if len(silent) > 0 {
		warns = append(warns, fmt.Sprintf("%d gates silent for more than %s during their event: see kidoctl gates", len(silent), defaultSilentAfter))
	}
	for _, w := range warns {
		s.log.Warn(w)
	}
	s.warns.Store(&warns)
}

// timeLeft writes a positive duration for a warning, never rounding it up
// and in a unit that keeps the truncation small: minutes under an hour,
// hours under two days ("1 day" would hide up to 23 hours more), days
// beyond.
func timeLeft(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	switch {
	case d >= 48*time.Hour:
		n, unit = int(d/(24*time.Hour)), "day"
	case d >= time.Hour:
		n, unit = int(d/time.Hour), "hour"
	}
	switch n {
	case 0:
		return "less than a minute"
	case 1:
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// defaultSilentAfter is how long a gate may go without contact during its
// event before it is flagged silent (an online gate polls every 30 s).
const defaultSilentAfter = 2 * time.Minute

// underWay reports whether the server's clock is between 3 h before the
// event's start and its end: when its gates are watched.
func underWay(ev kido.Event, now time.Time) bool {
	return !now.Before(ev.Start.Add(-3*time.Hour)) && !now.After(ev.End)
}

// markSilent sets Silent on the statuses of gates of event ev: unrevoked,
// the server's clock between 3 h before the event's start and its end, and
// no contact for longer than after (or never).
func markSilent(sts []wire.GateStatus, ev kido.Event, now time.Time, after time.Duration) {
	during := underWay(ev, now)
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
		sts[i].FreeBytes = -1
		if gh, ok := s.hbs.getHealth(sts[i].ID); ok {
			sts[i].FreeBytes = gh.free
			if !gh.synced.IsZero() {
				t := gh.synced
				sts[i].Synced = &t
			}
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
		if !underWay(ev, now) {
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
