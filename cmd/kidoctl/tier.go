package main

import (
	"context"
	"fmt"
	"strings"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

func runTier(ctx context.Context, e env, args []string) error {
	return subcommands(ctx, e, "tier", "kidoctl tier add 1 -name VIP", args, map[string]func(context.Context, env, []string) error{
		"add":    runTierAdd,
		"edit":   runTierEdit,
		"retire": runTierRetire,
	})
}

func runTierAdd(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "tier add", "tier add [-event] ID -name NAME [-entries N]",
		"Adds a ticket tier to an event. -entries 1 (the default) is single entry, N allows N entries, 0 is unlimited with re-entry after an exit.",
		"kidoctl tier add -event 1 -name VIP -entries 1")
	ev := fs.Uint("event", 0, "event `id`")
	name := fs.String("name", "", "tier `name`, e.g. VIP or GA")
	entries := fs.Int("entries", int(kido.EntriesSingle), "entry rule: `N` entries; 0 unlimited with re-entry after exit")
	id, help, err := parseEvent(fs, ev, args, true)
	if help || err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usagef("-name is required")
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	t, err := cl.AddTier(ctx, id, wire.TierCreate{Name: *name, Entries: entries})
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintf(e.stdout, "created tier %d of event %d: %s (%s)\n", t.ID, t.Event, t.Name, entriesText(t.Entries))
	return nil
}
