package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
)

// HeaderSignature is the response header of a snapshot, a feed answer, an
// upload answer or a gate_revoked refusal that
// carries the server identity key's Ed25519 signature, base64 with padding,
// over the answer's signed message (docs/sync-protocol.md §13). A header,
// not a field of the body, so that the signed bytes are the body exactly
// as sent and a page that is the same for every gate of an event stays
// the same bytes.
const HeaderSignature = "Kido-Signature"

// Domain strings of the identity key's signatures over gate answers. Each
// ends in a NUL that no other part of any domain string holds, so no
// domain is a prefix of another and a signature made under one can never
// verify under another (docs/sync-protocol.md §13.2 lists them all).
const (
	ChangesDomain     = "kido changes v1\x00"
	SnapshotDomain    = "kido snapshot v1\x00"
	GateRevokedDomain = "kido gate revoked v1\x00"
	UploadDomain      = "kido upload v1\x00"
)

// Verdicts of VerifyAnswer.
var (
	ErrUnsigned     = errors.New("wire: the answer carries no signature")
	ErrBadSignature = errors.New("wire: the answer is not signed by the server's identity key")
)

// ChangesSignedMessage returns the bytes a server signs for a feed answer:
// the domain, the event and the cursor of the request (the exact string the
// gate sent), each newline-terminated, then the body. The event and cursor
// bind the answer to its request: a page of another event, or one that
// answered another cursor, does not verify, so a network attacker can
// neither swap nor replay one. Nothing about the gate is signed: every gate
// of the event that asks from the same cursor may get the same bytes.
func ChangesSignedMessage(event uint32, cursor string, body []byte) []byte {
	m := make([]byte, 0, len(ChangesDomain)+12+len(cursor)+len(body))
	m = append(m, ChangesDomain...)
	m = strconv.AppendUint(m, uint64(event), 10)
	m = append(m, '\n')
	m = append(m, cursor...)
	m = append(m, '\n')
	return append(m, body...)
}

// SnapshotSignedMessage returns the bytes a server signs for a snapshot:
// the domain, the nonce of the request, newline-terminated, then the body.
// A snapshot names its gate and event inside the body; the fresh nonce
// makes an old snapshot of the same gate worthless to a replayer.
func SnapshotSignedMessage(nonce string, body []byte) []byte {
	m := make([]byte, 0, len(SnapshotDomain)+len(nonce)+1+len(body))
	m = append(m, SnapshotDomain...)
	m = append(m, nonce...)
	m = append(m, '\n')
	return append(m, body...)
}

// GateRevokedSignedMessage returns the bytes a server signs for a 401
// gate_revoked answer, on which a gate wipes its replica and credential
// (docs/sync-protocol.md §8): the domain, the event and the gate, each
// newline-terminated, then the body. A revocation is final, so a replay
// to the same gate says nothing false; the event and gate keep it from
// wiping any other.
func GateRevokedSignedMessage(event, gate uint32, body []byte) []byte {
	m := make([]byte, 0, len(GateRevokedDomain)+22+len(body))
	m = append(m, GateRevokedDomain...)
	m = strconv.AppendUint(m, uint64(event), 10)
	m = append(m, '\n')
	m = strconv.AppendUint(m, uint64(gate), 10)
	m = append(m, '\n')
	return append(m, body...)
}

// UploadSignedMessage returns the bytes a server signs for an upload answer
// (200, or 409 with the same body): the domain, the event, the gate and
// the lowercase hex SHA-256 of the request body exactly as sent, each
// newline-terminated, then the body. The hash binds the acknowledgement to
// the batch it acknowledges; a replay of an older answer to the same bytes
// says nothing false (a lower acked makes the gate resend, §3.4).
func UploadSignedMessage(event, gate uint32, request [sha256.Size]byte, body []byte) []byte {
	m := make([]byte, 0, len(UploadDomain)+2*sha256.Size+23+len(body))
	m = append(m, UploadDomain...)
	m = strconv.AppendUint(m, uint64(event), 10)
	m = append(m, '\n')
	m = strconv.AppendUint(m, uint64(gate), 10)
	m = append(m, '\n')
	m = hex.AppendEncode(m, request[:])
	m = append(m, '\n')
	return append(m, body...)
}

// Snapshot nonces: what a gate sends in the nonce query parameter of GET
// /v1/gate/snapshot (lowercase hex of 16 random bytes is what kido sends).
const (
	MinNonce = 16
	MaxNonce = 128
)

// CheckNonce reports whether nonce is a well-formed snapshot nonce: MinNonce
// to MaxNonce bytes of letters and digits, so it cannot hold the newline
// that ends it in the signed message.
func CheckNonce(nonce string) error {
	if n := len(nonce); n < MinNonce || n > MaxNonce {
		return errors.New("wire: nonce of " + strconv.Itoa(n) + " characters, want 16 to 128")
	}
	for i := 0; i < len(nonce); i++ {
		c := nonce[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return errors.New("wire: nonce holds a character that is not a letter or digit")
		}
	}
	return nil
}

// SignAnswer returns the HeaderSignature value for a signed message.
func SignAnswer(identity ed25519.PrivateKey, msg []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(identity, msg))
}

// VerifyAnswer checks a HeaderSignature value sig against msg and the
// pinned identity key (raw bytes). It returns ErrUnsigned when sig is
// empty and ErrBadSignature for anything else that is not exactly one
// canonical base64 Ed25519 signature by identity over msg.
func VerifyAnswer(identity []byte, msg []byte, sig string) error {
	if sig == "" {
		return ErrUnsigned
	}
	if len(identity) != ed25519.PublicKeySize {
		return errors.New("wire: server identity key has the wrong size")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize || base64.StdEncoding.EncodeToString(raw) != sig {
		return ErrBadSignature
	}
	if !ed25519.Verify(identity, msg, raw) {
		return ErrBadSignature
	}
	return nil
}
