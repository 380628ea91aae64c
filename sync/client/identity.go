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

// ProveIdentity asks the server to sign a fresh nonce with its identity
// key (POST /v1/identity) and checks that the key that signed is pinned,
// the identity (kidopub1… text) a gate enrolled with. The request carries
// no token, whatever the client holds: a credential goes only to a server
// that passed. A server that fails is refused with ErrForbidden, naming
// its identity and the pinned one.
//
// The proof says who holds the key at the end of the connection, not that
// nobody sits between: a relay in front of the real server passes it.
// TLS to a host name the device trusts is what keeps a relay out
// (docs/sync-protocol.md §12).
func (c *Client) ProveIdentity(ctx context.Context, pinned string) (wire.Server, error) {
	want, err := ticket.ParsePublicKey(pinned)
	if err != nil {
		return wire.Server{}, fmt.Errorf("client: pinned server identity %q: %w", pinned, err)
	}
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return wire.Server{}, fmt.Errorf("client: nonce: %w", err)
	}
	nonce := hex.EncodeToString(nb)
	anon := *c
	anon.token = ""
	var p wire.IdentityProof
	if err := anon.Do(ctx, http.MethodPost, "/v1/identity", nil, wire.IdentityRequest{Nonce: nonce}, &p); err != nil {
		return wire.Server{}, err
	}
	got, err := ticket.ParsePublicKey(p.Server.ID)
	if err == nil {
		err = wire.VerifyIdentityProof(&p, got.Bytes(), nonce)
	}
	if err != nil {
		return wire.Server{}, &Error{Message: fmt.Sprintf("client: the server at %s does not prove an identity: %s", c.BaseURL(), oneLine(err.Error())),
			Hint: "this is not a kido server, or not one of this version", verdict: ErrForbidden}
	}
	if !got.Equal(want) {
		return wire.Server{}, &Error{
			Message: fmt.Sprintf("client: the server at %s is %s (fingerprint %s), not %s (fingerprint %s) that this gate enrolled with",
				c.BaseURL(), p.Server.ID, p.Server.Fingerprint, pinned, wire.Fingerprint(want.Bytes())),
			Hint:    "check the URL: a gate follows only the server it enrolled with; to change servers, enrol again with a code from the new one",
			verdict: ErrForbidden,
		}
	}
	return p.Server, nil
}
