package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/cmd/internal/evtime"
)

const undoUsage = `usage: kido-gate undo [-data DIR] [-json]

Annuls this gate's last admission (a wrong ticket scanned), within 2
minutes of it by the gate's trusted time: an undo is recorded as the
gate's next record and uploaded like an admission; from then on the
admission counts nowhere, here, at other gates or in the server's report,
and the same ticket is admitted again. Only the last record can be undone,
once, and only an entry or a manual admission (docs/sync-protocol.md §3.7).

Exit status: 0 if undone, 1 if refused, 2 for a usage mistake.

Example:

	kido-gate undo -data /var/lib/kido-gate

Flags:
`

// undoResult is what kido-gate undo -json prints.
type undoResult struct {
	Undone   bool      `json:"undone"`
	Error    string    `json:"error,omitempty"`
	Seq      uint64    `json:"seq,omitempty"` // the admission annulled
	Serial   uint32    `json:"serial,omitempty"`
	Holder   string    `json:"holder,omitempty"`
	TierName string    `json:"tier_name,omitempty"`
	Kind     string    `json:"kind,omitempty"`
	At       time.Time `json:"at,omitzero"`
	UndoSeq  uint64    `json:"undo_seq,omitempty"` // the undo record
}

func runUndo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("undo", undoUsage, stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q\nhint: kido-gate undo takes no argument: it undoes the gate's last admission", fs.Arg(0))
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	last, undo, err := r.Undo(ctx)
	refused := errors.Is(err, kido.ErrUndoNothing) || errors.Is(err, kido.ErrUndoExit) || errors.Is(err, kido.ErrUndoTwice) || errors.Is(err, kido.ErrUndoLate)
	if err != nil && !refused {
		return err
	}
	a := last.Admission
	res := undoResult{Undone: err == nil, UndoSeq: undo.Seq}
	if a.Seq != 0 {
		res.Seq, res.Serial, res.Holder, res.TierName, res.Kind, res.At = a.Seq, a.Serial, last.Holder, last.TierName, a.Kind, a.Corrected
	}
	if err != nil {
		res.Error = err.Error()
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			return err
		}
	} else if err == nil {
		ev, err := r.Event(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "undone: %s of serial %d (%s, %s) at %s, seq %d; the undo is seq %d and uploads with the next sync\n",
			a.Kind, a.Serial, last.Holder, last.TierName, evtime.Of(ev, time.Local).Stamp(a.Corrected), a.Seq, undo.Seq)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kido-gate:", err)
		return errRejected
	}
	return nil
}
