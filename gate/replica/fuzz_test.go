package replica

import (
	"strings"
	"testing"

	"kido.dev/kido/gate"
	"kido.dev/kido/ticket"
)

// FuzzScan presents arbitrary lines to a real replica. Whatever the input:
// no panic and no fault; only a line that normalises to a genuine ticket of
// the event is admitted; and a rejected line adds an audit row and nothing
// else.
func FuzzScan(f *testing.F) {
	r, fx := newReplica(f, 40, 1)
	for _, s := range []string{fx.Ticket(2), "\uFEFF " + fx.Ticket(3) + "\r", fx.Forged(4), fx.Ticket(2)[:120], "", "\x00", strings.Repeat("０", 188)} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, text string, truncated bool) {
		var before, scansBefore int
		r.conn.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM admissions), (SELECT count(*) FROM scans)").Scan(&before, &scansBefore)
		d, err := r.Scan(ctx, gate.Line{Text: text, Truncated: truncated, Length: int64(len(text))}, false)
		if err != nil {
			t.Fatalf("fault on %q: %v", text, err)
		}
		var after, scansAfter int
		r.conn.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM admissions), (SELECT count(*) FROM scans)").Scan(&after, &scansAfter)
		if scansAfter != scansBefore+1 {
			t.Fatalf("%d audit rows added, want 1", scansAfter-scansBefore)
		}
		if !d.Admit {
			if after != before {
				t.Fatalf("rejected %q (%s) but admissions went from %d to %d", text, d.Reason, before, after)
			}
			return
		}
		tk, perr := ticket.Parse(gate.NormalizeScan(text))
		if truncated || perr != nil || tk.String() != fx.Ticket(tk.Serial) || after != before+1 {
			t.Fatalf("admitted %q (serial %d), which is not a genuine ticket", text, d.Serial)
		}
	})
}
