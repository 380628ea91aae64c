// Package feedvectors generates, writes and reads the test vectors of the
// version 2 feed encoding in sync/wire/testdata/feed, whose file format
// docs/sync-protocol.md §4.5 specifies. Generation is deterministic, so
// the files can be checked against the generator.
package feedvectors

//go:generate go run ./gen -dir ../../testdata/feed

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/sync/wire"
)

// Expectations: whether wire.UnmarshalFeed reads the body.
const (
	OK  = "ok"
	Bad = "bad"
)

// A Vector is one page body and what reading it gives.
type Vector struct {
	Name    string // file name
	Expect  string
	Comment string
	Page    string // OK: the page read, as JSON (wire.Changes); "" for Bad
	Body    []byte
}

// Marshal returns the file form of v: the header, a blank line, and the
// body in lowercase hex, 16 bytes a line.
func (v Vector) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\n", v.Expect, v.Comment)
	if v.Page != "" {
		fmt.Fprintf(&b, "page: %s\n", v.Page)
	}
	b.WriteString("\n")
	for i := 0; i < len(v.Body); i += 16 {
		b.WriteString(hex.EncodeToString(v.Body[i:min(i+16, len(v.Body))]))
		b.WriteString("\n")
	}
	return b.Bytes()
}

// Parse reads the file form of a vector.
func Parse(name string, data []byte) (Vector, error) {
	v := Vector{Name: name}
	fields, body, err := vectorfiles.Split(data)
	if err != nil {
		return v, fmt.Errorf("feedvectors: %w", err)
	}
	for _, f := range fields {
		switch f.Name {
		case "expect":
			v.Expect = f.Value
		case "comment":
			v.Comment = f.Value
		case "page":
			v.Page = f.Value
		default:
			return v, fmt.Errorf("feedvectors: unknown field %q", f.Name)
		}
	}
	if v.Body, err = hex.DecodeString(strings.ReplaceAll(string(body), "\n", "")); err != nil {
		return v, fmt.Errorf("feedvectors: body: %w", err)
	}
	if v.Expect != OK && v.Expect != Bad {
		return v, fmt.Errorf("feedvectors: expect %q", v.Expect)
	}
	return v, nil
}

var t0 = time.Date(2027, 8, 1, 1, 2, 3, 123456789, time.UTC)

// undo is the change of an undo of seq undoes at gate.
func undo(gate uint32, seq, undoes uint64, serial uint32, corrected time.Time) wire.Change {
	a := kido.Admission{Gate: gate, Seq: seq, Serial: serial, Tier: 2, Kind: kido.KindUndo, At: corrected.Add(-time.Second), Corrected: corrected, Undoes: undoes}
	a.Hash = wire.AdmissionHash(a)
	return wire.Change{Kind: wire.ChangeAdmission, Admission: &a}
}

// undoBack is the undo page with its last byte, the distance back to the
// seq undone, set to back.
func undoBack(back byte) []byte {
	b, err := wire.MarshalFeed(undoPage())
	if err != nil {
		panic(err)
	}
	b[len(b)-1] = back
	return b
}

func undoPage() *wire.Changes {
	return page("7.00000000000000aa",
		admission(7, 42, 123456, kido.KindEntry, t0, "0123456789"),
		undo(7, 43, 42, 123456, t0.Add(30*time.Second)))
}

func admission(gate uint32, seq uint64, serial uint32, kind string, corrected time.Time, text string) wire.Change {
	a := kido.Admission{Gate: gate, Seq: seq, Serial: serial, Tier: 2, Kind: kind, At: corrected.Add(-time.Second), Corrected: corrected, Text: text}
	a.Hash = wire.AdmissionHash(a)
	return wire.Change{Kind: wire.ChangeAdmission, Admission: &a}
}

func page(cursor string, cs ...wire.Change) *wire.Changes {
	return &wire.Changes{Changes: cs, Cursor: cursor, ServerTime: t0.Add(time.Minute)}
}

// Generate returns every vector.
func Generate() []Vector {
	tier := wire.Change{Kind: wire.ChangeTier, Tier: &kido.Tier{ID: 3, Event: 1, Name: "VIP <再入場>", Entries: 0}}
	ok := []struct {
		name, comment string
		p             *wire.Changes
	}{
		{"empty.txt", "no changes: the cursor moves to the log head", page("17.00000000000000ab")},
		{"resnapshot.txt", "the cursor is gone: fetch a snapshot", &wire.Changes{Resnapshot: true, ServerTime: t0}},
		{"one-admission.txt", "one entry: every delta is from zero", page("42.0123456789abcdef", admission(7, 42, 123456, kido.KindEntry, t0, "0123456789"))},
		{"admissions.txt", "entries in a row at one gate (deltas +1), an exit at a lower gate (negative deltas), a manual admission", page("1000.fedcba9876543210",
			admission(7, 42, 123456, kido.KindEntry, t0, "0123456789"),
			admission(7, 43, 123457, kido.KindEntry, t0.Add(1500*time.Millisecond), "0123456790"),
			admission(3, 9, 100, kido.KindExit, t0.Add(-time.Hour), "0123456791"),
			admission(3, 10, 101, kido.KindManual, t0.Add(-time.Hour+time.Nanosecond), ""))},
		{"tier-between.txt", "a tier change as JSON between two admissions; deltas run across it", page("9.0000000000000001",
			admission(7, 42, 123456, kido.KindEntry, t0, "0123456789"),
			tier,
			admission(7, 43, 123457, kido.KindEntry, t0.Add(time.Second), "0123456790"))},
		{"undo.txt", "an entry and its undo: kind byte 4, the compact form, then 1 (the seq undone is one back)", undoPage()},
		{"corrections.txt", "corrections as JSON (docs/sync-protocol.md §4.2): a tier retired, a ticket replaced by serial 124, a gate's direction and an event's window", page("12.00000000000000c0",
			wire.Change{Kind: wire.ChangeTier, Tier: &kido.Tier{ID: 2, Event: 1, Name: "Early entry", Entries: 1, Retired: true}},
			wire.Change{Kind: wire.ChangeRoster, Roster: &kido.RosterEntry{Serial: 123, Tier: 1, Holder: "山田 太郎", Revoked: true, ReplacedBy: 124}},
			wire.Change{Kind: wire.ChangeGate, Gate: &kido.Gate{ID: 7, Event: 1, Name: "North 1 (exit)", Direction: kido.DirectionExit}},
			wire.Change{Kind: wire.ChangeEvent, Event: &kido.Event{ID: 1, Name: "Summer Fes", Venue: "Makuhari Messe",
				Start: time.Date(2027, 8, 1, 9, 30, 0, 0, time.FixedZone("", 9*3600)), End: time.Date(2027, 8, 1, 21, 0, 0, 0, time.FixedZone("", 9*3600)), TimeZone: "Asia/Tokyo"}})},
	}
	var vs []Vector
	var base []byte
	for _, c := range ok {
		b, err := wire.MarshalFeed(c.p)
		if err != nil {
			panic(err)
		}
		got, err := wire.UnmarshalFeed(b)
		if err != nil {
			panic(err)
		}
		j, _ := json.Marshal(got)
		vs = append(vs, Vector{Name: c.name, Expect: OK, Comment: c.comment, Page: string(j), Body: b})
		if c.name == "admissions.txt" {
			base = b
		}
	}
	// The bad cases are the admissions page, changed in one place.
	at := func(b []byte, i int, with ...byte) []byte {
		out := append([]byte{}, b[:i]...)
		out = append(out, with...)
		return append(out, b[i:]...)
	}
	set := func(b []byte, i int, v byte) []byte {
		out := append([]byte{}, b...)
		out[i] = v
		return out
	}
	magic := len("kido feed v2\n")
	cursorEnd := magic + 1 + len("1000.fedcba9876543210")
	first := cursorEnd + 1 + 9 + 1 // flags, server time (9 bytes), count
	tierJSON, _ := json.Marshal(tier)
	bad := []struct {
		name, comment string
		body          []byte
	}{
		{"bad-magic.txt", "version 1 magic", set(base, magic-2, '1')},
		{"bad-trailing.txt", "one byte after the last change", append(append([]byte{}, base...), 0)},
		{"bad-cut.txt", "the last check cut short", base[:len(base)-1]},
		{"bad-long-varint.txt", "the count as a two-byte varint (0x84 0x00) instead of one", at(set(base, first-1, 0x84), first, 0x00)},
		{"bad-kind.txt", "change kind byte 5", set(base, first, 5)},
		{"bad-undo-zero.txt", "an undo naming its own seq (0 back)", undoBack(0)},
		{"bad-undo-before-one.txt", "an undo of seq 43 naming 43 back: seq 0", undoBack(43)},
		{"bad-flags.txt", "flags 2", set(base, cursorEnd, 2)},
		{"bad-cursor.txt", "a cursor with an upper-case hex digit", set(base, cursorEnd-1, 'F')},
		{"bad-seq-zero.txt", "the first admission's seq delta 0: seq 0", set(base, first+2, 0)},
		{"bad-admission-json.txt", "an admission as JSON", jsonChange(append([]byte(nil), base[:first-1]...), `{"kind":"admission","admission":{"gate":1,"seq":1,"serial":1,"tier":1,"kind":"entry","at":"2027-08-01T01:02:03Z","corrected":"2027-08-01T01:02:03Z","hash":"00"}}`)},
		{"bad-json-spaces.txt", "a tier change whose JSON has a space the canonical form has not", jsonChange(append([]byte(nil), base[:first-1]...), strings.Replace(string(tierJSON), ":", ": ", 1))},
		{"bad-resnapshot-cursor.txt", "resnapshot with a cursor", set(base, cursorEnd, 1)},
	}
	for _, c := range bad {
		vs = append(vs, Vector{Name: c.name, Expect: Bad, Comment: c.comment, Body: c.body})
	}
	return vs
}

// jsonChange appends to a page's head (up to its count) a count of one
// and one JSON change j.
func jsonChange(head []byte, j string) []byte {
	head = binary.AppendUvarint(append(head, 1, 0), uint64(len(j)))
	return append(head, j...)
}
