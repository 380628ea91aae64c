package kido

import (
	"testing"
	"time"
)

func TestInside(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2027, 8, 1, 10, m, 0, 0, time.UTC) }
	tests := []struct {
		name string
		ps   []Passage
		want bool
	}{
		{"never admitted", nil, false},
		{"entered", []Passage{{Gate: 1, Seq: 1, Kind: KindEntry, At: at(0)}}, true},
		{"admitted by staff", []Passage{{Gate: 1, Seq: 1, Kind: KindManual, At: at(0)}}, true},
		{"left, listed first", []Passage{{Gate: 2, Seq: 1, Kind: KindExit, At: at(5)}, {Gate: 1, Seq: 1, Kind: KindEntry, At: at(0)}}, false},
		{"came back", []Passage{{Gate: 1, Seq: 1, Kind: KindEntry, At: at(0)}, {Gate: 2, Seq: 1, Kind: KindExit, At: at(5)}, {Gate: 1, Seq: 2, Kind: KindEntry, At: at(9)}}, true},
		// Same instant: the higher gate id is later (ComparePassages).
		{"exit at the same instant at a higher gate", []Passage{{Gate: 2, Seq: 1, Kind: KindExit, At: at(5)}, {Gate: 1, Seq: 7, Kind: KindEntry, At: at(5)}}, false},
	}
	for _, tt := range tests {
		if got := Inside(tt.ps); got != tt.want {
			t.Errorf("%s: Inside = %v, want %v", tt.name, got, tt.want)
		}
	}
}
