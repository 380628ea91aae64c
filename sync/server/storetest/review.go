package storetest

import (
	"testing"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// reviewTests cover the reviews of double entries.
var reviewTests = []storeTest{
	{"ReviewConflict", testReviewConflict},
}

// testReviewConflict: a review is stored with its note, author and time,
// read back by EventRecords of its event only; a second replaces the
// first; an unknown ticket or event is ErrNotFound and stores nothing.
func testReviewConflict(t *testing.T, f *fixture) {
	a := f.liveEvent("A")
	b := f.liveEvent("B")
	tks := f.issue(a, "b1", 2)
	f.issue(b, "b1", 2)
	at := time.Date(2027, 8, 1, 12, 0, 0, 123456789, time.UTC)
	first := wire.Review{Note: "同じ人が二つの門で。返金なし", By: "promoter", At: at}
	ok(t, "ReviewConflict", f.s.ReviewConflict(f.ctx, a.ID, tks[0].Serial, first))
	second := wire.Review{Note: "checked the CCTV: two people", By: "admin", At: at.Add(time.Hour)}
	ok(t, "ReviewConflict again", f.s.ReviewConflict(f.ctx, a.ID, tks[0].Serial, second))
	wantErr(t, "ReviewConflict of an unknown ticket", f.s.ReviewConflict(f.ctx, a.ID, 999, first), server.ErrNotFound)
	wantErr(t, "ReviewConflict in an unknown event", f.s.ReviewConflict(f.ctx, 999, tks[0].Serial, first), server.ErrNotFound)

	er, err := f.s.EventRecords(f.ctx, a.ID)
	ok(t, "EventRecords", err)
	got, found := er.Reviews[tks[0].Serial]
	if len(er.Reviews) != 1 || !found || got.Note != second.Note || got.By != second.By || !got.At.Equal(second.At) {
		t.Errorf("reviews of A = %+v, want only ticket %d's second review %+v", er.Reviews, tks[0].Serial, second)
	}
	er, err = f.s.EventRecords(f.ctx, b.ID)
	ok(t, "EventRecords", err)
	if len(er.Reviews) != 0 {
		t.Errorf("reviews of B = %+v, want none", er.Reviews)
	}
}
