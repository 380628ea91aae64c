package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

var testTiers = newTierIndex([]kido.Tier{{ID: 1, Name: "VIP"}, {ID: 2, Name: "GA"}})

func TestParseRoster(t *testing.T) {
	tests := []struct {
		name, in string
		want     []wire.IssueItem
		wantErr  string
	}{
		{"japanese", "name,email,tier,order_ref\n山田 太郎,t@example.jp,VIP,A-1\n", []wire.IssueItem{{Tier: 1, Holder: "山田 太郎", Email: "t@example.jp", OrderRef: "A-1"}}, ""},
		{"bom crlf reordered", "\ufefftier,name,order_ref,email\r\nga,\"Smith, Jo\",,\r\n", []wire.IssueItem{{Tier: 2, Holder: "Smith, Jo"}}, ""},
		{"default tier", "name,email,tier,order_ref\nA,,,\n", []wire.IssueItem{{Tier: 2, Holder: "A"}}, ""},
		{"tier by id", "name,email,tier,order_ref\nA,,1,\n", []wire.IssueItem{{Tier: 1, Holder: "A"}}, ""},
		{"unknown tier", "name,email,tier,order_ref\nA,,VIP,\nB,,Gold,\n", nil, "roster line 3: unknown tier \"Gold\""},
		{"missing name", "name,email,tier,order_ref\n ,,VIP,\n", nil, "roster line 2: name is missing"},
		{"quote", "name,email,tier,order_ref\n\"A,,VIP,\n", nil, "roster line 2"},
		{"latin1", "name,email,tier,order_ref\nA,,VIP,\nJos\xe9,,VIP,\n", nil, "roster line 3: not valid UTF-8"},
		{"control", "name,email,tier,order_ref\n\"A\x07\",,VIP,\n", nil, "roster line 2: name: character 2 is U+0007, a control character"},
		{"newline in field", "name,email,tier,order_ref\n\"A\nB\",,VIP,\n", nil, "roster line 2: name: character 2 is U+000A, a control character"},
		{"bidi override", "name,email,tier,order_ref\nA,,VIP,\n\u202e田山,,VIP,\n", nil, "roster line 3: name: character 1 is U+202E, a bidirectional control"},
		{"zero-width space", "name,email,tier,order_ref\nA,,VIP,\nB,,VIP,X\u200b1\n", nil, "roster line 3: order_ref: character 2 is U+200B, an invisible zero-width character"},
		{"bom inside", "name,email,tier,order_ref\nA\ufeff,,VIP,\n", nil, "roster line 2: name: character 2 is U+FEFF, a byte order mark"},
		{"line separator", "name,email,tier,order_ref\nA,,VIP,\nB,,VIP,\nC\u2028D,,VIP,\n", nil, "roster line 4: name: character 2 is U+2028, a line or paragraph separator"},
		{"email", "name,email,tier,order_ref\nA,nope,VIP,\n", nil, "roster line 2: email \"nope\" has no @"},
		{"unknown column", "name,email,tier,order_ref,x\nA,,VIP,,\n", nil, "roster line 1: unknown column \"x\""},
		{"reading", "reading,name,email,tier,order_ref\nやまだ たろう,山田 太郎,,VIP,\n,B,,GA,\n", []wire.IssueItem{{Tier: 1, Holder: "山田 太郎", Reading: "やまだ たろう"}, {Tier: 2, Holder: "B"}}, ""},
		{"reading with a control", "name,reading,email,tier,order_ref\nA,\"や\x07\",,VIP,\n", nil, "roster line 2: reading: character 2 is U+0007, a control character"},
		{"reading too long", "name,reading,email,tier,order_ref\nA," + strings.Repeat("あ", 201) + ",,VIP,\n", nil, "roster line 2: reading is longer than 200 characters"},
		{"reading twice", "name,reading,email,tier,order_ref,Reading\n", nil, "roster line 1: column \"reading\" appears twice"},
		{"a row short of the header", "name,reading,email,tier,order_ref\nA,,,VIP\n", nil, "roster line 2: wrong number of fields"},
		{"duplicate column", "name,name,tier,order_ref\n", nil, "roster line 1: column \"name\" appears twice"},
		{"header only", "name,email,tier,order_ref\n", nil, "no rows"},
		{"empty", "", nil, "the roster is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRoster(strings.NewReader(tt.in), testTiers, 2, true)
			if tt.wantErr != "" {
				var re *rosterError
				if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
					t.Fatalf("got %v, %v; want error %q and no items", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("item %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzParseRoster: any input gives items or a line-numbered error, never a
// panic; accepted rows hold valid UTF-8 without control characters, a
// known tier and a name; and writing the items back as CSV and parsing
// again gives the same items.
func FuzzParseRoster(f *testing.F) {
	f.Add([]byte("name,email,tier,order_ref\n山田 太郎,t@example.jp,VIP,A-1\n"))
	f.Add([]byte("\ufefftier,name,order_ref,email\r\nga,\"Smith, \"\"Jo\"\"\",,\r\n"))
	f.Add([]byte("name,email,tier,order_ref\n\"A,,VIP,\n"))
	f.Add([]byte("name,email,tier,order_ref\nJos\xe9,,VIP,\n"))
	f.Add([]byte("name,reading,email,tier,order_ref\n山田 太郎,ヤマダ タロウ,,GA,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := parseRoster(bytes.NewReader(data), testTiers, 1, true)
		if err != nil {
			var re *rosterError
			if !errors.As(err, &re) || re.line < 1 || items != nil {
				t.Fatalf("error %v (%T) without a line, or with items", err, err)
			}
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write(append(rosterColumns, optionalColumns...))
		for _, it := range items {
			if it.Holder == "" || !utf8.ValidString(it.Holder+it.Reading+it.Email+it.OrderRef) || (it.Tier != 1 && it.Tier != 2) {
				t.Fatalf("accepted bad item %+v", it)
			}
			w.Write([]string{it.Holder, it.Email, testTiers.byID[it.Tier], it.OrderRef, it.Reading})
		}
		w.Flush()
		again, err := parseRoster(&buf, testTiers, 1, true)
		if err != nil || len(again) != len(items) {
			t.Fatalf("re-parse: %v (%d items, want %d)", err, len(again), len(items))
		}
		for i := range items {
			if again[i] != items[i] {
				t.Fatalf("item %d: %+v became %+v", i, items[i], again[i])
			}
		}
	})
}
