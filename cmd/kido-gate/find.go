package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/evtime"
	"kido.dev/kido/cmd/internal/termtable"
)

const findUsage = `usage: kido-gate find [-data DIR] [-json] [-limit N] QUERY

Searches the roster offline by holder name, reading (furigana, when the roster
had it), order reference or serial, however the name was typed: case, character
width, spaces and punctuation are ignored, hiragana and katakana are alike, and
common variant kanji match their everyday form, so ＳＡＴＯ finds Sato, たなか
finds ﾀﾅｶ, 山田太郎 finds 山田 太郎, 佐藤 花子 finds 佐藤, 花子 and 高橋 finds 髙橋.
Names, readings and orders that begin with the query come first, then names and
readings that hold it anywhere (花子 finds 佐藤 花子); order references are found
from their start. Any roster answers at once, a million tickets included. Shows each
ticket's tier and whether it was already used; admit a found attendee with
kido-gate admit -serial S.

Example:

	kido-gate find 佐藤
	kido-gate find ORD-000123

Flags:
`

// findMatch is one line of find -json.
type findMatch struct {
	Serial   uint32     `json:"serial"`
	Tier     uint8      `json:"tier"`
	TierName string     `json:"tier_name"`
	Holder   string     `json:"holder"`
	Reading  string     `json:"reading,omitempty"`
	OrderRef string     `json:"order_ref"`
	Revoked  bool       `json:"revoked"`
	Entries  int        `json:"entries"`
	Exits    int        `json:"exits"`
	Last     *time.Time `json:"last,omitempty"`
}

func runFind(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("find", findUsage, stderr)
	asJSON := fs.Bool("json", false, "print a JSON array")
	limit := fs.Int("limit", 50, "show at most `N` matches")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return usageErrorf("-limit %d: give the number of matches to show, 1 or more", *limit)
	}
	query := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(query) == "" {
		return usageErrorf("nothing to find\nhint: kido-gate find NAME, ORDER-REF or SERIAL")
	}
	r, err := openReplica(*data, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	ms, err := r.Find(ctx, query, *limit)
	if err != nil {
		return err
	}
	out := make([]findMatch, len(ms))
	for i, m := range ms {
		out[i] = findMatch{Serial: m.Serial, Tier: m.Tier, TierName: m.TierName, Holder: m.Holder, Reading: m.Reading, OrderRef: m.OrderRef, Revoked: m.Revoked, Entries: m.Entries, Exits: m.Exits}
		if !m.Last.IsZero() {
			last := m.Last
			out[i].Last = &last
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintf(stdout, "no ticket matches %q\n", query)
		return nil
	}
	// The reading column only when the roster has readings to show.
	readings := slices.ContainsFunc(out, func(m findMatch) bool { return m.Reading != "" })
	ev, err := r.Event(ctx)
	if err != nil {
		return err
	}
	zone := evtime.Of(ev, time.Local)
	rows := [][]string{{"SERIAL", "TIER", "HOLDER", "ORDER", zone.Header("STATE")}}
	if readings {
		rows[0] = slices.Insert(rows[0], 3, "READING")
	}
	for _, m := range out {
		state := "not used"
		switch {
		case m.Revoked:
			state = "REVOKED"
		case m.Entries > 0:
			state = fmt.Sprintf("used %d×, last %s", m.Entries, zone.Time(*m.Last))
			if m.Exits > 0 {
				state += fmt.Sprintf(", %d exit(s)", m.Exits)
			}
		}
		row := []string{strconv.FormatUint(uint64(m.Serial), 10), m.TierName, m.Holder, m.OrderRef, state}
		if readings {
			row = slices.Insert(row, 3, m.Reading)
		}
		rows = append(rows, row)
	}
	if err := termtable.Write(stdout, rows); err != nil {
		return err
	}
	if len(out) == *limit {
		fmt.Fprintf(stdout, "(first %d matches; narrow the query or raise -limit)\n", *limit)
	}
	return nil
}
