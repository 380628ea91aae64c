// Package vectors generates, writes and reads the ticket test vectors in
// ticket/testdata/vectors, whose file format docs/ticket-format.md
// specifies. Generation is deterministic (fixed key seeds, fixed times, and
// Ed25519 signatures are deterministic), so the files can be checked
// against the generator.
package vectors

//go:generate go run ./gen -dir ../../testdata/vectors

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/ticket"
)

// Expectations, one per verdict of ticket.Parse followed by
// ticket.Keyring.Verify.
const (
	Valid              = "valid"
	Malformed          = "malformed"
	UnsupportedVersion = "unsupported_version"
	UnknownKey         = "unknown_key"
	KeyRevoked         = "key_revoked"
	KeyNotValid        = "key_not_valid"
	BadSignature       = "bad_signature"
)

// Expects lists every expectation, in the order the checks run.
var Expects = []string{Malformed, UnsupportedVersion, UnknownKey, KeyRevoked, KeyNotValid, BadSignature, Valid}

// A Vector is one test case: a ticket text, the keyring and time it is
// verified against, and the verdict.
type Vector struct {
	Name    string // file name
	Expect  string
	Comment string
	Now     time.Time
	Keys    []ticket.Key
	Text    []byte // exactly what a scanner delivers
}

// Marshal returns the file form of v. Fields that follow from the text
// (key_id, event, serial, tier, binary) are written when it parses, as a
// debugging aid for other implementations.
func (v Vector) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\n", v.Expect)
	fmt.Fprintf(&b, "comment: %s\n", v.Comment)
	fmt.Fprintf(&b, "now: %s\n", formatTime(v.Now))
	for _, k := range v.Keys {
		fmt.Fprintf(&b, "key: %s event=%d not_before=%s not_after=%s revoked=%t\n",
			k.Public, k.Event, formatTime(k.NotBefore), formatTime(k.NotAfter), k.Revoked)
	}
	if t, err := ticket.Parse(string(v.Text)); err == nil {
		bin, _ := t.MarshalBinary()
		fmt.Fprintf(&b, "key_id: %s\nevent: %d\nserial: %d\ntier: %d\nbinary: %x\n",
			t.KeyID, t.Event, t.Serial, t.Tier, bin)
	}
	b.WriteString("\n")
	b.Write(v.Text)
	return b.Bytes()
}

// noTime stands for a zero time (no bound) in a key line.
const noTime = "-"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return noTime
	}
	return t.UTC().Format(time.RFC3339)
}

func parseTime(s string) (time.Time, error) {
	if s == noTime {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

// Parse reads the file form of a vector named name. It checks the header
// strictly; the fields derived from the text are read but not trusted, the
// test recomputes them.
func Parse(name string, data []byte) (Vector, error) {
	v := Vector{Name: name}
	fields, text, err := vectorfiles.Split(data, "key")
	if err != nil {
		return v, fmt.Errorf("vectors: %w", err)
	}
	v.Text = text
	seen := map[string]bool{}
	for _, f := range fields {
		field, value := f.Name, f.Value
		seen[field] = true
		var err error
		switch field {
		case "expect":
			v.Expect = value
		case "comment":
			v.Comment = value
		case "now":
			v.Now, err = time.Parse(time.RFC3339, value)
		case "key":
			var k ticket.Key
			k, err = parseKey(value)
			v.Keys = append(v.Keys, k)
		case "key_id", "event", "serial", "tier", "binary":
		default:
			err = errors.New("unknown header")
		}
		if err != nil {
			return v, fmt.Errorf("vectors: header %q: %w", field, err)
		}
	}
	for _, f := range []string{"expect", "comment", "now"} {
		if !seen[f] {
			return v, fmt.Errorf("vectors: header %q missing", f)
		}
	}
	return v, nil
}

func parseKey(s string) (ticket.Key, error) {
	var k ticket.Key
	f := strings.Fields(s)
	if len(f) != 5 {
		return k, errors.New("want: public-key event=N not_before=T not_after=T revoked=B")
	}
	var err error
	if k.Public, err = ticket.ParsePublicKey(f[0]); err != nil {
		return k, err
	}
	attr := map[string]string{}
	for _, kv := range f[1:] {
		name, value, _ := strings.Cut(kv, "=")
		attr[name] = value
	}
	event, err := strconv.ParseUint(attr["event"], 10, 32)
	if err != nil {
		return k, fmt.Errorf("event: %w", err)
	}
	k.Event = uint32(event)
	if k.NotBefore, err = parseTime(attr["not_before"]); err != nil {
		return k, err
	}
	if k.NotAfter, err = parseTime(attr["not_after"]); err != nil {
		return k, err
	}
	if k.Revoked, err = strconv.ParseBool(attr["revoked"]); err != nil {
		return k, fmt.Errorf("revoked: %w", err)
	}
	return k, nil
}

// signer is a deterministic test key.
type signer struct {
	priv ticket.PrivateKey
	key  ticket.Key
}

func newSigner(name string, event uint32, notBefore, notAfter time.Time, revoked bool) signer {
	seed := sha256.Sum256([]byte("kido test vector key " + name))
	priv, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		panic(err) // a 32-byte seed is always accepted
	}
	return signer{priv, ticket.Key{Public: priv.Public(), Event: event, NotBefore: notBefore, NotAfter: notAfter, Revoked: revoked}}
}

func (s signer) sign(event, serial uint32, tier uint8) *ticket.Ticket {
	return ticket.Sign(s.priv, ticket.Claims{Event: event, Serial: serial, Tier: tier})
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err) // the literals below are valid
	}
	return t
}

func keys(s ...signer) []ticket.Key {
	var out []ticket.Key
	for _, x := range s {
		out = append(out, x.key)
	}
	return out
}

// flipBit returns the text of t with the last bit of its signature flipped.
func flipBit(t *ticket.Ticket) string {
	c := *t
	c.Signature[len(c.Signature)-1] ^= 1
	return c.String()
}

// bodyText encodes n in decimal with leading zeros to width digits.
func bodyText(n *big.Int, width int) string {
	d := n.Text(10)
	return strings.Repeat("0", max(0, width-len(d))) + d
}

// bodyDigits is the width of the body after the two version digits.
const bodyDigits = ticket.TextLen - 2

// Generate returns every vector, sorted by name.
func Generate() []Vector {
	const event = 1001
	var (
		yearStart = date("2026-01-01T00:00:00Z")
		yearEnd   = date("2026-12-31T23:59:59Z")
		now       = date("2026-06-01T18:30:00Z")

		a       = newSigner("A", event, yearStart, yearEnd, false)
		other   = newSigner("other-event", 1002, yearStart, yearEnd, false)
		revoked = newSigner("revoked", event, yearStart, yearEnd, true)
		old     = newSigner("expired", event, date("2025-01-01T00:00:00Z"), date("2025-12-31T23:59:59Z"), false)
		future  = newSigner("future", event, date("2027-01-01T00:00:00Z"), time.Time{}, false)
		open    = newSigner("unbounded", event, time.Time{}, time.Time{}, false)
		maxEv   = newSigner("max-event", 1<<32-1, time.Time{}, time.Time{}, false)
		stray   = newSigner("untrusted", event, yearStart, yearEnd, false)
	)
	good := a.sign(event, 42, 1)
	text := good.String()

	altered := *good
	altered.Serial = 43
	noDomain := *good
	unsigned := noDomain.SignedMessage()[len(ticket.Domain):]
	copy(noDomain.Signature[:], ed25519.Sign(ed25519.NewKeyFromSeed(a.priv.Seed()), unsigned))
	zeroSig := *good
	zeroSig.Signature = [ed25519.SignatureSize]byte{}

	bin, _ := good.MarshalBinary()
	// 78 bytes need 188 digits, as 77 need 186.
	trailing := bodyText(new(big.Int).SetBytes(append(bin[1:], 0)), bodyDigits+2)
	limit := new(big.Int).Lsh(big.NewInt(1), 8*(ticket.BinaryLen-1))
	maxBody := new(big.Int).Sub(limit, big.NewInt(1))

	vs := []Vector{
		{"valid", Valid, "a ticket signed by the event's trusted key", now, keys(a), []byte(text)},
		{"valid_zero_serial_tier", Valid, "serial 0 and tier 0 are ordinary values", now, keys(a), []byte(a.sign(event, 0, 0).String())},
		{"valid_max_fields", Valid, "event, serial and tier at their largest", now, keys(maxEv), []byte(maxEv.sign(1<<32-1, 1<<32-1, 255).String())},
		{"valid_window_start", Valid, "the validity window includes its first second", yearStart, keys(a), []byte(text)},
		{"valid_window_end", Valid, "the validity window includes its last second", yearEnd, keys(a), []byte(text)},
		{"valid_unbounded_key", Valid, "a key with no validity bounds", now, keys(open), []byte(open.sign(event, 7, 2).String())},
		{"valid_among_other_keys", Valid, "the right key is found among revoked, expired and other-event keys", now, keys(other, revoked, old, a), []byte(text)},

		{"bad_signature_flipped_bit", BadSignature, "the last bit of the signature is flipped", now, keys(a), []byte(flipBit(good))},
		{"bad_signature_altered_serial", BadSignature, "the serial was changed after signing", now, keys(a), []byte(altered.String())},
		{"bad_signature_without_domain", BadSignature, "signed over the 14 ticket bytes without the domain string", now, keys(a), []byte(noDomain.String())},
		{"bad_signature_zero", BadSignature, "an all-zero signature", now, keys(a), []byte(zeroSig.String())},

		{"unknown_key", UnknownKey, "signed by a key that is not in the keyring", now, keys(a), []byte(stray.sign(event, 42, 1).String())},
		{"unknown_key_empty_keyring", UnknownKey, "no trusted keys at all", now, nil, []byte(text)},
		{"unknown_key_other_event", UnknownKey, "a trusted key of event 1002 cannot vouch for event 1001", now, keys(other, a), []byte(other.sign(event, 42, 1).String())},
		{"unknown_key_max_value", UnknownKey, "the largest body value parses (every byte 0xff) and names no known key", now, keys(a), []byte("01" + bodyText(maxBody, bodyDigits))},

		{"key_revoked", KeyRevoked, "signed by a revoked key", now, keys(revoked, a), []byte(revoked.sign(event, 42, 1).String())},
		{"key_revoked_bad_signature", KeyRevoked, "revocation is checked before the signature", now, keys(revoked), []byte(flipBit(revoked.sign(event, 42, 1)))},
		{"key_revoked_outside_window", KeyRevoked, "revocation is checked before the validity window", date("2030-01-01T00:00:00Z"), keys(revoked), []byte(revoked.sign(event, 42, 1).String())},

		{"key_not_valid_expired", KeyNotValid, "the key's validity window ended", now, keys(old, a), []byte(old.sign(event, 42, 1).String())},
		{"key_not_valid_not_yet", KeyNotValid, "the key's validity window has not begun", now, keys(future, a), []byte(future.sign(event, 42, 1).String())},
		{"key_not_valid_one_second_late", KeyNotValid, "one second after the window's last second", yearEnd.Add(time.Second), keys(a), []byte(text)},
		{"key_not_valid_bad_signature", KeyNotValid, "the validity window is checked before the signature", now, keys(old), []byte(flipBit(old.sign(event, 42, 1)))},

		{"malformed_empty", Malformed, "nothing scanned", now, keys(a), []byte("")},
		{"malformed_one_digit", Malformed, "too short to hold a version", now, keys(a), []byte("0")},
		{"malformed_truncated", Malformed, "the last digit is missing", now, keys(a), []byte(text[:len(text)-1])},
		{"malformed_truncated_half", Malformed, "only the first half was scanned", now, keys(a), []byte(text[:len(text)/2])},
		{"malformed_trailing_digit", Malformed, "one digit too many", now, keys(a), []byte(text + "0")},
		{"malformed_extra_leading_zero", Malformed, "the same value with one more leading zero is not canonical", now, keys(a), []byte(text[:2] + "0" + text[2:])},
		{"malformed_trailing_bytes", Malformed, "a 79-byte binary (one trailing byte) encoded the same way", now, keys(a), []byte("01" + trailing)},
		{"malformed_non_digit", Malformed, "a letter in place of a digit", now, keys(a), []byte(text[:100] + "a" + text[101:])},
		{"malformed_fullwidth_digit", Malformed, "a full-width digit (U+FF11) from an input method", now, keys(a), []byte(text[:100] + "１" + text[101:])},
		{"malformed_leading_space", Malformed, "surrounding white space is not trimmed by Parse", now, keys(a), []byte(" " + text)},
		{"malformed_trailing_space", Malformed, "surrounding white space is not trimmed by Parse", now, keys(a), []byte(text + " ")},
		{"malformed_trailing_newline", Malformed, "a scanner's Enter key is the caller's to strip", now, keys(a), []byte(text + "\n")},
		{"malformed_out_of_range_limit", Malformed, "the body value 2^616 is one too large for 77 bytes", now, keys(a), []byte("01" + bodyText(limit, bodyDigits))},
		{"malformed_out_of_range_nines", Malformed, "186 nines, far too large", now, keys(a), []byte("01" + strings.Repeat("9", bodyDigits))},

		{"unsupported_version_00", UnsupportedVersion, "version 0 does not exist", now, keys(a), []byte("00" + text[2:])},
		{"unsupported_version_02", UnsupportedVersion, "a future version", now, keys(a), []byte("02" + text[2:])},
		{"unsupported_version_99_short", UnsupportedVersion, "the version is checked before the length, so a future format may differ in length", now, keys(a), []byte("99" + "0123456789")},
	}
	slices.SortFunc(vs, func(x, y Vector) int { return strings.Compare(x.Name, y.Name) })
	return vs
}
