package wire

import (
	"strconv"
	"time"
)

// Error is the body of every non-2xx response.
type Error struct {
	Error string `json:"error"`          // what went wrong, one line
	Code  string `json:"code,omitempty"` // stable identifier, e.g. "unauthorized", "conflict"
	Hint  string `json:"hint,omitempty"` // what to do about it
}

// Entry rules of a tier, as stored in Tier.Entries.
const (
	EntriesUnlimited = 0 // unlimited, re-entry allowed after an exit
	EntriesSingle    = 1 // the default
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

// Tier is a ticket category of an event with its entry rule.
type Tier struct {
	ID      uint8  `json:"id"`
	Event   uint32 `json:"event"`
	Name    string `json:"name"`
	Entries int    `json:"entries"` // N entries; EntriesUnlimited: unlimited with re-entry after exit
}

// Key is a trusted ticket-signing public key. Private keys never appear on
// the wire.
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
type RosterEntry struct {
	Serial   uint32 `json:"serial"`
	Tier     uint8  `json:"tier"`
	Holder   string `json:"holder,omitempty"`
	OrderRef string `json:"order_ref,omitempty"`
	Revoked  bool   `json:"revoked"`
}

// Admission kinds.
const (
	KindEntry  = "entry"  // a scan admitted at an entry gate
	KindExit   = "exit"   // a scan recorded at an exit gate
	KindManual = "manual" // admitted by staff without a scan (kido-gate admit)
)

// Admission is one recorded passage of a ticket at a gate. (Gate, Seq) is
// its idempotency key; Hash covers its content (see docs/sync-protocol.md)
// so that a reused key with different content is detected, not dropped.
type Admission struct {
	Gate      uint32    `json:"gate"`
	Seq       uint64    `json:"seq"` // per-gate sequence number, from 1, no gaps
	Serial    uint32    `json:"serial"`
	Tier      uint8     `json:"tier"`
	Kind      string    `json:"kind"`      // KindEntry, KindExit or KindManual
	At        time.Time `json:"at"`        // the gate's device clock
	Corrected time.Time `json:"corrected"` // the gate's trusted time (see docs/replica.md)
	Text      string    `json:"text,omitempty"`
	Hash      string    `json:"hash"`
}

// Gate directions.
const (
	DirectionEntry = "entry"
	DirectionExit  = "exit"
	DirectionBoth  = "both"
)

// Gate is an enrolled gate device and its settings.
type Gate struct {
	ID        uint32  `json:"id"`
	Event     uint32  `json:"event"`
	Name      string  `json:"name"`
	Tiers     TierIDs `json:"tiers,omitempty"` // empty: every tier
	Direction string  `json:"direction"`
	Revoked   bool    `json:"revoked"`
}

// Server identifies a kido server. Fingerprint is what enrolment codes bind to.
type Server struct {
	ID          string `json:"id"`          // kidopub1… text form of the server identity key
	Fingerprint string `json:"fingerprint"` // short digits derived from ID, part of every enrolment code
	Version     string `json:"version"`
}

// Snapshot is the full state a gate needs to decide offline. Cursor is where
// the delta feed continues from; ServerTime seeds the gate's trusted clock.
type Snapshot struct {
	Server     Server        `json:"server"`
	Event      Event         `json:"event"`
	Tiers      []Tier        `json:"tiers"`
	Keys       []Key         `json:"keys"`
	Roster     []RosterEntry `json:"roster"`
	Admissions []Admission   `json:"admissions"`
	Gate       Gate          `json:"gate"`  // the gate this snapshot is for
	Gates      []Gate        `json:"gates"` // every gate of the event, to name them
	Cursor     string        `json:"cursor"`
	ServerTime time.Time     `json:"server_time"`
}

// Change kinds in the delta feed.
const (
	ChangeEvent     = "event"
	ChangeTier      = "tier"
	ChangeKey       = "key"
	ChangeRoster    = "roster" // a ticket issued, revoked or changed
	ChangeAdmission = "admission"
	ChangeGate      = "gate"
)

// Change is one entry of the delta feed; exactly the field named by Kind is set.
type Change struct {
	Kind      string       `json:"kind"`
	Event     *Event       `json:"event,omitempty"`
	Tier      *Tier        `json:"tier,omitempty"`
	Key       *Key         `json:"key,omitempty"`
	Roster    *RosterEntry `json:"roster,omitempty"`
	Admission *Admission   `json:"admission,omitempty"`
	Gate      *Gate        `json:"gate,omitempty"`
}

// Changes answers a delta-feed pull. When Resnapshot is true the cursor was
// older than the server's retention and the gate must fetch a Snapshot.
type Changes struct {
	Changes    []Change  `json:"changes"`
	Cursor     string    `json:"cursor"`
	Resnapshot bool      `json:"resnapshot,omitempty"`
	ServerTime time.Time `json:"server_time"`
}

// EnrollRequest registers a gate device with a one-time code.
type EnrollRequest struct {
	Code   string `json:"code"`
	Device string `json:"device,omitempty"` // free text: host name, model
	Nonce  string `json:"nonce"`            // random, echoed inside the signed response
}

// EnrollResponse carries the gate's credential. Signature is the server
// identity key's Ed25519 signature over EnrollSignedMessage, so the gate can
// check it enrolled with the server its code names.
type EnrollResponse struct {
	Gate       Gate   `json:"gate"`
	Credential string `json:"credential"` // bearer token for this gate only
	Server     Server `json:"server"`
	Signature  string `json:"signature"` // base64 (not scanned, so no keyboard concern)
}

// EnrollSignedMessage returns the bytes the server signs in an enrolment
// response: a domain string, then the nonce, gate id and credential, each
// newline-terminated.
func EnrollSignedMessage(nonce string, gate uint32, credential string) []byte {
	return []byte("kido enroll v1\x00" + nonce + "\n" + strconv.FormatUint(uint64(gate), 10) + "\n" + credential + "\n")
}
