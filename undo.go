package kido

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// UndoWindow is how long after an admission, by the gate's trusted time,
// the gate that recorded it may annul it: staff notice a wrong ticket
// scanned while the holder is still at the gate.
const UndoWindow = 2 * time.Minute

// Why a gate refuses an undo (CheckUndo). Each names what staff see.
var (
	ErrUndoNothing = errors.New("kido: this gate has admitted no one to undo")
	ErrUndoExit    = errors.New("kido: the last passage at this gate is an exit, and only an admission can be undone")
	ErrUndoTwice   = errors.New("kido: the last admission at this gate is already undone")
	ErrUndoLate    = errors.New("kido: the last admission at this gate is too old to undo")
)

// CheckUndo is the rule of undo, as the gate applies it: a gate may annul
// only last, its own latest record (nil: none), only when it is an entry
// or a manual admission, and only within UndoWindow of it by the gate's
// trusted time now. An exit is not undone: it never counts against the
// holder, and the next scan can put the holder back in. The undo itself is
// then the gate's latest record, so the admission before can never be
// undone, nor the same one twice. The error wraps one of the ErrUndo
// sentinels, with a hint for staff.
func CheckUndo(last *Admission, now time.Time) error {
	return checkUndo(last, now, UndoWindow)
}

func checkUndo(last *Admission, now time.Time, window time.Duration) error {
	switch {
	case last == nil:
		return ErrUndoNothing
	case last.Kind == KindUndo:
		return fmt.Errorf("%w\nhint: an undo annuls only the latest admission, once", ErrUndoTwice)
	case last.Kind == KindExit:
		return fmt.Errorf("%w\nhint: scan the holder in again if they came back in", ErrUndoExit)
	case last.Kind != KindEntry && last.Kind != KindManual:
		return fmt.Errorf("%w: the last record is of kind %q", ErrUndoNothing, last.Kind)
	}
	if ago := now.Sub(last.Corrected); ago > window {
		return fmt.Errorf("%w: it was %s ago, an undo is possible for %s\nhint: ask the promoter to correct the record", ErrUndoLate, ago.Truncate(time.Second), window)
	}
	return nil
}

// Undo returns the record that annuls admission a (which CheckUndo
// allowed): the next record of a's gate, seq, recorded at device time at
// and trusted time corrected, naming a by its seq and carrying its serial
// and tier. It carries no ticket text and no reason; the caller sets the
// hash.
func Undo(a Admission, seq uint64, at, corrected time.Time) Admission {
	return Admission{Gate: a.Gate, Seq: seq, Serial: a.Serial, Tier: a.Tier, Kind: KindUndo,
		At: at, Corrected: corrected, Undoes: a.Seq}
}

// UndoFault returns why undo record u could not come from a correct gate,
// or "" when it could: the server's check (docs/sync-protocol.md §3.6).
// last is the gate's record with the highest seq below u's that the server
// holds (nil: none). u must annul last, last must be one CheckUndo allows
// at u's trusted time with leeway more for clock steps, and u must carry
// last's serial and tier. An undo names a seq of its own gate only, so an
// undo of another gate's record cannot be written.
func UndoFault(u Admission, last *Admission, leeway time.Duration) string {
	switch {
	case last == nil || last.Seq != u.Undoes:
		return fmt.Sprintf("undoes seq %d, which is not the gate's last record before seq %d held here", u.Undoes, u.Seq)
	case last.Serial != u.Serial || last.Tier != u.Tier:
		return fmt.Sprintf("undoes seq %d (serial %d, tier %d) but names serial %d, tier %d", last.Seq, last.Serial, last.Tier, u.Serial, u.Tier)
	}
	if err := checkUndo(last, u.Corrected, UndoWindow+leeway); err != nil {
		return fmt.Sprintf("undoes seq %d: %v", last.Seq, strings.SplitN(err.Error(), "\n", 2)[0])
	}
	return ""
}

// CheckUndoes checks the shape of an admission's Undoes field: an undo
// names an earlier seq of its own gate, and no other kind names one.
func (a Admission) CheckUndoes() error {
	switch {
	case a.Kind == KindUndo && (a.Undoes == 0 || a.Undoes >= a.Seq):
		return fmt.Errorf("undo %d names seq %d: an undo annuls an earlier seq of its gate", a.Seq, a.Undoes)
	case a.Kind != KindUndo && a.Undoes != 0:
		return fmt.Errorf("a %s admission names seq %d to undo: only an undo does", a.Kind, a.Undoes)
	}
	return nil
}
