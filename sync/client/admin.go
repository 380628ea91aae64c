package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// This file holds the admin and promoter calls used by kidoctl; see
// docs/api.md for each endpoint.

func eventPath(event uint32, rest string) string {
	return "/v1/events/" + strconv.FormatUint(uint64(event), 10) + rest
}

// CreateEvent creates an event with its first signing key.
func (c *Client) CreateEvent(ctx context.Context, in wire.EventCreate) (kido.Event, error) {
	var out kido.Event
	return out, c.Do(ctx, http.MethodPost, "/v1/events", nil, in, &out)
}

// Events lists the events the token may see.
func (c *Client) Events(ctx context.Context) ([]kido.Event, error) {
	var out []kido.Event
	return out, c.Do(ctx, http.MethodGet, "/v1/events", nil, nil, &out)
}

// Event returns an event with its tiers, keys, gates and ticket counts.
func (c *Client) Event(ctx context.Context, event uint32) (wire.EventDetail, error) {
	var out wire.EventDetail
	return out, c.Do(ctx, http.MethodGet, eventPath(event, ""), nil, nil, &out)
}

// AddTier adds a tier to an event.
func (c *Client) AddTier(ctx context.Context, event uint32, in wire.TierCreate) (kido.Tier, error) {
	var out kido.Tier
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/tiers"), nil, in, &out)
}

// Keys lists the signing keys of an event, or of every event the token
// may see when event is 0.
func (c *Client) Keys(ctx context.Context, event uint32) ([]kido.Key, error) {
	var q url.Values
	if event != 0 {
		q = url.Values{"event": {strconv.FormatUint(uint64(event), 10)}}
	}
	var out []kido.Key
	return out, c.Do(ctx, http.MethodGet, "/v1/keys", q, nil, &out)
}

// RotateKey makes a new current signing key for an event.
func (c *Client) RotateKey(ctx context.Context, event uint32) (kido.Key, error) {
	var out kido.Key
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/keys"), nil, nil, &out)
}

// RevokeKey revokes a signing key; event may be 0.
func (c *Client) RevokeKey(ctx context.Context, event uint32, id string) (kido.Key, error) {
	var out kido.Key
	return out, c.Do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(id)+"/revoke", nil, wire.KeyRevoke{Event: event}, &out)
}

// Issue issues one chunk of a batch.
func (c *Client) Issue(ctx context.Context, event uint32, in wire.IssueRequest) (wire.IssueResponse, error) {
	var out wire.IssueResponse
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/tickets"), nil, in, &out)
}

// Revoke revokes the selected tickets.
func (c *Client) Revoke(ctx context.Context, event uint32, sel wire.Selection) (wire.Revoked, error) {
	var out wire.Revoked
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/revocations"), nil, sel, &out)
}

// Reissue revokes the selected tickets and issues replacements.
func (c *Client) Reissue(ctx context.Context, event uint32, sel wire.Selection) (wire.Reissued, error) {
	var out wire.Reissued
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/reissues"), nil, sel, &out)
}

// AddGate adds a gate and returns its enrolment code.
func (c *Client) AddGate(ctx context.Context, event uint32, in wire.GateCreate) (wire.GateCreated, error) {
	var out wire.GateCreated
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/gates"), nil, in, &out)
}

// CreateToken makes an admin or promoter token.
func (c *Client) CreateToken(ctx context.Context, in wire.TokenCreate) (wire.TokenCreated, error) {
	var out wire.TokenCreated
	return out, c.Do(ctx, http.MethodPost, "/v1/tokens", nil, in, &out)
}

// Tokens lists every token (admin only).
func (c *Client) Tokens(ctx context.Context) ([]wire.Token, error) {
	var out []wire.Token
	return out, c.Do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &out)
}

// RevokeToken revokes a token.
func (c *Client) RevokeToken(ctx context.Context, id uint32) (wire.Token, error) {
	var out wire.Token
	return out, c.Do(ctx, http.MethodPost, "/v1/tokens/"+strconv.FormatUint(uint64(id), 10)+"/revoke", nil, nil, &out)
}

// GateStatuses lists an event's gates with their heartbeats and upload
// state; silentAfter 0 leaves the server's threshold (2 min).
func (c *Client) GateStatuses(ctx context.Context, event uint32, silentAfter time.Duration) ([]wire.GateStatus, error) {
	var q url.Values
	if silentAfter > 0 {
		q = url.Values{"silent_after": {silentAfter.String()}}
	}
	var out []wire.GateStatus
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/gates"), q, nil, &out)
}

// RevokeGate revokes a gate: its next contact is refused with
// gate_revoked and it wipes its replica.
func (c *Client) RevokeGate(ctx context.Context, event, gate uint32) (kido.Gate, error) {
	var out kido.Gate
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/gates/"+strconv.FormatUint(uint64(gate), 10)+"/revoke"), nil, nil, &out)
}

// VoidGate voids revoked gate's admissions at or after from, with reason
// (kidoctl gate void).
func (c *Client) VoidGate(ctx context.Context, event, gate uint32, from time.Time, reason string) (wire.Voided, error) {
	var out wire.Voided
	in := wire.VoidRequest{From: from, Reason: reason}
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/gates/"+strconv.FormatUint(uint64(gate), 10)+"/void"), nil, in, &out)
}

// Report returns an event's admission report.
func (c *Client) Report(ctx context.Context, event uint32) (wire.Report, error) {
	var out wire.Report
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/report"), nil, nil, &out)
}

// Conflicts returns an event's double entries.
func (c *Client) Conflicts(ctx context.Context, event uint32) ([]wire.Conflict, error) {
	var out []wire.Conflict
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/conflicts"), nil, nil, &out)
}

// ReviewConflict marks the double entry of ticket serial reviewed with
// note, and returns it with its review.
func (c *Client) ReviewConflict(ctx context.Context, event, serial uint32, note string) (wire.Conflict, error) {
	var out wire.Conflict
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/conflicts/"+strconv.FormatUint(uint64(serial), 10)+"/review"), nil, wire.ReviewRequest{Note: note}, &out)
}

// Admissions returns an event's stored admissions, counted and flagged.
func (c *Client) Admissions(ctx context.Context, event uint32) ([]wire.AdmissionRecord, error) {
	var out []wire.AdmissionRecord
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/admissions"), nil, nil, &out)
}

// Tickets returns every ticket of an event with its e-mail address.
func (c *Client) Tickets(ctx context.Context, event uint32) ([]wire.TicketRecord, error) {
	var out []wire.TicketRecord
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/tickets"), nil, nil, &out)
}

// Deliver records mail outcomes and claims tickets for sending
// (kidoctl send).
func (c *Client) Deliver(ctx context.Context, event uint32, in wire.DeliveryRequest) (wire.DeliveryResponse, error) {
	var out wire.DeliveryResponse
	return out, c.Do(ctx, http.MethodPost, eventPath(event, "/deliveries"), nil, in, &out)
}
