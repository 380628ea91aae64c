package kido_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/ruletest"
)

func TestExcess(t *testing.T) {
	for _, c := range ruletest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got := kido.RuleOf(c.KnownTiers(), c.Tier).Excess(c.Passages)
			if !slices.Equal(got, c.Excess) {
				t.Errorf("excess %v, want %v", got, c.Excess)
			}
		})
	}
}

// TestRefusingAgreesWithExcess: one more entry after a prefix is refused
// exactly when the table marks an entry there as excess, whatever order the
// history is given in.
func TestRefusingAgreesWithExcess(t *testing.T) {
	for _, c := range ruletest.Cases {
		rule := kido.RuleOf(c.KnownTiers(), c.Tier)
		for k, p := range c.Passages {
			if p.Kind == kido.KindExit {
				continue
			}
			history := slices.Clone(c.Passages[:k])
			rand.Shuffle(len(history), func(i, j int) { history[i], history[j] = history[j], history[i] })
			refusing, _ := rule.Refusing(history)
			if (refusing != nil) != c.Excess[k] {
				t.Errorf("%s: passage %d: refusing %v, want excess %v", c.Name, k, refusing, c.Excess[k])
			}
		}
	}
}

func TestComparePassages(t *testing.T) {
	at := ruletest.Start
	ps := []kido.Passage{
		{Gate: 2, Seq: 1, At: at},
		{Gate: 1, Seq: 2, At: at},
		{Gate: 1, Seq: 1, At: at},
		{Gate: 9, Seq: 9, At: at.Add(-1)},
	}
	slices.SortFunc(ps, kido.ComparePassages)
	want := []kido.Passage{{Gate: 9, Seq: 9, At: at.Add(-1)}, {Gate: 1, Seq: 1, At: at}, {Gate: 1, Seq: 2, At: at}, {Gate: 2, Seq: 1, At: at}}
	if !slices.Equal(ps, want) {
		t.Errorf("sorted %v, want %v", ps, want)
	}
}

func TestDirectionPolicy(t *testing.T) {
	for _, tt := range []struct {
		dir      kido.Direction
		exit     bool
		want     string
		wantFail bool
	}{
		{kido.DirectionEntry, false, kido.KindEntry, false},
		{kido.DirectionEntry, true, "", true},
		{kido.DirectionExit, false, kido.KindExit, false},
		{kido.DirectionExit, true, kido.KindExit, false},
		{kido.DirectionBoth, false, kido.KindEntry, false},
		{kido.DirectionBoth, true, kido.KindExit, false},
	} {
		got, err := kido.Gate{Name: "North 1", Direction: tt.dir}.Passage(tt.exit)
		if got != tt.want || (err != nil) != tt.wantFail {
			t.Errorf("%s gate, exit %v: %q, %v; want %q, fail %v", tt.dir, tt.exit, got, err, tt.want, tt.wantFail)
		}
		if tt.wantFail && !errors.Is(err, kido.ErrDirection) {
			t.Errorf("%s gate, exit %v: %v, want ErrDirection", tt.dir, tt.exit, err)
		}
	}
}

// BenchmarkRefusing is the entry rule as the gate applies it on each scan,
// for a ticket with three passages.
func BenchmarkRefusing(b *testing.B) {
	at := ruletest.Start
	history := []kido.Passage{
		{Gate: 2, Seq: 1, Kind: kido.KindEntry, At: at},
		{Gate: 3, Seq: 1, Kind: kido.KindExit, At: at.Add(time.Minute)},
		{Gate: 2, Seq: 2, Kind: kido.KindEntry, At: at.Add(2 * time.Minute)},
	}
	for b.Loop() {
		if p, _ := kido.EntryRule(3).Refusing(history); p != nil {
			b.Fatal("refused")
		}
	}
}

// TestVoidCovers: a void takes out its gate's passages at or after From,
// nothing of other gates and nothing before; Counted keeps the order of
// the rest.
func TestVoidCovers(t *testing.T) {
	from := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	v := kido.Void{Gate: 3, From: from}
	ps := []kido.Passage{
		{Gate: 3, Seq: 1, Kind: kido.KindEntry, At: from.Add(-time.Nanosecond)},
		{Gate: 3, Seq: 2, Kind: kido.KindManual, At: from},
		{Gate: 4, Seq: 1, Kind: kido.KindEntry, At: from.Add(time.Hour)},
		{Gate: 3, Seq: 3, Kind: kido.KindExit, At: from.Add(time.Hour)},
	}
	want := []bool{false, true, false, true}
	for i, p := range ps {
		a := kido.Admission{Gate: p.Gate, Seq: p.Seq, Kind: p.Kind, Corrected: p.At, At: p.At.Add(-24 * time.Hour)}
		if v.CoversPassage(p) != want[i] || v.Covers(a) != want[i] {
			t.Errorf("passage %+v: covered %v, want %v", p, v.CoversPassage(p), want[i])
		}
	}
	got := kido.Counted(ps, []kido.Void{{Gate: 9, From: from}, v})
	if len(got) != 2 || got[0] != ps[0] || got[1] != ps[2] {
		t.Errorf("kido.Counted = %+v, want passages 0 and 2", got)
	}
	if got := kido.Counted(ps, nil); len(got) != len(ps) {
		t.Errorf("kido.Counted without voids dropped passages: %+v", got)
	}
	if got := kido.Counted(ps[1:2], []kido.Void{v}); len(got) != 0 {
		t.Errorf("kido.Counted of a voided passage alone = %+v, want none", got)
	}
}
