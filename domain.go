package kido

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Event is a ticketed event. Start and End carry the venue's offset.
type Event struct {
	ID       uint32    `json:"id"`
	Name     string    `json:"name"`
	Venue    string    `json:"venue"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TimeZone string    `json:"time_zone,omitempty"` // IANA name when known
}

// Location is the event's time zone when it names one this machine knows,
// else fallback: where its times are shown to people.
func (e Event) Location(fallback *time.Location) *time.Location {
	if e.TimeZone != "" {
		if l, err := time.LoadLocation(e.TimeZone); err == nil {
			return l
		}
	}
	return fallback
}

// Tier is a ticket category of an event with its entry rule.
type Tier struct {
	ID      uint8     `json:"id"`
	Event   uint32    `json:"event"`
	Name    string    `json:"name"`
	Entries EntryRule `json:"entries"` // N entries; EntriesUnlimited: unlimited with re-entry after exit
	// Retired: the tier's tickets are refused at every gate (kidoctl tier
	// retire); left out of JSON when false, so that a kido-gate older
	// than retiring reads every tier never retired.
	Retired bool `json:"retired,omitempty"`
}

// Key is a trusted ticket-signing public key. Private keys never leave the
// server.
type Key struct {
	ID        string     `json:"id"`     // 8 hex digits, ticket.KeyID
	Public    string     `json:"public"` // kidopub1… text form
	Event     uint32     `json:"event"`
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	Revoked   bool       `json:"revoked"`
	Current   bool       `json:"current"` // the key new tickets are signed with
	Created   time.Time  `json:"created"`
}

// RosterEntry is what a gate knows of an issued ticket: enough to search by
// name or order when a phone is dead. No e-mail addresses go to gates.
// Reading is the holder's name as it is pronounced (furigana, for a
// Japanese name), searched like the name; optional.
type RosterEntry struct {
	Serial   uint32 `json:"serial"`
	Tier     uint8  `json:"tier"`
	Holder   string `json:"holder,omitempty"`
	Reading  string `json:"reading,omitempty"`
	OrderRef string `json:"order_ref,omitempty"`
	Revoked  bool   `json:"revoked"`
	// ReplacedBy is the serial of the ticket that replaced this revoked
	// one (kidoctl reissue), 0 for none; left out of JSON when 0, as
	// Tier.Retired.
	ReplacedBy uint32 `json:"replaced_by,omitempty"`
}

// Admission kinds.
const (
	KindEntry  = "entry"  // a scan admitted at an entry gate
	KindExit   = "exit"   // a scan recorded at an exit gate
	KindManual = "manual" // admitted by staff without a scan (kido-gate admit -reason)
	KindUndo   = "undo"   // staff annulled the gate's last admission (see Undo); not a passage
)

// Admission is one recorded passage of a ticket at a gate. (Gate, Seq) is
// its idempotency key; Hash covers its content (see docs/sync-protocol.md)
// so that a reused key with different content is detected, not dropped.
type Admission struct {
	Gate      uint32    `json:"gate"`
	Seq       uint64    `json:"seq"` // per-gate sequence number, from 1, no gaps
	Serial    uint32    `json:"serial"`
	Tier      uint8     `json:"tier"`
	Kind      string    `json:"kind"`      // KindEntry, KindExit, KindManual or KindUndo
	At        time.Time `json:"at"`        // the gate's device clock
	Corrected time.Time `json:"corrected"` // the gate's trusted time (see docs/replica.md)
	Text      string    `json:"text,omitempty"`
	Reason    string    `json:"reason,omitempty"` // KindManual: why staff admitted without a scan
	Undoes    uint64    `json:"undoes,omitempty"` // KindUndo: the seq of the same gate's admission it annuls
	Hash      string    `json:"hash"`
	// Sig is the origin gate's Ed25519 signature over Hash
	// (wire.SignAdmission); empty for a gate enrolled before gate keys, and
	// in the feed and snapshot, which carry no signatures.
	Sig []byte `json:"sig,omitempty"`
}

// Passage is the part of an admission the entry rule reads.
func (a Admission) Passage() Passage {
	return Passage{Gate: a.Gate, Seq: a.Seq, Kind: a.Kind, At: a.Corrected, Undoes: a.Undoes}
}

// Gate is an enrolled gate device and its settings.
type Gate struct {
	ID        uint32    `json:"id"`
	Event     uint32    `json:"event"`
	Name      string    `json:"name"`
	Tiers     TierIDs   `json:"tiers,omitempty"` // empty: every tier
	Direction Direction `json:"direction"`
	Revoked   bool      `json:"revoked"`
	// RevokedAt is the server time of the revocation, when the server
	// recorded it: a record the gate signed at or after it is refused.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Pub is the gate's Ed25519 public key (32 bytes), made at enrolment,
	// that every record of the gate is signed with; empty for a gate
	// enrolled before gate keys (docs/mesh.md).
	Pub []byte `json:"pub,omitempty"`
	// Mesh is the host:port where the gate listens for its peers, as its
	// last heartbeat reported it; empty: unknown.
	Mesh string `json:"mesh,omitempty"`
}

// TierIDs is a list of tier ids. It is a named type only so that JSON
// carries it as an array of numbers ([1,2]) rather than as base64, which
// is what encoding/json does with a plain []uint8.
type TierIDs []uint8

// MarshalJSON writes the ids as a JSON array of numbers.
func (t TierIDs) MarshalJSON() ([]byte, error) {
	if t == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i, id := range t {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(id), 10)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads a JSON array of numbers from 0 to 255.
func (t *TierIDs) UnmarshalJSON(b []byte) error {
	var ids []uint16
	if err := json.Unmarshal(b, &ids); err != nil {
		return err
	}
	if ids == nil {
		*t = nil
		return nil
	}
	out := make(TierIDs, len(ids))
	for i, id := range ids {
		if id > 255 {
			return fmt.Errorf("kido: tier id %d out of range", id)
		}
		out[i] = uint8(id)
	}
	*t = out
	return nil
}
