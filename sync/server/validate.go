package server

import (
	"strings"
	"unicode/utf8"

	"kido.dev/kido"
)

// cleanText trims s and checks it with kido.CheckText (no control, format
// or bidirectional characters, valid UTF-8 without U+FFFD) and that it is
// at most max runes long. what names the field in the error.
func cleanText(what, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	if err := kido.CheckText(s); err != nil {
		return "", Errorf(ErrInvalid, "type the text again without invisible or control characters (copied text can carry them); send it as UTF-8", "%s: %s", what, err.(*kido.TextError).Msg)
	}
	switch {
	case required && s == "":
		return "", Errorf(ErrInvalid, "", "%s is missing", what)
	case utf8.RuneCountInString(s) > max:
		return "", Errorf(ErrInvalid, "", "%s is longer than %d characters", what, max)
	}
	return s, nil
}
