package server

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// cleanText trims s and checks it is valid UTF-8 without control
// characters and at most max runes long. what names the field in the
// error.
func cleanText(what, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError):
		// JSON decoding turns invalid UTF-8 into U+FFFD: refuse it rather
		// than store a name with characters silently lost.
		return "", Errorf(ErrInvalid, "send the text as UTF-8", "%s is not valid UTF-8 (or holds U+FFFD from a failed conversion)", what)
	case required && s == "":
		return "", Errorf(ErrInvalid, "", "%s is missing", what)
	case utf8.RuneCountInString(s) > max:
		return "", Errorf(ErrInvalid, "", "%s is longer than %d characters", what, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", Errorf(ErrInvalid, "", "%s contains a control character", what)
	}
	return s, nil
}
