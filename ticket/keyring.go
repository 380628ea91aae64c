package ticket

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// A Key is a trusted public key with what a verifier needs to know about it.
type Key struct {
	Public    PublicKey
	Event     uint32    // the only event whose tickets this key may sign
	NotBefore time.Time // zero: no lower bound
	NotAfter  time.Time // zero: no upper bound
	Revoked   bool      // compromised: every ticket it signed is invalid
}

// ID returns the key's id.
func (k Key) ID() KeyID { return k.Public.ID() }

// A Keyring holds trusted keys by id. The zero value is empty and ready to
// use; a Keyring is not safe for concurrent modification.
type Keyring struct {
	keys map[KeyID]Key
}

// NewKeyring returns a keyring holding keys.
func NewKeyring(keys ...Key) *Keyring {
	kr := &Keyring{}
	for _, k := range keys {
		kr.Add(k)
	}
	return kr
}

// Add adds k, replacing any key with the same id (for example to mark it
// revoked). A Key whose Public is the zero PublicKey is stored but never
// matches a ticket.
func (kr *Keyring) Add(k Key) {
	if kr.keys == nil {
		kr.keys = make(map[KeyID]Key)
	}
	kr.keys[k.ID()] = k
}

// Lookup returns the key with the given id.
func (kr *Keyring) Lookup(id KeyID) (Key, bool) {
	k, ok := kr.keys[id]
	return k, ok
}

// Len returns the number of keys.
func (kr *Keyring) Len() int { return len(kr.keys) }

// Verify checks t against the keyring at time now. It returns nil or an
// error wrapping exactly one of ErrUnknownKey, ErrKeyRevoked, ErrKeyNotValid
// or ErrBadSignature, checked in that order (docs/ticket-format.md). A key of
// another event counts as unknown: it may not vouch for this event's
// tickets. The validity window is inclusive at both ends. Verify only reads
// the keyring, so concurrent calls are safe while nothing is added.
func (kr *Keyring) Verify(t *Ticket, now time.Time) error {
	k, ok := kr.keys[t.KeyID]
	if !ok || len(k.Public.key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: key id %s", ErrUnknownKey, t.KeyID)
	}
	if k.Event != t.Event {
		return fmt.Errorf("%w: key %s belongs to event %d, not %d", ErrUnknownKey, t.KeyID, k.Event, t.Event)
	}
	if k.Revoked {
		return fmt.Errorf("%w: key id %s", ErrKeyRevoked, t.KeyID)
	}
	if !k.NotBefore.IsZero() && now.Before(k.NotBefore) {
		return fmt.Errorf("%w: key %s valid from %s", ErrKeyNotValid, t.KeyID, k.NotBefore.UTC().Format(time.RFC3339))
	}
	if !k.NotAfter.IsZero() && now.After(k.NotAfter) {
		return fmt.Errorf("%w: key %s expired %s", ErrKeyNotValid, t.KeyID, k.NotAfter.UTC().Format(time.RFC3339))
	}
	if !ed25519.Verify(k.Public.key, t.SignedMessage(), t.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}
