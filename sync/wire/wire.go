package wire

import (
	"strconv"
	"time"

	"kido.dev/kido"
)

// Error is the body of every non-2xx response.
type Error struct {
	Error string `json:"error"`          // what went wrong, one line
	Code  string `json:"code,omitempty"` // stable identifier, e.g. "unauthorized", "conflict"
	Hint  string `json:"hint,omitempty"` // what to do about it
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
	Server     Server             `json:"server"`
	Event      kido.Event         `json:"event"`
	Tiers      []kido.Tier        `json:"tiers"`
	Keys       []kido.Key         `json:"keys"`
	Roster     []kido.RosterEntry `json:"roster"`
	Admissions []kido.Admission   `json:"admissions"`
	Gate       kido.Gate          `json:"gate"`  // the gate this snapshot is for
	Gates      []kido.Gate        `json:"gates"` // every gate of the event, to name them
	// Voids of revoked gates (docs/sync-protocol.md §3.6); left out when
	// there are none, so that a kido-gate older than voids still takes
	// the snapshot of an event without one.
	Voids      []kido.Void `json:"voids,omitempty"`
	Cursor     string      `json:"cursor"`
	ServerTime time.Time   `json:"server_time"`
}

// Change kinds in the delta feed.
const (
	ChangeEvent     = "event"
	ChangeTier      = "tier"
	ChangeKey       = "key"
	ChangeRoster    = "roster" // a ticket issued, revoked or changed
	ChangeAdmission = "admission"
	ChangeGate      = "gate"
	ChangeVoid      = "void" // an operator voided a revoked gate's admissions from a time on
)

// Change is one entry of the delta feed; exactly the field named by Kind is set.
type Change struct {
	Kind      string            `json:"kind"`
	Event     *kido.Event       `json:"event,omitempty"`
	Tier      *kido.Tier        `json:"tier,omitempty"`
	Key       *kido.Key         `json:"key,omitempty"`
	Roster    *kido.RosterEntry `json:"roster,omitempty"`
	Admission *kido.Admission   `json:"admission,omitempty"`
	Gate      *kido.Gate        `json:"gate,omitempty"`
	Void      *kido.Void        `json:"void,omitempty"`
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
	// Pub is the gate's Ed25519 public key (32 bytes, base64 in JSON),
	// made for this enrolment; every record the gate makes is signed with
	// its private key (docs/mesh.md). Empty from a gate older than gate
	// keys.
	Pub []byte `json:"pub,omitempty"`
}

// EnrollResponse carries the gate's credential. Signature is the server
// identity key's Ed25519 signature over EnrollSignedMessage, so the gate can
// check it enrolled with the server its code names.
type EnrollResponse struct {
	Gate       kido.Gate `json:"gate"`
	Credential string    `json:"credential"` // bearer token for this gate only
	Server     Server    `json:"server"`
	Signature  string    `json:"signature"` // base64 (not scanned, so no keyboard concern)
}

// EnrollSignedMessage returns the bytes the server signs in an enrolment
// response: a domain string, then the nonce, gate id and credential, each
// newline-terminated.
func EnrollSignedMessage(nonce string, gate uint32, credential string) []byte {
	return []byte("kido enroll v1\x00" + nonce + "\n" + strconv.FormatUint(uint64(gate), 10) + "\n" + credential + "\n")
}
