package server

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"

	"kido.dev/kido/sync/wire"
)

// proveIdentity needs no token: it signs the caller's nonce with the
// identity key, so that a gate can check who answers at a new URL before
// it sends its credential there (docs/sync-protocol.md §12). The domain
// string of wire.IdentitySignedMessage keeps this signature from standing
// for an enrolment answer.
func (s *Server) proveIdentity(r *http.Request) (int, any, error) {
	var in wire.IdentityRequest
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	if n := len(in.Nonce); n < 16 || n > 128 {
		return 0, nil, Errorf(ErrInvalid, "send 16 to 128 random characters", "nonce of %d characters", n)
	}
	sig := ed25519.Sign(s.identity, wire.IdentitySignedMessage(in.Nonce))
	return http.StatusOK, wire.IdentityProof{Server: s.info, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}
