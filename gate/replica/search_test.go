package replica

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/wire"
)

// namedRoster is a replica of entries with the holders and readings given.
func namedRoster(t testing.TB, entries [][2]string) *Replica {
	t.Helper()
	f := gatetest.New(len(entries), gatetest.GateBoth, time.Now())
	for i, e := range entries {
		f.Snapshot.Roster[i].Holder, f.Snapshot.Roster[i].Reading = e[0], e[1]
	}
	r, err := Create(filepath.Join(t.TempDir(), "replica.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.Apply(ctx, &f.Snapshot, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	return r
}

func isSerial(q string, serial uint32) bool {
	n, err := strconv.ParseUint(q, 10, 32)
	return err == nil && n == uint64(serial)
}

func serials(ms []Match) []uint32 {
	var out []uint32
	for _, m := range ms {
		out = append(out, m.Serial)
	}
	return out
}

// TestFindReadingAndInside: readings are searched like names, from their
// start and inside; names are found from inside by any substring, a single
// character included, in either script and width; beginnings come first.
func TestFindReadingAndInside(t *testing.T) {
	r := namedRoster(t, [][2]string{
		{"山田 太郎", "やまだ たろう"},      // 1
		{"髙橋 花子", "タカハシ ハナコ"},     // 2
		{"佐藤, 一郎", ""},            // 3
		{"Anne-Marie Dupont", ""}, // 4
		{"田中 太", "たなか ふとし"},       // 5
		{"太田 真由美", "おおた まゆみ"},     // 6
	})
	tests := []struct {
		q    string
		want []uint32
	}{
		{"やまだ", []uint32{1}},             // reading, from its start
		{"ヤマダ", []uint32{1}},             // in katakana
		{"ﾀｶﾊｼ", []uint32{2}},            // half-width, a katakana reading
		{"はなこ", []uint32{2}},             // inside a reading
		{"花子", []uint32{2}},              // inside a name with a variant kanji
		{"橋花", []uint32{2}},              // across the space the fold drops
		{"一郎", []uint32{3}},              // after punctuation
		{"marie dup", []uint32{4}},       // Latin, inside, across a hyphen
		{"太", []uint32{6, 1, 5}},         // one character: the name it begins first
		{"たろう", []uint32{1}},             // end of a reading
		{"まゆみ", []uint32{6}},             // …
		{"たなかふとし", []uint32{5}},          // a whole reading
		{"なかふ", []uint32{5}},             // inside, across the fold
		{"太郎たろう", nil},                   // name and reading are not one text
		{"ongeki", nil},                  // nothing
		{"ord-000003", []uint32{3}},      // order references from their start
		{"rd-000003", nil},               // but not from inside
		{"3", []uint32{3}},               // a serial
		{strings.Repeat("たなか", 40), nil}, // longer than any name: asks for a few pairs only
	}
	for _, tt := range tests {
		ms, err := r.Find(ctx, tt.q, 10)
		if err != nil {
			t.Fatalf("Find(%q): %v", tt.q, err)
		}
		if got := serials(ms); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Find(%q) = %v, want %v", tt.q, got, tt.want)
		}
	}
	ms, err := r.Find(ctx, "はなこ", 1)
	if err != nil || len(ms) != 1 || ms[0].Reading != "タカハシ ハナコ" || ms[0].Holder != "髙橋 花子" {
		t.Errorf("a match carries holder and reading: %+v, %v", ms, err)
	}
	// A limit of 2 stops the one-character search at two, without repeats.
	if ms, err := r.Find(ctx, "太", 2); err != nil || fmt.Sprint(serials(ms)) != "[6 1]" {
		t.Errorf("Find(太, 2) = %v, %v", serials(ms), err)
	}
}

// TestFindAfterRevocation: a revocation keeps the entry's words; it is
// found once, revoked.
func TestFindAfterRevocation(t *testing.T) {
	r := namedRoster(t, [][2]string{{"山田 太郎", "やまだ たろう"}})
	re := kido.RosterEntry{Serial: 1, Tier: gatetest.TierOf(1), Holder: "山田 太郎", Reading: "やまだ たろう", OrderRef: "ORD-000001", Revoked: true}
	if _, err := r.ApplyChanges(ctx, changesOf("c1", wire.Change{Kind: wire.ChangeRoster, Roster: &re})); err != nil {
		t.Fatal(err)
	}
	ms, err := r.Find(ctx, "だたろ", 10)
	if err != nil || len(ms) != 1 || !ms[0].Revoked {
		t.Errorf("Find after revocation: %+v, %v; want the revoked entry once", ms, err)
	}
	var rows int
	r.conn.QueryRowContext(ctx, "SELECT count(*) FROM roster_words_docsize").Scan(&rows)
	if rows != 1 {
		t.Errorf("word index has %d rows, want 1: a revocation adds none", rows)
	}
}

// FuzzFind: whatever a steward types, Find answers without error, and
// every match holds the folded query in its name or reading, begins its
// order reference with it, or is the serial typed.
func FuzzFind(f *testing.F) {
	for _, s := range []string{"佐藤", "太", "\"", "a OR b", "NEAR", "*", "ｶﾞ", "x\"y*z", "-たなか", "12", "ﾀﾅｶ ｼﾞﾛｳ 7", "()", "^a", "ë"} {
		f.Add(s)
	}
	r := namedRoster(f, [][2]string{{"山田 太郎", "やまだ たろう"}, {"Zoë Martin", ""}, {"\"OR\" AND", "NEAR"}})
	f.Fuzz(func(t *testing.T, q string) {
		ms, err := r.Find(ctx, q, 20)
		if err != nil {
			t.Fatalf("Find(%q): %v", q, err)
		}
		k := gate.NormalizeSearch(q)
		for _, m := range ms {
			keys := keysOf(m.RosterEntry)
			if !strings.Contains(keys.name, k) && !strings.Contains(keys.reading, k) && !strings.HasPrefix(keys.order, k) && !isSerial(k, m.Serial) {
				t.Fatalf("Find(%q) gave %+v, which does not hold %q", q, m.RosterEntry, k)
			}
		}
	})
}
