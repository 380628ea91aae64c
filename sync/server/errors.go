package server

import (
	"errors"
	"fmt"

	"kido.dev/kido/sync/wire"
)

// Verdicts of the core and of every Store. Handlers map them to HTTP
// statuses (see status in http.go).
var (
	ErrInvalid      = errors.New("server: invalid request")
	ErrUnauthorized = errors.New("server: unauthorized")
	ErrForbidden    = errors.New("server: forbidden")
	ErrNotFound     = errors.New("server: not found")
	ErrConflict     = errors.New("server: conflict")
	ErrUnavailable  = errors.New("server: busy")
	ErrTooLarge     = errors.New("server: request too large")
)

// Error is a verdict with a message and a hint for the user. Stores return
// it too, so that the message can name the exact row.
type Error struct {
	Verdict error  // one of the sentinels above
	Msg     string // one line, prefixed "server: "
	Hint    string
	Code    string // a protocol error code (wire.Code…); empty: the verdict's
	// revoked is the revoked gate token of a gate_revoked refusal, whose
	// answer is signed for that gate.
	revoked *wire.Token
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the verdict.
func (e *Error) Unwrap() error { return e.Verdict }

// Errorf returns an *Error with verdict v, a hint and a formatted message.
func Errorf(v error, hint, format string, args ...any) error {
	return &Error{Verdict: v, Msg: "server: " + fmt.Sprintf(format, args...), Hint: hint}
}

// codeErrorf is Errorf with a protocol error code for the wire.Error body.
func codeErrorf(v error, code, hint, format string, args ...any) error {
	return &Error{Verdict: v, Code: code, Msg: "server: " + fmt.Sprintf(format, args...), Hint: hint}
}
