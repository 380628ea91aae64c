package termtable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWidth(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"John", 4},
		{"山田 太郎", 9},     // four wide ideographs and an ASCII space
		{"Ｊｏｈｎ", 8},      // fullwidth Latin
		{"ｻﾄｳ", 3},       // halfwidth katakana: one cell each
		{"ｼﾞﾛｳ", 4},      // the halfwidth voiced mark is a character of its own
		{"Zoë", 3},       // precomposed
		{"Zoe\u0308", 3}, // e + combining diaeresis
		{"が", 2},         // precomposed
		{"か\u3099", 2},   // か + combining voiced mark
		{"👍", 2},
		{"a\u200db", 2}, // zero-width joiner
		{"a\tb", 3},     // a control character prints as one space
	} {
		if got := Width(c.s); got != c.want {
			t.Errorf("Width(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

// starts returns the display cell at which each cell of row begins in line.
func starts(t *testing.T, line string, row []string) []int {
	t.Helper()
	var at []int
	off := 0
	for _, c := range row {
		i := strings.Index(line[off:], c)
		if i < 0 {
			t.Fatalf("cell %q not found in %q after byte %d", c, line, off)
		}
		at = append(at, Width(line[:off+i]))
		off += i + len(c)
	}
	return at
}

func TestWriteAlignsWideText(t *testing.T) {
	rows := [][]string{
		{"SERIAL", "HOLDER", "ORDER", "STATE"},
		{"1", "山田 太郎", "ORD-1", "not used"},
		{"22", "Ｊｏｈｎ", "ＯＲＤ－２２", "used 1×"},
		{"333", "John Smith", "ORD-333", "REVOKED"},
		{"4", "ｻﾄｳ ｼﾞﾛｳ", "注文-4", "not used"},
		{"5", "Zoe\u0308 Martin", "ORD-5", "not used"},
	}
	var b strings.Builder
	if err := Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(rows) {
		t.Fatalf("%d lines for %d rows:\n%s", len(lines), len(rows), b.String())
	}
	want := starts(t, lines[0], rows[0])
	// The widest cells: "山田 太郎" and "Zoë Martin" (10) and "ＯＲＤ－２２" (12).
	if want[1] != 8 || want[2] != 20 || want[3] != 34 {
		t.Errorf("header columns start at cells %v, want [0 8 20 34]\n%s", want, b.String())
	}
	for i, line := range lines[1:] {
		if got := starts(t, line, rows[i+1]); !equal(got, want) {
			t.Errorf("row %d columns start at cells %v, header at %v:\n%s", i+1, got, want, b.String())
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("row %d ends in a space: %q", i+1, line)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteExact(t *testing.T) {
	for _, c := range []struct {
		name string
		rows [][]string
		want string
	}{
		{"wide", [][]string{{"ID", "NAME", "X"}, {"1", "山田 太郎", "a"}, {"22", "Ｊｏｈｎ", "b"}},
			"ID  NAME       X\n1   山田 太郎  a\n22  Ｊｏｈｎ   b\n"},
		{"empty last cell", [][]string{{"A", "B", ""}, {"1", "2", "EXCESS"}},
			"A  B\n1  2  EXCESS\n"},
		{"ragged rows and a long last cell", [][]string{{"admitted", "4"}, {"unique holders", "3"}, {"x", "a long note that sets no width"}, {"y"}},
			"admitted        4\nunique holders  3\nx               a long note that sets no width\ny\n"},
		{"control characters", [][]string{{"a\tb", "c"}, {"d\ne", "f"}},
			"a b  c\nd e  f\n"},
		{"no rows", nil, ""},
	} {
		var b strings.Builder
		if err := Write(&b, c.rows); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", c.name, b.String(), c.want)
		}
	}
}

// FuzzWrite checks, for any cells, that every row is one line and that the
// second column starts at the same display cell on every row.
func FuzzWrite(f *testing.F) {
	f.Add("山田 太郎", "Ｊｏｈｎ", "x")
	f.Add("a\tb\nc", "\u0308", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if !utf8.ValidString(a+b+c) || strings.Contains(a+b+c, "|") {
			return // "|" marks the second column
		}
		rows := [][]string{{a, "|", b}, {b, "|", c}, {c, "|", a}}
		var out strings.Builder
		if err := Write(&out, rows); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(rows) {
			t.Fatalf("%d lines for %d rows: %q", len(lines), len(rows), out.String())
		}
		want := Width(lines[0][:strings.Index(lines[0], "|")])
		for _, line := range lines[1:] {
			if at := Width(line[:strings.Index(line, "|")]); at != want {
				t.Fatalf("column 2 starts at cells %d and %d: %q", want, at, out.String())
			}
		}
	})
}
