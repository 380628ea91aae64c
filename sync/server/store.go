package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"time"

	"kido.dev/kido"
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

// Issued is what an upload check needs of an issued ticket: its tier and
// the exact text the server signed, so that an admission carrying that
// text needs no signature verification (docs/sync-protocol.md §3.3).
//
// Revoked and KeyRevoked are the change-log positions (Cursor.Pos) at which
// the ticket and the key that signed it were revoked, 0 when they were
// not: a gate whose feed position is past one had been told, and a scan it
// admitted after that is suspect (docs/sync-protocol.md §3.6).
type Issued struct {
	Tier       uint8
	Text       string
	Revoked    int64
	KeyRevoked int64
}

// UploadState is what the server checks an upload's admissions against,
// beside the tickets (docs/sync-protocol.md §3.6), read in one
// transaction.
type UploadState struct {
	Event    kido.Event
	Gate     kido.Gate
	Enrolled time.Time // zero: never enrolled
	// Before is the gate's stored admissions, every status, with seq in
	// the range asked for, in seq order: what a manual burst is counted
	// against.
	Before []kido.Admission
}

// Store keeps the server's state. Every method is one transaction; a
// method that fails changes nothing. Methods return errors wrapping the
// package's sentinels (ErrNotFound, ErrConflict, ErrInvalid), preferably
// as *Error naming the offending item. Every implementation runs the
// conformance suite, storetest.Run.
type Store interface {
	// Identity returns the server identity key, or ErrNotFound before
	// SetIdentity. SetIdentity stores it unless one exists and returns the
	// one stored.
	Identity(ctx context.Context) (SealedKey, error)
	SetIdentity(ctx context.Context, k SealedKey) (SealedKey, error)

	// CountTokens counts every token ever created, revoked ones included:
	// the first admin token is made only in a store that never had one.
	CountTokens(ctx context.Context) (int, error)
	CreateToken(ctx context.Context, t NewToken, now time.Time) (wire.Token, error)
	// TokenByHash returns an unrevoked token, or ErrNotFound.
	TokenByHash(ctx context.Context, h TokenHash) (wire.Token, error)
	Tokens(ctx context.Context) ([]wire.Token, error)
	// RevokeToken revokes token id (ErrNotFound if unknown; a revoked one
	// is given back unchanged). Revoking the last unrevoked admin token is
	// ErrConflict; revoking a gate's credential revokes the gate too and
	// appends a gate change.
	RevokeToken(ctx context.Context, id uint32, now time.Time) (wire.Token, error)

	// CreateEvent creates an event with its first signing key.
	CreateEvent(ctx context.Context, e wire.EventCreate, key SealedKey, now time.Time) (kido.Event, error)
	// Events returns the events with the given ids, in that order
	// (ErrNotFound if one is unknown), or all when ids is nil.
	Events(ctx context.Context, ids []uint32) ([]kido.Event, error)
	EventDetail(ctx context.Context, event uint32) (wire.EventDetail, error)
	// AddTier adds a tier with the event's next id, from 1; ErrConflict
	// after 255, or when the event has a tier of the same name under
	// Unicode case folding (strings.EqualFold, as names are looked up).
	AddTier(ctx context.Context, event uint32, name string, entries kido.EntryRule) (kido.Tier, error)
	Tiers(ctx context.Context, event uint32) ([]kido.Tier, error)

	// Keys returns the keys of an event, or of every event when event is 0.
	Keys(ctx context.Context, event uint32) ([]kido.Key, error)
	// AddKey adds a key that becomes the event's current key; ErrConflict
	// when the key is stored already.
	AddKey(ctx context.Context, event uint32, key SealedKey, now time.Time) (kido.Key, error)
	// RevokeKey revokes key id; event 0 means whichever event has it
	// (ErrConflict when several do).
	RevokeKey(ctx context.Context, event uint32, id string) (kido.Key, error)
	// CurrentKey returns the event's current signing key, or ErrNotFound.
	CurrentKey(ctx context.Context, event uint32) (SealedKey, error)

	// Issue issues a batch chunk all or nothing (docs/api.md): an item
	// issued before is given back, or ErrConflict if its content differs;
	// ErrInvalid for an unknown tier; ErrConflict when s's key is not the
	// event's current, unrevoked key.
	Issue(ctx context.Context, event uint32, req wire.IssueRequest, s Signer) ([]wire.IssuedTicket, error)
	// Revoke revokes the selected tickets all or nothing (ErrNotFound for
	// an unknown serial or order); a revoked ticket changes nothing.
	Revoke(ctx context.Context, event uint32, sel wire.Selection) ([]kido.RosterEntry, error)
	// Reissue revokes and replaces the selected tickets, as docs/api.md
	// says: a ticket selected by serial that was replaced before gives
	// back its replacement. ErrNotFound for an unknown serial or an order
	// without valid tickets; ErrConflict for s as in Issue.
	Reissue(ctx context.Context, event uint32, sel wire.Selection, s Signer) ([]wire.IssuedTicket, error)

	// Tickets returns every ticket of the event, or of its order orderRef
	// when that is not empty, revoked ones included, in serial order;
	// ErrNotFound for an unknown event.
	Tickets(ctx context.Context, event uint32, orderRef string) ([]wire.TicketRecord, error)

	// Deliver records req.Results, each of a ticket req.Run holds in state
	// wire.MailSending (else ErrConflict), then claims req.Claim, in one
	// transaction (docs/api.md, deliveries): a ticket revoked, unknown,
	// sent, or being sent by another run (unless req.Retake) is refused
	// with why; any other becomes wire.MailSending by req.Run.
	Deliver(ctx context.Context, event uint32, req wire.DeliveryRequest, now time.Time) (wire.DeliveryResponse, error)

	// AddGate adds a gate (tiers by id, ErrInvalid for one the event lacks)
	// with its enrolment code.
	AddGate(ctx context.Context, g kido.Gate, code GateCode) (kido.Gate, error)
	Gates(ctx context.Context, event uint32) ([]kido.Gate, error)
	// Enroll uses up an unexpired code and stores the gate's credential
	// (Token.Gate and Token.Events are filled in from the code's gate) and
	// its public key pub (empty: a gate without one, from before gate
	// keys), appending a gate change when there is a key. An unknown, used
	// or expired code, or one of a revoked gate, is ErrNotFound.
	Enroll(ctx context.Context, code TokenHash, device string, pub []byte, cred NewToken, now time.Time) (kido.Gate, error)
	// SetGateMesh stores the mesh address a gate's heartbeat reported and
	// appends a gate change, unless the gate holds that address already or
	// is revoked; it reports whether it changed anything. ErrNotFound
	// unless the event has the gate.
	SetGateMesh(ctx context.Context, event, gate uint32, addr string) (bool, error)

	// Snapshot returns the state a gate needs, read in one transaction,
	// with Cursor set to the change-log position it reflects: counted
	// admissions only, and every void of the event. Server and ServerTime
	// are left for the caller.
	Snapshot(ctx context.Context, gate uint32) (*wire.Snapshot, error)

	// RevokedToken returns a revoked token by hash, or ErrNotFound; it lets
	// a revoked gate be told so (401 gate_revoked) rather than "unknown".
	RevokedToken(ctx context.Context, h TokenHash) (wire.Token, error)
	// RevokeGate marks a gate revoked at now (kido.Gate.RevokedAt), revokes its credentials (keeping
	// their hashes), voids its unused code and appends a gate change, in
	// one transaction; ErrNotFound unless the event has the gate. Revoking
	// a revoked gate changes nothing.
	RevokeGate(ctx context.Context, event, gate uint32, now time.Time) (kido.Gate, error)

	// IssuedTickets returns the tier and text of each of serials issued for
	// event (revoked tickets included); serials never issued are absent. A
	// Store that does not keep ticket texts leaves Text empty.
	IssuedTickets(ctx context.Context, event uint32, serials []uint32) (map[uint32]Issued, error)
	// StoredHashes returns the hashes of the gate's stored admissions with
	// seq in [from, to], so a retried batch need not be verified again.
	StoredHashes(ctx context.Context, gate uint32, from, to uint64) (map[uint64]string, error)
	// UploadState returns what an upload of gate (of event) is checked
	// against, with its stored admissions of seq from..to (none when from
	// > to); ErrNotFound unless the event has the gate.
	UploadState(ctx context.Context, event, gate uint32, from, to uint64) (*UploadState, error)
	// Upload stores a checked and verified batch of one gate of event, with
	// each admission's signature (never appended to the change log), in
	// one write transaction, per docs/sync-protocol.md §3.4: new records
	// inserted (admissions also appended to the change log), same key and
	// hash counted as duplicates, same key with another hash quarantined;
	// then the gate's acknowledgements advanced. A new admission whose seq
	// is in flags is stored with that status and reason and is not
	// appended to the change log; the flags of the admissions stored are
	// returned in Flagged. ServerTime is left for the caller; ErrNotFound
	// unless the event has the gate.
	Upload(ctx context.Context, event, gate uint32, req *wire.UploadRequest, flags map[uint64]wire.Flag, now time.Time) (wire.UploadResponse, error)
	// RecordRefused appends rows to the refused-uploads log.
	RecordRefused(ctx context.Context, rs []Refusal) error

	// Changes reads, in one read transaction, up to limit changes of event
	// after cursor c, and the cursor to continue from: the last change's
	// when the page is full, otherwise the log head as of that read.
	// Resnapshot is set, with nothing else, when c names a position whose
	// row is gone or carries another tag.
	Changes(ctx context.Context, event uint32, c Cursor, limit int) (FeedPage, error)
	// PruneChanges deletes change-log rows created before cutoff whose
	// event ended before ended, never the log head; it returns how many.
	PruneChanges(ctx context.Context, cutoff, ended time.Time) (int64, error)

	// VoidGate records void v of a revoked gate: its admissions covered by
	// v (kido.Void.Covers) take status wire.StatusVoided with v.Reason, and
	// a void change is appended to the change log, in one transaction. It
	// returns the void stored and how many admissions it voided.
	// ErrNotFound unless v.Event has the gate; ErrConflict unless the gate
	// is revoked.
	VoidGate(ctx context.Context, v kido.Void) (kido.Void, int, error)

	// EditEvent corrects an event in one transaction: edit gets the event
	// as stored and the span of its counted entries, read when edit calls
	// for it (a scan of the event's admissions), and gives back the
	// event corrected (its id kept) or an error, which EditEvent returns
	// as is, nothing changed. The corrected event is stored, appended to
	// the change log, and recorded as a wire.Edit made by by at now; an
	// event given back unchanged is neither logged nor recorded.
	// ErrNotFound for an unknown event.
	EditEvent(ctx context.Context, event uint32, edit func(kido.Event, Entries) (kido.Event, error), by string, now time.Time) (kido.Event, error)
	// EditTier is EditEvent for a tier: edit gets the tier and the
	// event's other tiers. ErrNotFound unless the event has the tier.
	EditTier(ctx context.Context, event uint32, tier uint8, edit func(t kido.Tier, others []kido.Tier) (kido.Tier, error), by string, now time.Time) (kido.Tier, error)
	// EditGate is EditEvent for a gate's settings (name, direction,
	// tiers): edit gets the gate and the event's tiers. ErrNotFound
	// unless the event has the gate.
	EditGate(ctx context.Context, event, gate uint32, edit func(g kido.Gate, tiers []kido.Tier) (kido.Gate, error), by string, now time.Time) (kido.Gate, error)
	// Edits returns the event's recorded edits, oldest first; ErrNotFound
	// for an unknown event.
	Edits(ctx context.Context, event uint32) ([]wire.Edit, error)

	// SaveHeartbeats stores the gates' latest heartbeats in one transaction.
	SaveHeartbeats(ctx context.Context, hbs []GateHeartbeat) error
	// GateStatuses returns the event's gates with their stored heartbeat,
	// acknowledgements, quarantine, refusal, suspect and voided counts;
	// Silent is left for the caller.
	GateStatuses(ctx context.Context, event uint32) ([]wire.GateStatus, error)
	// EventRecords returns what reports and conflicts are computed from,
	// read in one transaction.
	EventRecords(ctx context.Context, event uint32) (*EventRecords, error)
	// ReviewConflict records rv as the review of the double entry of
	// ticket serial, replacing an earlier one. ErrNotFound unless the
	// event has the ticket. Whether it is a double entry is the caller's
	// to check.
	ReviewConflict(ctx context.Context, event, serial uint32, rv wire.Review) error

	// Ping checks that the database answers a read.
	Ping(ctx context.Context) error
	// Probe checks that the database takes a write: it rewrites one row
	// kept for the purpose and commits, queued behind other writes as any
	// write is, so it fails as they would (disk full, read-only file, I/O
	// error).
	Probe(ctx context.Context) error

	Close() error
}

// A ChangeNotifier is a Store that several server instances share: it
// tells each instance of the changes any of them commits, so that
// long-polls wake on every instance (docs/sync-protocol.md §4.3).
// Server.Run watches it when the Store is one.
type ChangeNotifier interface {
	// WatchChanges calls changed with the event of every commit that
	// appended changes, from any instance, until ctx ends. changed(0)
	// means any event may have changed: it comes each time the watch
	// takes effect, at start and after a lost connection (which lost is
	// told of first), since commits before then notified nobody.
	WatchChanges(ctx context.Context, changed func(event uint32), lost func(error))
}

// Refusal is one row of the refused-uploads log: a record of an upload
// refused with 400 bad_ticket, kept for audit.
type Refusal struct {
	Event, Gate uint32
	Record      string // wire.RecordAdmission or wire.RecordAudit
	Seq         uint64
	Hash        string
	Error       string
	Received    time.Time
}

// FeedPage is one read of the change log. Changes are wire.Change values
// in JSON as stored, passed through without decoding.
type FeedPage struct {
	Changes    []json.RawMessage
	Next       Cursor
	Resnapshot bool
}

// GateHeartbeat is what a gate's latest contact said about it.
type GateHeartbeat struct {
	Gate        uint32
	LastContact time.Time
	Pending     int64 // -1: unknown
	ClockSkewMS int64
	Version     string
}

// EventRecords is an event's admissions with what a report needs beside
// them. Admissions holds the counted ones only: not quarantined, not
// flagged; Flagged holds the suspect, refused and voided ones in (gate,
// seq) order, GateName left for the caller.
type EventRecords struct {
	Event       kido.Event
	Tiers       []kido.Tier
	Gates       []kido.Gate
	Admissions  []kido.Admission
	Flagged     []wire.Flagged
	Voids       []kido.Void
	Rejected    map[uint32]int         // audit records by gate
	Quarantined int                    // records in quarantine
	Issued      map[uint8]int          // tickets issued by tier, revoked included
	Holders     map[uint32]string      // holder by serial, for admitted serials
	Reviews     map[uint32]wire.Review // reviews of double entries, by serial
}

// EntrySpan is the first and last trusted time of an event's counted
// entries and manual admissions (exits are recorded at any time), N of
// them; zero times when N is 0. A corrected window must still hold them.
type EntrySpan struct {
	N           int
	First, Last time.Time
}

// Entries reads the span of an event's counted entries, inside the
// transaction of the edit it is given to.
type Entries func() (EntrySpan, error)

// With returns the span with one more entry at t.
func (s EntrySpan) With(t time.Time) EntrySpan {
	if s.N == 0 || t.Before(s.First) {
		s.First = t
	}
	if s.N == 0 || t.After(s.Last) {
		s.Last = t
	}
	s.N++
	return s
}
