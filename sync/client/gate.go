package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Enroll registers a gate device with a one-time enrolment code (POST
// /v1/enroll, no token) and checks the answer before returning it: the
// server identity key it names must have the fingerprint carried in the
// code, and must have signed this request's fresh nonce together with the
// gate id and credential. A server that fails either check is refused with
// ErrForbidden, whatever it answered.
func (c *Client) Enroll(ctx context.Context, code, device string) (*wire.EnrollResponse, error) {
	return c.EnrollKey(ctx, code, device, nil)
}

// EnrollKey is Enroll that also registers the gate's Ed25519 public key
// pub, which the server records and every replica of the event learns
// (docs/mesh.md): the key the gate's records are signed with. The answer
// must name that key for the gate.
func (c *Client) EnrollKey(ctx context.Context, code, device string, pub ed25519.PublicKey) (*wire.EnrollResponse, error) {
	ec, err := wire.ParseEnrollCode(code)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("client: %v", err), Hint: "type the 24 digits exactly as kidoctl gate add printed them", verdict: ErrBadRequest}
	}
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return nil, fmt.Errorf("client: nonce: %w", err)
	}
	nonce := hex.EncodeToString(nb)
	var resp wire.EnrollResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/enroll", nil, wire.EnrollRequest{Code: ec.String(), Device: device, Nonce: nonce, Pub: pub}, &resp); err != nil {
		return nil, err
	}
	id, err := ticket.ParsePublicKey(resp.Server.ID)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("client: server identity %q: %v", resp.Server.ID, err), Hint: "this is not a kido server, or not the one that made the code", verdict: ErrForbidden}
	}
	if err := wire.VerifyEnrollResponse(&resp, id.Bytes(), nonce, ec); err != nil {
		return nil, &Error{Message: "client: " + oneLine(err.Error()), Hint: "check -server: the code works only with the server that made it", verdict: ErrForbidden}
	}
	if resp.Credential == "" || resp.Gate.ID == 0 {
		return nil, &Error{Message: "client: enrolment answer without a gate or credential", Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	if !bytes.Equal(resp.Gate.Pub, pub) {
		return nil, &Error{Message: "client: the server did not record the gate's key", Hint: "upgrade kido-server to a release with gate keys (docs/mesh.md)", verdict: ErrServer}
	}
	return &resp, nil
}

// Client timeouts of a gate's sync calls (docs/sync-protocol.md §2): an
// answer later than this is a lost one, and the call fails so that the
// sync loop can back off and retry.
const (
	UploadTimeout   = 30 * time.Second
	ChangesGrace    = 15 * time.Second // added to the long-poll's wait
	SnapshotTimeout = 120 * time.Second
)

// Pin is what a gate holds its server's answers to (docs/sync-protocol.md
// §13): the identity key it enrolled with (kidopub1… text), its event and
// its own gate id.
type Pin struct {
	Identity string
	Event    uint32
	Gate     uint32
}

// NewGate returns a client for a gate's sync calls: it authenticates with
// the gate's credential, adds the heartbeat headers hb returns to every
// request (docs/sync-protocol.md §6), keeps one connection alive for reuse,
// bounds each call by its own timeout instead of one for all, reaches the
// server as sec allows, and accepts only snapshots and feed answers signed
// for pin.
func NewGate(baseURL, credential string, pin Pin, sec Security, hb func() wire.Heartbeat) (*Client, error) {
	if err := sec.Check(baseURL); err != nil {
		return nil, err
	}
	tr, err := sec.Transport()
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = 2 // the uploader and the long-poll
	c, err := New(baseURL, credential, &http.Client{Transport: WithHeartbeat(tr, hb)})
	if err != nil {
		return nil, err
	}
	return c.Pinned(pin)
}

// Pinned returns a copy of c whose Changes and Snapshot accept only answers
// signed by pin's identity key for pin's event and gate.
func (c *Client) Pinned(pin Pin) (*Client, error) {
	id, err := ticket.ParsePublicKey(pin.Identity)
	if err != nil {
		return nil, fmt.Errorf("client: pinned server identity %q: %w", pin.Identity, err)
	}
	if pin.Event == 0 || pin.Gate == 0 {
		return nil, errors.New("client: a pin needs the gate's event and id")
	}
	cp := *c
	cp.pin, cp.pinKey = pin, id.Bytes()
	return &cp, nil
}

// WithHeartbeat returns base with the heartbeat headers hb returns added to
// each request: for a gate's calls made with New, such as kido-gate
// doctor's, which the server must not take for a contact that says
// nothing of the gate's pending records (docs/sync-protocol.md §6).
func WithHeartbeat(base http.RoundTripper, hb func() wire.Heartbeat) http.RoundTripper {
	return &heartbeatTransport{base: base, hb: hb}
}

// heartbeatTransport adds the heartbeat headers to each request.
type heartbeatTransport struct {
	base http.RoundTripper
	hb   func() wire.Heartbeat
}

func (t *heartbeatTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context()) // a RoundTripper must not change its request
	t.hb().SetHeaders(req.Header)
	return t.base.RoundTrip(req)
}

// Upload sends one batch of the gate's records (POST /v1/gate/upload). The
// answer must be signed for the pinned gate and this batch's bytes. A
// non-nil answer must be recorded, also when err is not nil: a 409
// seq_conflict returns the server's wire.UploadResponse (acknowledgements
// and the quarantined records) together with an error wrapping
// ErrConflict.
func (c *Client) Upload(ctx context.Context, req *wire.UploadRequest) (*wire.UploadResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, UploadTimeout)
	defer cancel()
	if c.pinKey == nil {
		return nil, errors.New("client: no pinned server identity to check the answer against")
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("client: encode request: %w", err)
	}
	sum := sha256.Sum256(b)
	msg := func(body []byte) []byte { return wire.UploadSignedMessage(c.pin.Event, c.pin.Gate, sum, body) }
	const path = "/v1/gate/upload"
	var resp wire.UploadResponse
	hr, err := c.Send(ctx, http.MethodPost, path, nil, json.RawMessage(b))
	if err == nil {
		defer hr.Body.Close()
		if err := c.readSigned(hr.Body, hr.Header, hr.StatusCode, http.MethodPost, path, MaxUploadAnswer, msg, &resp); err != nil {
			return nil, err
		}
		return &resp, nil
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		return nil, err
	}
	if ce.Code != wire.CodeSeqConflict {
		return nil, &Error{Status: ce.Status, Code: ce.Code, Message: "client: upload: 409 without an upload answer: " + ce.Message,
			Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	if err := c.readSigned(bytes.NewReader(ce.Body), ce.Header, ce.Status, http.MethodPost, path, MaxUploadAnswer, msg, &resp); err != nil {
		return nil, err
	}
	return &resp, ce
}

// Changes asks the delta feed for the changes after cursor (GET
// /v1/gate/changes), waiting up to wait for one when there are none yet.
// It accepts the compact encoding (version 2) and JSON (version 1, from
// a server of before version 2), and reads whichever the answer's
// Content-Type names (docs/sync-protocol.md §4.5). The answer must be
// signed for the pinned event and this cursor under that encoding's
// domain.
func (c *Client) Changes(ctx context.Context, cursor string, wait time.Duration) (*wire.Changes, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+ChangesGrace)
	defer cancel()
	if c.pinKey == nil {
		return nil, errors.New("client: no pinned server identity to check the answer against")
	}
	const path = "/v1/gate/changes"
	q := url.Values{"cursor": {cursor}, "wait": {wait.String()}}
	accept := wire.FeedV2Type + ", application/json;q=0.5"
	if c.jsonFeed {
		accept = "application/json"
	}
	resp, err := c.send(ctx, http.MethodGet, path, q, nil, accept)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != wire.FeedV2Type {
		var ch wire.Changes
		msg := func(body []byte) []byte { return wire.ChangesSignedMessage(c.pin.Event, cursor, body) }
		if err := c.readSigned(resp.Body, resp.Header, resp.StatusCode, http.MethodGet, path, MaxChangesAnswer, msg, &ch); err != nil {
			return nil, err
		}
		return &ch, nil
	}
	body, err := c.readVerified(resp.Body, resp.Header, resp.StatusCode, http.MethodGet, path, MaxChangesAnswer,
		func(body []byte) []byte { return wire.ChangesV2SignedMessage(c.pin.Event, cursor, body) })
	if err != nil {
		return nil, err
	}
	ch, err := wire.UnmarshalFeed(body)
	if err != nil {
		return nil, &Error{Status: resp.StatusCode, Message: fmt.Sprintf("client: GET %s: unreadable answer: %v", path, err), Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	return ch, nil
}

// JSONFeed returns a copy of c whose Changes asks for the JSON feed
// (version 1) only, as a gate of before version 2 does: for benchmarks
// and tests of the transition.
func (c *Client) JSONFeed() *Client {
	cp := *c
	cp.jsonFeed = true
	return &cp
}

// Snapshot downloads the full state the client's gate needs to decide
// offline (GET /v1/gate/snapshot, gate credential). The answer must be
// signed with this request's fresh nonce, and be the pinned gate's.
func (c *Client) Snapshot(ctx context.Context) (*wire.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, SnapshotTimeout)
	defer cancel()
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return nil, fmt.Errorf("client: nonce: %w", err)
	}
	nonce := hex.EncodeToString(nb)
	var s wire.Snapshot
	msg := func(body []byte) []byte { return wire.SnapshotSignedMessage(nonce, body) }
	if err := c.signedGet(ctx, "/v1/gate/snapshot", url.Values{"nonce": {nonce}}, MaxSnapshotAnswer, msg, &s); err != nil {
		return nil, err
	}
	if s.Gate.ID != c.pin.Gate || s.Gate.Event != c.pin.Event || s.Event.ID != c.pin.Event {
		return nil, &Error{Message: fmt.Sprintf("client: the snapshot is for gate %d of event %d, not gate %d of event %d", s.Gate.ID, s.Event.ID, c.pin.Gate, c.pin.Event),
			Hint: "check that the server URL points at one kido server, not a load balancer over several", verdict: ErrServer}
	}
	return &s, nil
}

// Bounds of a signed answer's body: a gate holds the whole body before it
// checks the signature, and none bigger than this.
const (
	MaxChangesAnswer  = 64 << 20 // 1,000 changes of at most a few KiB each (JSON), or 5,000 compact
	MaxSnapshotAnswer = 1 << 30  // a roster of millions of tickets
	MaxUploadAnswer   = 64 << 10 // acknowledgements and at most 500 quarantined records
)

// signedGet sends a gate GET whose answer is signed (docs/sync-protocol.md
// §13) and decodes it into out only once the signature over msg(body)
// verifies under the pinned identity key: an unsigned or badly signed
// answer is an error wrapping ErrUntrusted, and the caller applies
// nothing.
func (c *Client) signedGet(ctx context.Context, path string, q url.Values, limit int64, msg func([]byte) []byte, out any) error {
	if c.pinKey == nil {
		return errors.New("client: no pinned server identity to check the answer against")
	}
	resp, err := c.Send(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.readSigned(resp.Body, resp.Header, resp.StatusCode, http.MethodGet, path, limit, msg, out)
}

// readVerified reads an answer's body (at most limit bytes) and returns
// it once its signature header over msg(body) verifies under the pinned
// identity.
func (c *Client) readVerified(r io.Reader, h http.Header, status int, method, path string, limit int64, msg func([]byte) []byte) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &Error{Status: status, Message: fmt.Sprintf("client: %s %s: answer cut short: %v", method, path, err), Hint: "the connection broke; the gate retries", verdict: ErrServer}
	}
	if int64(len(body)) > limit {
		return nil, &Error{Status: status, Message: fmt.Sprintf("client: %s %s: answer over %d bytes", method, path, limit), Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	if err := wire.VerifyAnswer(c.pinKey, msg(body), h.Get(wire.HeaderSignature)); err != nil {
		return nil, untrusted(c.BaseURL(), method, path, err)
	}
	return body, nil
}

// readSigned reads an answer's body (at most limit bytes), checks its
// signature header over msg(body) against the pinned identity, and only
// then decodes it strictly into out.
func (c *Client) readSigned(r io.Reader, h http.Header, status int, method, path string, limit int64, msg func([]byte) []byte, out any) error {
	body, err := c.readVerified(r, h, status, method, path, limit, msg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return &Error{Status: status, Message: fmt.Sprintf("client: %s %s: unreadable answer: %v", method, path, err), Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: status, Message: fmt.Sprintf("client: %s %s: data after the answer", method, path), Hint: "kido-gate and kido-server may be different versions", verdict: ErrServer}
	}
	return nil
}
