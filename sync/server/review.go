package server

import (
	"fmt"
	"net/http"
	"strconv"

	"kido.dev/kido/sync/wire"
)

// reviewConflict marks a double entry reviewed with the promoter's note,
// recording the token's name and the server's time (POST
// /v1/events/{event}/conflicts/{serial}/review). Only a ticket that is a
// double entry now can be reviewed; a review again replaces the note.
func (s *Server) reviewConflict(r *http.Request, tok wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	n, err := strconv.ParseUint(r.PathValue("serial"), 10, 32)
	if err != nil || n == 0 {
		return 0, nil, Errorf(ErrInvalid, fmt.Sprintf("serials are the numbers kidoctl conflicts -event %d shows", ev), "bad serial %q", r.PathValue("serial"))
	}
	serial := uint32(n)
	var in wire.ReviewRequest
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	note, err := cleanText("note", in.Note, wire.MaxReviewNote, true)
	if err != nil {
		return 0, nil, err
	}
	er, err := s.store.EventRecords(r.Context(), ev)
	if err != nil {
		return 0, nil, err
	}
	var found *wire.Conflict
	for _, c := range DoubleEntries(er) {
		if c.Serial == serial {
			found = &c
			break
		}
	}
	if found == nil {
		return 0, nil, Errorf(ErrNotFound, fmt.Sprintf("kidoctl conflicts -event %d lists the double entries", ev), "ticket %d of event %d is not a double entry", serial, ev)
	}
	rv := wire.Review{Note: note, By: tok.Name, At: s.now().UTC()}
	if err := s.store.ReviewConflict(r.Context(), ev, serial, rv); err != nil {
		return 0, nil, err
	}
	s.log.Info("double entry reviewed", "event", ev, "serial", serial, "by", rv.By)
	found.Review = &rv
	return http.StatusOK, found, nil
}
