// Package client is the HTTP client of the kido server's JSON API (see
// docs/api.md), used by kidoctl and kido-gate.
//
// It guarantees that every failure is reported as an error wrapping exactly
// one of the sentinel errors below, whatever the server said, so callers
// decide with errors.Is and never by parsing messages: HTTP 401 is
// ErrUnauthorized, 403 ErrForbidden, 404 ErrNotFound, 409 ErrConflict, 429
// and 503 ErrUnavailable (with the server's Retry-After), other 4xx
// ErrBadRequest, other 5xx ErrServer, and a server that cannot be reached at
// all ErrUnreachable. The *Error carrying it also holds the server's message
// and hint.
package client
