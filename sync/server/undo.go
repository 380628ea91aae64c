package server

import (
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// This file holds what the server does with undos (kido.KindUndo,
// docs/sync-protocol.md §3.7): the suspect check of an uploaded undo, and
// which stored admissions count, by the root package's one rule
// (kido.Counted), for the report, the double entries and the export.

// undoFault returns why undo u, uploaded by a gate whose records known in
// this upload are sp.window, could not come from a correct gate, or "".
func (sp *suspicion) undoFault(u kido.Admission) string {
	var last *kido.Admission
	for i := range sp.window {
		if b := &sp.window[i]; b.Seq < u.Seq && (last == nil || b.Seq > last.Seq) {
			last = b
		}
	}
	return kido.UndoFault(u, last, kido.DefaultLeeway)
}

// undoSplit is an event's unflagged admissions (empty status) split by
// kido.Counted: those that count, and the undone ones, each with its undo.
type undoSplit struct {
	counted []kido.Admission // entries, exits and manual admissions no undo annuls
	undone  []undonePair
}

type undonePair struct{ admission, undo kido.Admission }

// splitUndone splits as (an event's stored admissions that are not
// flagged) into what counts and what is undone; undo records themselves
// are in neither.
func splitUndone(as []kido.Admission) undoSplit {
	ps := make([]kido.Passage, len(as))
	for i, a := range as {
		ps[i] = a.Passage()
	}
	kept := kido.CountedKeys(ps, nil)
	undos := map[kido.RecordKey]kido.Admission{}
	for _, a := range as {
		if a.Kind == kido.KindUndo {
			undos[kido.RecordKey{Gate: a.Gate, Seq: a.Undoes}] = a
		}
	}
	var sp undoSplit
	for _, a := range as {
		switch k := (kido.RecordKey{Gate: a.Gate, Seq: a.Seq}); {
		case kept[k]:
			sp.counted = append(sp.counted, a)
		case a.Kind != kido.KindUndo:
			sp.undone = append(sp.undone, undonePair{a, undos[k]})
		}
	}
	return sp
}

// undoneOf lists the undone admissions for a report.
func undoneOf(ps []undonePair, names map[uint32]string, holders map[uint32]string) []wire.Undone {
	out := make([]wire.Undone, len(ps))
	for i, p := range ps {
		out[i] = wire.Undone{Admission: p.admission, GateName: names[p.admission.Gate], Holder: holders[p.admission.Serial],
			UndoSeq: p.undo.Seq, UndoneAt: p.undo.Corrected}
	}
	return out
}

// undoneWhy is the export's why of an undone admission.
func undoneWhy(p undonePair) string {
	return fmt.Sprintf("undone by seq %d at %s", p.undo.Seq, p.undo.Corrected.UTC().Format(time.RFC3339))
}
