package kido_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
)

// TestCheckUndo: a gate undoes only its own latest record, an entry or a
// manual admission, within UndoWindow of it, and never an undo.
func TestCheckUndo(t *testing.T) {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	entry := &kido.Admission{Gate: 3, Seq: 7, Serial: 100, Tier: 1, Kind: kido.KindEntry, Corrected: at}
	manual := &kido.Admission{Gate: 3, Seq: 7, Serial: 100, Tier: 1, Kind: kido.KindManual, Corrected: at}
	exit := &kido.Admission{Gate: 3, Seq: 7, Serial: 100, Tier: 1, Kind: kido.KindExit, Corrected: at}
	undo := kido.Undo(*entry, 8, at, at.Add(time.Second))
	for _, c := range []struct {
		name string
		last *kido.Admission
		now  time.Time
		want error
	}{
		{"entry at once", entry, at, nil},
		{"entry at 2 min", entry, at.Add(kido.UndoWindow), nil},
		{"manual within", manual, at.Add(time.Minute), nil},
		{"clock stepped back", entry, at.Add(-time.Minute), nil},
		{"entry after 2 min", entry, at.Add(kido.UndoWindow + time.Nanosecond), kido.ErrUndoLate},
		{"exit", exit, at, kido.ErrUndoExit},
		{"twice", &undo, at.Add(2 * time.Second), kido.ErrUndoTwice},
		{"nothing yet", nil, at, kido.ErrUndoNothing},
	} {
		err := kido.CheckUndo(c.last, c.now)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: CheckUndo = %v, want %v", c.name, err, c.want)
		}
	}
	if undo.Undoes != 7 || undo.Serial != 100 || undo.Tier != 1 || undo.Kind != kido.KindUndo || undo.Gate != 3 {
		t.Errorf("Undo = %+v", undo)
	}
}

// TestUndoFault: the server's view of an undo record against the gate's
// record before it.
func TestUndoFault(t *testing.T) {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	entry := kido.Admission{Gate: 3, Seq: 7, Serial: 100, Tier: 1, Kind: kido.KindEntry, Corrected: at}
	u := kido.Undo(entry, 8, at, at.Add(time.Minute))
	exit := entry
	exit.Kind = kido.KindExit
	other := entry
	other.Serial = 101
	late := u
	late.Corrected = at.Add(kido.UndoWindow + kido.DefaultLeeway + time.Second)
	justInLeeway := u
	justInLeeway.Corrected = at.Add(kido.UndoWindow + kido.DefaultLeeway)
	before := entry
	before.Seq = 6
	for _, c := range []struct {
		name string
		u    kido.Admission
		last *kido.Admission
		want string // "" or a part of the fault
	}{
		{"good", u, &entry, ""},
		{"within leeway", justInLeeway, &entry, ""},
		{"unknown seq", u, nil, "not the gate's last record"},
		{"not the last", u, &before, "not the gate's last record"},
		{"exit", u, &exit, "exit"},
		{"other ticket", u, &other, "names serial 100"},
		{"late", late, &entry, "too old"},
	} {
		got := kido.UndoFault(c.u, c.last, kido.DefaultLeeway)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: UndoFault = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestCountedUndo: an undo takes itself and the passage it names (of its
// own gate) out of the count; the same seq at another gate stays.
func TestCountedUndo(t *testing.T) {
	at := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	ps := []kido.Passage{
		{Gate: 3, Seq: 7, Kind: kido.KindEntry, At: at},
		{Gate: 4, Seq: 7, Kind: kido.KindEntry, At: at},
		{Gate: 3, Seq: 8, Kind: kido.KindUndo, At: at.Add(time.Second), Undoes: 7},
		{Gate: 3, Seq: 9, Kind: kido.KindEntry, At: at.Add(time.Minute)},
	}
	got := kido.Counted(ps, nil)
	if len(got) != 2 || got[0] != ps[1] || got[1] != ps[3] {
		t.Errorf("Counted = %+v, want passages 1 and 3", got)
	}
	// The rule: the ticket undone at gate 3 is admitted again there.
	if refusing, _ := kido.EntriesSingle.Refusing(kido.Counted(ps[:1:1], nil)); refusing == nil {
		t.Fatal("one entry does not refuse a second")
	}
	if refusing, _ := kido.EntriesSingle.Refusing(kido.Counted([]kido.Passage{ps[0], ps[2]}, nil)); refusing != nil {
		t.Errorf("an undone entry still refuses: %+v", refusing)
	}
}

func TestCheckUndoes(t *testing.T) {
	for _, c := range []struct {
		a  kido.Admission
		ok bool
	}{
		{kido.Admission{Kind: kido.KindUndo, Seq: 8, Undoes: 7}, true},
		{kido.Admission{Kind: kido.KindUndo, Seq: 8, Undoes: 8}, false},
		{kido.Admission{Kind: kido.KindUndo, Seq: 8}, false},
		{kido.Admission{Kind: kido.KindEntry, Seq: 8}, true},
		{kido.Admission{Kind: kido.KindEntry, Seq: 8, Undoes: 7}, false},
	} {
		if err := c.a.CheckUndoes(); (err == nil) != c.ok {
			t.Errorf("%+v: CheckUndoes = %v, want ok %v", c.a, err, c.ok)
		}
	}
}

// TestCountedVoidedUndo: an undo that a void covers annuls nothing, as the
// server, which holds it as voided, counts it.
func TestCountedVoidedUndo(t *testing.T) {
	from := time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)
	entry := kido.Passage{Gate: 3, Seq: 7, Kind: kido.KindEntry, At: from.Add(-time.Second)}
	undo := kido.Passage{Gate: 3, Seq: 8, Kind: kido.KindUndo, At: from, Undoes: 7}
	got := kido.Counted([]kido.Passage{entry, undo}, []kido.Void{{Gate: 3, From: from}})
	if len(got) != 1 || got[0] != entry {
		t.Errorf("Counted = %+v, want the entry before the void", got)
	}
}
