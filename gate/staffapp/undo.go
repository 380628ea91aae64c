package staffapp

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate/replica"
)

// This file serves undo (docs/staff-app.md): staff annul this gate's last
// admission, a wrong ticket scanned, within kido.UndoWindow. The rule is
// the root package's (kido.CheckUndo), applied by the replica in the
// transaction that records the undo.

// Undoable is GET /api/undo: this gate's last record and whether it can
// be undone now.
type Undoable struct {
	Available   bool      `json:"available"`
	Why         string    `json:"why,omitempty"` // when not: nothing, exit, twice or late
	Serial      uint32    `json:"serial,omitempty"`
	Holder      string    `json:"holder,omitempty"`
	TierName    string    `json:"tier_name,omitempty"`
	Kind        string    `json:"kind,omitempty"` // entry, exit, manual or undo
	At          time.Time `json:"at,omitzero"`
	SecondsLeft int64     `json:"seconds_left"`
}

// undoWhy names the rule an undo broke, for the page to say in words.
func undoWhy(err error) string {
	for why, e := range map[string]error{"nothing": kido.ErrUndoNothing, "exit": kido.ErrUndoExit, "twice": kido.ErrUndoTwice, "late": kido.ErrUndoLate} {
		if errors.Is(err, e) {
			return why
		}
	}
	return ""
}

func undoable(l replica.Last) Undoable {
	u := Undoable{Available: l.Why == nil, Why: undoWhy(l.Why), SecondsLeft: int64(l.Left / time.Second)}
	if a := l.Admission; a.Seq != 0 {
		u.Serial, u.Holder, u.TierName, u.Kind, u.At = a.Serial, l.Holder, l.TierName, a.Kind, a.Corrected
	}
	return u
}

func (h *Handler) lastOwn(w http.ResponseWriter, r *http.Request) {
	l, err := h.cfg.Replica.LastOwn(r.Context())
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, undoable(l))
}

// undoRefusal is POST /api/undo's 409: the rule refused, nothing was
// recorded.
type undoRefusal struct {
	Error string `json:"error"`
	Why   string `json:"why"`
}

// undo records the undo and answers with a Verdict whose decision is
// "undo", naming the annulled admission, after the commit.
func (h *Handler) undo(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !readJSON(w, r, &req) {
		return
	}
	l, _, err := h.cfg.Replica.Undo(r.Context())
	if why := undoWhy(err); why != "" {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		writeJSON(w, http.StatusConflict, undoRefusal{Error: msg, Why: why})
		return
	}
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if h.cfg.Scanned != nil {
		h.cfg.Scanned()
	}
	h.mu.Lock()
	h.verdicts++
	id := h.verdicts
	h.recorded = true
	h.mu.Unlock()
	a := l.Admission
	writeJSON(w, http.StatusOK, Verdict{ID: id, Decision: "undo", Kind: a.Kind, Reason: "undone", Serial: a.Serial,
		TierName: l.TierName, Holder: l.Holder, At: a.Corrected})
}
