package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kido.dev/kido/sync/wire"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// A Client calls one kido server with one bearer token. It is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	// unreachableHint is the hint of ErrUnreachable errors; "" gives the
	// one for kidoctl.
	unreachableHint string
	// pin and pinKey (its identity key's raw bytes) are what gate answers
	// are checked against; nil pinKey: no gate answer is accepted.
	pin    Pin
	pinKey []byte
	// jsonFeed: Changes asks for the version 1 (JSON) feed only.
	jsonFeed bool
}

// New returns a client for the server at baseURL (e.g.
// "http://127.0.0.1:8700"). token may be empty for the calls that need none
// (health, enrolment). hc nil means a client with a 60 s timeout.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	if baseURL == "" {
		return nil, &Error{Message: "client: no server URL", Hint: "give -server or set KIDO_SERVER, e.g. http://127.0.0.1:8700", verdict: ErrBadRequest}
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{
			Message: fmt.Sprintf("client: server URL %q is not an http:// or https:// URL", baseURL),
			Hint:    "write it like http://127.0.0.1:8700",
			verdict: ErrBadRequest,
		}
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// WithUnreachableHint returns a copy of c whose ErrUnreachable errors
// carry hint, for a program whose user fixes a lost server otherwise than
// kidoctl's does.
func (c *Client) WithUnreachableHint(hint string) *Client {
	cp := *c
	cp.unreachableHint = hint
	return &cp
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// Do sends a JSON request and decodes a JSON answer. in nil sends no body;
// out nil discards the answer. query may be nil. Unknown fields in the
// answer are an error (see package wire).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.Send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return &Error{Status: resp.StatusCode, Message: fmt.Sprintf("client: %s %s: unreadable answer: %v", method, path, err), Hint: "kidoctl and kido-server may be different versions", verdict: ErrServer}
	}
	return nil
}

// Send sends a JSON request and returns the response when its status is
// 2xx; the caller must close its body. Use it to stream large answers; any
// other status becomes an *Error.
func (c *Client) Send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	return c.send(ctx, method, path, query, in, "application/json")
}

// send is Send with the Accept header given.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any, accept string) (*http.Response, error) {
	var body io.Reader
	if raw, ok := in.(json.RawMessage); ok {
		body = bytes.NewReader(raw) // sent exactly: its hash may be signed into the answer
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = c.base.Path + path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Accept", accept)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("client: %s %s: %w", method, path, ctxErr)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, unreachable(c.base.String(), err, c.unreachableHint)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := errorFrom(resp, method, path)
	if e.Code == wire.CodeGateRevoked && c.pinKey != nil {
		// A gate wipes itself on this answer: only the pinned server's
		// signature for this gate makes it one (docs/sync-protocol.md §13).
		msg := wire.GateRevokedSignedMessage(c.pin.Event, c.pin.Gate, e.Body)
		if err := wire.VerifyAnswer(c.pinKey, msg, resp.Header.Get(wire.HeaderSignature)); err != nil {
			return nil, untrusted(c.BaseURL(), method, path, err)
		}
	}
	return nil, e
}

// errorFrom turns a non-2xx response into an *Error, using the server's
// wire.Error body when there is one.
func errorFrom(resp *http.Response, method, path string) *Error {
	verdict, hint := verdictFor(resp.StatusCode)
	e := &Error{Status: resp.StatusCode, Hint: hint, Header: resp.Header, verdict: verdict}
	if verdict == ErrUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	var we wire.Error
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e.Body = raw
	if json.Unmarshal(raw, &we) == nil && we.Error != "" {
		e.Code = we.Code
		// The server's message already names its origin ("server: …").
		e.Message = oneLine(we.Error)
		if we.Hint != "" {
			e.Hint = oneLine(we.Hint)
		}
		return e
	}
	e.Message = fmt.Sprintf("client: %s %s: %s", method, path, resp.Status)
	return e
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
