package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/client"
)

func runKeys(ctx context.Context, e env, args []string) error {
	return subcommands(ctx, e, "keys", "kidoctl keys list 1", args, map[string]func(context.Context, env, []string) error{
		"list":   runKeysList,
		"rotate": runKeysRotate,
		"revoke": runKeysRevoke,
	})
}

func keyRows(keys []kido.Key) [][]string {
	rows := [][]string{{"KEY", "EVENT", "CURRENT", "REVOKED", "CREATED"}}
	for _, k := range keys {
		rows = append(rows, []string{k.ID, strconv.FormatUint(uint64(k.Event), 10), yesNo(k.Current), yesNo(k.Revoked), k.Created.Format(time.RFC3339)})
	}
	return rows
}

func runKeysList(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "keys list", "keys list [[-event] ID]", "Lists signing keys (public halves only: private keys never leave the server).", "kidoctl keys list 1")
	ev := fs.Uint("event", 0, "only this event's keys")
	return askEvent(ctx, e, fs, c, ev, args, false, (*client.Client).Keys, func(w io.Writer, _ uint32, keys []kido.Key) error {
		return termtable.Write(w, keyRows(keys))
	})
}

func runKeysRotate(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "keys rotate", "keys rotate [-event] ID",
		"Makes a new signing key for an event's new tickets. Older keys stay trusted: tickets they signed stay valid.",
		"kidoctl keys rotate 1")
	ev := fs.Uint("event", 0, "event `id`")
	return askEvent(ctx, e, fs, c, ev, args, true, (*client.Client).RotateKey, func(w io.Writer, _ uint32, k kido.Key) error {
		_, err := fmt.Fprintf(w, "new signing key %s for event %d; new tickets are signed with it\n", k.ID, k.Event)
		return err
	})
}

func runKeysRevoke(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "keys revoke", "keys revoke [-event ID] KEYID",
		"Revokes a compromised signing key: every ticket it signed is refused at gates after their next sync. Reissue those tickets.",
		"kidoctl keys revoke 1a2b3c4d")
	ev := fs.Uint("event", 0, "event `id` (needed only if two events have a key with this id)")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("keys revoke takes one key id\nhint: kidoctl keys list shows them")
	}
	var id uint32
	if *ev != 0 {
		if id, err = eventID(*ev); err != nil {
			return err
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	k, err := cl.RevokeKey(ctx, id, pos[0])
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, k)
	}
	fmt.Fprintf(e.stdout, "revoked signing key %s of event %d: its tickets are refused after the gates' next sync\n", k.ID, k.Event)
	if !hasCurrent(ctx, cl, k.Event) {
		fmt.Fprintf(e.stderr, "kidoctl: event %d has no current signing key now\nhint: kidoctl keys rotate -event %d, then kidoctl reissue the affected tickets\n", k.Event, k.Event)
	}
	return nil
}

// hasCurrent reports whether an event still has a usable signing key (true
// when that cannot be found out: the warning is a courtesy).
func hasCurrent(ctx context.Context, cl *client.Client, event uint32) bool {
	keys, err := cl.Keys(ctx, event)
	if err != nil {
		return true
	}
	for _, k := range keys {
		if k.Current && !k.Revoked {
			return true
		}
	}
	return false
}
