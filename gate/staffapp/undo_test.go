package staffapp_test

import (
	"net/http"
	"testing"

	"kido.dev/kido/gate/staffapp"
)

// TestUndo: behind the PIN, the page sees the gate's last admission with
// its holder and the time left, undoes it (a Verdict of decision undo
// naming it), and the same ticket is admitted again; a second undo is 409
// with why "twice", and the history marks the undone passage.
func TestUndo(t *testing.T) {
	x := newFixture(t, "4321")
	if w := x.req("GET", "/api/undo", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("undo without the PIN: %d %s", w.Code, w.Body)
	}
	w := x.req("POST", "/api/unlock", `{"pin":"4321"}`, nil)
	tok := decode[staffapp.Unlock](t, w).Token
	unlocked := func(r *http.Request) { r.Header.Set(staffapp.UnlockHeader, tok) }

	if u := decode[staffapp.Undoable](t, x.req("GET", "/api/undo", "", unlocked)); u.Available || u.Why != "nothing" {
		t.Errorf("before any admission: %+v", u)
	}
	first := x.scan(x.f.Ticket(3), false)
	if first.Decision != "admit" {
		t.Fatalf("scan: %+v", first)
	}
	u := decode[staffapp.Undoable](t, x.req("GET", "/api/undo", "", unlocked))
	if !u.Available || u.Serial != 3 || u.Holder != first.Holder || u.TierName != first.TierName || u.SecondsLeft < 100 || u.SecondsLeft > 120 {
		t.Errorf("undoable: %+v, want serial 3 of %q with up to 120 s left", u, first.Holder)
	}
	if w := x.req("POST", "/api/undo", `{}`, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("POST undo without the token: %d", w.Code)
	}
	w = x.req("POST", "/api/undo", `{}`, unlocked)
	v := decode[staffapp.Verdict](t, w)
	if w.Code != http.StatusOK || v.Decision != "undo" || v.Serial != 3 || v.Holder != first.Holder || !v.At.Equal(first.At) {
		t.Fatalf("undo: %d %+v", w.Code, v)
	}
	w = x.req("POST", "/api/undo", `{}`, unlocked)
	if r := decode[struct{ Why string }](t, w); w.Code != http.StatusConflict || r.Why != "twice" {
		t.Errorf("second undo: %d %s", w.Code, w.Body)
	}
	if again := x.scan(x.f.Ticket(3), false); again.Decision != "admit" {
		t.Errorf("the undone ticket again: %+v, want admitted", again)
	}
	ps := decode[[]staffapp.Pass](t, x.req("GET", "/api/history?serial=3", "", unlocked))
	if len(ps) != 3 || !ps[0].Undone || ps[1].Kind != "undo" || ps[1].Undone || ps[2].Undone {
		t.Errorf("history %+v, want the first entry undone, the undo, the new entry", ps)
	}
}
