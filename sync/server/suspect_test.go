package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// A stolen gate credential used directly with the HTTP API uploads what
// the gate itself would have refused (issue 10, HIGH 2). Each record is
// stored as suspect with its reason, acknowledged (nothing is lost, the
// queue goes on), listed in the report and the gate statuses, and never
// sent to other gates nor counted against the holder.
func TestUploadFlagsWhatACorrectGateCouldNotRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 12) // even: VIP (tier 1), odd: GA (tier 2)
	vip := f.gateWith(t, ev, wire.GateCreate{Name: "VIP door", Tiers: []string{"VIP"}})
	south := f.gate(t, ev, "South 1")

	manual := func(tk int, at time.Time, reason string) kido.Admission {
		a := vip.admission(tks[tk], kido.KindManual, at)
		a.Reason = reason
		a.Hash = wire.AdmissionHash(a)
		return a
	}
	cases := []struct {
		name, why string
		a         kido.Admission
	}{
		{"GA ticket at a VIP-only gate", "is not taken at gate", vip.admission(tks[1], kido.KindEntry, admitTime)},
		{"exit at an entry-only gate", "records entry passages, not exit", vip.admission(tks[2], kido.KindExit, admitTime)},
		{"manual, other tier, backdated", "is not taken at gate", manual(3, start.Add(-48*time.Hour), "vip guest")},
		{"manual, backdated before the event", "outside the event window", manual(4, start.Add(-48*time.Hour), "vip guest")},
		{"manual without a reason", "without a staff reason", manual(6, admitTime, "")},
		{"manual with a blank reason", "without a staff reason", manual(10, admitTime, "  ")},
	}
	req := wire.UploadRequest{}
	for _, c := range cases {
		req.Admissions = append(req.Admissions, c.a)
	}
	good := vip.admission(tks[8], kido.KindEntry, admitTime)
	req.Admissions = append(req.Admissions, good)
	ans := vip.upload(t, req)
	r := ans.upload(t)
	if ans.status != http.StatusOK || r.Acked != good.Seq || r.Stored != len(cases)+1 || len(r.Flagged) != len(cases) {
		t.Fatalf("upload: %d %s", ans.status, ans.body)
	}
	for i, fl := range r.Flagged {
		if fl.Seq != cases[i].a.Seq || fl.Status != wire.StatusSuspect || !strings.Contains(fl.Reason, cases[i].why) {
			t.Errorf("%s: flagged %+v, want suspect %q", cases[i].name, fl, cases[i].why)
		}
	}

	// The holders still get in at another gate: nothing suspect reaches
	// its feed, and their genuine entries are no double entries.
	for _, c := range south.changes(t, "0.0", 0).Changes {
		if c.Kind == wire.ChangeAdmission && c.Admission.Gate == vip.id && c.Admission.Seq != good.Seq {
			t.Errorf("suspect admission %d in the feed", c.Admission.Seq)
		}
	}
	var entries []kido.Admission
	for _, i := range []int{1, 2, 3, 4, 6, 10} {
		entries = append(entries, south.admission(tks[i], kido.KindEntry, admitTime.Add(time.Hour)))
	}
	if a := south.upload(t, wire.UploadRequest{Admissions: entries}); a.status != 200 || len(a.upload(t).Flagged) != 0 {
		t.Fatalf("genuine entries: %d %s", a.status, a.body)
	}
	if cs, err := f.admin.Conflicts(ctx, ev); err != nil || len(cs) != 0 {
		t.Errorf("conflicts %+v, %v; want none", cs, err)
	}
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Suspect != len(cases) || rep.Admitted != 1+len(entries) || rep.DoubleEntries != 0 || len(rep.Flagged) != len(cases) {
		t.Errorf("report: %+v", rep)
	}
	sts, _ := f.admin.GateStatuses(ctx, ev, 0)
	if sts[0].Suspect != len(cases) || sts[1].Suspect != 0 {
		t.Errorf("gate statuses: %+v", sts)
	}
}

// A ticket revoked, or signed by a key revoked, before the gate's last
// feed position: a gate that had applied the revocation refuses it, so an
// admission it recorded after that is suspect. One it may have recorded
// before its poll (seq within what it had pending) is a fact and counts.
func TestUploadFlagsWhatTheGateHadBeenTold(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 6)
	g := f.gate(t, ev, "North 1")
	if a := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{g.admission(tks[0], kido.KindEntry, admitTime)}}); a.status != 200 {
		t.Fatalf("first upload: %d %s", a.status, a.body)
	}
	if _, err := f.admin.Revoke(ctx, ev, wire.Selection{Serials: []uint32{tks[1].Serial, tks[2].Serial}}); err != nil {
		t.Fatal(err)
	}
	// The gate polls from past the revocation with 3 records pending
	// (gateDev's heartbeat): seqs 2 to 4 may predate its poll.
	g.changes(t, g.snapshotCursor(t), 0)
	early := g.admission(tks[1], kido.KindEntry, admitTime)
	g.seq = 4
	late := g.admission(tks[2], kido.KindEntry, admitTime)
	ans := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{early, late}})
	r := ans.upload(t)
	if ans.status != 200 || len(r.Flagged) != 1 || r.Flagged[0].Seq != late.Seq || !strings.Contains(r.Flagged[0].Reason, "was revoked") {
		t.Fatalf("revoked ticket: %d %s", ans.status, ans.body)
	}

	// A key revoked before the next poll: a scan signed by it after that
	// is suspect too.
	keys, _ := f.admin.Keys(ctx, ev)
	if _, err := f.admin.RevokeKey(ctx, ev, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	g.changes(t, g.snapshotCursor(t), 0)
	g.seq += 3
	byKey := g.admission(tks[3], kido.KindEntry, admitTime)
	ans = g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{byKey}})
	if r := ans.upload(t); ans.status != 200 || len(r.Flagged) != 1 || !strings.Contains(r.Flagged[0].Reason, "key that signed") {
		t.Fatalf("revoked key: %d %s", ans.status, ans.body)
	}
	rep, _ := f.admin.Report(ctx, ev)
	if rep.Admitted != 2 || rep.Suspect != 2 {
		t.Errorf("report: admitted %d suspect %d, want 2, 2", rep.Admitted, rep.Suspect)
	}
}

// Manual admissions far above the gate's scan rate are held as suspect
// beyond kido.ManualFloor plus the scans in the same window.
func TestUploadFlagsManualBurst(t *testing.T) {
	f := newFixture(t)
	ev := f.event(t)
	n := kido.ManualFloor + 10
	tks := f.issue(t, ev, "b1", n+5)
	g := f.gate(t, ev, "North 1")
	var as []kido.Admission
	for i := range 5 {
		as = append(as, g.admission(tks[i], kido.KindEntry, admitTime))
	}
	for i := range n {
		as = append(as, g.admission(tks[5+i], kido.KindManual, admitTime.Add(time.Duration(i)*time.Second)))
	}
	ans := g.upload(t, wire.UploadRequest{Admissions: as})
	r := ans.upload(t)
	if want := n - kido.ManualFloor - 5; ans.status != 200 || len(r.Flagged) != want {
		t.Fatalf("burst: %d flagged, want %d: %s", len(r.Flagged), want, ans.body)
	}
	for _, fl := range r.Flagged {
		if !strings.Contains(fl.Reason, "manual burst") || fl.Seq <= uint64(5+kido.ManualFloor+5) {
			t.Errorf("flagged %+v", fl)
		}
	}
	// An hour later the window is clear again.
	late := g.admission(tks[0], kido.KindManual, admitTime.Add(time.Hour))
	if r := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{late}}).upload(t); len(r.Flagged) != 0 {
		t.Errorf("manual an hour later flagged: %+v", r.Flagged)
	}
}

// The void endpoint: only a revoked gate, with a from time and a reason;
// it records who voided (the token's name), when and why, voids the
// gate's admissions from that time, and the void reaches the other gates'
// feed and the report.
func TestVoidGateEndpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 4)
	stolen, other := f.gate(t, ev, "North 1"), f.gate(t, ev, "South 1")
	cursor := other.snapshotCursor(t)
	as := []kido.Admission{stolen.admission(tks[0], kido.KindEntry, admitTime), stolen.admission(tks[1], kido.KindManual, admitTime.Add(10*time.Minute))}
	if a := stolen.upload(t, wire.UploadRequest{Admissions: as}); a.status != 200 || len(a.upload(t).Flagged) != 0 {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	from := admitTime.Add(5 * time.Minute)
	if _, err := f.admin.VoidGate(ctx, ev, stolen.id, from, "tablet stolen"); !errors.Is(err, client.ErrConflict) || !strings.Contains(err.Error(), "kidoctl gate revoke") {
		t.Errorf("void of a gate not revoked: %v, want 409 with a hint to revoke", err)
	}
	if _, err := f.admin.RevokeGate(ctx, ev, stolen.id); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		gate   uint32
		from   time.Time
		reason string
		want   error
	}{
		"no reason":     {stolen.id, from, "", client.ErrBadRequest},
		"blank reason":  {stolen.id, from, " ", client.ErrBadRequest},
		"two lines":     {stolen.id, from, "a\nb", client.ErrBadRequest},
		"bidi override": {stolen.id, from, "stolen \u202eyb", client.ErrBadRequest},
		"no from":       {stolen.id, time.Time{}, "tablet stolen", client.ErrBadRequest},
		"from in 1999":  {stolen.id, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "tablet stolen", client.ErrBadRequest},
		"unknown gate":  {999, from, "tablet stolen", client.ErrNotFound},
	} {
		if _, err := f.admin.VoidGate(ctx, ev, c.gate, c.from, c.reason); !errors.Is(err, c.want) || !strings.Contains(err.Error(), "hint:") {
			t.Errorf("%s: %v, want %v with a hint", name, err, c.want)
		}
	}
	if rep, _ := f.admin.Report(ctx, ev); rep.Voided != 0 || len(rep.Voids) != 0 {
		t.Fatalf("a refused void changed the report: %+v", rep)
	}

	before := time.Now()
	v, err := f.admin.VoidGate(ctx, ev, stolen.id, from, "tablet stolen")
	if err != nil {
		t.Fatal(err)
	}
	if v.Voided != 1 || v.Void.Gate != stolen.id || v.Void.Event != ev || !v.Void.From.Equal(from) || v.Void.By != "admin (first start)" || v.Void.Created.Before(before.Add(-time.Second)) {
		t.Errorf("void: %+v; want 1 voided, by the admin token, now", v)
	}
	var voids []kido.Void
	for _, c := range other.changes(t, cursor, 0).Changes {
		if c.Kind == wire.ChangeVoid {
			voids = append(voids, *c.Void)
		}
	}
	if len(voids) != 1 || voids[0].Gate != stolen.id || !voids[0].From.Equal(from) {
		t.Errorf("void changes in the other gate's feed: %+v", voids)
	}
	rep, err := f.admin.Report(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Voided != 1 || rep.Admitted != 1 || len(rep.Voids) != 1 || rep.Voids[0].Reason != "tablet stolen" {
		t.Errorf("report: %d voided, %d admitted, voids %+v; want 1, 1 and the void", rep.Voided, rep.Admitted, rep.Voids)
	}
}
