package staffapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // camera frames arrive as JPEG or PNG
	_ "image/png"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/ticket/qr"
)

//go:embed assets
var assets embed.FS

// Replica is what the staff app needs from the gate's replica;
// *replica.Replica has it all.
type Replica interface {
	Scan(ctx context.Context, line gate.Line, exit bool) (gate.Decision, error)
	Glance(ctx context.Context, period time.Duration) (replica.Glance, error)
	Tally(ctx context.Context) (replica.Tally, error)
	Find(ctx context.Context, query string, limit int) ([]replica.Match, error)
	History(ctx context.Context, serial uint32) ([]replica.Pass, error)
	LastOwn(ctx context.Context) (replica.Last, error)
	Undo(ctx context.Context) (replica.Last, kido.Admission, error)
}

var _ Replica = (*replica.Replica)(nil)

// SyncState is the sync loop's state as the page shows it.
type SyncState struct {
	Connecting bool
	Online     bool
	Error      string // why the last request failed
	Refused    string // the server refuses this gate's records
	Conflict   bool
	Revoked    bool
}

// Config wires a Handler to its gate.
type Config struct {
	Replica Replica
	// Admit records a manual admission with the staff's reason, under the
	// same checks as a scan. Nil: the page offers no manual admission.
	Admit func(ctx context.Context, serial uint32, reason string) (gate.Decision, error)
	// Sync reports the sync loop's state; nil when the gate does not sync.
	Sync func() SyncState
	// Scanned is called after each recorded decision (to nudge the
	// uploader); may be nil.
	Scanned func()
	// Hosts are the Host header values the API accepts: the addresses the
	// page is opened at (see AllowedHosts).
	Hosts []string
	// PIN locks find, manual admission, history and undo; "" leaves them
	// open.
	PIN string
	// Now is the device clock for unlock expiry and PIN back-off; nil is
	// time.Now.
	Now func() time.Time
	// TallyEvery is how old the counts of the whole replica (tickets,
	// admitted, inside) may grow before they are counted again, in the
	// background; 0 is DefaultTallyEvery. A count that took d waits at
	// least TallyCost × d before the next.
	TallyEvery time.Duration
}

// DefaultTallyEvery is how fresh the counts of a small replica are.
const DefaultTallyEvery = 10 * time.Second

// TallyCost bounds the time spent counting to one part in TallyCost of one
// core: counting a replica of a million admissions takes seconds, which
// the scans beside it would feel.
const TallyCost = 20

// UnlockFor is how long an unlock lasts after its last use.
const UnlockFor = 2 * time.Minute

// Wrong PINs: after maxTries in a row, each further try waits backoff,
// doubling up to maxBackoff.
const (
	maxTries   = 5
	backoff    = 30 * time.Second
	maxBackoff = 15 * time.Minute
)

// Header names of the API.
const (
	StaffHeader  = "X-Kido-Staff"  // must be "1" on every API request
	UnlockHeader = "X-Kido-Unlock" // the token /api/unlock returned
)

// Body limits: a scan line is gate.MaxLine at most; a camera frame is a
// JPEG the page scales to 960 pixels wide at most (1280 high for a
// portrait camera). A bigger picture would cost the gate seconds to decode.
const (
	maxJSON      = 16 << 10
	maxFrame     = 4 << 20
	maxFrameSide = 1280
)

// repeatWindow: a camera sees the same code in many frames; the same text
// again within this window is not scanned again.
const repeatWindow = 5 * time.Second

// Handler serves the page and its API.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	hosts map[string]bool

	mu        sync.Mutex
	tokens    map[string]time.Time // unlock token → expiry
	fails     int
	waitUntil time.Time
	lastCam   string
	lastCamAt time.Time
	verdicts  uint64
	tally     replica.Tally
	tallied   time.Time // device time the tally was taken; zero before the first
	tallyTook time.Duration
	recorded  bool // a passage was recorded since the tally was started
	tallying  bool // a tally is being taken in the background
}

// New returns the staff app's handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TallyEvery == 0 {
		cfg.TallyEvery = DefaultTallyEvery
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), hosts: map[string]bool{}, tokens: map[string]time.Time{}}
	for _, host := range cfg.Hosts {
		h.hosts[strings.ToLower(host)] = true
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed pattern names the directory
	}
	h.mux.Handle("GET /", http.FileServerFS(static))
	h.mux.HandleFunc("GET /api/state", h.state)
	h.mux.HandleFunc("POST /api/scan", h.scan)
	h.mux.HandleFunc("POST /api/frame", h.frame)
	h.mux.HandleFunc("POST /api/unlock", h.unlock)
	h.mux.HandleFunc("POST /api/lock", h.lock)
	h.mux.HandleFunc("GET /api/find", h.locked(h.find))
	h.mux.HandleFunc("GET /api/history", h.locked(h.history))
	h.mux.HandleFunc("POST /api/admit", h.locked(h.admit))
	h.mux.HandleFunc("GET /api/undo", h.locked(h.lastOwn))
	h.mux.HandleFunc("POST /api/undo", h.locked(h.undo))
	return h
}

// AllowedHosts returns the Host values a page opened at addr (host:port, as
// listened on) may send: addr itself and, for a loopback address, the
// other names of loopback with the same port.
func AllowedHosts(addr string) []string {
	hosts := []string{addr}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return hosts
	}
	host, port := strings.Trim(addr[:i], "[]"), addr[i+1:]
	if host == "127.0.0.1" || host == "::1" || host == "localhost" {
		hosts = append(hosts, "127.0.0.1:"+port, "localhost:"+port, "[::1]:"+port)
	}
	return hosts
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if !h.hosts[strings.ToLower(r.Host)] {
		apiError(w, http.StatusMisdirectedRequest, "staffapp: host %q is not this gate's address", r.Host)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		hd.Set("Cache-Control", "no-store")
		if err := h.sameOrigin(r); err != nil {
			apiError(w, http.StatusForbidden, "%v", err)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// sameOrigin refuses an API request that a page of another origin could
// have made (docs/staff-app.md, "Security").
func (h *Handler) sameOrigin(r *http.Request) error {
	if r.Header.Get(StaffHeader) != "1" {
		return fmt.Errorf("staffapp: missing %s header", StaffHeader)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return fmt.Errorf("staffapp: origin %q is not this gate's page", o)
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return fmt.Errorf("staffapp: a %s request", s)
	}
	if r.Method == http.MethodPost && r.URL.Path != "/api/frame" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return errors.New("staffapp: the body must be application/json")
	}
	return nil
}

func apiError(w http.ResponseWriter, status int, format string, a ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, a...)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "staffapp: bad request body: %v", err)
		return false
	}
	return true
}

// State is GET /api/state.
type State struct {
	Event       string     `json:"event"`
	TimeZone    string     `json:"time_zone,omitempty"` // the event's IANA zone, when this machine knows it: the page shows times in it
	Gate        string     `json:"gate"`
	Direction   string     `json:"direction"` // entry, exit or both
	Sync        string     `json:"sync"`      // off, connecting, online, offline, refused, conflict, revoked
	SyncError   string     `json:"sync_error,omitempty"`
	Pending     int        `json:"pending"` // records not yet acknowledged by the server
	LastSync    *time.Time `json:"last_sync,omitempty"`
	ClockBehind float64    `json:"clock_behind_seconds"` // > 0 when the device clock cannot be trusted
	Tickets     int        `json:"tickets"`
	Admitted    int        `json:"admitted"`
	Inside      int        `json:"inside"`
	PerMinute   int        `json:"per_minute"` // this gate's scans in the last minute
	PIN         bool       `json:"pin"`        // find and admit need the PIN
	Unlocked    bool       `json:"unlocked"`   // the request's unlock token is valid
	Manual      bool       `json:"manual"`     // manual admission is offered
	Now         time.Time  `json:"now"`        // trusted time
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, err := h.cfg.Replica.Glance(ctx, time.Minute)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	t, err := h.counts(ctx)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	s := State{
		Event: g.Event.Name, Gate: g.Gate.Name, Direction: string(g.Gate.Direction),
		Pending: g.Pending, Tickets: t.Tickets, Admitted: t.Admitted, Inside: t.Inside, PerMinute: g.Recent,
		PIN: h.cfg.PIN != "", Unlocked: h.unlocked(r), Manual: h.cfg.Admit != nil, Now: g.Clock.Trusted,
	}
	// Times on the page are the venue's wall clock, also on a kiosk whose
	// device zone is UTC (as kidoctl and kido-gate show them: evtime).
	if g.Event.Location(nil) != nil {
		s.TimeZone = g.Event.TimeZone
	}
	if g.Clock.DeviceBehind() {
		s.ClockBehind = g.Clock.Behind.Seconds()
	}
	if !g.LastSync.IsZero() {
		s.LastSync = &g.LastSync
	}
	s.Sync = "off"
	if h.cfg.Sync != nil {
		ss := h.cfg.Sync()
		switch {
		case ss.Revoked:
			s.Sync = "revoked"
		case ss.Refused != "":
			s.Sync, s.SyncError = "refused", ss.Refused
		case ss.Conflict:
			s.Sync = "conflict"
		case ss.Connecting:
			s.Sync = "connecting"
		case ss.Online:
			s.Sync = "online"
		default:
			s.Sync, s.SyncError = "offline", ss.Error
		}
	}
	writeJSON(w, http.StatusOK, s)
}

// counts returns the tally of the whole replica: counted now the first
// time, afterwards the last one taken, with a new one started in the
// background once it is older than TallyCost times what the last one took
// and either this page recorded a passage since or it is older than
// TallyEvery (for what other gates recorded).
func (h *Handler) counts(ctx context.Context) (replica.Tally, error) {
	h.mu.Lock()
	first := h.tallied.IsZero()
	age, least := h.cfg.Now().Sub(h.tallied), TallyCost*h.tallyTook
	due := !first && !h.tallying && age >= least && (h.recorded || age >= h.cfg.TallyEvery)
	if due {
		h.tallying, h.recorded = true, false
	}
	h.mu.Unlock()
	switch {
	case first:
		return h.takeTally(ctx)
	case due:
		// A failed tally keeps the last one; a later state request tries
		// again.
		go h.takeTally(context.WithoutCancel(ctx))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tally, nil
}

func (h *Handler) takeTally(ctx context.Context) (replica.Tally, error) {
	start := time.Now() // the cost is measured on the monotonic clock, whatever Now says
	t, err := h.cfg.Replica.Tally(ctx)
	took := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tallying = false
	if err == nil {
		h.tally, h.tallied, h.tallyTook = t, h.cfg.Now(), took
	}
	return t, err
}

// Verdict is a decision as the page shows it.
type Verdict struct {
	ID       uint64    `json:"id"`       // counts verdicts since the gate started
	Decision string    `json:"decision"` // admit, reject, or undo (a staff undo: the admission named was annulled)
	Kind     string    `json:"kind,omitempty"`
	Reason   string    `json:"reason"` // a gate.Reason
	Serial   uint32    `json:"serial,omitempty"`
	TierName string    `json:"tier_name,omitempty"`
	Holder   string    `json:"holder,omitempty"`
	OrderRef string    `json:"order_ref,omitempty"`
	At       time.Time `json:"at"`
	// For replaced: the serial of the ticket that replaced this one.
	ReplacedBy uint32 `json:"replaced_by,omitempty"`
	// For already_used: the passage that makes this one too many.
	First *First `json:"first,omitempty"`
	// For fault: what is wrong, in English (the replica's words).
	Error string `json:"error,omitempty"`
}

// First is the earlier passage an already_used verdict names.
type First struct {
	GateName   string    `json:"gate_name"`
	At         time.Time `json:"at"`
	Here       bool      `json:"here"`
	Manual     bool      `json:"manual"`
	AgoSeconds int64     `json:"ago_seconds"`
}

func (h *Handler) verdict(d gate.Decision, err error) Verdict {
	h.mu.Lock()
	h.verdicts++
	id := h.verdicts
	h.recorded = h.recorded || (d.Admit && err == nil)
	h.mu.Unlock()
	v := Verdict{ID: id, Decision: "reject", Kind: d.Kind, Reason: string(d.Reason), Serial: d.Serial,
		TierName: d.TierName, Holder: d.Holder, OrderRef: d.OrderRef, At: d.At, ReplacedBy: d.ReplacedBy}
	if d.Admit {
		v.Decision = "admit"
	}
	if err != nil {
		v.Decision, v.Reason = "reject", string(gate.Fault)
		v.Error, _, _ = strings.Cut(err.Error(), "\n")
	}
	if p := d.Prior; p != nil {
		name := d.PriorGateName
		if name == "" {
			name = fmt.Sprintf("gate %d", p.Gate)
		}
		v.First = &First{GateName: name, At: p.At, Here: d.Here, Manual: p.Kind == kido.KindManual, AgoSeconds: int64(d.Ago / time.Second)}
	}
	return v
}

type scanRequest struct {
	Text string `json:"text"`
	Exit bool   `json:"exit"`
}

func (h *Handler) scan(w http.ResponseWriter, r *http.Request) {
	var req scanRequest
	if !readJSON(w, r, &req) {
		return
	}
	h.record(w, r, req.Text, req.Exit)
}

// record decides on text as one scanned line and answers with the verdict,
// after the replica has committed it.
func (h *Handler) record(w http.ResponseWriter, r *http.Request, text string, exit bool) {
	line := gate.Line{Text: text, Length: int64(len(text))}
	if len(text) > gate.MaxLine {
		line = gate.Line{Text: text[:gate.MaxLine], Truncated: true, Length: int64(len(text))}
	}
	d, err := h.cfg.Replica.Scan(r.Context(), line, exit)
	if errors.Is(err, kido.ErrDirection) {
		apiError(w, http.StatusConflict, "%v", err) // a setting of the page, not a scan
		return
	}
	if h.cfg.Scanned != nil {
		h.cfg.Scanned()
	}
	writeJSON(w, http.StatusOK, h.verdict(d, err))
}

// FrameAnswer is POST /api/frame's answer.
type FrameAnswer struct {
	Found   bool     `json:"found"` // a new code was read and scanned
	Verdict *Verdict `json:"verdict,omitempty"`
}

// frame decodes a camera frame; a code read in it is scanned, unless it is
// the code just scanned from the camera (still in front of it).
func (h *Handler) frame(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "image/jpeg" && ct != "image/png" {
		apiError(w, http.StatusUnsupportedMediaType, "staffapp: a frame is image/jpeg or image/png, not %q", ct)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFrame))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, "staffapp: frame: %v", err)
		return
	}
	// Check the size before decoding: a small file can claim a huge picture.
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || cfg.Width > maxFrameSide || cfg.Height > maxFrameSide {
		apiError(w, http.StatusBadRequest, "staffapp: frame is not a picture of a usable size")
		return
	}
	img, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		apiError(w, http.StatusBadRequest, "staffapp: frame: %v", err)
		return
	}
	text, err := qr.Decode(img)
	if err != nil {
		writeJSON(w, http.StatusOK, FrameAnswer{})
		return
	}
	now := h.cfg.Now()
	h.mu.Lock()
	repeat := text == h.lastCam && now.Sub(h.lastCamAt) < repeatWindow
	h.lastCam, h.lastCamAt = text, now
	h.mu.Unlock()
	if repeat {
		writeJSON(w, http.StatusOK, FrameAnswer{})
		return
	}
	exit := r.URL.Query().Get("exit") == "1"
	line := gate.Line{Text: text, Length: int64(len(text))}
	d, err := h.cfg.Replica.Scan(r.Context(), line, exit)
	if errors.Is(err, kido.ErrDirection) {
		apiError(w, http.StatusConflict, "%v", err)
		return
	}
	if h.cfg.Scanned != nil {
		h.cfg.Scanned()
	}
	v := h.verdict(d, err)
	writeJSON(w, http.StatusOK, FrameAnswer{Found: true, Verdict: &v})
}

type unlockRequest struct {
	PIN string `json:"pin"`
}

// Unlock is POST /api/unlock's answer.
type Unlock struct {
	Token string `json:"token"`
}

func (h *Handler) unlock(w http.ResponseWriter, r *http.Request) {
	var req unlockRequest
	if !readJSON(w, r, &req) {
		return
	}
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.PIN == "" {
		apiError(w, http.StatusNotFound, "staffapp: this gate has no PIN")
		return
	}
	if now.Before(h.waitUntil) {
		w.Header().Set("Retry-After", strconv.Itoa(int(h.waitUntil.Sub(now)/time.Second)+1))
		apiError(w, http.StatusTooManyRequests, "staffapp: too many wrong PINs; wait %d s", int(h.waitUntil.Sub(now)/time.Second)+1)
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.PIN), []byte(h.cfg.PIN)) != 1 {
		h.fails++
		if h.fails >= maxTries {
			wait := backoff << min(h.fails-maxTries, 10)
			h.waitUntil = now.Add(min(wait, maxBackoff))
		}
		apiError(w, http.StatusForbidden, "staffapp: wrong PIN")
		return
	}
	h.fails = 0
	var b [16]byte
	rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	for t, exp := range h.tokens {
		if now.After(exp) {
			delete(h.tokens, t)
		}
	}
	h.tokens[tok] = now.Add(UnlockFor)
	writeJSON(w, http.StatusOK, Unlock{Token: tok})
}

func (h *Handler) lock(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	delete(h.tokens, r.Header.Get(UnlockHeader))
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

// unlocked reports whether r may use the locked functions: no PIN is set,
// or r carries a live unlock token (whose life it extends).
func (h *Handler) unlocked(r *http.Request) bool {
	if h.cfg.PIN == "" {
		return true
	}
	tok := r.Header.Get(UnlockHeader)
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.tokens[tok]
	if !ok || now.After(exp) {
		delete(h.tokens, tok)
		return false
	}
	h.tokens[tok] = now.Add(UnlockFor)
	return true
}

func (h *Handler) locked(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.unlocked(r) {
			apiError(w, http.StatusUnauthorized, "staffapp: locked; unlock with the staff PIN")
			return
		}
		fn(w, r)
	}
}

// Match is one line of GET /api/find.
type Match struct {
	Serial   uint32     `json:"serial"`
	TierName string     `json:"tier_name"`
	Holder   string     `json:"holder"`
	Reading  string     `json:"reading,omitempty"` // the holder's furigana, when the roster had it
	OrderRef string     `json:"order_ref"`
	Revoked  bool       `json:"revoked"`
	Entries  int        `json:"entries"`
	Exits    int        `json:"exits"`
	Last     *time.Time `json:"last,omitempty"`
}

// findLimit is how many matches the page lists.
const findLimit = 20

func (h *Handler) find(w http.ResponseWriter, r *http.Request) {
	ms, err := h.cfg.Replica.Find(r.Context(), r.URL.Query().Get("q"), findLimit)
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	out := make([]Match, len(ms))
	for i, m := range ms {
		out[i] = Match{Serial: m.Serial, TierName: m.TierName, Holder: m.Holder, Reading: m.Reading, OrderRef: m.OrderRef, Revoked: m.Revoked, Entries: m.Entries, Exits: m.Exits}
		if !m.Last.IsZero() {
			last := m.Last
			out[i].Last = &last
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Pass is one line of GET /api/history.
type Pass struct {
	GateName string    `json:"gate_name"`
	Here     bool      `json:"here"`
	Kind     string    `json:"kind"` // entry, exit, manual or undo
	At       time.Time `json:"at"`
	Undone   bool      `json:"undone,omitempty"` // annulled by an undo (listed too), counted nowhere
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	serial, err := strconv.ParseUint(r.URL.Query().Get("serial"), 10, 32)
	if err != nil {
		apiError(w, http.StatusBadRequest, "staffapp: serial %q is not a ticket serial", r.URL.Query().Get("serial"))
		return
	}
	ps, err := h.cfg.Replica.History(r.Context(), uint32(serial))
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	all := make([]kido.Passage, len(ps))
	for i, p := range ps {
		all[i] = p.Passage
	}
	counted := kido.CountedKeys(all, nil)
	out := make([]Pass, len(ps))
	for i, p := range ps {
		name := p.GateName
		if name == "" {
			name = fmt.Sprintf("gate %d", p.Gate)
		}
		out[i] = Pass{GateName: name, Here: p.Here, Kind: p.Kind, At: p.At,
			Undone: p.Kind != kido.KindUndo && !counted[kido.RecordKey{Gate: p.Gate, Seq: p.Seq}]}
	}
	writeJSON(w, http.StatusOK, out)
}

type admitRequest struct {
	Serial uint32 `json:"serial"`
	Reason string `json:"reason"`
}

// maxReason bounds a manual admission's reason.
const maxReason = 200

func (h *Handler) admit(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Admit == nil {
		apiError(w, http.StatusNotFound, "staffapp: manual admission is not offered at this gate")
		return
	}
	var req admitRequest
	if !readJSON(w, r, &req) {
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Serial == 0:
		apiError(w, http.StatusBadRequest, "staffapp: no serial")
		return
	case req.Reason == "":
		apiError(w, http.StatusBadRequest, "staffapp: a manual admission needs a reason")
		return
	case len(req.Reason) > maxReason:
		apiError(w, http.StatusBadRequest, "staffapp: the reason is longer than %d bytes", maxReason)
		return
	}
	d, err := h.cfg.Admit(r.Context(), req.Serial, req.Reason)
	if errors.Is(err, gate.ErrNotInRoster) {
		apiError(w, http.StatusNotFound, "staffapp: serial %d is not in the roster", req.Serial)
		return
	}
	if h.cfg.Scanned != nil {
		h.cfg.Scanned()
	}
	writeJSON(w, http.StatusOK, h.verdict(d, err))
}
