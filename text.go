package kido

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ErrBadText is the verdict on text that kido refuses to store and show:
// names of events, venues, tiers and gates, ticket holders, order
// references, roster cells.
var ErrBadText = errors.New("kido: text refused")

// CheckText refuses text a person would read differently from what it
// holds: invalid UTF-8; U+FFFD, the mark of characters already lost in a
// conversion; control characters (Cc: line breaks, tabs, escapes);
// format characters (Cf: bidirectional overrides and isolates such as
// U+202E, which make "Yamada" display as another name at the gate;
// zero-width spaces and joiners; the byte order mark U+FEFF; the soft
// hyphen); and the line and paragraph separators U+2028 and U+2029. The
// error names the character and its position (counted in characters from
// 1) in a *TextError. Server and kidoctl both call it: one rule.
func CheckText(s string) error {
	n := 0
	for i, r := range s {
		n++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &TextError{fmt.Sprintf("not valid UTF-8 at character %d", n)}
			}
			return &TextError{fmt.Sprintf("character %d is U+FFFD, a character lost in a conversion", n)}
		}
		if what := refused(r); what != "" {
			return &TextError{fmt.Sprintf("character %d is U+%04X, %s", n, r, what)}
		}
	}
	return nil
}

// TextError is CheckText's verdict; Msg says which character and why, for
// a caller to put after the field's name.
type TextError struct{ Msg string }

func (e *TextError) Error() string { return "kido: " + e.Msg }
func (e *TextError) Unwrap() error { return ErrBadText }

// refused says what kind of refused character r is, or "".
func refused(r rune) string {
	switch {
	case unicode.Is(unicode.Cc, r):
		return "a control character (a line break inside a field?)"
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return "a bidirectional control, which can make text display reversed"
	case r == 0xFEFF:
		return "a byte order mark"
	case r >= 0x200B && r <= 0x200D, r == 0x2060:
		return "an invisible zero-width character"
	case unicode.Is(unicode.Cf, r):
		return "an invisible format character"
	case unicode.In(r, unicode.Zl, unicode.Zp):
		return "a line or paragraph separator"
	}
	return ""
}
