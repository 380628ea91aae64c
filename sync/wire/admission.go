package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// AdmissionHash returns the content hash carried in Admission.Hash:
// lowercase hex SHA-256 of "kido admission v1\x00" followed by gate, seq,
// serial, tier, kind, at, corrected and text, each newline-terminated;
// numbers in decimal, times as RFC 3339 in UTC with nanoseconds. The Hash
// field itself is not covered. Two records with one (gate, seq) key and
// different hashes are a conflict, never a duplicate.
func AdmissionHash(a Admission) string {
	b := make([]byte, 0, 256)
	b = append(b, "kido admission v1\x00"...)
	b = strconv.AppendUint(b, uint64(a.Gate), 10)
	b = append(b, '\n')
	b = strconv.AppendUint(b, a.Seq, 10)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(a.Serial), 10)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(a.Tier), 10)
	b = append(b, '\n')
	b = append(b, a.Kind...)
	b = append(b, '\n')
	b = a.At.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	b = a.Corrected.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	b = append(b, a.Text...)
	b = append(b, '\n')
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
