package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"kido.dev/kido"
)

// AdmissionHash returns the content hash carried in Admission.Hash:
// lowercase hex SHA-256 of "kido admission v1\x00" followed by gate, seq,
// serial, tier, kind, at, corrected and text, each newline-terminated;
// numbers in decimal, times as RFC 3339 in UTC with nanoseconds. The Hash
// field itself is not covered. Two records with one (gate, seq) key and
// different hashes are a conflict, never a duplicate.
//
// An admission with a staff reason (a manual admission) is hashed under
// "kido admission v2\x00" with the reason as one more field after text:
// records without one keep the hash they always had, and the two forms
// never hash the same bytes.
//
// An undo (kind undo, docs/sync-protocol.md §3.7) is hashed under "kido
// admission v3\x00" with the seq it undoes as one more field after the
// (empty) text; an undo carries no reason.
func AdmissionHash(a kido.Admission) string {
	domain := "kido admission v1\x00"
	switch {
	case a.Undoes != 0:
		domain = "kido admission v3\x00"
	case a.Reason != "":
		domain = "kido admission v2\x00"
	}
	h := newFieldHash(domain, len(a.Text)+len(a.Reason))
	h.num(uint64(a.Gate))
	h.num(a.Seq)
	h.num(uint64(a.Serial))
	h.num(uint64(a.Tier))
	h.str(a.Kind)
	h.time(a.At)
	h.time(a.Corrected)
	h.str(a.Text)
	switch {
	case a.Undoes != 0:
		h.num(a.Undoes)
	case a.Reason != "":
		h.str(a.Reason)
	}
	return h.sum()
}

// fieldHash builds the input of a content hash: a domain string, then each
// field newline-terminated, numbers in decimal, times as RFC 3339 in UTC
// with nanoseconds (docs/sync-protocol.md).
type fieldHash struct{ b []byte }

func newFieldHash(domain string, extra int) *fieldHash {
	return &fieldHash{b: append(make([]byte, 0, 256+extra), domain...)}
}

func (h *fieldHash) num(v uint64) { h.b = append(strconv.AppendUint(h.b, v, 10), '\n') }
func (h *fieldHash) str(s string) { h.b = append(append(h.b, s...), '\n') }
func (h *fieldHash) time(t time.Time) {
	h.b = append(t.UTC().AppendFormat(h.b, time.RFC3339Nano), '\n')
}

// sum returns the lowercase hex SHA-256 of what was written.
func (h *fieldHash) sum() string {
	d := sha256.Sum256(h.b)
	return hex.EncodeToString(d[:])
}
