package wire

import (
	"time"

	"kido.dev/kido"
)

// This file holds the messages of the admin and promoter API (kidoctl ↔
// kido-server); see docs/api.md.

// Health answers GET /v1/health, which needs no token.
type Health struct {
	Status     string    `json:"status"` // "ok", or "error" (with 503) when the database cannot read or write
	Server     Server    `json:"server"`
	ServerTime time.Time `json:"server_time"`
	Database   string    `json:"database,omitempty"`   // "ok" or what failed: a read, a write, free space
	FreeBytes  int64     `json:"free_bytes,omitempty"` // free space where the database writes, when known
	Warnings   []string  `json:"warnings,omitempty"`   // what an operator must act on soon (certificate expiry, silent gates, …)
}

// EventCreate creates an event (POST /v1/events). The server answers with
// the Event, including its new id.
type EventCreate struct {
	Name     string    `json:"name"`
	Venue    string    `json:"venue"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	TimeZone string    `json:"time_zone,omitempty"`
}

// EventDetail answers GET /v1/events/{event}.
type EventDetail struct {
	Event   kido.Event  `json:"event"`
	Tiers   []kido.Tier `json:"tiers"`
	Keys    []kido.Key  `json:"keys"`
	Gates   []kido.Gate `json:"gates"`
	Issued  int         `json:"issued"`  // tickets issued, revoked ones included
	Revoked int         `json:"revoked"` // of which revoked
}

// TierCreate adds a tier to an event (POST /v1/events/{event}/tiers).
// Entries nil means EntriesSingle.
type TierCreate struct {
	Name    string `json:"name"`
	Entries *int   `json:"entries,omitempty"`
}

// KeyRevoke revokes a signing key (POST /v1/keys/{key}/revoke). Event is
// needed only when two events have keys with the same id.
type KeyRevoke struct {
	Event uint32 `json:"event,omitempty"`
}

// Token scopes.
const (
	ScopeAdmin    = "admin"    // everything
	ScopePromoter = "promoter" // the events in Token.Events
	ScopeGate     = "gate"     // one enrolled gate: the /v1/gate/ calls for its event
)

// Token describes an API token. The secret itself is shown once, in
// TokenCreated, and the server keeps only its hash.
type Token struct {
	ID      uint32     `json:"id"`
	Name    string     `json:"name"`
	Scope   string     `json:"scope"`
	Events  []uint32   `json:"events,omitempty"` // ScopePromoter, and the gate's event for ScopeGate
	Gate    uint32     `json:"gate,omitempty"`   // ScopeGate only
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// TokenCreate makes a token (POST /v1/tokens, admin only). Gate tokens
// are made by enrolment, not here.
type TokenCreate struct {
	Name   string   `json:"name"`
	Scope  string   `json:"scope"` // ScopeAdmin or ScopePromoter
	Events []uint32 `json:"events,omitempty"`
}

// TokenCreated answers TokenCreate; Secret is the bearer token.
type TokenCreated struct {
	Token
	Secret string `json:"secret"`
}

// IssueItem is one ticket to issue.
type IssueItem struct {
	Tier     uint8  `json:"tier"`
	Holder   string `json:"holder,omitempty"`
	Reading  string `json:"reading,omitempty"` // furigana of the holder's name; gates search it
	Email    string `json:"email,omitempty"`
	OrderRef string `json:"order_ref,omitempty"`
}

// IssueRequest issues tickets (POST /v1/events/{event}/tickets). A batch
// is numbered from 0; this request carries its items Offset, Offset+1, …
// The server remembers (batch, number): a number already issued with the
// same content gives back the ticket issued then, and with other content
// is a conflict. So a batch can be sent in chunks and an interrupted run
// resent whole without duplicates. A request is all or nothing.
type IssueRequest struct {
	Batch   string      `json:"batch"`
	Offset  int         `json:"offset"`
	Tickets []IssueItem `json:"tickets"`
}

// IssuedTicket is an issued ticket with its QR text.
type IssuedTicket struct {
	Serial   uint32 `json:"serial"`
	Tier     uint8  `json:"tier"`
	Holder   string `json:"holder,omitempty"`
	OrderRef string `json:"order_ref,omitempty"`
	Text     string `json:"text"`               // exactly what the QR code holds
	Replaces uint32 `json:"replaces,omitempty"` // for a reissue: the revoked serial
	Existing bool   `json:"existing,omitempty"` // issued by an earlier request and given back, not issued now
}

// IssueResponse answers IssueRequest, in request order.
type IssueResponse struct {
	Batch   string         `json:"batch"`
	Tickets []IssuedTicket `json:"tickets"`
}

// Selection names tickets of an event by serial or by order reference
// (POST /v1/events/{event}/revocations and …/reissues). Exactly one of the
// two is given.
type Selection struct {
	Serials  []uint32 `json:"serials,omitempty"`
	OrderRef string   `json:"order_ref,omitempty"`
}

// Revoked answers a revocation: the selected tickets, now revoked, and
// the serials of those that were revoked before this request.
type Revoked struct {
	Tickets        []kido.RosterEntry `json:"tickets"`
	AlreadyRevoked []uint32           `json:"already_revoked,omitempty"`
}

// Reissued answers a reissue: the new tickets, each naming the serial it
// replaces. Reissuing a ticket that was already reissued gives back its
// replacement, so a retried call issues nothing twice.
type Reissued struct {
	Tickets []IssuedTicket `json:"tickets"`
}

// TicketRecord is an issued ticket as GET /v1/events/{event}/tickets
// lists it for the promoter: with the e-mail address, which gates never
// see, and its issue batch.
type TicketRecord struct {
	Serial     uint32 `json:"serial"`
	Tier       uint8  `json:"tier"`
	Holder     string `json:"holder,omitempty"`
	Reading    string `json:"reading,omitempty"`
	Email      string `json:"email,omitempty"`
	OrderRef   string `json:"order_ref,omitempty"`
	Batch      string `json:"batch,omitempty"` // empty for a reissue's replacement
	Revoked    bool   `json:"revoked"`
	Replaces   uint32 `json:"replaces,omitempty"`
	ReplacedBy uint32 `json:"replaced_by,omitempty"`
	// Mail is the record of mailing the ticket (kidoctl send), nil when
	// it never was.
	Mail *Mail `json:"mail,omitempty"`
}

// Mail states of a ticket (docs/api.md, deliveries).
const (
	MailSending = "sending" // claimed by a run that has not told its outcome: the mail may have gone
	MailSent    = "sent"    // accepted by the SMTP server
	MailFailed  = "failed"  // refused, or not handed over; a later run sends it again
)

// Mail is a ticket's mail record: the latest attempt's state, the run that
// made it, the address and the SMTP server's answer (or why it failed).
type Mail struct {
	State    string    `json:"state"`
	Run      string    `json:"run"`
	To       string    `json:"to,omitempty"`
	Answer   string    `json:"answer,omitempty"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
}

// DeliveryRequest (POST /v1/events/{event}/deliveries) records the
// outcomes of tickets a run claimed, then claims more for sending, in one
// transaction.
type DeliveryRequest struct {
	Run     string           `json:"run"` // the sending run's random id, 16 to 64 of a-z 0-9
	Results []DeliveryResult `json:"results,omitempty"`
	Claim   []uint32         `json:"claim,omitempty"`
	// Retake claims also tickets another run claimed and never told the
	// outcome of: only when the promoter has checked they did not go.
	Retake bool `json:"retake,omitempty"`
}

// DeliveryResult is the outcome of sending one claimed ticket.
type DeliveryResult struct {
	Serial   uint32 `json:"serial"`
	Accepted bool   `json:"accepted"`
	To       string `json:"to"`
	Answer   string `json:"answer"` // the SMTP server's answer, or why the mail was not handed over
}

// DeliveryResponse answers a DeliveryRequest: the serials this run may
// send now, and the others with why not.
type DeliveryResponse struct {
	Claimed []uint32          `json:"claimed"`
	Refused []DeliveryRefusal `json:"refused"`
}

// DeliveryRefusal is a ticket a run may not send, and why.
type DeliveryRefusal struct {
	Serial uint32 `json:"serial"`
	Why    string `json:"why"` // "revoked", "unknown", or the Mail state: "sent", "sending"
	Mail   *Mail  `json:"mail,omitempty"`
}

// AdmissionRecord is one stored admission as GET
// /v1/events/{event}/admissions lists it: counted (Status empty) or
// flagged (docs/sync-protocol.md §3.6), never quarantined.
type AdmissionRecord struct {
	kido.Admission
	GateName string `json:"gate_name"`
	Holder   string `json:"holder,omitempty"`
	Status   string `json:"status,omitempty"` // empty: counted (an undo record: the record itself); else StatusSuspect, StatusRefused, StatusVoided or StatusUndone
	Why      string `json:"why,omitempty"`
}

// GateCreate adds a gate to an event (POST /v1/events/{event}/gates).
type GateCreate struct {
	Name      string         `json:"name"`
	Tiers     []string       `json:"tiers,omitempty"`     // tier names; empty: every tier
	Direction kido.Direction `json:"direction,omitempty"` // DirectionEntry (default), DirectionExit or DirectionBoth
}

// VoidRequest voids a revoked gate's admissions from a time on
// (POST /v1/events/{event}/gates/{gate}/void, kidoctl gate void).
type VoidRequest struct {
	From   time.Time `json:"from"`   // trusted time: the gate's admissions at or after it are void
	Reason string    `json:"reason"` // why, one line (CheckReason), required
}

// Voided answers VoidRequest: the void as recorded, and how many of the
// gate's counted admissions it voided.
type Voided struct {
	Void   kido.Void `json:"void"`
	Voided int       `json:"voided"`
}

// GateCreated answers GateCreate with the gate's single-use enrolment
// code (see ParseEnrollCode).
type GateCreated struct {
	Gate    kido.Gate `json:"gate"`
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
	Server  Server    `json:"server"`
}
