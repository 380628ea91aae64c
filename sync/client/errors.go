package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/sync/wire"
)

// Verdicts; every error returned by a Client wraps exactly one of them.
var (
	ErrUnauthorized = errors.New("client: unauthorized")        // 401: token missing, wrong or revoked
	ErrForbidden    = errors.New("client: forbidden")           // 403: the token's scope does not allow this
	ErrNotFound     = errors.New("client: not found")           // 404
	ErrConflict     = errors.New("client: conflict")            // 409
	ErrUnavailable  = errors.New("client: server busy")         // 429 or 503; see Error.RetryAfter
	ErrBadRequest   = errors.New("client: bad request")         // any other 4xx
	ErrServer       = errors.New("client: server error")        // any other 5xx or an unreadable answer
	ErrUnreachable  = errors.New("client: cannot reach server") // DNS, TCP or TLS failure
	// ErrUntrusted: a gate answer was unsigned or not signed by the pinned
	// identity for this request. The error's Status is 0: as far as the
	// gate can tell the server was not reached, only something between.
	ErrUntrusted = errors.New("client: answer not signed by the pinned server")
)

// Error is a failed call. Its Error method gives one line, followed by a
// "hint:" line when there is a hint.
type Error struct {
	Status     int           // HTTP status; 0 when the server was not reached
	Code       string        // the server's stable error code, if any
	Message    string        // one line saying what went wrong
	Hint       string        // what to do about it, if known
	RetryAfter time.Duration // from Retry-After on 429/503; 0 if absent
	Body       []byte        // the answer's body (at most 64 KiB), for calls whose error answer carries more than wire.Error
	Header     http.Header   // the answer's headers (a signature over Body)
	verdict    error
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "\nhint: " + e.Hint
}

// Unwrap returns the sentinel verdict.
func (e *Error) Unwrap() error { return e.verdict }

// verdictFor maps an HTTP status to its sentinel and a default hint.
func verdictFor(status int) (error, string) {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized, "check -token or KIDO_TOKEN; the admin token is in admin.token in the server's data directory"
	case status == http.StatusForbidden:
		return ErrForbidden, "this token's scope does not allow the call; ask an admin for a token with the right scope"
	case status == http.StatusNotFound:
		return ErrNotFound, ""
	case status == http.StatusConflict:
		return ErrConflict, ""
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return ErrUnavailable, "the server is shedding load; retry later"
	case status >= 400 && status < 500:
		return ErrBadRequest, ""
	default:
		return ErrServer, "see the server's log"
	}
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func unreachable(base string, err error, hint string) *Error {
	if msg, certHint, ok := certProblem(base, err); ok {
		// The server answered; its certificate is what failed.
		return &Error{Message: msg, Hint: certHint, verdict: ErrUnreachable}
	}
	if hint == "" {
		hint = "check that kido-server is running and that -server (or KIDO_SERVER) names it, including http:// or https:// and the port"
	}
	return &Error{
		Message: fmt.Sprintf("client: cannot reach server at %s: %v", base, err),
		Hint:    hint,
		verdict: ErrUnreachable,
	}
}

// untrusted is the error of a gate answer that fails its signature check.
func untrusted(base, method, path string, err error) *Error {
	what := "not signed by the server this gate enrolled with"
	if errors.Is(err, wire.ErrUnsigned) {
		what = "unsigned"
	}
	return &Error{
		Message: fmt.Sprintf("client: the answer to %s %s from %s is %s; nothing was applied", method, path, base, what),
		Hint:    "something between this gate and its server changes answers, or the URL leads to another server: sync over https:// (kido-gate sync -server https://…) and tell the operator",
		verdict: ErrUntrusted,
	}
}
