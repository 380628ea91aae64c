package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

// runQR reports the largest QR version, at ECC M, of tickets with the
// smallest and largest claims and of the first and last tickets the
// issuance scenario issued, if it ran. Every ticket text has the same
// length (ticket.TextLen digits), so this is the version of every ticket.
func runQR(ctx context.Context, h *harness) ([]row, error) {
	key, err := ticket.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	texts := []string{
		ticket.Sign(key, ticket.Claims{Event: 1, Serial: 1, Tier: 1}).String(),
		ticket.Sign(key, ticket.Claims{Event: math.MaxUint32, Serial: math.MaxUint32, Tier: math.MaxUint8}).String(),
	}
	issued, err := issuedEnds(filepath.Join(h.dir, "issue", "out", "manifest.csv"))
	if err != nil {
		return nil, err
	}
	texts = append(texts, issued...)
	var versions []int
	for _, t := range texts {
		if len(t) != ticket.TextLen {
			return nil, fmt.Errorf("a ticket text of %d digits, want %d", len(t), ticket.TextLen)
		}
		v, err := qr.Version(t)
		if err != nil {
			return nil, err
		}
		versions = append(versions, v)
	}
	v := slices.Max(versions)
	from := "extreme claims"
	if len(issued) > 0 {
		from += " and issued tickets"
	}
	return []row{within("QR version of a ticket at ECC M",
		fmt.Sprintf("version %d (%d digits, %d×%d modules; %d tickets checked: %s)", v, ticket.TextLen, 17+4*v, 17+4*v, len(texts), from),
		fmt.Sprintf("≤ %d", qr.MaxVersion), float64(v), qr.MaxVersion, true)}, nil
}

// issuedEnds returns the first and last ticket texts of a kidoctl
// manifest, or nothing when there is none.
func issuedEnds(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) < 2 {
		return nil, fmt.Errorf("manifest %s: %v, %d rows", path, err, len(recs))
	}
	col := slices.Index(recs[0], "text")
	if col < 0 {
		return nil, fmt.Errorf("manifest %s has no text column", path)
	}
	return []string{recs[1][col], recs[len(recs)-1][col]}, nil
}
