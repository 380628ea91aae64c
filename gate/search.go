package gate

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// NormalizeSearch folds s for offline search so that a name is found however
// it was typed. It is the one fold of kido's name search: the replica folds
// each roster entry with it when storing it and every query with it when
// searching, and so must anything else that searches names (the staff app).
// A query matches an entry when its fold is a substring of the entry's.
//
//   - full-width and half-width forms become their canonical width (ＳＡＴＯ
//     → sato, ｻﾄｳ → さとう, ｶﾞ → が); NFKC runs first because it joins a
//     half-width kana and its separate voicing mark, which width folding
//     alone does not;
//   - letter case is folded, non-ASCII letters included (ZOË → zoë);
//   - katakana becomes hiragana (タナカ → たなか), so a name is found
//     whichever script the roster or the steward used;
//   - variant kanji become their common form (髙橋 → 高橋, 﨑 → 崎; the table
//     is variantKanji);
//   - everything that is not a letter, digit or combining mark is dropped:
//     spaces, full-width spaces, commas, dots, hyphens, middle dots, so
//     山田太郎 finds 山田 太郎 and 佐藤 花子 finds 佐藤, 花子. The long-vowel
//     mark ー is a letter and stays.
//
// NormalizeSearch(NormalizeSearch(s)) == NormalizeSearch(s).
func NormalizeSearch(s string) string {
	s = cases.Fold().String(width.Fold.String(norm.NFKC.String(s)))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'ァ' && r <= 'ヶ', r == 'ヽ' || r == 'ヾ':
			r -= 'ァ' - 'ぁ'
		}
		if v, ok := variantKanji[r]; ok {
			r = v
		}
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) {
			b.WriteRune(r)
		}
	}
	// Dropping a space can bring a voicing mark next to the kana before it
	// (ｶ ﾞ); composing again keeps the fold idempotent.
	return norm.NFC.String(b.String())
}

// variantKanji maps variant forms of kanji common in Japanese names to the
// form a steward is likely to type: the everyday (shinjitai) form from an
// IME. A registry may keep a family's old or variant form (髙橋, 山﨑, 渡邉),
// while the steward types 高橋, 山崎, 渡辺.
//
// Source: the traditional forms (康熙字典体) listed beside their everyday
// forms in the Jōyō kanji table (常用漢字表, 2010) and the Jinmeiyō kanji
// list's table of traditional forms allowed in names (人名用漢字, 戸籍法施行規則
// 別表第二 二), plus the 異体字 (itaiji) of surnames that those tables do not
// list but family registers keep (髙, 﨑, 嵜, 邉, 嶋, 冨, 桒, 舘, 籔, 濵). Names
// treated alike in searches by Japanese directories are mapped to one form
// even where the characters differ in meaning: 斉/斎/齊/齋 (Saitō). The table
// is deliberately small: it covers surnames, not the whole of Unihan's
// variant data; add pairs here, one place, when a gate misses one.
var variantKanji = map[rune]rune{
	// 高橋, 高田: 髙 ("hashigo-daka") is the registry form.
	'髙': '高',
	// 山崎, 宮崎: 﨑 (U+FA11, a compatibility ideograph NFKC keeps) and 嵜.
	'﨑': '崎', '嵜': '崎', '碕': '崎',
	// 渡辺: 邊 (traditional), 邉 (variant).
	'邊': '辺', '邉': '辺',
	// 斉藤, 斎藤, 齊藤, 齋藤: searched as one name.
	'齋': '斉', '齊': '斉', '斎': '斉',
	// 沢, 浜, 桜, 島, 富: traditional and variant forms.
	'澤': '沢', '濱': '浜', '濵': '浜', '櫻': '桜', '嶋': '島', '嶌': '島', '冨': '富',
	// Other traditional forms common in names.
	'國': '国', '廣': '広', '實': '実', '惠': '恵', '榮': '栄', '眞': '真',
	'藏': '蔵', '壽': '寿', '德': '徳', '龍': '竜', '瀨': '瀬',
	'桒': '桑', '舘': '館', '峯': '峰', '淺': '浅', '關': '関', '籔': '藪', '薮': '藪',
}
