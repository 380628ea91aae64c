package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kidoserver "kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// TestRestoreDrill is the restore drill of docs/runbook.md §2 with real
// processes: admissions synced, an online backup of the running server,
// more admissions synced (acknowledged by the server), the server stopped
// and restored from the copy, which lacks them, and started again. The
// gates resume, re-upload what the restored server lacks and resnapshot,
// and in the end the server and every gate hold exactly every admission.
func TestRestoreDrill(t *testing.T) {
	srv := startServer(t)
	ev := newEvent(t, srv, 8)
	a := ev.enroll(t, "A", srv.url)
	b := ev.enroll(t, "B", srv.url)
	gates := []*gateDir{a, b}
	before := [][]uint32{{1, 2}, {3, 4}}
	after := [][]uint32{{5, 6}, {7, 8}}

	admitAndSync := func(shares [][]uint32) {
		t.Helper()
		for i, g := range gates {
			res, err := ev.scanAll(g, shares[i])
			if err != nil || len(res) != len(shares[i]) {
				t.Fatalf("scan at %s: %+v, %v", g.name, res, err)
			}
			for _, r := range res {
				if r.Decision != "admit" {
					t.Fatalf("scan at %s: %+v, want admit", g.name, r)
				}
			}
			if out, err := gateRun(g.dir, nil, "sync"); err != nil {
				t.Fatalf("sync at %s: %v\n%s", g.name, err, out)
			}
		}
	}
	id := strconv.FormatUint(uint64(ev.id), 10)
	report := func() wire.Report {
		t.Helper()
		var rep wire.Report
		srv.ctlJSON(&rep, "report", "-event", id)
		return rep
	}

	admitAndSync(before)
	copyFile := filepath.Join(t.TempDir(), "kido-backup.db")
	out, err := exec.Command(serverBin, "backup", "-data", srv.dir, "-to", copyFile).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "backup: "+copyFile+", ") || !strings.Contains(string(out), "integrity ok") {
		t.Fatalf("backup of the running server: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(srv.dir, kidoserver.LastBackupFile)); err != nil {
		t.Errorf("the backup left no note for the metrics: %v", err)
	}
	admitAndSync(after)
	if rep := report(); rep.Admitted != 8 {
		t.Fatalf("before the restore the server holds %d admissions, want 8", rep.Admitted)
	}
	for _, g := range gates {
		if st, err := g.status(); err != nil || st.Pending != 0 || st.Acked != 4 {
			t.Fatalf("gate %s before the restore: %+v, %v; want all 4 records acknowledged", g.name, st, err)
		}
	}

	out, err = exec.Command(serverBin, "restore", "-data", srv.dir, "-from", copyFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by a running kido-server") {
		t.Fatalf("restore while the server runs: %v\n%s; want it refused", err, out)
	}
	if !srv.p.interrupt(15 * time.Second) {
		t.Fatal("kido-server did not stop within 15 s of SIGINT")
	}
	out, err = exec.Command(serverBin, "restore", "-data", srv.dir, "-from", copyFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "restore: the database replaced is kept as ") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	srv.restart()
	if rep := report(); rep.Admitted != 4 {
		t.Fatalf("the restored server holds %d admissions, want the 4 of the backup", rep.Admitted)
	}

	runs := []*proc{a.startRun(t), b.startRun(t)}
	// The gates' own view converges at once: each still counts its records
	// acknowledged. What must converge is the server, which learns that it
	// lacks them only when a gate finds the restored log (resnapshot) and
	// re-uploads.
	restarted := time.Now()
	for deadline := restarted.Add(60 * time.Second); report().Admitted != 8; {
		if time.Now().After(deadline) {
			t.Fatalf("the restored server holds %d admissions 60 s after the restart, want 8", report().Admitted)
		}
		time.Sleep(250 * time.Millisecond)
	}
	waitConverged(t, gates, 8, 60*time.Second)
	took := time.Since(restarted)
	t.Logf("gates converged %v after the restart on the restored copy", took.Round(time.Millisecond))
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}
	ev.checkExact(t, gates, [][]uint32{{1, 2, 5, 6}, {3, 4, 7, 8}})
}
