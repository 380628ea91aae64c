package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// rosterColumns are the roster header's required columns, in any order;
// optionalColumns may be there too.
var (
	rosterColumns   = []string{"name", "email", "tier", "order_ref"}
	optionalColumns = []string{"reading"}
)

// headerHint says what a roster's header holds.
const headerHint = "the first line must be the header name,email,tier,order_ref (and reading, the furigana, if you have it)"

// maxRosterRows bounds a roster: more is surely a mistake.
const maxRosterRows = 1_000_000

// rosterError is a bad roster: the line it was found on and what is wrong.
type rosterError struct {
	line int
	msg  string
	hint string
}

func (e *rosterError) Error() string {
	s := fmt.Sprintf("roster line %d: %s", e.line, e.msg)
	if e.hint != "" {
		s += "\nhint: " + e.hint
	}
	return s
}

// tierIndex resolves a roster's tier column: a tier name (any case) or a
// tier id.
type tierIndex struct {
	byName map[string]uint8
	byID   map[uint8]string
	names  []string
}

func newTierIndex(tiers []kido.Tier) *tierIndex {
	ti := &tierIndex{byName: map[string]uint8{}, byID: map[uint8]string{}}
	for _, t := range tiers {
		ti.byName[strings.ToLower(t.Name)] = t.ID
		ti.byID[t.ID] = t.Name
		ti.names = append(ti.names, t.Name)
	}
	return ti
}

func (ti *tierIndex) lookup(s string) (uint8, bool) {
	if id, ok := ti.byName[strings.ToLower(strings.TrimSpace(s))]; ok {
		return id, true
	}
	if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8); err == nil {
		if _, ok := ti.byID[uint8(n)]; ok {
			return uint8(n), true
		}
	}
	return 0, false
}

func (ti *tierIndex) known() string {
	if len(ti.names) == 0 {
		return "the event has no tiers yet: kidoctl tier add"
	}
	return "the event's tiers are " + strings.Join(ti.names, ", ")
}

// parseRoster reads a UTF-8 CSV roster with the header name,email,tier,
// order_ref and optionally reading. An empty tier cell takes defTier (when hasDef). Every row is
// checked before anything is returned: the first bad one is reported with
// its line number and no items.
func parseRoster(r io.Reader, ti *tierIndex, defTier uint8, hasDef bool) ([]wire.IssueItem, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read roster: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM, as spreadsheets write
	if !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:firstInvalid(data)], []byte("\n"))
		return nil, &rosterError{line, "not valid UTF-8", "save the roster as UTF-8 CSV (in a spreadsheet: CSV UTF-8), not Shift_JIS or Latin-1"}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &rosterError{1, "the roster is empty", headerHint}
	}
	if err != nil {
		return nil, csvError(err)
	}
	col, err := rosterHeader(header)
	if err != nil {
		return nil, err
	}
	var items []wire.IssueItem
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(items) == maxRosterRows {
			return nil, &rosterError{line, fmt.Sprintf("more than %d rows", maxRosterRows), "split the roster into several batches"}
		}
		it, err := rosterRow(rec, col, ti, defTier, hasDef)
		if err != nil {
			return nil, &rosterError{line, err.Error(), hintOf(err)}
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, &rosterError{1, "the roster has a header but no rows", ""}
	}
	return items, nil
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		hint := "fields holding commas or quotes go in double quotes, with inner quotes doubled (\"\")"
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			hint = "every row needs exactly the header's columns, empty ones included"
		}
		return &rosterError{pe.Line, pe.Err.Error(), hint}
	}
	return fmt.Errorf("read roster: %w", err)
}

// rosterHeader maps each column the header has to its index.
func rosterHeader(h []string) (map[string]int, error) {
	col := map[string]int{}
	for i, name := range h {
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := col[name]; dup {
			return nil, &rosterError{1, fmt.Sprintf("column %q appears twice", name), ""}
		}
		if !slices.Contains(rosterColumns, name) && !slices.Contains(optionalColumns, name) {
			return nil, &rosterError{1, fmt.Sprintf("unknown column %q", name), headerHint}
		}
		col[name] = i
	}
	for _, want := range rosterColumns {
		if _, ok := col[want]; !ok {
			return nil, &rosterError{1, fmt.Sprintf("the header has no column %q", want), headerHint}
		}
	}
	return col, nil
}

// hinted is an error with a hint for parseRoster to pass on.
type hinted struct{ msg, hint string }

func (h hinted) Error() string { return h.msg }

func hintOf(err error) string {
	var h hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

func rosterRow(rec []string, col map[string]int, ti *tierIndex, defTier uint8, hasDef bool) (wire.IssueItem, error) {
	var it wire.IssueItem
	var err error
	if it.Holder, err = rosterText("name", rec[col["name"]], 200); err != nil {
		return it, err
	}
	if it.Holder == "" {
		return it, hinted{"name is missing", "every ticket needs its holder's name (for search at the gate)"}
	}
	if c, ok := col["reading"]; ok {
		if it.Reading, err = rosterText("reading", rec[c], 200); err != nil {
			return it, err
		}
	}
	if it.Email, err = rosterText("email", rec[col["email"]], 254); err != nil {
		return it, err
	}
	if it.Email != "" && !strings.Contains(it.Email, "@") {
		return it, hinted{fmt.Sprintf("email %q has no @", it.Email), ""}
	}
	if it.OrderRef, err = rosterText("order_ref", rec[col["order_ref"]], 100); err != nil {
		return it, err
	}
	tier := strings.TrimSpace(rec[col["tier"]])
	switch {
	case tier == "" && hasDef:
		it.Tier = defTier
	case tier == "":
		return it, hinted{"tier is missing", "fill in the tier, or give a default with -tier"}
	default:
		id, ok := ti.lookup(tier)
		if !ok {
			return it, hinted{fmt.Sprintf("unknown tier %q", tier), ti.known()}
		}
		it.Tier = id
	}
	return it, nil
}

func rosterText(what, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		return "", hinted{fmt.Sprintf("%s is longer than %d characters", what, max), ""}
	}
	if err := kido.CheckText(s); err != nil {
		return "", hinted{fmt.Sprintf("%s: %s", what, err.(*kido.TextError).Msg), "retype the cell: copied text can carry invisible characters"}
	}
	return s, nil
}
