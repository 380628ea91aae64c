package replica

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
)

// TestCancelledContextKeepsReplica: a caller whose context ends in the middle
// of a transaction (a sync round cancelled on shutdown or timeout) must not
// take the replica's connection down with it; the next scan still admits.
// No wait is needed for database/sql to notice the cancellation: Commit
// checks the transaction's context itself, so a transaction bound to cctx
// fails here whether or not database/sql's watcher has run yet.
func TestCancelledContextKeepsReplica(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	cctx, cancel := context.WithCancel(ctx)
	err := r.inTx(cctx, func(tx *sql.Tx) error {
		cancel()
		_, err := tx.Exec("UPDATE state SET last_sync = last_sync WHERE id = 1")
		return err
	})
	if err != nil {
		t.Fatalf("transaction under a cancelled context: %v", err)
	}
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.OK {
		t.Fatalf("scan after a cancelled transaction: %s", d.Reason)
	}
}

// TestScanFaultsRecordNothing: a scan whose caller has already given up,
// and a scan refused inside its transaction (an exit at an entry gate),
// record nothing, admission or audit row, and leave the connection in no
// transaction: the next scan admits under sequence number 1.
func TestScanFaultsRecordNothing(t *testing.T) {
	r, f := newReplica(t, 30, gatetest.GateEntry)
	before := dump(t, r)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d, err := r.Scan(cctx, gate.Line{Text: f.Ticket(2)}, false); !errors.Is(err, context.Canceled) || d.Admit {
		t.Fatalf("scan under an ended context: admit %v, %v; want context.Canceled", d.Admit, err)
	}
	if d, err := r.Scan(ctx, gate.Line{Text: f.Ticket(2)}, true); !errors.Is(err, kido.ErrDirection) || d.Admit {
		t.Fatalf("exit at an entry gate: admit %v, %v; want ErrDirection", d.Admit, err)
	}
	if after := dump(t, r); after != before {
		t.Errorf("faulted scans changed the replica:\nbefore %s\nafter %s", before, after)
	}
	var audits int
	if err := r.conn.QueryRowContext(ctx, "SELECT count(*) FROM scans").Scan(&audits); err != nil || audits != 0 {
		t.Fatalf("%d audit rows (%v), want 0", audits, err)
	}
	if d := scan(t, r, f.Ticket(2), false); d.Reason != gate.OK || d.Seq != 1 {
		t.Fatalf("scan after the faults: %s seq %d, want ok seq 1", d.Reason, d.Seq)
	}
}
