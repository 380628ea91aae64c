package syncer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// Replica is what the loops need of the gate's replica.
type Replica interface {
	Pending(ctx context.Context) (admissions, audits int, err error)
	LastSync(ctx context.Context) (time.Time, error)
	DataVersion(ctx context.Context) (int64, error)
	NextUpload(ctx context.Context, max int) (*wire.UploadRequest, error)
	AckUpload(ctx context.Context, resp *wire.UploadResponse) error
	SetRefused(ctx context.Context, msg string) error
	SetContactError(ctx context.Context, msg string) error
	Cursor(ctx context.Context) (string, error)
	ApplyChanges(ctx context.Context, ch *wire.Changes) (replica.Applied, error)
	Apply(ctx context.Context, snap *wire.Snapshot, serverURL string) error
	Wipe() error
}

var _ Replica = (*replica.Replica)(nil)

// Server is what the loops need of the server: the gate calls of
// sync/client.
type Server interface {
	Upload(ctx context.Context, req *wire.UploadRequest) (*wire.UploadResponse, error)
	Changes(ctx context.Context, cursor string, wait time.Duration) (*wire.Changes, error)
	Snapshot(ctx context.Context) (*wire.Snapshot, error)
}

var _ Server = (*client.Client)(nil)

// Defaults of Config (docs/sync-protocol.md §4.1, §7.1).
const (
	DefaultBase       = time.Second
	DefaultCap        = 60 * time.Second
	DefaultStartDelay = 5 * time.Second
	DefaultIdle       = 60 * time.Second
	DefaultPollMin    = 20 * time.Second
	DefaultPollMax    = 30 * time.Second
	DefaultWatch      = 100 * time.Millisecond
)

// Config sets up a Syncer. Replica and Server are required; zero durations
// take the defaults above.
type Config struct {
	Replica Replica
	Server  Server
	// Forget deletes the gate's credential; it runs after the replica was
	// wiped on revocation. nil: nothing more to delete.
	Forget func() error
	// OnChange, if set, is called with the new status whenever it changes,
	// from the loops' goroutines; it must not block for long.
	OnChange func(Status)

	Clock  Clock                                 // nil: the system clock
	Jitter func(max time.Duration) time.Duration // uniform in [0, max); nil: math/rand/v2

	Base, Cap  time.Duration // backoff: uniform [0, min(Cap, Base × 2^attempt))
	StartDelay time.Duration // random delay before the first request, and the spread when connectivity returns
	Idle       time.Duration // the uploader sends an empty upload this often when nothing is pending
	PollMin    time.Duration // long-poll wait, uniform in [PollMin, PollMax)
	PollMax    time.Duration
	Watch      time.Duration // how often Run looks for records another process committed to the replica
}

// Status is the sync state kido-gate shows.
type Status struct {
	Online    bool      // the last request, on either loop, reached the server
	Contact   time.Time // device time of the last request that reached the server
	LastSync  time.Time // server time of the last accepted upload or applied feed answer, by any process (read from the replica at start and when another process commits)
	Pending   int       // records not acknowledged by the server (admissions + audits), as last counted
	Error     string    // the last failure on either loop; "" after a success on both
	Refused   string    // the server refuses this gate's uploads: call the operator
	Conflict  bool      // the server quarantined records of this gate: call the operator
	Revoked   bool      // the gate was revoked; replica and credential are gone
	Discarded int       // with Revoked: records that were never uploaded
	Moved     Report    // everything moved since the Syncer started

	errLoop string // the loop whose failure Error holds
}

// Connecting reports that no request has been answered, or has failed,
// since the Syncer started: Online does not say anything yet.
func (st Status) Connecting() bool { return st.Contact.IsZero() && st.Error == "" }

// Report counts what moved.
type Report struct {
	Uploads     int    `json:"uploads"`     // upload requests answered
	Admissions  int    `json:"admissions"`  // admissions sent in answered uploads
	Audits      int    `json:"audits"`      // audit records sent in answered uploads
	Stored      int    `json:"stored"`      // records the server newly stored
	Duplicates  int    `json:"duplicates"`  // records it already had
	Quarantined int    `json:"quarantined"` // records it quarantined (409)
	Polls       int    `json:"polls"`       // feed answers applied
	Changes     int    `json:"changes"`     // changes in them
	Learned     int    `json:"learned"`     // admissions new to the replica
	Conflicting int    `json:"conflicting"` // admissions held beside an own one of the same key
	Resnapshots int    `json:"resnapshots"` // snapshots applied because the server said so
	Acked       uint64 `json:"acked"`       // the server's last acknowledgement of admissions
	AuditAcked  uint64 `json:"audit_acked"` // and of audit records

	Pulled replica.Kinds `json:"pulled"` // the changes by kind: they add up to Changes
}

func (r *Report) add(o Report) {
	r.Uploads += o.Uploads
	r.Admissions += o.Admissions
	r.Audits += o.Audits
	r.Stored += o.Stored
	r.Duplicates += o.Duplicates
	r.Quarantined += o.Quarantined
	r.Polls += o.Polls
	r.Changes += o.Changes
	r.Learned += o.Learned
	r.Conflicting += o.Conflicting
	r.Pulled.Add(o.Pulled)
	r.Resnapshots += o.Resnapshots
	if o.Uploads > 0 {
		r.Acked, r.AuditAcked = o.Acked, o.AuditAcked
	}
}

// ErrRevoked is returned by Run and Round when the server said the gate
// was revoked; the replica and credential have been deleted by then.
var ErrRevoked = gate.ErrRevoked

// A Syncer runs a gate's sync. Its methods are safe for concurrent use.
type Syncer struct {
	cfg     Config
	backoff Backoff
	nudge   chan struct{}

	mu         sync.Mutex
	status     Status
	back       chan struct{} // closed and replaced when connectivity returns
	revoked    error         // set once, on revocation
	revokeOnce sync.Once
	stopLoops  context.CancelFunc
}

// New returns a Syncer; Run or Round start it.
func New(cfg Config) *Syncer {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Base, DefaultBase)
	def(&cfg.Cap, DefaultCap)
	def(&cfg.StartDelay, DefaultStartDelay)
	def(&cfg.Idle, DefaultIdle)
	def(&cfg.PollMin, DefaultPollMin)
	def(&cfg.PollMax, DefaultPollMax)
	def(&cfg.Watch, DefaultWatch)
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Jitter == nil {
		cfg.Jitter = uniform
	}
	return &Syncer{
		cfg:     cfg,
		backoff: Backoff{Base: cfg.Base, Cap: cfg.Cap, Jitter: cfg.Jitter},
		nudge:   make(chan struct{}, 1),
		back:    make(chan struct{}),
	}
}

// Heartbeat returns the heartbeat function for client.NewGate: the
// version, the replica's pending count and last sync, the free space free
// reports (nil: none) and the device clock, read when each request is
// sent. What cannot be read is left absent.
func Heartbeat(r Replica, version string, now func() time.Time, free func() (int64, error)) func() wire.Heartbeat {
	return func() wire.Heartbeat {
		hb := wire.Heartbeat{Version: version, Pending: -1, Free: -1, Time: now()}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if n, m, err := r.Pending(ctx); err == nil {
			hb.Pending = int64(n + m)
		}
		if t, err := r.LastSync(ctx); err == nil {
			hb.Synced = t
		}
		if free != nil {
			if n, err := free(); err == nil {
				hb.Free = n
			}
		}
		return hb
	}
}

// Nudge tells the uploader a new record is waiting: it sends at once
// unless an upload is in flight (then right after it).
func (s *Syncer) Nudge() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// Status returns the current sync state.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Syncer) update(fn func(*Status)) {
	s.mu.Lock()
	before := s.status
	fn(&s.status)
	after := s.status
	s.mu.Unlock()
	if s.cfg.OnChange != nil && after != before {
		s.cfg.OnChange(after)
	}
}

// reconnected returns the channel closed when connectivity next returns.
func (s *Syncer) reconnected() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.back
}

// Run syncs until ctx ends or the gate is revoked: the uploader and the
// puller run side by side, each waiting StartDelay at random first, and a
// watcher nudges the uploader when another process records something in
// the replica. It returns ctx's error, or an error wrapping ErrRevoked
// after the wipe.
func (s *Syncer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.stopLoops = cancel
	s.mu.Unlock()
	// The watcher's baseline is read before the count, so that a record
	// committed in between is either counted here or seen by the watcher.
	seen, _ := s.cfg.Replica.DataVersion(ctx) // if unreadable, the first reading counts as a change
	s.refresh(ctx)
	// A real ticker, not Config.Clock: it paces a local look at a file, not
	// a wait of the protocol, and a test clock that fires at once would
	// make it spin.
	tick := time.NewTicker(s.cfg.Watch)
	defer tick.Stop()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.loop(ctx, &loopState{name: "upload"}, s.uploadStep) }()
	go func() { defer wg.Done(); s.loop(ctx, &loopState{name: "pull"}, s.pullStep) }()
	go func() { defer wg.Done(); s.watch(ctx, seen, tick.C) }()
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked != nil {
		return s.revoked
	}
	return ctx.Err()
}

// loopState is one loop's backoff state.
type loopState struct {
	name    string
	attempt int  // consecutive failures
	failing bool // the last request failed
}

// A step makes one request and records its answer. idle means nothing is
// waiting: the uploader then sleeps until nudged or Idle has passed;
// otherwise the loop goes on at once.
type step func(ctx context.Context) (idle bool, err error)

// loop runs one loop's state machine (docs/sync-protocol.md §9.1).
func (s *Syncer) loop(ctx context.Context, l *loopState, st step) {
	if s.sleep(ctx, s.cfg.Jitter(s.cfg.StartDelay), nil, false) != nil {
		return
	}
	for ctx.Err() == nil {
		idle, err := st(ctx)
		if err == nil {
			s.succeeded(l)
			if idle && s.sleep(ctx, s.cfg.Idle, s.nudge, false) != nil {
				return
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		wait, reconnectable, fatal := s.failed(ctx, l, err)
		if fatal {
			return
		}
		if s.sleep(ctx, wait, nil, reconnectable) != nil {
			return
		}
	}
}

// succeeded resets a loop's backoff and, if it had been failing, tells the
// other loop that connectivity is back.
func (s *Syncer) succeeded(l *loopState) {
	l.attempt = 0
	if !l.failing {
		return
	}
	l.failing = false
	s.mu.Lock()
	close(s.back)
	s.back = make(chan struct{})
	s.mu.Unlock()
}

// failed classifies a failure and returns how long to wait, whether that
// wait is a backoff that returning connectivity may cut short, and whether
// the loop must stop (revocation).
func (s *Syncer) failed(ctx context.Context, l *loopState, err error) (wait time.Duration, reconnectable, fatal bool) {
	var ce *client.Error
	isClient := errors.As(err, &ce)
	reached := isClient && ce.Status != 0
	network := (isClient && ce.Status == 0) || errors.Is(err, context.DeadlineExceeded)
	msg := firstLine(err.Error())
	if errors.Is(err, client.ErrUntrusted) {
		// A forged answer is a fault to act on, not a passing outage: the
		// status carries its hint (docs/sync-protocol.md §13.3).
		msg += "; hint: " + ce.Hint
	}
	if reached {
		s.contact(ctx, "")
	} else if network {
		s.contact(ctx, fmt.Sprintf("%s: %s", l.name, msg))
	}
	s.update(func(st *Status) { st.Error, st.errLoop = l.name+": "+msg, l.name })
	switch {
	case reached && ce.Status == http.StatusUnauthorized && ce.Code == wire.CodeGateRevoked:
		s.revoke(ctx)
		return 0, false, true
	case reached && (ce.Status == http.StatusTooManyRequests || ce.Status == http.StatusServiceUnavailable) && ce.RetryAfter > 0:
		return s.backoff.Paced(ce.RetryAfter), false, false
	case reached && ce.Status >= 400 && ce.Status < 500:
		// 400, 403, 413, 401 unauthorized: it will not cure itself.
		if l.name == "upload" {
			s.cfg.Replica.SetRefused(ctx, firstLine(err.Error()))
			s.update(func(st *Status) { st.Refused = firstLine(err.Error()) })
		}
		return s.cfg.Cap, false, false
	}
	// A network failure, a timeout, a 5xx, or the replica itself failing.
	l.failing = l.failing || network || reached
	wait = s.backoff.Wait(l.attempt)
	l.attempt++
	return wait, true, false
}

// contact records whether the last request reached the server.
func (s *Syncer) contact(ctx context.Context, errMsg string) {
	s.cfg.Replica.SetContactError(ctx, errMsg)
	s.update(func(st *Status) {
		st.Online = errMsg == ""
		if st.Online {
			st.Contact = s.cfg.Clock.Now()
		}
	})
}

// sleep waits d, or less: until ctx ends or wake fires; and, when
// reconnectable, connectivity returning on the other loop cuts the rest to
// a random moment within StartDelay (docs/sync-protocol.md §7.1).
func (s *Syncer) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}, reconnectable bool) error {
	// Take the reconnection signal before the timer: a reconnection that
	// comes as the timer is set still cuts this wait.
	var back <-chan struct{}
	if reconnectable {
		back = s.reconnected()
	}
	deadline := s.cfg.Clock.Now().Add(d)
	timer := s.cfg.Clock.After(d)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer:
			return nil
		case <-wake:
			return nil
		case <-back:
			back = nil
			if j := s.cfg.Jitter(s.cfg.StartDelay); j < deadline.Sub(s.cfg.Clock.Now()) {
				timer = s.cfg.Clock.After(j)
			}
		}
	}
}

// revoke stops both loops and wipes the replica and the credential
// (docs/sync-protocol.md §8). It runs once.
func (s *Syncer) revoke(ctx context.Context) {
	s.revokeOnce.Do(func() {
		s.mu.Lock()
		stop := s.stopLoops
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
		n, m, _ := s.cfg.Replica.Pending(context.WithoutCancel(ctx))
		err := s.cfg.Replica.Wipe()
		if err == nil && s.cfg.Forget != nil {
			err = s.cfg.Forget()
		}
		msg := fmt.Errorf("%w; %d records not uploaded were discarded\nhint: re-enrol to use this device: kido-gate enroll -server URL -code CODE", ErrRevoked, n+m)
		if err != nil {
			msg = fmt.Errorf("%w; wiping it failed: %v\nhint: delete the gate's data directory by hand", ErrRevoked, err)
		}
		s.mu.Lock()
		s.revoked = msg
		s.mu.Unlock()
		s.update(func(st *Status) {
			st.Revoked, st.Discarded, st.Pending, st.Error = true, n+m, 0, firstLine(msg.Error())
		})
	})
}

// watch nudges the uploader, at each tick, if another connection has
// committed to the replica since the last look (kido-gate scan or admit in
// another process: nothing nudges the uploader there) and records wait for
// upload; seen is the replica's data version at the last look. A tick
// costs one PRAGMA on the replica's connection, a scan in this process
// nothing: its own commits do not move the version, and kido-gate run
// nudges after its scans itself.
func (s *Syncer) watch(ctx context.Context, seen int64, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		v, err := s.cfg.Replica.DataVersion(ctx)
		if err != nil || v == seen {
			continue
		}
		seen = v
		if s.refresh(ctx) > 0 {
			s.Nudge()
		}
	}
}

// refresh reads from the replica what the status shows and another
// process may have changed: the records waiting for upload and the last
// sync. It returns the records waiting (0 if they cannot be counted).
func (s *Syncer) refresh(ctx context.Context) (pending int) {
	n, m, perr := s.cfg.Replica.Pending(ctx)
	last, lerr := s.cfg.Replica.LastSync(ctx)
	s.update(func(st *Status) {
		if perr == nil {
			st.Pending = n + m
		}
		if lerr == nil && last.After(st.LastSync) {
			st.LastSync = last
		}
	})
	if perr != nil {
		return 0
	}
	return n + m
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
