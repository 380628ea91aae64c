package gate

import "errors"

// A Reason is the stable identifier of a decision, used in JSON output and
// in the replica's audit log.
type Reason string

// Reasons. Only OK and ExitRecorded go with an admit decision.
const (
	OK           Reason = "ok"            // admitted
	ExitRecorded Reason = "exit_recorded" // an exit was recorded
	AlreadyUsed  Reason = "already_used"  // the tier's entry rule allows no further entry
	Revoked      Reason = "revoked"       // the ticket itself was revoked
	Replaced     Reason = "replaced"      // the ticket was revoked and reissued: Decision.ReplacedBy is the new serial
	TierRetired  Reason = "tier_retired"  // the promoter retired the ticket's tier (kidoctl tier retire)
	BadSignature Reason = "bad_signature" // the signature does not match the contents
	UnknownKey   Reason = "unknown_key"   // no trusted key of this event has the ticket's key id
	KeyRevoked   Reason = "key_revoked"   // the signing key was revoked (compromised)
	WrongEvent   Reason = "wrong_event"   // a ticket for another event
	WrongTier    Reason = "wrong_tier"    // this gate does not take the ticket's tier
	NotYetValid  Reason = "not_yet_valid" // before the event window (or the key's validity)
	Expired      Reason = "expired"       // after the event window (or the key's validity)
	Malformed    Reason = "malformed"     // not a kido ticket at all
	Fault        Reason = "fault"         // the replica could not be used; nothing was recorded
)

// Reasons lists every reason, in the order of docs/replica.md.
var Reasons = []Reason{OK, ExitRecorded, AlreadyUsed, Revoked, Replaced, TierRetired, BadSignature, UnknownKey, KeyRevoked,
	WrongEvent, WrongTier, NotYetValid, Expired, Malformed, Fault}

// Text returns the reason in words for staff at the gate.
func (r Reason) Text() string {
	switch r {
	case OK:
		return "valid ticket"
	case ExitRecorded:
		return "exit recorded"
	case AlreadyUsed:
		return "already used"
	case Revoked:
		return "ticket revoked"
	case Replaced:
		return "replaced by a newer ticket"
	case TierRetired:
		return "this ticket type was withdrawn"
	case BadSignature:
		return "forged or damaged ticket (bad signature)"
	case UnknownKey:
		return "signed by an unknown key"
	case KeyRevoked:
		return "signing key revoked"
	case WrongEvent:
		return "ticket for another event"
	case WrongTier:
		return "this gate does not take this tier"
	case NotYetValid:
		return "not valid yet"
	case Expired:
		return "ticket expired"
	case Malformed:
		return "not a kido ticket"
	case Fault:
		return "gate fault: cannot decide"
	}
	return string(r)
}

// Faults: the replica cannot be used, so the gate refuses to admit rather
// than guess. The replica wraps one of these with detail and a hint.
var (
	ErrNoReplica   = errors.New("gate: no replica")
	ErrCorrupt     = errors.New("gate: replica is corrupt")
	ErrLocked      = errors.New("gate: replica is locked")
	ErrDiskFull    = errors.New("gate: disk full")
	ErrReadOnly    = errors.New("gate: replica is read-only")
	ErrIO          = errors.New("gate: replica cannot be read or written")
	ErrNotInRoster = errors.New("gate: serial not in the roster")
	ErrNoReason    = errors.New("gate: a manual admission needs a staff reason")
	ErrVersion     = errors.New("gate: replica written by a newer kido-gate")
	ErrRevoked     = errors.New("gate: this gate was revoked by the operator")
)
