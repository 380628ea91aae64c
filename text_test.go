package kido_test

import (
	"errors"
	"strings"
	"testing"

	"kido.dev/kido"
)

func TestCheckText(t *testing.T) {
	for _, ok := range []string{"", "山田 太郎", "Jo Smith", "Zoë", "VIP席", "葛\U000E0100城", "👍🏽", "ｱｲｳ"} {
		if err := kido.CheckText(ok); err != nil {
			t.Errorf("CheckText(%q) = %v, want nil", ok, err)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"abc\u202Eoday", "character 4 is U+202E, a bidirectional control"},
		{"\u2067x", "U+2067, a bidirectional control"},
		{"a\u200Bb", "U+200B, an invisible zero-width"},
		{"a\u200Db", "U+200D, an invisible zero-width"},
		{"\uFEFFname", "character 1 is U+FEFF, a byte order mark"},
		{"a\u2028b", "U+2028, a line or paragraph separator"},
		{"a\u2029b", "U+2029, a line or paragraph separator"},
		{"a\u00ADb", "U+00AD, an invisible format character"},
		{"a\nb", "U+000A, a control character"},
		{"a\x1b[31mb", "U+001B, a control character"},
		{"a\u0085b", "U+0085, a control character"},
		{"a\uFFFDb", "U+FFFD"},
		{"a\xffb", "not valid UTF-8 at character 2"},
	} {
		err := kido.CheckText(c.in)
		if !errors.Is(err, kido.ErrBadText) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckText(%q) = %v, want ErrBadText saying %q", c.in, err, c.want)
		}
	}
}

func FuzzCheckText(f *testing.F) {
	f.Add("山田\u202E")
	f.Add("\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if kido.CheckText(s) != nil {
			return
		}
		// What passes is valid UTF-8 with no control or format character.
		for _, r := range s {
			if r == '\uFFFD' || r < 0x20 || (r >= 0x7F && r < 0xA0) || r == 0x202E || r == 0xFEFF || r == 0x2028 {
				t.Fatalf("CheckText(%q) passed U+%04X", s, r)
			}
		}
	})
}
