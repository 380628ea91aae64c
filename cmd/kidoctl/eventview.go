package main

import (
	"context"
	"io"
	"strconv"

	"kido.dev/kido/cmd/internal/evtime"
	"kido.dev/kido/sync/client"
)

// eventView is what a human output about one event shows times and tiers
// with: the event's zone and its tiers' names.
type eventView struct {
	zone  evtime.Zone
	tiers map[uint8]string
}

// viewOf reads the event's zone and tiers from the server.
func viewOf(ctx context.Context, cl *client.Client, id uint32) (eventView, error) {
	d, err := cl.Event(ctx, id)
	if err != nil {
		return eventView{}, err
	}
	v := eventView{zone: evtime.Of(d.Event, d.Event.Start.Location()), tiers: map[uint8]string{}}
	for _, t := range d.Tiers {
		v.tiers[t.ID] = t.Name
	}
	return v, nil
}

// tier names tier id: its name, or its number when the event has no such
// tier (any more).
func (v eventView) tier(id uint8) string {
	if n, ok := v.tiers[id]; ok {
		return n
	}
	return strconv.Itoa(int(id))
}

// askView is askEvent for an output that shows times or tiers: the human
// output gets the event's view as well; -json prints what ask returns.
func askView[T any](ctx context.Context, e env, c *common, id uint32,
	ask func(*client.Client, context.Context, uint32) (T, error), human func(w io.Writer, id uint32, v T, ev eventView) error) error {
	return askThen(ctx, e, c, id, ask, func(cl *client.Client, v T) error {
		ev, err := viewOf(ctx, cl, id)
		if err != nil {
			return err
		}
		return human(e.stdout, id, v, ev)
	})
}
