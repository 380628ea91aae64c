package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"kido.dev/kido"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// TestReviewConflict: only a double entry can be reviewed, with a note of
// readable text; bad input is refused and records nothing; the review
// carries the token's name and shows in conflicts and the report.
func TestReviewConflict(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b", 2) // a VIP (single entry) and a GA ticket
	for _, name := range []string{"North", "South"} {
		g := f.gate(t, ev, name)
		if ans := g.upload(t, wire.UploadRequest{Admissions: []kido.Admission{g.admission(tks[0], kido.KindEntry, admitTime)}}); ans.status != 200 {
			t.Fatalf("upload: %d %s", ans.status, ans.body)
		}
	}
	bad := []struct {
		what   string
		serial uint32
		note   string
		err    error
	}{
		{"no note", tks[0].Serial, "  ", client.ErrBadRequest},
		{"a control character", tks[0].Serial, "ok\x07", client.ErrBadRequest},
		{"a bidirectional override", tks[0].Serial, "\u202eok", client.ErrBadRequest},
		{"a note too long", tks[0].Serial, strings.Repeat("あ", wire.MaxReviewNote+1), client.ErrBadRequest},
		{"a ticket admitted once", tks[1].Serial, "ok", client.ErrNotFound},
		{"an unknown ticket", 999, "ok", client.ErrNotFound},
	}
	for _, b := range bad {
		if _, err := f.admin.ReviewConflict(ctx, ev, b.serial, b.note); !errors.Is(err, b.err) {
			t.Errorf("%s: %v, want %v", b.what, err, b.err)
		}
	}
	if rep, err := f.admin.Report(ctx, ev); err != nil || rep.DoubleEntries != 1 || rep.Reviewed != 0 {
		t.Fatalf("after bad reviews: %d double entries, %d reviewed, %v", rep.DoubleEntries, rep.Reviewed, err)
	}
	cf, err := f.admin.ReviewConflict(ctx, ev, tks[0].Serial, " one holder, two gates ")
	if err != nil || cf.Review == nil || cf.Review.Note != "one holder, two gates" || cf.Review.By != "admin (first start)" || cf.Review.At.IsZero() {
		t.Fatalf("review: %+v, %v", cf.Review, err)
	}
	cs, err := f.admin.Conflicts(ctx, ev)
	if err != nil || len(cs) != 1 || cs[0].Review == nil || cs[0].Review.Note != "one holder, two gates" {
		t.Fatalf("conflicts after review: %+v, %v", cs, err)
	}
	if rep, err := f.admin.Report(ctx, ev); err != nil || rep.DoubleEntries != 1 || rep.Reviewed != 1 {
		t.Errorf("report after review: %d double entries, %d reviewed, %v", rep.DoubleEntries, rep.Reviewed, err)
	}
}
