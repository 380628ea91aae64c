package e2e

import (
	"encoding/json"
	"io"
	"strconv"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/faultproxy"
	"kido.dev/kido/sync/wire"
)

// TestPartitionDoubleEntry: two kido-gate run processes, cut off from the
// server by a partition, admit three tickets each and the same
// single-entry ticket both. Healed, they converge, and the server reports
// exactly one double entry carrying both records as the gates made them,
// and nothing else; a later scan of the ticket names the first gate.
func TestPartitionDoubleEntry(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	partitionDoubleEntry(t, [2]*server{srv, srv})
}

// TestPartitionTwoInstances is TestPartitionDoubleEntry with two
// kido-server instances on one PostgreSQL database: North syncs through
// instance A, South through instance B, each cut off by its own
// partition. Each learns the other's admissions through its own
// instance's feed; the double entry is reported alike by both instances.
func TestPartitionTwoInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	a, b := startInstances(t, url)
	partitionDoubleEntry(t, [2]*server{a, b})
}

// twice is the serial both gates admit during the partition.
const twice = 10

// partitionDoubleEntry runs the partition scenario with North syncing
// through servers[0] and South through servers[1].
func partitionDoubleEntry(t *testing.T, servers [2]*server) {
	ev := newEvent(t, servers[0], 10)
	var proxies [2]*faultproxy.Proxy
	for i, srv := range servers {
		proxy, err := faultproxy.New(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		proxies[i] = proxy
	}
	north := ev.enroll(t, "North", proxies[0].URL())
	south := ev.enroll(t, "South", proxies[1].URL())
	gates := []*gateDir{north, south}

	for _, p := range proxies {
		p.Set(faultproxy.Partition)
	}
	runs := []*proc{north.startRun(t), south.startRun(t)}
	waitStatus(t, gates, "both gates offline", func(st gateStatus) bool { return st.SyncState == "offline" })

	serials := [][]uint32{{1, 2, 3, twice}, {4, 5, 6, twice}}
	for i, g := range gates {
		for _, s := range serials[i] {
			if _, err := io.WriteString(runs[i].stdin, ev.tickets[s-1]+"\n"); err != nil {
				t.Fatal(err)
			}
		}
		// South scans only once North has recorded its admissions, so
		// that North's is the first.
		waitStatus(t, gates[i:i+1], g.name+" admitted 4", func(st gateStatus) bool { return st.Here == 4 })
	}

	for _, p := range proxies {
		p.Set(faultproxy.Pass)
	}
	took := waitConverged(t, gates, 8, 90*time.Second)
	t.Logf("converged %v after healing", took.Round(time.Millisecond))
	for i, g := range gates {
		stopRun(t, g, runs[i])
	}

	// What each gate recorded, and the records of the twice-admitted ticket.
	var first, second record
	held := make([]map[[2]uint64]record, len(gates))
	for i, g := range gates {
		recs, conflicting := readReplica(t, g)
		held[i] = recs
		if len(recs) != 8 || conflicting != 0 {
			t.Errorf("%s holds %d admissions and %d conflicting ones, want 8 and 0", g.name, len(recs), conflicting)
		}
		for seq, s := range serials[i] {
			r, ok := recs[[2]uint64{uint64(g.id), uint64(seq + 1)}]
			if !ok || r.Serial != s || r.Kind != kido.KindEntry {
				t.Fatalf("%s's admission %d: %+v (present %v), want an entry of serial %d", g.name, seq+1, r, ok, s)
			}
			if s == twice && i == 0 {
				first = r
			} else if s == twice {
				second = r
			}
		}
	}
	// Each learned the other's records from the compact feed: what a gate
	// decides with, and a check for the hash (docs/sync-protocol.md §4.5).
	for k, r := range held[0] {
		o := held[1][k]
		if r.Serial != o.Serial || r.Kind != o.Kind || r.Corrected != o.Corrected || !wire.SameRecord(r.Hash, o.Hash) {
			t.Errorf("admission %v: North holds %+v, South %+v", k, r, o)
		}
	}
	if first.Corrected >= second.Corrected {
		t.Fatalf("North admitted at %d, South at %d (corrected): North's must be first", first.Corrected, second.Corrected)
	}

	id := strconv.FormatUint(uint64(ev.id), 10)
	for _, srv := range servers {
		checkPartitionReport(t, srv, ev, id, north, south, first, second)
	}

	// South, asked again, refuses the ticket and names North's admission.
	res, err := ev.scanAll(south, []uint32{twice})
	if len(res) != 1 || res[0].Decision != "reject" || res[0].Reason != "already_used" || res[0].FirstGate != north.id ||
		res[0].FirstGateName != "North" || res[0].FirstAt.UnixNano() != first.Corrected {
		t.Errorf("rescan at South: %+v (%v); want already_used naming North at %d", res, err, first.Corrected)
	}
}

// checkPartitionReport checks what srv reports after the partition: one
// double entry of the twice-admitted ticket, North's record first and
// South's the excess one, and every count exact.
func checkPartitionReport(t *testing.T, srv *server, ev *event, id string, north, south *gateDir, first, second record) {
	t.Helper()
	var conflicts []wire.Conflict
	srv.ctlJSON(&conflicts, "conflicts", "-event", id)
	if len(conflicts) != 1 {
		b, _ := json.Marshal(conflicts)
		t.Fatalf("conflicts: %s, want exactly one double entry", b)
	}
	c := conflicts[0]
	if c.Serial != twice || c.Tier != ev.tier || len(c.Admissions) != 2 {
		t.Fatalf("double entry of serial %d tier %d with %d admissions, want serial %d tier %d with 2", c.Serial, c.Tier, len(c.Admissions), twice, ev.tier)
	}
	for i, want := range []struct {
		r      record
		name   string
		excess bool
	}{{first, "North", false}, {second, "South", true}} {
		a := c.Admissions[i]
		if a.Gate != want.r.Gate || a.Seq != want.r.Seq || a.Serial != twice || a.Kind != kido.KindEntry || a.Hash != want.r.Hash ||
			a.At.UnixNano() != want.r.At || a.Corrected.UnixNano() != want.r.Corrected || a.GateName != want.name || a.Excess != want.excess {
			t.Errorf("double entry's admission %d: %+v; want gate %d (%s) seq %d at %d corrected %d hash %s excess %v",
				i, a, want.r.Gate, want.name, want.r.Seq, want.r.At, want.r.Corrected, want.r.Hash, want.excess)
		}
	}

	var rep wire.Report
	srv.ctlJSON(&rep, "report", "-event", id)
	if rep.Admitted != 8 || rep.UniqueHolders != 7 || rep.Exits != 0 || rep.DoubleEntries != 1 || rep.Rejected != 0 || rep.Quarantined != 0 {
		t.Errorf("report: admitted %d, unique %d, exits %d, double entries %d, rejected %d, quarantined %d; want 8, 7, 0, 1, 0, 0",
			rep.Admitted, rep.UniqueHolders, rep.Exits, rep.DoubleEntries, rep.Rejected, rep.Quarantined)
	}
	wantGates := []wire.GateCount{{Gate: north.id, Name: "North", Entries: 4}, {Gate: south.id, Name: "South", Entries: 4}}
	if len(rep.PerGate) != 2 || rep.PerGate[0] != wantGates[0] || rep.PerGate[1] != wantGates[1] {
		t.Errorf("report per gate: %+v, want %+v", rep.PerGate, wantGates)
	}
	if len(rep.PerTier) != 1 || rep.PerTier[0] != (wire.TierCount{Tier: ev.tier, Name: "GA", Issued: 10, Admitted: 8, UniqueHolders: 7, Inside: 7}) {
		t.Errorf("report per tier: %+v, want GA with 10 issued, 8 admitted, 7 unique, 7 inside (no exit gates)", rep.PerTier)
	}
	var statuses []wire.GateStatus
	srv.ctlJSON(&statuses, "gates", "-event", id)
	for _, s := range statuses {
		if s.Acked != 4 || s.Quarantined != 0 || s.Refused != 0 {
			t.Errorf("server's state of gate %s: acked %d, quarantined %d, refused %d; want 4, 0, 0", s.Name, s.Acked, s.Quarantined, s.Refused)
		}
	}
}

// waitStatus polls the gates' status until cond holds for each, for at
// most 30 s.
func waitStatus(t *testing.T, gates []*gateDir, what string, cond func(gateStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, g := range gates {
		for {
			st, err := g.status()
			if err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30 s; %s: %+v", what, g.name, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
