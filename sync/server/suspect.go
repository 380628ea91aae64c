package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// This file holds the checks of docs/sync-protocol.md §3.6: an uploaded
// admission that a correct gate could not have recorded is stored as
// suspect, kept for the operator and counted nowhere. The rules are the
// root package's, the ones the gate decided with.

// enrolSlack is how far before its enrolment a gate's admission may be
// timed: a gate's trusted time is never below the server time of its
// enrolment snapshot, so only the server's own clock steps are allowed for.
const enrolSlack = time.Minute

// burstLookback is how many of a gate's earlier admissions a manual burst
// is counted against.
const burstLookback = 1000

// feedMark is what a gate's feed request proves it had: every change up to
// Pos, applied before it recorded any admission above Seq.
type feedMark struct {
	Pos int64
	Seq uint64
}

// marks holds each gate's latest feed mark and the highest admission seq
// the server holds from it. They are kept in memory only: after a restart
// a gate's mark is learnt again on its first upload and poll, and until
// then the checks that need it are not made (docs/sync-protocol.md §3.6).
type marks struct {
	mu      sync.Mutex
	highest map[uint32]uint64
	feed    map[uint32]feedMark
}

func newMarks() *marks {
	return &marks{highest: map[uint32]uint64{}, feed: map[uint32]feedMark{}}
}

// stored notes the highest admission seq the server holds from gate.
func (m *marks) stored(gate uint32, highest uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.highest[gate] = max(m.highest[gate], highest)
}

// polled notes a feed request of gate from cursor position pos with
// pending records not yet acknowledged (-1: unknown). Every admission the
// gate recorded before the request has a seq at most the highest the
// server holds plus pending (a gate's new seqs rise from the highest the
// server told it of), so one above that was recorded after the gate had
// applied every change up to pos.
func (m *marks) polled(gate uint32, pos, pending int64) {
	if pending < 0 || pos <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.highest[gate]
	if !ok {
		return
	}
	if old, ok := m.feed[gate]; !ok || pos > old.Pos {
		m.feed[gate] = feedMark{Pos: pos, Seq: h + uint64(pending)}
	}
}

func (m *marks) get(gate uint32) (feedMark, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.feed[gate]
	return f, ok
}

// suspicion is the context the suspect checks of one upload share.
type suspicion struct {
	st     *UploadState
	mark   feedMark
	marked bool
	// window is every admission of the gate known in this upload, stored
	// before or in the batch, by seq: what a manual burst is counted in.
	window []kido.Admission
}

// newSuspicion reads what the checks of an upload of gate need.
func (s *Server) newSuspicion(ctx context.Context, ev, gate uint32, batch []kido.Admission) (*suspicion, error) {
	first := batch[0].Seq
	from := uint64(1)
	if first > burstLookback {
		from = first - burstLookback
	}
	st, err := s.store.UploadState(ctx, ev, gate, from, first-1)
	if err != nil {
		return nil, err
	}
	sp := &suspicion{st: st, window: append(slices.Clone(st.Before), batch...)}
	sp.mark, sp.marked = s.marks.get(gate)
	return sp, nil
}

// suspect returns why admission a, whose ticket was issued as t, could
// not have come from a correct gate, or "".
func (sp *suspicion) suspect(a kido.Admission, t Issued) string {
	g, ev := sp.st.Gate, sp.st.Event
	switch {
	case !g.Takes(a.Tier):
		return fmt.Sprintf("tier %d is not taken at gate %q (tiers %v)", a.Tier, g.Name, []uint8(g.Tiers))
	case !g.Records(a.Kind):
		return fmt.Sprintf("gate %q records %s passages, not %s", g.Name, g.Direction, a.Kind)
	case a.Kind == kido.KindUndo:
		// Its admission was checked against the window; an undo is
		// checked against its admission.
		return sp.undoFault(a)
	case a.Kind != kido.KindExit && ev.Window(a.Corrected, kido.DefaultLeeway) != 0:
		return fmt.Sprintf("%s at %s, outside the event window", a.Kind, a.Corrected.UTC().Format(time.RFC3339))
	case !sp.st.Enrolled.IsZero() && a.Corrected.Before(sp.st.Enrolled.Add(-enrolSlack)):
		return fmt.Sprintf("recorded at %s, before the gate enrolled at %s", a.Corrected.UTC().Format(time.RFC3339), sp.st.Enrolled.UTC().Format(time.RFC3339))
	case g.RevokedAt != nil && !a.Corrected.Before(*g.RevokedAt):
		return fmt.Sprintf("recorded at %s, at or after gate %d was revoked at %s", a.Corrected.UTC().Format(time.RFC3339Nano), g.ID, g.RevokedAt.UTC().Format(time.RFC3339Nano))
	case a.Kind == kido.KindManual && a.Text != "":
		return "a manual admission carries ticket text"
	case a.Kind == kido.KindManual && !kido.HasReason(a.Reason):
		return "a manual admission without a staff reason"
	}
	if sp.marked && a.Seq > sp.mark.Seq {
		if t.Revoked > 0 && t.Revoked <= sp.mark.Pos {
			return fmt.Sprintf("serial %d was revoked (change %d) before the gate's feed position %d", a.Serial, t.Revoked, sp.mark.Pos)
		}
		if a.Kind != kido.KindManual && t.KeyRevoked > 0 && t.KeyRevoked <= sp.mark.Pos {
			return fmt.Sprintf("the key that signed serial %d was revoked (change %d) before the gate's feed position %d", a.Serial, t.KeyRevoked, sp.mark.Pos)
		}
	}
	if a.Kind == kido.KindManual {
		manual, scanned := 0, 0
		for _, b := range sp.window {
			if b.Corrected.After(a.Corrected) || !b.Corrected.After(a.Corrected.Add(-kido.ManualWindow)) {
				continue
			}
			switch b.Kind {
			case kido.KindManual:
				manual++
			case kido.KindEntry:
				scanned++
			}
		}
		if kido.ManualBurst(manual, scanned) {
			return fmt.Sprintf("manual burst: %d manual admissions within %s beside %d scanned", manual, kido.ManualWindow, scanned)
		}
	}
	return ""
}

// flag is the Flag for admission a.
func flag(a kido.Admission, status, why string) wire.Flag {
	return wire.Flag{Seq: a.Seq, Status: status, Reason: why}
}
