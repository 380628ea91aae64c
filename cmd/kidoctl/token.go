package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/termtable"
	"kido.dev/kido/sync/wire"
)

func runToken(ctx context.Context, e env, args []string) error {
	return subcommands(ctx, e, "token", "kidoctl token list", args, map[string]func(context.Context, env, []string) error{
		"create": runTokenCreate,
		"list":   runTokenList,
		"revoke": runTokenRevoke,
	})
}

func parseEventList(s string) ([]uint32, error) {
	var out []uint32
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n == 0 {
			return nil, usagef("-events: %q is not an event id\nhint: give ids separated by commas, e.g. -events 1,2", p)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}

func runTokenCreate(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "token create", "token create -name NAME -scope admin|promoter [-events ID,…]",
		"Creates an API token (admin tokens only). The secret is printed once; the server keeps only its hash. A promoter token manages the events named by -events.",
		`kidoctl token create -name "Summer Fes promoter" -scope promoter -events 1`)
	name := fs.String("name", "", "what the token is for")
	scope := fs.String("scope", wire.ScopePromoter, "`scope`: admin or promoter")
	events := fs.String("events", "", "comma-separated event `ids` a promoter token may manage")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usagef("-name is required")
	}
	evs, err := parseEventList(*events)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	t, err := cl.CreateToken(ctx, wire.TokenCreate{Name: *name, Scope: *scope, Events: evs})
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintf(e.stdout, "created token %d (%s): %s\n", t.ID, scopeText(t.Token), t.Secret)
	fmt.Fprintln(e.stderr, "kidoctl: keep the token secret safe now; it is not shown again")
	return nil
}

func scopeText(t wire.Token) string {
	switch t.Scope {
	case wire.ScopePromoter:
		return "promoter of events " + joinUint(t.Events)
	case wire.ScopeGate:
		return fmt.Sprintf("gate %d", t.Gate)
	default:
		return t.Scope
	}
}

func joinUint[T uint8 | uint32](ids []T) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}

func runTokenList(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "token list", "token list", "Lists API tokens and gate credentials (never their secrets).", "kidoctl token list")
	if help, err := parse(fs, args); help || err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ts, err := cl.Tokens(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, ts)
	}
	rows := [][]string{{"ID", "NAME", "SCOPE", "CREATED", "REVOKED"}}
	for _, t := range ts {
		rev := "-"
		if t.Revoked != nil {
			rev = t.Revoked.Format(time.RFC3339)
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(t.ID), 10), t.Name, scopeText(t), t.Created.Format(time.RFC3339), rev})
	}
	return termtable.Write(e.stdout, rows)
}

func runTokenRevoke(ctx context.Context, e env, args []string) error {
	fs, c := newFlags(e, "token revoke", "token revoke ID", "Revokes a token or a gate credential at once.", "kidoctl token revoke 3")
	pos, help, err := parseArgs(fs, args)
	if help || err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("token revoke takes one token id\nhint: kidoctl token list shows them")
	}
	id, err := strconv.ParseUint(pos[0], 10, 32)
	if err != nil || id == 0 || id > math.MaxUint32 {
		return usagef("%q is not a token id\nhint: kidoctl token list shows them", pos[0])
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	t, err := cl.RevokeToken(ctx, uint32(id))
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintf(e.stdout, "revoked token %d (%s)\n", t.ID, t.Name)
	return nil
}
