package server_test

import (
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/server"
)

// TestReportInside: the report counts tickets inside now, whose latest
// passage is an entry or a manual admission, in all and per tier.
func TestReportInside(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2027, 8, 1, 10, m, 0, 0, time.UTC) }
	adm := func(gate uint32, seq uint64, serial uint32, tier uint8, kind string, m int) kido.Admission {
		return kido.Admission{Gate: gate, Seq: seq, Serial: serial, Tier: tier, Kind: kind, At: at(m), Corrected: at(m)}
	}
	er := &server.EventRecords{
		Event: kido.Event{ID: 1},
		Tiers: []kido.Tier{{ID: 1, Name: "VIP"}, {ID: 2, Name: "GA"}},
		Gates: []kido.Gate{{ID: 1, Name: "In"}, {ID: 2, Name: "Out"}},
		Admissions: []kido.Admission{
			adm(2, 1, 1, 1, kido.KindExit, 5), adm(1, 1, 1, 1, kido.KindEntry, 0), // VIP 1 left
			adm(1, 2, 2, 1, kido.KindManual, 1),                                                                       // VIP 2 admitted by staff
			adm(1, 3, 3, 2, kido.KindEntry, 2), adm(2, 2, 3, 2, kido.KindExit, 3), adm(1, 4, 3, 2, kido.KindEntry, 4), // GA 3 came back
			adm(1, 5, 4, 2, kido.KindEntry, 6), // GA 4
		},
		Issued: map[uint8]int{1: 2, 2: 3},
	}
	rep := server.BuildReport(er, at(10))
	if rep.Inside != 3 || rep.PerTier[0].Inside != 1 || rep.PerTier[1].Inside != 2 {
		t.Errorf("inside %d, VIP %d, GA %d; want 3, 1, 2", rep.Inside, rep.PerTier[0].Inside, rep.PerTier[1].Inside)
	}
}
