// Package answers generates, writes and reads the test vectors of signed
// gate answers in sync/wire/testdata/answers, whose file format
// docs/sync-protocol.md §13.4 specifies. Generation is deterministic
// (fixed key seeds; Ed25519 signatures are deterministic), so the files
// can be checked against the generator.
package answers

//go:generate go run ./gen -dir ../../testdata/answers

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"kido.dev/kido/internal/vectorfiles"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// Expectations: the verdict of wire.VerifyAnswer.
const (
	OK           = "ok"
	Unsigned     = "unsigned"
	BadSignature = "bad_signature"
)

// Answer kinds.
const (
	Changes     = "changes"
	Snapshot    = "snapshot"
	Upload      = "upload"
	GateRevoked = "gate_revoked"
)

// A Vector is one signed answer and what the gate that asked knows: the
// pinned identity, and the event and cursor (feed), the nonce (snapshot),
// the event, gate and request body's hash (upload), or the event and gate
// (gate_revoked).
type Vector struct {
	Name      string // file name
	Expect    string
	Comment   string
	Answer    string // Changes, Snapshot, Upload or GateRevoked
	Identity  string // the pinned server identity, kidopub1…
	Event     uint32 // all but Snapshot
	Gate      uint32 // Upload and GateRevoked
	Cursor    string // Changes only
	Nonce     string // Snapshot only
	Request   string // Upload only: lowercase hex SHA-256 of the request body
	Signature string // the Kido-Signature header; "" when absent
	Body      []byte // the body exactly as received
}

// Message returns the bytes the gate verifies the signature over.
func (v Vector) Message() []byte {
	switch v.Answer {
	case Snapshot:
		return wire.SnapshotSignedMessage(v.Nonce, v.Body)
	case Upload:
		var sum [sha256.Size]byte
		hex.Decode(sum[:], []byte(v.Request))
		return wire.UploadSignedMessage(v.Event, v.Gate, sum, v.Body)
	case GateRevoked:
		return wire.GateRevokedSignedMessage(v.Event, v.Gate, v.Body)
	}
	return wire.ChangesSignedMessage(v.Event, v.Cursor, v.Body)
}

// noSignature stands for an absent header in the file.
const noSignature = "-"

// Marshal returns the file form of v; message_sha256 is a debugging aid
// for other implementations (the SHA-256 of Message).
func (v Vector) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\nanswer: %s\nidentity: %s\n", v.Expect, v.Comment, v.Answer, v.Identity)
	switch v.Answer {
	case Snapshot:
		fmt.Fprintf(&b, "nonce: %s\n", v.Nonce)
	case Upload:
		fmt.Fprintf(&b, "event: %d\ngate: %d\nrequest_sha256: %s\n", v.Event, v.Gate, v.Request)
	case GateRevoked:
		fmt.Fprintf(&b, "event: %d\ngate: %d\n", v.Event, v.Gate)
	default:
		fmt.Fprintf(&b, "event: %d\ncursor: %s\n", v.Event, v.Cursor)
	}
	sig := v.Signature
	if sig == "" {
		sig = noSignature
	}
	fmt.Fprintf(&b, "signature: %s\nmessage_sha256: %x\n\n", sig, sha256.Sum256(v.Message()))
	b.Write(v.Body)
	return b.Bytes()
}

// Parse reads a vector file.
func Parse(name string, data []byte) (Vector, error) {
	v := Vector{Name: name}
	fields, body, err := vectorfiles.Split(data)
	if err != nil {
		return v, fmt.Errorf("answers: %w", err)
	}
	v.Body = body
	seen := map[string]bool{}
	for _, f := range fields {
		field, value := f.Name, f.Value
		seen[field] = true
		switch field {
		case "expect":
			v.Expect = value
		case "comment":
			v.Comment = value
		case "answer":
			v.Answer = value
		case "identity":
			v.Identity = value
		case "event", "gate":
			n, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return v, fmt.Errorf("answers: %s: %w", field, err)
			}
			if field == "event" {
				v.Event = uint32(n)
			} else {
				v.Gate = uint32(n)
			}
		case "request_sha256":
			if b, err := hex.DecodeString(value); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != value {
				return v, fmt.Errorf("answers: request_sha256 %q is not 64 lowercase hex digits", value)
			}
			v.Request = value
		case "cursor":
			v.Cursor = value
		case "nonce":
			v.Nonce = value
		case "signature":
			if value != noSignature {
				v.Signature = value
			}
		case "message_sha256":
		default:
			return v, fmt.Errorf("answers: unknown header %q", field)
		}
	}
	need := []string{"expect", "comment", "answer", "identity", "signature"}
	switch v.Answer {
	case Changes:
		need = append(need, "event", "cursor")
	case Snapshot:
		need = append(need, "nonce")
	case Upload:
		need = append(need, "event", "gate", "request_sha256")
	case GateRevoked:
		need = append(need, "event", "gate")
	default:
		return v, fmt.Errorf("answers: unknown answer %q", v.Answer)
	}
	for _, f := range need {
		if !seen[f] {
			return v, fmt.Errorf("answers: header %q missing", f)
		}
	}
	return v, nil
}

func seeded(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func identityText(k ed25519.PrivateKey) string {
	p, err := ticket.NewPublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err) // 32 bytes cannot fail
	}
	return p.String()
}

// Bodies as kido-server writes them.
const (
	page = `{"changes":[{"kind":"roster","roster":{"serial":13,"tier":1,"holder":"佐藤 花子","order_ref":"ORD-000013","revoked":true}}],` +
		`"cursor":"42.a1b2c3d4e5f60718","server_time":"2027-08-01T01:02:05.25Z"}` + "\n"
	// keyChange is the change an attacker injects: its own key, for the
	// event, current.
	keyChange = `{"kind":"key","key":{"id":"%s","public":"%s","event":7,"revoked":false,"current":true,"created":"2027-07-01T00:00:00Z"}}`
	// uploadRequest is the body of the upload request_sha256 names (one
	// manual admission).
	uploadRequest = `{"admissions":[{"gate":3,"seq":42,"serial":13,"tier":1,"kind":"manual","at":"2027-08-01T01:02:03Z","corrected":"2027-08-01T01:02:03Z","hash":"-"}],"audits":[]}`
	uploadAnswer  = `{"acked":42,"audit_acked":0,"highest":42,"audit_highest":0,"stored":1,"duplicates":0,"server_time":"2027-08-01T01:02:04Z"}` + "\n"
	revoked       = `{"error":"server: gate 3 was revoked","code":"gate_revoked","hint":"this gate was revoked by the operator; re-enrol it with a new code from kidoctl gate add"}` + "\n"
	emptyPage     = `{"changes":[],"cursor":"42.a1b2c3d4e5f60718","server_time":"2027-08-01T01:02:30Z"}` + "\n"
	resnapshot    = `{"changes":[],"cursor":"","resnapshot":true,"server_time":"2027-08-01T01:02:30Z"}` + "\n"
	snapshot      = `{"server":{"id":"%s","fingerprint":"%s","version":"1.0.0"},"event":{"id":7,"name":"Summer Fes","venue":"Makuhari Messe","start":"2027-08-01T01:00:00Z","end":"2027-08-01T12:00:00Z"},` +
		`"tiers":[],"keys":[],"roster":[{"serial":13,"tier":1,"holder":"佐藤 花子","order_ref":"ORD-000013","revoked":%t}],` +
		`"admissions":[],"gate":{"id":3,"event":7,"name":"North 1","direction":"both","revoked":false},"gates":[],` +
		`"cursor":"42.a1b2c3d4e5f60718","server_time":"2027-08-01T01:02:05Z"}` + "\n"
)

// Generate returns every vector.
func Generate() []Vector {
	id, other := seeded(0x42), seeded(0x43)
	pinned := identityText(id)
	const cursor, event = "41.0f1e2d3c4b5a6978", 7
	const nonce = "7f3c9a1e5b2d4c6f8a0b1c2d3e4f5061"
	ch := func(name, expect, comment string, body []byte, sig string) Vector {
		return Vector{Name: name, Expect: expect, Comment: comment, Answer: Changes, Identity: pinned, Event: event, Cursor: cursor, Signature: sig, Body: body}
	}
	sn := func(name, expect, comment string, body []byte, sig string) Vector {
		return Vector{Name: name, Expect: expect, Comment: comment, Answer: Snapshot, Identity: pinned, Nonce: nonce, Signature: sig, Body: body}
	}
	sign := func(k ed25519.PrivateKey, msg []byte) string { return wire.SignAnswer(k, msg) }
	chMsg := func(ev uint32, cur, body string) []byte { return wire.ChangesSignedMessage(ev, cur, []byte(body)) }
	snap := func(revoked bool) string {
		return fmt.Sprintf(snapshot, pinned, wire.Fingerprint(id.Public().(ed25519.PublicKey)), revoked)
	}
	goodSig := sign(id, chMsg(event, cursor, page))
	const gate = 3
	batch := sha256.Sum256([]byte(uploadRequest))
	batchHex := hex.EncodeToString(batch[:])
	up := func(name, expect, comment string, body []byte, sig string) Vector {
		return Vector{Name: name, Expect: expect, Comment: comment, Answer: Upload, Identity: pinned, Event: event, Gate: gate, Request: batchHex, Signature: sig, Body: body}
	}
	rv := func(name, expect, comment string, body []byte, sig string) Vector {
		return Vector{Name: name, Expect: expect, Comment: comment, Answer: GateRevoked, Identity: pinned, Event: event, Gate: gate, Signature: sig, Body: body}
	}
	upSig := sign(id, wire.UploadSignedMessage(event, gate, batch, []byte(uploadAnswer)))
	rvSig := sign(id, wire.GateRevokedSignedMessage(event, gate, []byte(revoked)))
	attacker, _ := ticket.NewPublicKey(seeded(0x66).Public().(ed25519.PublicKey))
	injected := strings.Replace(page, `}}],`, `}},`+fmt.Sprintf(keyChange, attacker.ID(), attacker)+`],`, 1)
	return []Vector{ // each name says the case; the comment says it in words
		ch("changes_ok", OK, "a page with one change, signed for the event and the cursor asked", []byte(page), goodSig),
		ch("changes_ok_empty", OK, "a long-poll that timed out: no change, the head as the new cursor", []byte(emptyPage), sign(id, chMsg(event, cursor, emptyPage))),
		ch("changes_ok_resnapshot", OK, "the cursor is gone: resnapshot, signed like any answer", []byte(resnapshot), sign(id, chMsg(event, cursor, resnapshot))),
		ch("changes_unsigned", Unsigned, "no Kido-Signature header", []byte(page), ""),
		ch("changes_injected_key", BadSignature, "a key change added to a signed page on its way", []byte(injected), goodSig),
		ch("changes_other_event", BadSignature, "a page of event 8 from the same cursor, sent to a gate of event 7", []byte(page), sign(id, chMsg(8, cursor, page))),
		ch("changes_other_cursor", BadSignature, "a page that answered another cursor, replayed", []byte(page), sign(id, chMsg(event, "40.aa55aa55aa55aa55", page))),
		ch("changes_other_key", BadSignature, "signed by a key that is not the pinned identity", []byte(page), sign(other, chMsg(event, cursor, page))),
		ch("changes_without_domain", BadSignature, "the body alone signed, without domain, event and cursor", []byte(page), sign(id, []byte(page))),
		ch("changes_snapshot_domain", BadSignature, "signed as a snapshot whose nonce is the cursor", []byte(page), sign(id, wire.SnapshotSignedMessage(cursor, []byte(page)))),
		ch("changes_trailing_newline_cut", BadSignature, "the body's final newline removed", []byte(strings.TrimSuffix(page, "\n")), goodSig),
		ch("changes_signature_unpadded", BadSignature, "the right signature without its base64 padding", []byte(page), strings.TrimRight(goodSig, "=")),
		sn("snapshot_ok", OK, "a snapshot signed with the gate's nonce", []byte(snap(true)), sign(id, wire.SnapshotSignedMessage(nonce, []byte(snap(true))))),
		sn("snapshot_unsigned", Unsigned, "no Kido-Signature header", []byte(snap(true)), ""),
		sn("snapshot_revocation_undone", BadSignature, "a ticket revocation undone on the way", []byte(snap(false)), sign(id, wire.SnapshotSignedMessage(nonce, []byte(snap(true))))),
		sn("snapshot_replayed", BadSignature, "an older snapshot, signed for another nonce, replayed", []byte(snap(false)), sign(id, wire.SnapshotSignedMessage("00112233445566778899aabbccddeeff", []byte(snap(false))))),
		up("upload_ok", OK, "the acknowledgement of the batch whose body hashes to request_sha256", []byte(uploadAnswer), upSig),
		up("upload_unsigned", Unsigned, "no Kido-Signature header", []byte(uploadAnswer), ""),
		up("upload_acked_inflated", BadSignature, "acked raised on the way: the gate would stop resending records never stored", []byte(strings.Replace(uploadAnswer, `"acked":42`, `"acked":99`, 1)), upSig),
		up("upload_other_batch", BadSignature, "the answer to an empty upload, given for this batch", []byte(uploadAnswer),
			sign(id, wire.UploadSignedMessage(event, gate, sha256.Sum256([]byte(`{"admissions":[],"audits":[]}`)), []byte(uploadAnswer)))),
		up("upload_other_gate", BadSignature, "an answer signed for gate 4 of the event", []byte(uploadAnswer), sign(id, wire.UploadSignedMessage(event, 4, batch, []byte(uploadAnswer)))),
		rv("gate_revoked_ok", OK, "the 401 gate_revoked body, signed for this gate", []byte(revoked), rvSig),
		rv("gate_revoked_unsigned", Unsigned, "a revocation forged on the way: the gate would wipe itself", []byte(revoked), ""),
		rv("gate_revoked_other_gate", BadSignature, "a real revocation of gate 4 replayed to gate 3", []byte(revoked), sign(id, wire.GateRevokedSignedMessage(event, 4, []byte(revoked)))),
		sn("snapshot_changes_domain", BadSignature, "signed as a feed page of event 7 whose cursor is the nonce", []byte(snap(true)), sign(id, wire.ChangesSignedMessage(7, nonce, []byte(snap(true))))),
	}
}
