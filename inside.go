package kido

// Inside reports whether a ticket with passages ps is inside now: its
// latest passage in the canonical order (ComparePassages) is an entry or a
// manual admission. A ticket without passages is not; at an event without
// exit gates, every admitted ticket is. ps need not be sorted.
func Inside(ps []Passage) bool {
	if len(ps) == 0 {
		return false
	}
	last := ps[0]
	for _, p := range ps[1:] {
		if ComparePassages(p, last) > 0 {
			last = p
		}
	}
	return last.Kind != KindExit
}
