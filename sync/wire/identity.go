package wire

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
)

// IdentityRequest asks a server to prove that it holds its identity key
// (POST /v1/identity, no token), before a gate trusts it with its
// credential at a new URL (docs/sync-protocol.md §12).
type IdentityRequest struct {
	Nonce string `json:"nonce"` // 16 to 128 random characters chosen by the gate
}

// IdentityProof answers IdentityRequest. Signature is the identity key's
// Ed25519 signature over IdentitySignedMessage(nonce).
type IdentityProof struct {
	Server    Server `json:"server"`
	Signature string `json:"signature"` // base64
}

// IdentitySignedMessage returns the bytes a server signs to prove its
// identity: a domain string unlike that of EnrollSignedMessage, so that
// neither signature can stand for the other, then the nonce,
// newline-terminated.
func IdentitySignedMessage(nonce string) []byte {
	return []byte("kido identity v1\x00" + nonce + "\n")
}

// VerifyIdentityProof checks that identity (the server key named by
// p.Server.ID, as raw bytes) signed IdentitySignedMessage for nonce, and
// that p.Server.Fingerprint is its fingerprint.
func VerifyIdentityProof(p *IdentityProof, identity []byte, nonce string) error {
	if len(identity) != ed25519.PublicKeySize {
		return errors.New("wire: server identity key has the wrong size")
	}
	if p.Server.Fingerprint != Fingerprint(identity) {
		return errors.New("wire: the server's fingerprint is not that of its identity key")
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil || !ed25519.Verify(identity, IdentitySignedMessage(nonce), sig) {
		return errors.New("wire: identity proof is not signed by the server's identity key")
	}
	return nil
}
