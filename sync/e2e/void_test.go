package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// TestVoidGivesBurntTicketsBack (issue 10, HIGH 2): a gate whose
// credential is misused admits real holders by hand, with reasons, and
// uploads them; another gate then turns the holders away as already used.
// After kidoctl gate revoke and kidoctl gate void, one sync of the other
// gate lets the holders in, and the report lists the voided admissions
// and the void with who made it and why. All through the real binaries.
func TestVoidGivesBurntTicketsBack(t *testing.T) {
	srv := startServer(t)
	ev := newEvent(t, srv, 4)
	event := strconv.FormatUint(uint64(ev.id), 10)
	stolen := ev.enroll(t, "Stolen", srv.url)
	honest := ev.enroll(t, "Honest", srv.url)

	// Before the theft: serial 3 is admitted at the gate honestly.
	if res, err := ev.scanAll(stolen, []uint32{3}); err != nil || len(res) != 1 || res[0].Decision != "admit" {
		t.Fatalf("honest scan at the stolen gate: %+v, %v", res, err)
	}
	// The void's from time is whole seconds (RFC 3339 on the command line):
	// wait for the next second so the honest scan lies before it.
	from := time.Now().Truncate(time.Second).Add(time.Second)
	<-time.After(time.Until(from))
	for _, s := range []string{"1", "2"} {
		if out, err := gateRun(stolen.dir, nil, "admit", "-serial", s, "-reason", "phone battery dead"); err != nil {
			t.Fatalf("admit %s at the stolen gate: %v\n%s", s, err, out)
		}
	}
	if out, err := gateRun(stolen.dir, nil, "sync"); err != nil {
		t.Fatalf("sync of the stolen gate: %v\n%s", err, out)
	}
	// The manual admissions carry their reason: none is suspect, all count.
	var sts []wire.GateStatus
	srv.ctlJSON(&sts, "gates", "-event", event)
	for _, st := range sts {
		if st.Suspect != 0 || st.Voided != 0 {
			t.Errorf("gate %s before the void: %d suspect, %d voided; want none", st.Name, st.Suspect, st.Voided)
		}
	}

	if out, err := gateRun(honest.dir, nil, "sync"); err != nil {
		t.Fatalf("sync of the honest gate: %v\n%s", err, out)
	}
	res, _ := ev.scanAll(honest, []uint32{1, 2, 3})
	for i, r := range res {
		if r.Decision != "reject" || r.Reason != "already_used" || r.FirstGate != stolen.id {
			t.Errorf("serial %d at the honest gate before the void: %+v; want already used at the stolen gate", i+1, r)
		}
	}

	gid := strconv.FormatUint(uint64(stolen.id), 10)
	srv.ctl("gate", "revoke", "-event", event, gid)
	var v wire.Voided
	srv.ctlJSON(&v, "gate", "void", "-event", event, "-gate", gid, "-from", from.Format(time.RFC3339), "-reason", "tablet stolen at the stolen gate")
	if v.Voided != 2 || v.Void.Gate != stolen.id || v.Void.By == "" || !v.Void.From.Equal(from) || v.Void.Created.IsZero() {
		t.Errorf("kidoctl gate void: %+v; want 2 voided, recorded by the admin token", v)
	}

	out, err := gateRun(honest.dir, nil, "sync", "-json")
	if err != nil {
		t.Fatalf("sync of the honest gate after the void: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"voids":1`) {
		t.Errorf("kido-gate sync -json after the void: %s; want one void applied", out)
	}
	res, err = ev.scanAll(honest, []uint32{1, 2, 3}) // exits 1: serial 3 is rejected
	if len(res) != 3 {
		t.Fatalf("scans after the void: %+v, %v", res, err)
	}
	for i, want := range []string{"admit", "admit", "reject"} {
		if res[i].Decision != want {
			t.Errorf("serial %d at the honest gate after the void: %+v; want %s (serial 3 was admitted before the void)", i+1, res[i], want)
		}
	}
	if out, err := gateRun(honest.dir, nil, "sync"); err != nil {
		t.Fatalf("sync of the honest gate's admissions: %v\n%s", err, out)
	}

	var rep wire.Report
	srv.ctlJSON(&rep, "report", "-event", event)
	if rep.Voided != 2 || len(rep.Voids) != 1 || rep.Voids[0].Reason != "tablet stolen at the stolen gate" || rep.Voids[0].By != v.Void.By {
		t.Errorf("report: %d voided, voids %+v; want 2 and the void", rep.Voided, rep.Voids)
	}
	// Admitted: serial 3 at the stolen gate before the theft, 1 and 2 at
	// the honest gate; no double entry.
	if rep.Admitted != 3 || rep.DoubleEntries != 0 || rep.Suspect != 0 {
		t.Errorf("report: admitted %d, double entries %d, suspect %d; want 3, 0, 0", rep.Admitted, rep.DoubleEntries, rep.Suspect)
	}
	voided := 0
	for _, fl := range rep.Flagged {
		if fl.Status == wire.StatusVoided && fl.Admission.Gate == stolen.id && fl.Admission.Kind == kido.KindManual && fl.Admission.Reason == "phone battery dead" {
			voided++
		}
	}
	if voided != 2 {
		t.Errorf("report lists %d voided manual admissions with their staff reason, want 2: %+v", voided, rep.Flagged)
	}
	text := string(srv.ctl("report", "-event", event))
	if !strings.Contains(text, "tablet stolen at the stolen gate") {
		t.Errorf("kidoctl report does not show the void:\n%s", text)
	}
}
