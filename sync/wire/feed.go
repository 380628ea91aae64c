package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"kido.dev/kido"
)

// The compact feed encoding, version 2 of the feed answer
// (docs/sync-protocol.md §4.5). A gate asks for it with the Accept header
// FeedV2Type; a server that knows it answers with that Content-Type and
// signs under ChangesV2Domain, and one that does not answers JSON (version
// 1) as before, which a gate still reads.
const (
	FeedV2Type      = "application/vnd.kido.feed.v2"
	ChangesV2Domain = "kido changes v2\x00"
	feedV2Magic     = "kido feed v2\n"
)

// CheckLen is the number of bytes of an admission's content hash that a
// version 2 feed page carries: its first 8 bytes, the check a gate
// compares with the hash of a record it holds under the same (gate, seq).
// In a decoded page the admission's Hash holds them as 16 hex digits.
const CheckLen = 8

// Kinds of a change in a version 2 page: one byte before each change.
const (
	feedJSON   = 0 // any change but an admission: its wire.Change as JSON
	feedEntry  = 1 // an admission of kind entry, in the compact form
	feedExit   = 2 // … exit
	feedManual = 3 // … manual
	feedUndo   = 4 // … undo: the compact form, then the seq it undoes as a uvarint back from its own seq
)

// maxFeedChanges bounds the changes a page may declare, so that a decoder
// allocates nothing for a count the body cannot hold.
const maxFeedChanges = 100_000

// ChangesV2SignedMessage is ChangesSignedMessage for a version 2 page:
// another domain, so that a signature over one encoding never verifies as
// the other.
func ChangesV2SignedMessage(event uint32, cursor string, body []byte) []byte {
	m := ChangesSignedMessage(event, cursor, body)
	// Same layout, other domain; the domains have one length.
	copy(m, ChangesV2Domain)
	return m
}

// ErrBadFeed reports a version 2 page that is not in the one canonical
// form MarshalFeed writes.
var ErrBadFeed = errors.New("wire: bad feed page")

// IsCheckOnly reports whether a holds a check (CheckLen bytes of its hash,
// as from a version 2 page) rather than its whole content hash: its text
// and device time are not known, so its hash cannot be recomputed.
func IsCheckOnly(a kido.Admission) bool { return len(a.Hash) == 2*CheckLen }

// SameRecord reports whether two content hashes, either of them possibly
// a check (IsCheckOnly), name the same record: their common prefix of
// 2*CheckLen hex digits is equal.
func SameRecord(h1, h2 string) bool {
	n := 2 * CheckLen
	return len(h1) >= n && len(h2) >= n && h1[:n] == h2[:n]
}

// MarshalFeed writes ch in the version 2 encoding: the magic line, the
// cursor, the flags, the server time, the number of changes, then each
// change; admissions in the compact form (gate, seq, serial and corrected
// time as deltas from the admission before, tier, kind, check; an undo
// then the distance back to the seq it undoes), every other change as its
// JSON. Admissions must carry at least 16 hex digits
// of hash; the rest of an admission (text, device time, reason) is left
// out.
func MarshalFeed(ch *Changes) ([]byte, error) {
	b := make([]byte, 0, 64+24*len(ch.Changes))
	b = append(b, feedV2Magic...)
	b = binary.AppendUvarint(b, uint64(len(ch.Cursor)))
	b = append(b, ch.Cursor...)
	var flags byte
	if ch.Resnapshot {
		flags = 1
	}
	b = append(b, flags)
	if ch.ServerTime.UnixNano() <= 0 {
		return nil, errors.New("wire: feed page without a server time")
	}
	b = binary.AppendUvarint(b, uint64(ch.ServerTime.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(ch.Changes)))
	var prev kido.Admission
	for i, c := range ch.Changes {
		if c.Kind != ChangeAdmission {
			if c.Admission != nil {
				return nil, fmt.Errorf("wire: change %d: kind %q with an admission", i, c.Kind)
			}
			j, err := json.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("wire: change %d: %w", i, err)
			}
			b = append(b, feedJSON)
			b = binary.AppendUvarint(b, uint64(len(j)))
			b = append(b, j...)
			continue
		}
		a := c.Admission
		if a == nil {
			return nil, fmt.Errorf("wire: change %d: admission missing", i)
		}
		var tag byte
		switch a.Kind {
		case kido.KindEntry:
			tag = feedEntry
		case kido.KindExit:
			tag = feedExit
		case kido.KindManual:
			tag = feedManual
		case kido.KindUndo:
			tag = feedUndo
		default:
			return nil, fmt.Errorf("wire: change %d: admission kind %q", i, a.Kind)
		}
		var check [CheckLen]byte
		if len(a.Hash) < 2*CheckLen {
			return nil, fmt.Errorf("wire: change %d: hash %q too short", i, a.Hash)
		}
		if _, err := hex.Decode(check[:], []byte(a.Hash[:2*CheckLen])); err != nil || a.Hash[:2*CheckLen] != hex.EncodeToString(check[:]) {
			return nil, fmt.Errorf("wire: change %d: hash %q is not lowercase hex", i, a.Hash)
		}
		if a.Seq == 0 || a.Seq > MaxSeq {
			return nil, fmt.Errorf("wire: change %d: seq %d", i, a.Seq)
		}
		if err := a.CheckUndoes(); err != nil {
			return nil, fmt.Errorf("wire: change %d: %w", i, err)
		}
		if !a.Corrected.After(time.Unix(0, 0)) || !a.Corrected.Before(time.Unix(0, math.MaxInt64)) {
			return nil, fmt.Errorf("wire: change %d: corrected time %v out of range", i, a.Corrected)
		}
		b = append(b, tag)
		b = binary.AppendVarint(b, int64(a.Gate)-int64(prev.Gate))
		b = binary.AppendVarint(b, int64(a.Seq)-int64(prev.Seq))
		b = binary.AppendVarint(b, int64(a.Serial)-int64(prev.Serial))
		b = append(b, a.Tier)
		b = binary.AppendVarint(b, a.Corrected.UnixNano()-nanos(prev))
		b = append(b, check[:]...)
		if tag == feedUndo {
			b = binary.AppendUvarint(b, a.Seq-a.Undoes)
		}
		prev = *a
	}
	return b, nil
}

// nanos is the corrected time of the admission before, 0 before the first.
func nanos(a kido.Admission) int64 {
	if a.Corrected.IsZero() {
		return 0
	}
	return a.Corrected.UnixNano()
}

// UnmarshalFeed reads a version 2 page, in the one form MarshalFeed writes
// and only that: MarshalFeed of the result gives back exactly b. Admissions
// come back with Hash holding their check (IsCheckOnly) and no text or
// device time. Errors wrap ErrBadFeed.
func UnmarshalFeed(b []byte) (*Changes, error) {
	d := feedReader{b: b}
	if !bytes.HasPrefix(b, []byte(feedV2Magic)) {
		return nil, fmt.Errorf("%w: no %q at the start", ErrBadFeed, feedV2Magic[:len(feedV2Magic)-1])
	}
	d.i = len(feedV2Magic)
	ch := &Changes{}
	n := d.uvarint("cursor length")
	if n > 64 {
		return nil, d.fail("cursor of %d bytes", n)
	}
	ch.Cursor = string(d.bytes(int(n), "cursor"))
	for i := 0; i < len(ch.Cursor); i++ {
		if c := ch.Cursor[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '.') {
			return nil, d.fail("cursor %q", ch.Cursor)
		}
	}
	switch flags := d.byte("flags"); flags {
	case 0:
	case 1:
		ch.Resnapshot = true
	default:
		return nil, d.fail("flags %#x", flags)
	}
	st := d.uvarint("server time")
	if d.err == nil && (st == 0 || st > math.MaxInt64) {
		return nil, d.fail("server time %d", st)
	}
	ch.ServerTime = time.Unix(0, int64(st)).UTC()
	count := d.uvarint("count")
	if d.err == nil && (count > maxFeedChanges || count > uint64(len(b)-d.i)) {
		return nil, d.fail("%d changes", count)
	}
	if d.err == nil && ch.Resnapshot && (count > 0 || ch.Cursor != "") {
		return nil, d.fail("a resnapshot answer with a cursor or changes")
	}
	if d.err == nil && !ch.Resnapshot && ch.Cursor == "" {
		return nil, d.fail("no cursor")
	}
	if d.err != nil {
		return nil, d.err
	}
	ch.Changes = make([]Change, 0, count)
	admissions := make([]kido.Admission, 0, count)
	// The checks' hex digits, one string for the page that each Hash is a
	// piece of: a string per admission was most of a gate's allocations.
	checks := make([]byte, 0, 2*CheckLen*count)
	var prev kido.Admission
	for i := uint64(0); i < count && d.err == nil; i++ {
		switch tag := d.byte("change kind"); tag {
		case feedJSON:
			n := d.uvarint("change length")
			if n > uint64(len(b)-d.i) {
				return nil, d.fail("change %d of %d bytes", i, n)
			}
			raw := d.bytes(int(n), "change")
			if d.err != nil {
				break
			}
			var c Change
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				return nil, d.fail("change %d: %v", i, err)
			}
			if c.Kind == ChangeAdmission || c.Admission != nil {
				return nil, d.fail("change %d: an admission in JSON", i)
			}
			// One canonical form: the JSON exactly as MarshalFeed writes it.
			if again, err := json.Marshal(c); err != nil || !bytes.Equal(again, raw) {
				return nil, d.fail("change %d: JSON not in canonical form", i)
			}
			ch.Changes = append(ch.Changes, c)
		case feedEntry, feedExit, feedManual, feedUndo:
			a := kido.Admission{Kind: [...]string{feedEntry: kido.KindEntry, feedExit: kido.KindExit, feedManual: kido.KindManual, feedUndo: kido.KindUndo}[tag]}
			gate := int64(prev.Gate) + d.varint("gate")
			seq := int64(prev.Seq) + d.varint("seq")
			serial := int64(prev.Serial) + d.varint("serial")
			a.Tier = d.byte("tier")
			dt := d.varint("corrected")
			check := d.bytes(CheckLen, "check")
			var back uint64
			if tag == feedUndo {
				back = d.uvarint("undoes")
			}
			if d.err != nil {
				break
			}
			if gate < 0 || gate > math.MaxUint32 || seq < 1 || seq > MaxSeq || serial < 0 || serial > math.MaxUint32 {
				return nil, d.fail("change %d: gate %d, seq %d, serial %d out of range", i, gate, seq, serial)
			}
			if tag == feedUndo {
				if back < 1 || back >= uint64(seq) {
					return nil, d.fail("change %d: undo %d names %d seqs back", i, seq, back)
				}
				a.Undoes = uint64(seq) - back
			}
			at := nanos(prev)
			if (dt > 0 && at > math.MaxInt64-dt) || (dt < 0 && at < math.MinInt64-dt) || at+dt <= 0 {
				return nil, d.fail("change %d: corrected time out of range", i)
			}
			a.Gate, a.Seq, a.Serial = uint32(gate), uint64(seq), uint32(serial)
			a.Corrected = time.Unix(0, at+dt).UTC()
			checks = hex.AppendEncode(checks, check)
			admissions = append(admissions, a)
			ch.Changes = append(ch.Changes, Change{Kind: ChangeAdmission, Admission: &admissions[len(admissions)-1]})
			prev = a
		default:
			return nil, d.fail("change %d: kind byte %#x", i, tag)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.i != len(b) {
		return nil, d.fail("%d bytes after the last change", len(b)-d.i)
	}
	all := string(checks)
	for i := range admissions {
		admissions[i].Hash = all[2*CheckLen*i : 2*CheckLen*(i+1)]
	}
	return ch, nil
}

// feedReader reads the fields of a page; the first error sticks.
type feedReader struct {
	b   []byte
	i   int
	err error
}

func (d *feedReader) fail(format string, args ...any) error {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrBadFeed, d.i, fmt.Sprintf(format, args...))
	}
	return d.err
}

func (d *feedReader) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.i >= len(d.b) {
		d.fail("cut short in %s", what)
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *feedReader) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.i {
		d.fail("cut short in %s", what)
		return nil
	}
	d.i += n
	return d.b[d.i-n : d.i]
}

// uvarint reads a minimal unsigned varint: a longer form of the same
// number would be a second encoding of one page.
func (d *feedReader) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.fail("bad varint in %s", what)
		return 0
	}
	if n > 1 && d.b[d.i+n-1] == 0 {
		d.fail("varint in %s not in its shortest form", what)
		return 0
	}
	d.i += n
	return v
}

// varint reads a minimal zig-zag varint.
func (d *feedReader) varint(what string) int64 {
	u := d.uvarint(what)
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}
