package wire

import (
	"encoding/json"
	"time"

	"kido.dev/kido"
)

// EventEdit corrects an event (PATCH /v1/events/{event}, kidoctl event
// edit). A field left out keeps its value; at least one must be given.
type EventEdit struct {
	Name     *string    `json:"name,omitempty"`
	Venue    *string    `json:"venue,omitempty"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	TimeZone *string    `json:"time_zone,omitempty"` // IANA name; "" clears it
}

// TierEdit corrects a tier (PATCH /v1/events/{event}/tiers/{tier}, kidoctl
// tier edit and tier retire). A field left out keeps its value.
type TierEdit struct {
	Name    *string `json:"name,omitempty"`
	Entries *int    `json:"entries,omitempty"` // the entry rule, as TierCreate's
	Retired *bool   `json:"retired,omitempty"` // true: the tier's tickets are refused at every gate
}

// GateEdit corrects a gate's settings (PATCH
// /v1/events/{event}/gates/{gate}, kidoctl gate edit). A field left out
// keeps its value.
type GateEdit struct {
	Name      *string         `json:"name,omitempty"`
	Direction *kido.Direction `json:"direction,omitempty"`
	Tiers     *[]string       `json:"tiers,omitempty"` // tier names or ids; empty: every tier
}

// What an Edit changed.
const (
	EditEvent = "event"
	EditTier  = "tier"
	EditGate  = "gate"
)

// Edit is one recorded correction of an event, a tier or a gate: who made
// it, when, and the object before and after, each as its JSON in the feed
// (GET /v1/events/{event}/history, kidoctl event history).
type Edit struct {
	ID     int64           `json:"id"` // increasing in the order edits were made
	Event  uint32          `json:"event"`
	Object string          `json:"object"` // EditEvent, EditTier or EditGate
	Ref    uint32          `json:"ref"`    // the tier's or gate's id; the event's for EditEvent
	By     string          `json:"by"`     // the name of the token that made it
	At     time.Time       `json:"at"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}
