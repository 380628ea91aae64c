package e2e

import (
	"strconv"
	"strings"
	"testing"

	"kido.dev/kido/sync/wire"
)

// TestUndoReachesOtherGates: staff at North scan the wrong ticket and undo
// it with kido-gate undo; after North syncs and South pulls, South admits
// the holder, whom it refused while it knew only the admission. The
// report counts the holder once, lists the undone admission apart, and
// finds no double entry. All through the real binaries, over both feed
// encodings (the compact one by default).
func TestUndoReachesOtherGates(t *testing.T) {
	srv := startServer(t)
	ev := newEvent(t, srv, 3)
	event := strconv.FormatUint(uint64(ev.id), 10)
	north := ev.enroll(t, "North", srv.url)
	south := ev.enroll(t, "South", srv.url)

	if res, err := ev.scanAll(north, []uint32{2}); err != nil || len(res) != 1 || res[0].Decision != "admit" {
		t.Fatalf("scan at North: %+v, %v", res, err)
	}
	for _, g := range []*gateDir{north, south} {
		if out, err := gateRun(g.dir, nil, "sync"); err != nil {
			t.Fatalf("sync: %v\n%s", err, out)
		}
	}
	if res, _ := ev.scanAll(south, []uint32{2}); len(res) != 1 || res[0].Reason != "already_used" {
		t.Fatalf("South before the undo: %+v; want already used at North", res)
	}

	out, err := gateRun(north.dir, nil, "undo")
	if err != nil || !strings.HasPrefix(string(out), "undone: entry of serial 2 ") {
		t.Fatalf("kido-gate undo: %v\n%s", err, out)
	}
	if out, err := gateRun(north.dir, nil, "sync"); err != nil {
		t.Fatalf("sync of North: %v\n%s", err, out)
	}
	if out, err := gateRun(south.dir, nil, "sync", "-json"); err != nil || !strings.Contains(string(out), `"admissions":1`) {
		t.Fatalf("sync of South: %v\n%s; want the undo among the admissions pulled", err, out)
	}
	if res, err := ev.scanAll(south, []uint32{2}); err != nil || len(res) != 1 || res[0].Decision != "admit" {
		t.Fatalf("South after the undo: %+v, %v; want admitted", res, err)
	}
	if out, err := gateRun(south.dir, nil, "sync"); err != nil {
		t.Fatalf("sync of South: %v\n%s", err, out)
	}

	var rep wire.Report
	srv.ctlJSON(&rep, "report", "-event", event)
	if rep.Admitted != 1 || rep.UniqueHolders != 1 || rep.DoubleEntries != 0 || rep.Suspect != 0 || rep.Undone != 1 ||
		len(rep.Undos) != 1 || rep.Undos[0].Gate != north.id || rep.Undos[0].Serial != 2 {
		t.Errorf("report: admitted %d, holders %d, double %d, suspect %d, undone %d %+v; want 1, 1, 0, 0, 1 (North's entry)",
			rep.Admitted, rep.UniqueHolders, rep.DoubleEntries, rep.Suspect, rep.Undone, rep.Undos)
	}
}
