package gate_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/ticket"
)

func TestNormalizeScan(t *testing.T) {
	f := gatetest.New(10, gatetest.GateBoth, now)
	tk := f.Ticket(2)
	full := strings.Map(func(r rune) rune { return r - '0' + '０' }, tk)
	for _, in := range []string{
		tk, tk + "\r", "\uFEFF" + tk + "\r", "  " + tk + " \t", tk[:50] + " " + tk[50:], full, "\u3000" + tk,
	} {
		if got := gate.NormalizeScan(in); got != tk {
			t.Errorf("NormalizeScan(%q) = %q, want the ticket", in, got)
		}
	}
	for _, in := range []string{tk + "x", "#" + tk, tk[:100], tk + "0"} {
		if _, err := ticket.Parse(gate.NormalizeScan(in)); err == nil {
			t.Errorf("NormalizeScan(%q) became a ticket", in)
		}
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("7", 10<<20) // a 10 MB line
	in := "a\r\n\nb" + "\n" + long + "\n" + "c"
	lr := gate.NewLineReader(strings.NewReader(in))
	want := []gate.Line{
		{Text: "a\r", Length: 2},
		{Text: "", Length: 0},
		{Text: "b", Length: 1},
		{Text: long[:gate.MaxLine], Truncated: true, Length: int64(len(long))},
		{Text: "c", Length: 1},
	}
	for i, w := range want {
		got, err := lr.Next()
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got != w {
			t.Errorf("line %d: got %q (%d bytes, truncated %v), want %q (%d, %v)", i, shorten(got.Text), got.Length, got.Truncated, shorten(w.Text), w.Length, w.Truncated)
		}
	}
	if _, err := lr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after last line: %v, want EOF", err)
	}
}

func shorten(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// FuzzScanLine feeds arbitrary bytes through what kido-gate does with a
// scanner line: bounded line reading, normalisation, parsing. It must never
// panic, lines must stay bounded, normalisation must remove all white space
// and be idempotent, and whatever parses must be in canonical form.
func FuzzScanLine(f *testing.F) {
	fx := gatetest.New(1, gatetest.GateBoth, now)
	tk := fx.Ticket(1)
	for _, s := range []string{tk, "\uFEFF" + tk + "\r\n", " " + tk + " \n" + tk, "", "\n\n", "\xff\xfe", strings.Repeat("9", 5000) + "\n1", "０１２"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lr := gate.NewLineReader(strings.NewReader(string(data)))
		var total int64
		for {
			l, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Text) > gate.MaxLine || l.Truncated != (l.Length > gate.MaxLine) || strings.Contains(l.Text, "\n") {
				t.Fatalf("bad line: %d bytes, length %d, truncated %v", len(l.Text), l.Length, l.Truncated)
			}
			total += l.Length + 1
			n := gate.NormalizeScan(l.Text)
			if strings.IndexFunc(n, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }) >= 0 {
				t.Fatalf("NormalizeScan(%q) = %q keeps white space", l.Text, n)
			}
			if gate.NormalizeScan(n) != n {
				t.Fatalf("NormalizeScan not idempotent on %q", l.Text)
			}
			if tk, err := ticket.Parse(n); err == nil && tk.String() != n {
				t.Fatalf("parsed %q but it re-encodes as %q", n, tk.String())
			}
		}
		if total < int64(len(data)) {
			t.Fatalf("lines cover %d of %d bytes", total, len(data))
		}
	})
}

func FuzzNormalizeSearch(f *testing.F) {
	for _, s := range []string{"佐藤 花子", "ﾀﾅｶ ｼﾞﾛｳ", "ＹＡＭＡＤＡ", "Zoë", "\xff", "  a  b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := gate.NormalizeSearch(s)
		if gate.NormalizeSearch(n) != n {
			t.Fatalf("NormalizeSearch not idempotent: %q → %q → %q", s, n, gate.NormalizeSearch(n))
		}
	})
}

func TestNormalizeSearch(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"ﾀﾅｶ ｼﾞﾛｳ", "タナカ ジロウ"},
		{"ＹＡＭＡＤＡ Ｔａｒｏ", "yamada taro"},
		{"ZOË", "zoë"},
		{"佐藤　花子", "佐藤 花子"},
		// The cases: spaces and punctuation, kana, width, variants.
		{"山田太郎", "山田 太郎"},
		{"佐藤 花子", "佐藤, 花子"},
		{"たなか", "タナカ"},
		{"たなか", "ﾀﾅｶ"},
		{"高橋", "髙橋"},
		{"山崎", "山﨑"},
		{"渡辺", "渡邊"},
		{"渡辺", "渡邉"},
		{"斉藤", "齋藤"},
		{"斉藤", "斎藤"},
		{"斉藤", "齊藤"},
		{"沢田", "澤田"},
		{"浜田", "濱田"},
		{"桜井", "櫻井"},
		{"Smith Jo", "SMITH-JO"},
		{"o'brien", "O’Brien"},
		{"ORD-000123", "ord000123"},
		{"やまだ・たろう", "ヤマダ タロウ"},
		{"ゞ", "ヾ"},
	} {
		if x, y := gate.NormalizeSearch(tt.a), gate.NormalizeSearch(tt.b); x != y {
			t.Errorf("%q → %q, %q → %q: want equal", tt.a, x, tt.b, y)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"山田 太郎", "山田太郎"},
		{"ｻﾄｳ ﾊﾅｺ", "さとうはなこ"},
		{"コーヒー", "こーひー"}, // the long-vowel mark is kept
		{"髙橋 一郎", "高橋一郎"},
		{" , ・ - ", ""},
	} {
		if got := gate.NormalizeSearch(tt.in); got != tt.want {
			t.Errorf("NormalizeSearch(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Different names stay different.
	for _, tt := range []struct{ a, b string }{
		{"佐藤", "加藤"},
		{"zoe", "zoë"},
		{"はは", "ばば"},
	} {
		if gate.NormalizeSearch(tt.a) == gate.NormalizeSearch(tt.b) {
			t.Errorf("%q and %q fold alike", tt.a, tt.b)
		}
	}
}
