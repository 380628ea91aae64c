package qr_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"kido.dev/kido/ticket"
	"kido.dev/kido/ticket/qr"
)

// goQRCodeBitmap is go-qrcode's symbol for text at level M, without border.
func goQRCodeBitmap(tb testing.TB, text string) (bitmap [][]bool, version int) {
	tb.Helper()
	c, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		tb.Fatal(err)
	}
	c.DisableBorder = true
	return c.Bitmap(), c.VersionNumber
}

// sameSymbol compares the fast encoder's symbol for text with go-qrcode's,
// module by module, and returns it.
func sameSymbol(t *testing.T, text string) [][]bool {
	t.Helper()
	rows, cols, ok := qr.Numeric5M(text)
	if !ok {
		t.Fatalf("%d digits %.20q… did not take the fast path", len(text), text)
	}
	want, v := goQRCodeBitmap(t, text)
	if v != 5 || len(want) != qr.Side5 {
		t.Fatalf("go-qrcode made version %d (%d modules) for %d digits, the fast path version 5", v, len(want), len(text))
	}
	for y := range want {
		for x := range want[y] {
			if rows[y][x] != want[y][x] || cols[y][x] != want[y][x] {
				t.Fatalf("%d digits %q: module (%d,%d) is %v in rows, %v in columns; go-qrcode has %v",
					len(text), text, x, y, rows[y][x], cols[y][x], want[y][x])
			}
		}
	}
	return rows
}

// TestNumeric5MMatchesGoQRCode proves that the fast encoder makes exactly
// go-qrcode's symbol (data, error correction, mask choice, format
// information) for 2,000 tickets, and that gozxing reads the PNGs of every
// fifth back to a ticket that verifies (all 2,000 take 100 s with -race).
func TestNumeric5MMatchesGoQRCode(t *testing.T) {
	key, ring := issuer(t)
	r := rand.New(rand.NewPCG(11, 12))
	formats := map[string]bool{} // one per mask chosen
	for i := range 2000 {
		c := ticket.Claims{Event: 1001, Serial: r.Uint32(), Tier: uint8(r.UintN(256))}
		text := ticket.Sign(key, c).String()
		s := sameSymbol(t, text)
		formats[fmt.Sprint(s[8][:6])] = true // format bits 0–5 differ for every mask
		if i%5 != 0 {
			continue
		}
		readsBack(t, ring, text)
	}
	if len(formats) != 8 {
		t.Errorf("2,000 tickets chose %d of the 8 masks: mask choice is not fully covered", len(formats))
	}
}

// TestNumeric5MLengths: every length of digits the fast path takes, with
// random, all-0 and all-9 texts, matches go-qrcode; one digit fewer or more
// is another version and goes to go-qrcode, as does anything not digits.
func TestNumeric5MLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for n := qr.MinDigits5M; n <= qr.MaxDigits5M; n++ {
		sameSymbol(t, strings.Repeat("0", n))
		sameSymbol(t, strings.Repeat("9", n))
		for range 5 {
			var b strings.Builder
			for range n {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
			sameSymbol(t, b.String())
		}
	}
	for _, tt := range []struct {
		text    string
		version int
	}{
		{strings.Repeat("1", qr.MinDigits5M-1), 4},
		{strings.Repeat("1", qr.MaxDigits5M+1), 6},
	} {
		if _, v := goQRCodeBitmap(t, tt.text); v != tt.version {
			t.Errorf("go-qrcode puts %d digits at version %d, want %d: the fast path's bounds are wrong", len(tt.text), v, tt.version)
		}
	}

	digits := strings.Repeat("7", 188)
	for _, text := range []string{
		strings.Repeat("1", qr.MinDigits5M-1),
		strings.Repeat("1", qr.MaxDigits5M+1),
		digits[:100] + "A" + digits[101:],
		digits[:187] + " ",
		digits[:185] + "７", // a full-width digit
		"0123456789",
		"https://kido.dev/",
	} {
		if _, _, ok := qr.Numeric5M(text); ok {
			t.Errorf("%q took the fast path", text)
		}
		got, err := qr.Render(text)
		if err != nil {
			t.Fatal(err)
		}
		want, err := qr.RenderGoQRCode(text)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Render(%.20q…) differs from go-qrcode's rendering (err %v)", text, err)
		}
	}
}

// refRunPenalty and refFinderPenalty are go-qrcode's penalty rules 1 and
// 3 for one line, as go-qrcode (symbol.go) writes them.
func refRunPenalty(line []bool) int {
	p, count := 0, 1
	for i := 1; i < len(line); i++ {
		if line[i] != line[i-1] {
			count = 1
			continue
		}
		count++
		if count == 6 {
			p += 3 + 1
		} else if count > 6 {
			p++
		}
	}
	return p
}

func refFinderPenalty(line []bool) int {
	p := 0
	var buf int16
	for x, v := range line {
		buf <<= 1
		if v {
			buf |= 1
		}
		switch buf & 0x7ff {
		case 0x05d, 0x5d0:
			p += 40
			buf = 0xff
		default:
			if x == len(line)-1 && buf&0x7f == 0x5d {
				p += 40
				buf = 0xff
			}
		}
	}
	return p
}

// TestLinePenalties compares the word-at-a-time penalty rules with
// go-qrcode's loops on random lines: uniform ones, and ones built from runs
// and finder-like pieces so that long runs and repeated finds are common.
func TestLinePenalties(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	pieces := []string{"1011101", "0000", "1", "0", "111111", "000000", "10111010000", "00001011101"}
	found := 0
	for i := range 200000 {
		var word uint64
		if i%2 == 0 {
			word = r.Uint64() & (1<<qr.Side5 - 1)
		} else {
			var b strings.Builder
			for b.Len() < qr.Side5 {
				b.WriteString(pieces[r.IntN(len(pieces))])
			}
			for x, c := range b.String()[:qr.Side5] {
				word |= uint64(c-'0') << x
			}
		}
		line := make([]bool, qr.Side5)
		for x := range line {
			line[x] = word>>x&1 != 0
		}
		if got, want := qr.RunPenalty(word), refRunPenalty(line); got != want {
			t.Fatalf("run penalty of %037b (module 0 rightmost) = %d, go-qrcode %d", word, got, want)
		}
		got, want := qr.FinderPenalty(word), refFinderPenalty(line)
		if got != want {
			t.Fatalf("finder penalty of %037b (module 0 rightmost) = %d, go-qrcode %d", word, got, want)
		}
		if want > 40 {
			found++
		}
	}
	if found < 1000 {
		t.Errorf("only %d lines with two or more finds: the test lines are too tame", found)
	}
}
