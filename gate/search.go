package gate

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// NormalizeSearch folds s for offline search so that a name is found however
// it was typed: full-width and half-width forms (ＳＡＴＯ, ｻﾄｳ, ｶﾞ) become
// their canonical width (SATO, サトウ, ガ), letter case is folded (including
// non-ASCII letters), and runs of white space become one space.
//
// NFKC runs first because it joins a half-width kana and its separate
// half-width voicing mark into one character, which width folding alone does
// not.
func NormalizeSearch(s string) string {
	s = cases.Fold().String(width.Fold.String(norm.NFKC.String(s)))
	return strings.Join(strings.Fields(s), " ")
}
