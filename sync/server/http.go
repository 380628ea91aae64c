package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/sync/wire"
)

// Request body limits: most calls are small; an issue chunk carries up to
// maxIssueChunk roster rows.
const (
	maxBody      = 1 << 20
	maxIssueBody = 32 << 20
)

// A rule says whether a token may make a call; it returns an error
// wrapping ErrForbidden (or ErrInvalid for a malformed event id) if not.
type rule func(tok wire.Token, r *http.Request) error

// An api call answers with a status and a value to send as JSON, or an
// error for fail.
type api func(r *http.Request, tok wire.Token) (int, any, error)

// A stream call writes its own answer (a large one).
type stream func(w http.ResponseWriter, r *http.Request, tok wire.Token) error

func adminOnly(tok wire.Token, r *http.Request) error {
	if tok.Scope != wire.ScopeAdmin {
		return Errorf(ErrForbidden, "use an admin token", "a %s token may not call %s %s", tok.Scope, r.Method, r.URL.Path)
	}
	return nil
}

// anyEvent admits admins and promoters; the handler limits promoters to
// their events.
func anyEvent(tok wire.Token, r *http.Request) error {
	if tok.Scope != wire.ScopeAdmin && tok.Scope != wire.ScopePromoter {
		return Errorf(ErrForbidden, "gate credentials only serve the /v1/gate/ calls", "a %s token may not call %s %s", tok.Scope, r.Method, r.URL.Path)
	}
	return nil
}

func mayEvent(tok wire.Token, event uint32) error {
	if tok.Scope == wire.ScopeAdmin || (tok.Scope == wire.ScopePromoter && slices.Contains(tok.Events, event)) {
		return nil
	}
	return Errorf(ErrForbidden, "ask an admin for a token that covers this event (kidoctl token create -scope promoter -events …)", "this token may not manage event %d", event)
}

func pathEvent(tok wire.Token, r *http.Request) error {
	if err := anyEvent(tok, r); err != nil {
		return err
	}
	ev, err := parseEvent(r.PathValue("event"))
	if err != nil {
		return err
	}
	return mayEvent(tok, ev)
}

func queryEvent(tok wire.Token, r *http.Request) error {
	if err := anyEvent(tok, r); err != nil {
		return err
	}
	q := r.URL.Query().Get("event")
	if q == "" {
		return nil
	}
	ev, err := parseEvent(q)
	if err != nil {
		return err
	}
	return mayEvent(tok, ev)
}

func gateOnly(tok wire.Token, r *http.Request) error {
	if tok.Scope != wire.ScopeGate {
		return Errorf(ErrForbidden, "this call takes a gate credential from kido-gate enroll", "a %s token may not call %s %s", tok.Scope, r.Method, r.URL.Path)
	}
	return nil
}

func parseEvent(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, Errorf(ErrInvalid, "event ids are positive whole numbers, as kidoctl event list shows", "bad event id %q", s)
	}
	return uint32(n), nil
}

// authed checks the bearer token and the rule, then answers with call.
func (s *Server) authed(allow rule, call api) http.Handler {
	return s.authedStream(allow, func(w http.ResponseWriter, r *http.Request, tok wire.Token) error {
		code, v, err := call(r, tok)
		if err == nil {
			writeJSON(w, code, v)
		}
		return err
	})
}

// authedStream is authed for calls that write their own answer.
func (s *Server) authedStream(allow rule, call stream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := s.token(r)
		if err == nil {
			err = allow(tok, r)
		}
		if err == nil {
			err = call(w, r, tok)
		}
		if err != nil {
			s.fail(w, r, err)
		}
	})
}

// public answers calls that need no token.
func (s *Server) public(call func(r *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, v, err := call(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, code, v)
	})
}

// token returns the unrevoked token the request carries.
func (s *Server) token(r *http.Request) (wire.Token, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return wire.Token{}, Errorf(ErrUnauthorized, "give a token with -token or KIDO_TOKEN", "missing bearer token")
	}
	h := HashToken(strings.TrimSpace(secret))
	tok, err := s.store.TokenByHash(r.Context(), h)
	if errors.Is(err, ErrNotFound) {
		if old, err := s.store.RevokedToken(r.Context(), h); err == nil && old.Scope == wire.ScopeGate {
			err := codeErrorf(ErrUnauthorized, wire.CodeGateRevoked, "this gate was revoked by the operator; re-enrol it with a new code from kidoctl gate add", "gate %d was revoked", old.Gate)
			if len(old.Events) == 1 {
				err.(*Error).revoked = &old
			}
			return tok, err
		}
		return tok, Errorf(ErrUnauthorized, "check -token or KIDO_TOKEN; the first admin token is in admin.token in the server's data directory", "unknown or revoked token")
	}
	return tok, err
}

// writeJSON writes v as the response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// readJSON decodes one JSON value with wire.Decode: at most limit bytes,
// no unknown, duplicate or miscased keys, nothing after it.
func readJSON(r *http.Request, limit int64, v any) error {
	if err := wire.Decode(r.Body, v, limit); err != nil {
		if e := bodyError(err); errors.Is(e, ErrUnavailable) {
			return e
		}
		if errors.Is(err, wire.ErrTooLarge) {
			return Errorf(ErrInvalid, "send fewer items per request", "request body over %d bytes", limit)
		}
		return Errorf(ErrInvalid, "see docs/api.md for the request format", "bad request body: %v", err)
	}
	return nil
}

// Body deadlines: a request body must arrive within DefaultBodyWait
// (Config.BodyWait) of the request's start, an issue chunk (up to 32 MiB)
// within issueBodyWait; a read past it fails, and the
// connection with it. A body that trickles in then holds only its own
// connection, never a worker or a budget. 1 MiB in 10 s needs under
// 1 Mbit/s, 32 MiB in 2 min about 2.2 Mbit/s.
const (
	DefaultBodyWait = 10 * time.Second
	issueBodyWait   = 2 * time.Minute
)

// deadlineBody clears the connection's read deadline once the body has
// been read to its end: what follows (net/http's check for a closed
// connection, a long handler) must not fail on it.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// bodyWithin makes r's body arrive within wait from now. Requests without
// a body are left alone: a long-poll must not trip a read deadline.
func bodyWithin(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(wait)) != nil {
		return // not a network connection (a test's recorder)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// slowBody gives a handler whose bodies are large issueBodyWait to send
// them in.
func slowBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bodyWithin(w, r, issueBodyWait)
		h.ServeHTTP(w, r)
	})
}

// bodyError turns an error reading a request body into a verdict.
func bodyError(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return codeErrorf(ErrUnavailable, wire.CodeSlowBody, "the link to the server is too slow for this request; retry, or send less at a time", "request body not received in time")
	}
	return codeErrorf(ErrInvalid, wire.CodeMalformed, "send the whole body", "read request body: %v", err)
}

// readBody reads at most limit+1 bytes of the request body (the decoder
// refuses more) under the request's body deadline.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, bodyError(err)
	}
	return body, nil
}

// status maps a verdict to an HTTP status and a wire.Error code.
func status(err error) (int, string) {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, ErrUnavailable):
		return http.StatusTooManyRequests, "unavailable"
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, wire.CodeTooLarge
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// statusClientGone is what the metrics count a request under whose client
// left before its answer (nginx's "client closed request").
const statusClientGone = 499

// fail writes err as a wire.Error. Errors without a verdict are internal:
// they are logged and the client learns nothing of their detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away (a gate stopping mid-poll): not a server
		// fault. Nobody reads this answer; the metrics count it as 499.
		w.WriteHeader(statusClientGone)
		return
	}
	code, name := status(err)
	body := wire.Error{Error: err.Error(), Code: name}
	var e *Error
	if errors.As(err, &e) {
		body.Hint = e.Hint
		if e.Code != "" {
			body.Code = e.Code
		}
	}
	if code == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body = wire.Error{Error: "server: internal error", Code: name, Hint: "the server's log has the detail"}
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if e != nil && e.revoked != nil {
		// The gate wipes itself on this answer: it is signed, for this
		// gate only (docs/sync-protocol.md §13.1).
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(body)
		w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.GateRevokedSignedMessage(e.revoked.Events[0], e.revoked.Gate, b.Bytes())))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(b.Bytes())
		return
	}
	writeJSON(w, code, body)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// logged logs every request (never its headers: they hold tokens).
func (s *Server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		bodyWithin(sw, r, s.bodyWait)
		h.ServeHTTP(sw, r)
		s.metrics.request(endpointOf(r.URL.Path), sw.status, time.Since(start))
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", fmt.Sprintf("%.1f", float64(time.Since(start).Microseconds())/1000), "remote", r.RemoteAddr)
	})
}
