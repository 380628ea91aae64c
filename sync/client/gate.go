package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

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
	ec, err := wire.ParseEnrollCode(code)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("client: %v", err), Hint: "type the 16 digits exactly as kidoctl gate add printed them", verdict: ErrBadRequest}
	}
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return nil, fmt.Errorf("client: nonce: %w", err)
	}
	nonce := hex.EncodeToString(nb)
	var resp wire.EnrollResponse
	if err := c.Do(ctx, http.MethodPost, "/v1/enroll", nil, wire.EnrollRequest{Code: ec.String(), Device: device, Nonce: nonce}, &resp); err != nil {
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
	return &resp, nil
}

// Snapshot downloads the full state the client's gate needs to decide
// offline (GET /v1/gate/snapshot, gate credential).
func (c *Client) Snapshot(ctx context.Context) (*wire.Snapshot, error) {
	var s wire.Snapshot
	if err := c.Do(ctx, http.MethodGet, "/v1/gate/snapshot", nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
