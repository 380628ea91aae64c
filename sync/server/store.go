package server

import (
	"context"
	"crypto/sha256"
	"time"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// TokenHash is the SHA-256 of a token's secret: all a Store ever holds.
type TokenHash [sha256.Size]byte

// HashToken returns the hash under which a token secret is stored.
func HashToken(secret string) TokenHash { return sha256.Sum256([]byte(secret)) }

// NewToken is a token to store: its description and the hash of its
// secret. ID and Created are set by the Store.
type NewToken struct {
	wire.Token
	Hash TokenHash
}

// SealedKey is a private key as a Store keeps it: the public key in the
// clear and the seed sealed under the master key.
type SealedKey struct {
	Public ticket.PublicKey
	Sealed []byte
}

// A Signer signs tickets inside a Store's issuing transaction. Key is the
// id of the signing key, which the Store checks is still the event's
// current, unrevoked key in that same transaction.
type Signer struct {
	Key  string
	Sign func(ticket.Claims) string
}

// GateCode is a stored enrolment code: the hash of its secret part and
// when it expires.
type GateCode struct {
	Hash    TokenHash
	Expires time.Time
}

// Store keeps the server's state. Every method is one transaction; a
// method that fails changes nothing. Methods return errors wrapping the
// package's sentinels (ErrNotFound, ErrConflict, ErrInvalid), preferably
// as *Error naming the offending item.
type Store interface {
	// Identity returns the server identity key, or ErrNotFound before
	// SetIdentity. SetIdentity stores it unless one exists and returns the
	// one stored.
	Identity(ctx context.Context) (SealedKey, error)
	SetIdentity(ctx context.Context, k SealedKey) (SealedKey, error)

	CountTokens(ctx context.Context) (int, error)
	CreateToken(ctx context.Context, t NewToken, now time.Time) (wire.Token, error)
	// TokenByHash returns an unrevoked token, or ErrNotFound.
	TokenByHash(ctx context.Context, h TokenHash) (wire.Token, error)
	Tokens(ctx context.Context) ([]wire.Token, error)
	RevokeToken(ctx context.Context, id uint32, now time.Time) (wire.Token, error)

	// CreateEvent creates an event with its first signing key.
	CreateEvent(ctx context.Context, e wire.EventCreate, key SealedKey, now time.Time) (wire.Event, error)
	// Events returns the events with the given ids, or all when ids is nil.
	Events(ctx context.Context, ids []uint32) ([]wire.Event, error)
	EventDetail(ctx context.Context, event uint32) (wire.EventDetail, error)
	AddTier(ctx context.Context, event uint32, name string, entries int) (wire.Tier, error)
	Tiers(ctx context.Context, event uint32) ([]wire.Tier, error)

	// Keys returns the keys of an event, or of every event when event is 0.
	Keys(ctx context.Context, event uint32) ([]wire.Key, error)
	// AddKey adds a key that becomes the event's current key.
	AddKey(ctx context.Context, event uint32, key SealedKey, now time.Time) (wire.Key, error)
	// RevokeKey revokes key id; event 0 means whichever event has it
	// (ErrConflict when several do).
	RevokeKey(ctx context.Context, event uint32, id string) (wire.Key, error)
	// CurrentKey returns the event's current signing key, or ErrNotFound.
	CurrentKey(ctx context.Context, event uint32) (SealedKey, error)

	Issue(ctx context.Context, event uint32, req wire.IssueRequest, s Signer) ([]wire.IssuedTicket, error)
	Revoke(ctx context.Context, event uint32, sel wire.Selection) ([]wire.RosterEntry, error)
	Reissue(ctx context.Context, event uint32, sel wire.Selection, s Signer) ([]wire.IssuedTicket, error)

	// AddGate adds a gate (tiers by id) with its enrolment code.
	AddGate(ctx context.Context, g wire.Gate, code GateCode) (wire.Gate, error)
	Gates(ctx context.Context, event uint32) ([]wire.Gate, error)
	// Enroll uses up an unexpired code and stores the gate's credential
	// (Token.Gate and Token.Events are filled in from the code's gate).
	Enroll(ctx context.Context, code TokenHash, device string, cred NewToken, now time.Time) (wire.Gate, error)

	// Snapshot returns the state a gate needs, read in one transaction,
	// with Cursor set to the change-log position it reflects. Server and
	// ServerTime are left for the caller.
	Snapshot(ctx context.Context, gate uint32) (*wire.Snapshot, error)

	Close() error
}
