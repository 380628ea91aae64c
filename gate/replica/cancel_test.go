package replica

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
)

// TestCancelledContextKeepsReplica: a caller whose context ends in the middle
// of a transaction (a sync round cancelled on shutdown or timeout) must not
// take the replica's connection down with it; the next scan still admits.
func TestCancelledContextKeepsReplica(t *testing.T) {
	r, f := newReplica(t, 50, gatetest.GateBoth)
	cctx, cancel := context.WithCancel(ctx)
	err := r.inTx(cctx, func(tx *sql.Tx) error {
		cancel()
		time.Sleep(20 * time.Millisecond) // let database/sql see the cancellation
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
