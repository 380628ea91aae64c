package client

import (
	"context"
	"net/http"
	"strconv"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// The corrections of an event, its tiers and gates (docs/api.md,
// "Correcting an event"), and their record.

// EditEvent corrects an event's name, venue, window or time zone.
func (c *Client) EditEvent(ctx context.Context, event uint32, in wire.EventEdit) (kido.Event, error) {
	var out kido.Event
	return out, c.Do(ctx, http.MethodPatch, eventPath(event, ""), nil, in, &out)
}

// EditTier corrects a tier's name or entry rule, or retires it.
func (c *Client) EditTier(ctx context.Context, event uint32, tier uint8, in wire.TierEdit) (kido.Tier, error) {
	var out kido.Tier
	return out, c.Do(ctx, http.MethodPatch, eventPath(event, "/tiers/"+strconv.Itoa(int(tier))), nil, in, &out)
}

// EditGate corrects a gate's name, direction or tiers.
func (c *Client) EditGate(ctx context.Context, event, gate uint32, in wire.GateEdit) (kido.Gate, error) {
	var out kido.Gate
	return out, c.Do(ctx, http.MethodPatch, eventPath(event, "/gates/"+strconv.FormatUint(uint64(gate), 10)), nil, in, &out)
}

// History lists the corrections made to an event, its tiers and gates,
// oldest first.
func (c *Client) History(ctx context.Context, event uint32) ([]wire.Edit, error) {
	var out []wire.Edit
	return out, c.Do(ctx, http.MethodGet, eventPath(event, "/history"), nil, nil, &out)
}
