package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"kido.dev/kido"
	"kido.dev/kido/gate"
)

const admitUsage = `usage: kido-gate admit [-data DIR] [-json] -serial S -reason TEXT

Admits the attendee holding ticket S without a scan, for a dead phone or an
unreadable code: the same checks and entry rules as a scan apply, minus the
signature, and the admission is recorded as manual with the staff reason,
which is uploaded with it (the server holds a manual admission without a
reason as suspect). Find the serial with kido-gate find.

Exit status: 0 if admitted, 1 if rejected, 2 for a usage mistake.

Example:

	kido-gate find 佐藤 花子
	kido-gate admit -serial 1042 -reason "phone battery dead"

Flags:
`

func runAdmit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs, data := newFlags("admit", admitUsage, stderr)
	asJSON := fs.Bool("json", false, "print the decision as JSON")
	serialText := fs.String("serial", "", "`serial` of the ticket (kido-gate find shows it)")
	reason := fs.String("reason", "", "why the ticket is admitted by hand, one line, at most 200 bytes (required)")
	leeway := leewayFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q\nhint: kido-gate admit -serial S -reason TEXT (quote a reason of several words)", fs.Arg(0))
	}
	serial, err := strconv.ParseUint(*serialText, 10, 32)
	if err != nil || serial == 0 {
		return usageErrorf("-serial %q is not a ticket serial\nhint: kido-gate find NAME shows the serial", *serialText)
	}
	if !kido.HasReason(*reason) {
		return usageErrorf("-reason is required: a manual admission is recorded with why staff admitted by hand\nhint: kido-gate admit -serial %d -reason \"phone battery dead\"", serial)
	}
	r, err := openReplica(*data, *leeway)
	if err != nil {
		return err
	}
	defer r.Close()
	d, err := r.Admit(ctx, uint32(serial), *reason)
	if errors.Is(err, gate.ErrNoReason) {
		return usageError(err.Error())
	}
	if errors.Is(err, gate.ErrNotInRoster) {
		return err
	}
	if err != nil {
		fmt.Fprintln(stderr, "kido-gate:", err)
	}
	if perr := newResult(d, err).print(stdout, *asJSON); perr != nil {
		return perr
	}
	if err != nil || !d.Admit {
		return errRejected
	}
	return nil
}
