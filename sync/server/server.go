package server

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Config configures a Server.
type Config struct {
	Store     Store
	MasterKey []byte // MasterKeySize bytes; seals every private key
	Version   string // reported in wire.Server and in the metrics' kido_build_info
	Revision  string // VCS revision of the build, for kido_build_info
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	Rand      io.Reader        // nil: crypto/rand
	// CodeTTL is how long an enrolment code stays usable (default 24 h).
	CodeTTL time.Duration
	// Load budgets (docs/sync-protocol.md §7.2): uploads worked on at once
	// (default 4, with four times as many queued for up to 2 s), long-polls
	// waiting (default 2,048), snapshots sent at once (default 2), and
	// feed pages read from the store at once (default one less than
	// GOMAXPROCS, at least 1).
	UploadWorkers, LongPolls, Snapshots, FeedReads int
	// Retention is how long change-log rows are kept at least (default and
	// minimum 7 days; rows of an event are also kept until 24 h after its
	// end).
	Retention time.Duration
	// TLSExpiry is when the served TLS certificate expires (zero: no TLS);
	// health and the log warn 30 days ahead.
	TLSExpiry time.Time
	// DataDir is the directory the database writes in; health reports its
	// free space and fails when less than MinFree (default DefaultMinFree)
	// is left. Empty: free space is not checked.
	DataDir string
	MinFree int64
	// BodyWait is how long a request body may take to arrive (default
	// DefaultBodyWait; issue chunks get 2 min).
	BodyWait time.Duration
}

// MinRetention is the shortest change-log retention (docs/sync-protocol.md
// §4.4).
const MinRetention = 7 * 24 * time.Hour

// Server is the kido server core. Use Handler to serve its API.
type Server struct {
	store      Store
	seal       *sealer
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	codeTTL    time.Duration
	identity   ed25519.PrivateKey
	info       wire.Server
	enrolGuard *enrolGuard

	feed      *hub
	pages     *pageCache
	marks     *marks
	hbs       heartbeats
	meshAddrs meshAddrs // each gate's mesh address as last stored
	gateKeys  gateKeys  // the gates' public keys, for upload signature checks
	uploads   *budget
	uploading inflight // gates with an upload in progress
	polling   inflight // gates with a long-poll in progress
	snapping  inflight // gates with a snapshot in progress
	// lastUploadShed is when an upload was last shed (Unix ns, 0: never).
	lastUploadShed atomic.Int64
	polls          chan struct{} // one place per long-poll
	snapshots      chan struct{} // one place per snapshot being sent
	feedReads      chan struct{} // one place per feed page being read
	retention      time.Duration
	bodyWait       time.Duration
	conns          atomic.Pointer[limitListener] // nil until Listener
	tlsExpiry      time.Time
	metrics        *metrics
	pendingSince   pendingSince
	warns          atomic.Pointer[[]string]
	checks         dbChecks // the database checks behind health
	dataDir        string
	minFree        int64
	wasSilent      map[uint32]bool // gates silent at the last check (Run only)
	// doubles is each event's double-entry count at the last check and
	// the version of its log read before it was counted (Run only).
	doubles map[uint32]counted
}

// counted is a figure counted from an event's log at a logVersion, at
// server time when.
type counted struct {
	at   logVersion
	when time.Time
	n    int
}

// New opens the server's identity (making one on first start) and returns
// the server. It fails when the master key does not open the stored keys.
func New(ctx context.Context, cfg Config) (*Server, error) {
	seal, err := newSealer(cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:   cfg.Store,
		seal:    seal,
		log:     cfg.Logger,
		now:     cfg.Now,
		rand:    cfg.Rand,
		codeTTL: cfg.CodeTTL,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.codeTTL == 0 {
		s.codeTTL = 24 * time.Hour
	}
	workers := cmp.Or(cfg.UploadWorkers, 4)
	s.uploads = newBudget(workers, 4*workers, uploadQueueWait)
	s.polls = make(chan struct{}, cmp.Or(cfg.LongPolls, 2048))
	s.snapshots = make(chan struct{}, cmp.Or(cfg.Snapshots, 2))
	s.feedReads = make(chan struct{}, cmp.Or(cfg.FeedReads, max(1, runtime.GOMAXPROCS(0)-1)))
	s.feed = newHub()
	s.pages = newPageCache()
	s.marks = newMarks()
	s.retention = max(cfg.Retention, MinRetention)
	s.bodyWait = cmp.Or(cfg.BodyWait, DefaultBodyWait)
	s.tlsExpiry = cfg.TLSExpiry
	s.dataDir, s.minFree = cfg.DataDir, cmp.Or(cfg.MinFree, DefaultMinFree)
	s.enrolGuard = newEnrolGuard(s.now, s.codeTTL)
	if err := s.loadIdentity(ctx); err != nil {
		return nil, err
	}
	s.info.Version = cfg.Version
	s.metrics = newMetrics(s, cfg)
	return s, nil
}

const purposeIdentity, purposeSigning = "identity", "signing"

func (s *Server) loadIdentity(ctx context.Context) error {
	sk, err := s.store.Identity(ctx)
	if errors.Is(err, ErrNotFound) {
		fresh, err := s.newSealedKey(purposeIdentity)
		if err != nil {
			return err
		}
		sk, err = s.store.SetIdentity(ctx, fresh)
		if err != nil {
			return fmt.Errorf("server: store identity: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("server: load identity: %w", err)
	}
	priv, err := s.unseal(sk, purposeIdentity)
	if err != nil {
		return err
	}
	s.identity = ed25519.NewKeyFromSeed(priv.Seed())
	s.info.ID = sk.Public.String()
	s.info.Fingerprint = wire.Fingerprint(sk.Public.Bytes())
	return nil
}

// Info returns the server's identity as gates see it.
func (s *Server) Info() wire.Server { return s.info }

// newSealedKey makes a fresh Ed25519 key and seals its seed.
func (s *Server) newSealedKey(purpose string) (SealedKey, error) {
	priv, err := ticket.GenerateKey(s.rand)
	if err != nil {
		return SealedKey{}, err
	}
	pub := priv.Public()
	sealed, err := s.seal.seal(priv.Seed(), purpose, pub.Bytes())
	if err != nil {
		return SealedKey{}, err
	}
	return SealedKey{Public: pub, Sealed: sealed}, nil
}

func (s *Server) unseal(k SealedKey, purpose string) (ticket.PrivateKey, error) {
	seed, err := s.seal.open(k.Sealed, purpose, k.Public.Bytes())
	if err != nil {
		return ticket.PrivateKey{}, err
	}
	priv, err := ticket.NewPrivateKeyFromSeed(seed)
	if err != nil {
		return ticket.PrivateKey{}, err
	}
	if !priv.Public().Equal(k.Public) {
		return ticket.PrivateKey{}, errUnseal
	}
	return priv, nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TokenPrefix starts every token secret, so that a leaked one is easy to
// recognise (and to search for in logs).
const TokenPrefix = "kido_"

// newSecret returns a fresh token secret with 160 random bits.
func (s *Server) newSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("server: token: %w", err)
	}
	return TokenPrefix + b32.EncodeToString(b), nil
}

// EnsureAdminToken makes the first admin token when the store holds no
// token at all. save is given the secret before it is stored, so that a
// token nobody could read is never created; created reports whether one
// was made.
func (s *Server) EnsureAdminToken(ctx context.Context, save func(secret string) error) (created bool, err error) {
	n, err := s.store.CountTokens(ctx)
	if err != nil {
		return false, fmt.Errorf("server: count tokens: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	secret, err := s.newSecret()
	if err != nil {
		return false, err
	}
	if err := save(secret); err != nil {
		return false, err
	}
	t := NewToken{Token: wire.Token{Name: "admin (first start)", Scope: wire.ScopeAdmin}, Hash: HashToken(secret)}
	if _, err := s.store.CreateToken(ctx, t, s.now()); err != nil {
		return false, fmt.Errorf("server: store admin token: %w", err)
	}
	return true, nil
}

// Handler returns the HTTP handler of the API under /v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/health", s.public(s.health))

	mux.Handle("POST /v1/events", s.authed(adminOnly, s.createEvent))
	mux.Handle("GET /v1/events", s.authed(anyEvent, s.listEvents))
	mux.Handle("GET /v1/events/{event}", s.authed(pathEvent, s.showEvent))
	mux.Handle("POST /v1/events/{event}/tiers", s.authed(pathEvent, s.addTier))
	mux.Handle("PATCH /v1/events/{event}", s.authed(pathEvent, s.editEvent))
	mux.Handle("PATCH /v1/events/{event}/tiers/{tier}", s.authed(pathEvent, s.editTier))
	mux.Handle("PATCH /v1/events/{event}/gates/{gate}", s.authed(pathEvent, s.editGate))
	mux.Handle("GET /v1/events/{event}/history", s.authed(pathEvent, s.history))

	mux.Handle("GET /v1/keys", s.authed(queryEvent, s.listKeys))
	mux.Handle("POST /v1/events/{event}/keys", s.authed(pathEvent, s.rotateKey))
	mux.Handle("POST /v1/keys/{key}/revoke", s.authed(anyEvent, s.revokeKey))

	mux.Handle("POST /v1/events/{event}/tickets", slowBody(s.authed(pathEvent, s.issue)))
	mux.Handle("POST /v1/events/{event}/revocations", s.authed(pathEvent, s.revoke))
	mux.Handle("POST /v1/events/{event}/reissues", s.authed(pathEvent, s.reissue))

	mux.Handle("POST /v1/events/{event}/gates", s.authed(pathEvent, s.addGate))
	mux.Handle("GET /v1/events/{event}/gates", s.authed(pathEvent, s.listGates))
	mux.Handle("POST /v1/events/{event}/gates/{gate}/revoke", s.authed(pathEvent, s.revokeGate))
	mux.Handle("POST /v1/events/{event}/gates/{gate}/void", s.authed(pathEvent, s.voidGate))
	mux.Handle("GET /v1/events/{event}/report", s.authed(pathEvent, s.report))
	mux.Handle("GET /v1/events/{event}/conflicts", s.authed(pathEvent, s.conflicts))
	mux.Handle("POST /v1/events/{event}/conflicts/{serial}/review", s.authed(pathEvent, s.reviewConflict))
	mux.Handle("GET /v1/events/{event}/admissions", s.authed(pathEvent, s.admissions))
	mux.Handle("GET /v1/events/{event}/tickets", s.authed(pathEvent, s.tickets))
	mux.Handle("POST /v1/events/{event}/deliveries", s.authed(pathEvent, s.deliver))
	mux.Handle("POST /v1/enroll", s.public(s.enroll))
	mux.Handle("POST /v1/identity", s.public(s.proveIdentity))
	mux.Handle("GET /v1/gate/snapshot", s.authedStream(gateOnly, s.snapshot))
	mux.Handle("POST /v1/gate/upload", s.authedStream(gateOnly, s.upload))
	mux.Handle("GET /v1/gate/changes", s.authedStream(gateOnly, s.changes))
	mux.Handle("GET /metrics", s.serveMetrics())

	mux.Handle("POST /v1/tokens", s.authed(adminOnly, s.createToken))
	mux.Handle("GET /v1/tokens", s.authed(adminOnly, s.listTokens))
	mux.Handle("POST /v1/tokens/{id}/revoke", s.authed(adminOnly, s.revokeToken))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, Errorf(ErrNotFound, "see docs/api.md for the endpoints", "no endpoint %s %s", r.Method, r.URL.Path))
	})
	return s.logged(mux)
}
