package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// scanJSON scans text with the real kido-gate and returns its verdict.
func scanJSON(t *testing.T, dir, text string) result {
	t.Helper()
	out, _ := gateCmd(t, "scan", "-data", dir, "-json", text)
	var r result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("scan -json: %v\n%s", err, out)
	}
	return r
}

// gateStatus is what the real kido-gate status -json says.
func gateStatus(t *testing.T, dir string) statusOut {
	t.Helper()
	out, err := gateCmd(t, "status", "-data", dir, "-json")
	var st statusOut
	if err != nil || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status -json: %v\n%s", err, out)
	}
	return st
}

func syncOnce(t *testing.T, dir string) {
	t.Helper()
	if out, err := gateCmd(t, "sync", "-data", dir); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
}

// TestCorrectionsReachTheGate: corrections made on the real server reach
// an enrolled kido-gate through its feed, and its next decisions use
// them: a retired tier's ticket and a replaced ticket are refused with
// their own reasons (the latter naming its replacement), the event and
// gate carry their new names, and the gate made an exit records exits.
func TestCorrectionsReachTheGate(t *testing.T) {
	ctx := context.Background()
	ls := startServer(t, 5)
	vip, err := ls.admin.AddTier(ctx, ls.event, wire.TierCreate{Name: "VIP"})
	if err != nil {
		t.Fatal(err)
	}
	vips, err := ls.admin.Issue(ctx, ls.event, wire.IssueRequest{Batch: "vip", Tickets: []wire.IssueItem{{Tier: vip.ID, Holder: "Vip One"}}})
	if err != nil {
		t.Fatal(err)
	}
	code := ls.gateCode(t, "North 1")
	dir := filepath.Join(t.TempDir(), "gate")
	if out, err := gateCmd(t, "enroll", "-server", ls.url, "-code", code, "-data", dir); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if r := scanJSON(t, dir, ls.tickets[1].Text); r.Reason != "ok" {
		t.Fatalf("before any correction: %+v", r)
	}

	retired := true
	if _, err := ls.admin.EditTier(ctx, ls.event, vip.ID, wire.TierEdit{Retired: &retired}); err != nil {
		t.Fatal(err)
	}
	re, err := ls.admin.Reissue(ctx, ls.event, wire.Selection{Serials: []uint32{ls.tickets[0].Serial}})
	if err != nil {
		t.Fatal(err)
	}
	name := "Summer Fes (corrected)"
	if _, err := ls.admin.EditEvent(ctx, ls.event, wire.EventEdit{Name: &name}); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, dir)
	if r := scanJSON(t, dir, vips.Tickets[0].Text); r.Decision != "reject" || r.Reason != "tier_retired" {
		t.Errorf("retired tier's ticket: %+v", r)
	}
	n := re.Tickets[0].Serial
	if r := scanJSON(t, dir, ls.tickets[0].Text); r.Reason != "replaced" || r.ReplacedBy != n || r.Message != fmt.Sprintf("replaced by serial %d", n) {
		t.Errorf("replaced ticket: %+v, want replaced by serial %d", r, n)
	}
	if r := scanJSON(t, dir, re.Tickets[0].Text); r.Reason != "ok" {
		t.Errorf("its replacement: %+v", r)
	}
	st := gateStatus(t, dir)
	if st.EventName != name {
		t.Errorf("event name at the gate: %q, want %q", st.EventName, name)
	}

	exit := kido.DirectionExit
	gname := "North exit"
	if _, err := ls.admin.EditGate(ctx, ls.event, st.Gate, wire.GateEdit{Name: &gname, Direction: &exit}); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, dir)
	if r := scanJSON(t, dir, ls.tickets[2].Text); r.Decision != "admit" || r.Reason != "exit_recorded" || r.Kind != kido.KindExit {
		t.Errorf("scan at the gate made an exit: %+v", r)
	}
	if st := gateStatus(t, dir); st.GateName != gname || st.Direction != string(kido.DirectionExit) {
		t.Errorf("gate at the gate: %q %q", st.GateName, st.Direction)
	}
}
