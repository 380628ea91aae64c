package server

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// DoubleEntries returns the double entries among an event's admissions
// (docs/sync-protocol.md §5.1): for each ticket, its admissions that count
// (undone ones and undos left out, kido.Counted) ordered by
// corrected time, gate and seq, walked with its tier's entry rule; a ticket
// with at least one excess admission is a Conflict listing all of them.
// The result is ordered by the corrected time of the first excess
// admission, then serial.
func DoubleEntries(er *EventRecords) []wire.Conflict {
	tiers := map[uint8]kido.Tier{}
	for _, t := range er.Tiers {
		tiers[t.ID] = t
	}
	names := map[uint32]string{}
	for _, g := range er.Gates {
		names[g.ID] = g.Name
	}
	bySerial := map[uint32][]kido.Admission{}
	for _, a := range splitUndone(er.Admissions).counted {
		bySerial[a.Serial] = append(bySerial[a.Serial], a)
	}
	type found struct {
		c     wire.Conflict
		first time.Time
	}
	var out []found
	for serial, as := range bySerial {
		slices.SortFunc(as, func(a, b kido.Admission) int { return kido.ComparePassages(a.Passage(), b.Passage()) })
		ps := make([]kido.Passage, len(as))
		for i, a := range as {
			ps[i] = a.Passage()
		}
		// A ticket's passages all carry its tier: the rule is the tier's.
		excess := kido.RuleOf(tiers, as[0].Tier).Excess(ps)
		c := wire.Conflict{Serial: serial, Tier: as[0].Tier, Holder: er.Holders[serial]}
		if rv, ok := er.Reviews[serial]; ok {
			c.Review = &rv
		}
		var first time.Time
		for i, a := range as {
			if excess[i] && first.IsZero() {
				first = a.Corrected
			}
			c.Admissions = append(c.Admissions, wire.ConflictAdmission{Admission: a, GateName: names[a.Gate], Excess: excess[i]})
		}
		if !first.IsZero() {
			out = append(out, found{c, first})
		}
	}
	slices.SortFunc(out, func(a, b found) int {
		return cmp.Or(a.first.Compare(b.first), cmp.Compare(a.c.Serial, b.c.Serial))
	})
	cs := make([]wire.Conflict, len(out))
	for i, f := range out {
		cs[i] = f.c
	}
	return cs
}

// BuildReport sums up an event's admissions (docs/sync-protocol.md §5.3).
// Flagged admissions (suspect, refused, voided) and undone ones are listed
// apart and counted nowhere else; undo records are counted nowhere.
func BuildReport(er *EventRecords, now time.Time) wire.Report {
	rep := wire.Report{Event: er.Event.ID, Quarantined: er.Quarantined, ServerTime: now.UTC(),
		PerGate: []wire.GateCount{}, PerTier: []wire.TierCount{}}
	gateIdx := map[uint32]int{}
	for _, g := range er.Gates {
		gateIdx[g.ID] = len(rep.PerGate)
		rep.PerGate = append(rep.PerGate, wire.GateCount{Gate: g.ID, Name: g.Name, Rejected: er.Rejected[g.ID]})
		rep.Rejected += er.Rejected[g.ID]
	}
	tierIdx := map[uint8]int{}
	for _, t := range er.Tiers {
		tierIdx[t.ID] = len(rep.PerTier)
		rep.PerTier = append(rep.PerTier, wire.TierCount{Tier: t.ID, Name: t.Name, Issued: er.Issued[t.ID]})
	}
	holders := map[uint32]bool{}
	tierHolders := map[uint8]map[uint32]bool{}
	split := splitUndone(er.Admissions)
	for _, a := range split.counted {
		gc := &wire.GateCount{} // a gate unknown to the event counts nowhere
		if i, ok := gateIdx[a.Gate]; ok {
			gc = &rep.PerGate[i]
		}
		switch a.Kind {
		case kido.KindExit:
			rep.Exits++
			gc.Exits++
			continue
		case kido.KindManual:
			gc.Manual++
		default:
			gc.Entries++
		}
		rep.Admitted++
		holders[a.Serial] = true
		if i, ok := tierIdx[a.Tier]; ok {
			rep.PerTier[i].Admitted++
			if tierHolders[a.Tier] == nil {
				tierHolders[a.Tier] = map[uint32]bool{}
			}
			tierHolders[a.Tier][a.Serial] = true
		}
	}
	rep.UniqueHolders = len(holders)
	for i := range rep.PerTier {
		rep.PerTier[i].UniqueHolders = len(tierHolders[rep.PerTier[i].Tier])
	}
	passages := map[uint32][]kido.Passage{}
	tierOf := map[uint32]uint8{}
	for _, a := range er.Admissions {
		passages[a.Serial] = append(passages[a.Serial], a.Passage())
		tierOf[a.Serial] = a.Tier
	}
	for serial, ps := range passages {
		if !kido.Inside(ps) {
			continue
		}
		rep.Inside++
		if i, ok := tierIdx[tierOf[serial]]; ok {
			rep.PerTier[i].Inside++
		}
	}
	des := DoubleEntries(er)
	rep.DoubleEntries = len(des)
	for _, c := range des {
		if c.Review != nil {
			rep.Reviewed++
		}
	}
	rep.Flagged = make([]wire.Flagged, len(er.Flagged))
	for i, f := range er.Flagged {
		if j, ok := gateIdx[f.Gate]; ok {
			f.GateName = rep.PerGate[j].Name
		}
		rep.Flagged[i] = f
		switch f.Status {
		case wire.StatusSuspect:
			rep.Suspect++
		case wire.StatusRefused:
			rep.Refused++
		case wire.StatusVoided:
			rep.Voided++
		}
	}
	names := make(map[uint32]string, len(er.Gates))
	for _, g := range er.Gates {
		names[g.ID] = g.Name
	}
	rep.Undos = undoneOf(split.undone, names, er.Holders)
	rep.Undone = len(rep.Undos)
	rep.Voids = er.Voids
	if rep.Voids == nil {
		rep.Voids = []kido.Void{}
	}
	return rep
}

func (s *Server) report(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	er, err := s.store.EventRecords(r.Context(), ev)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, BuildReport(er, s.now()), nil
}

func (s *Server) conflicts(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	er, err := s.store.EventRecords(r.Context(), ev)
	if err != nil {
		return 0, nil, err
	}
	cs := DoubleEntries(er)
	if cs == nil {
		cs = []wire.Conflict{}
	}
	return http.StatusOK, cs, nil
}

// Admissions lists an event's stored admissions for export: the counted
// ones with the undo records and the undone ones (status undone, with the
// undo), then the flagged ones, each in (gate, seq) order, with gate name
// and holder. Quarantined records are not admissions and are left out.
func Admissions(er *EventRecords) []wire.AdmissionRecord {
	names := map[uint32]string{}
	for _, g := range er.Gates {
		names[g.ID] = g.Name
	}
	why := map[[2]uint64]string{}
	for _, p := range splitUndone(er.Admissions).undone {
		why[[2]uint64{uint64(p.admission.Gate), p.admission.Seq}] = undoneWhy(p)
	}
	out := make([]wire.AdmissionRecord, 0, len(er.Admissions)+len(er.Flagged))
	for _, a := range er.Admissions {
		r := wire.AdmissionRecord{Admission: a, GateName: names[a.Gate], Holder: er.Holders[a.Serial]}
		if w, ok := why[[2]uint64{uint64(a.Gate), a.Seq}]; ok {
			r.Status, r.Why = wire.StatusUndone, w
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b wire.AdmissionRecord) int {
		return cmp.Or(cmp.Compare(a.Gate, b.Gate), cmp.Compare(a.Seq, b.Seq))
	})
	for _, f := range er.Flagged {
		out = append(out, wire.AdmissionRecord{Admission: f.Admission, GateName: names[f.Gate], Holder: er.Holders[f.Serial], Status: f.Status, Why: f.Why})
	}
	return out
}

func (s *Server) admissions(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	er, err := s.store.EventRecords(r.Context(), ev)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Admissions(er), nil
}
