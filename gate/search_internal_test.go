package gate

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

// TestVariantKanji keeps the table a fold: no form it maps to is mapped
// again, and every entry survives NFKC, width and case folding (else the
// entry could never be reached).
func TestVariantKanji(t *testing.T) {
	for from, to := range variantKanji {
		if _, ok := variantKanji[to]; ok {
			t.Errorf("%c → %c, which is mapped again", from, to)
		}
		if got := []rune(norm.NFKC.String(string(from))); len(got) != 1 || got[0] != from {
			t.Errorf("NFKC changes %c (U+%04X) to %q before the table sees it", from, from, string(got))
		}
		if got := NormalizeSearch(string(from)); got != string(to) {
			t.Errorf("NormalizeSearch(%c) = %q, want %c", from, got, to)
		}
	}
}
