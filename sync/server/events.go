package server

import (
	"net/http"
	"strconv"
	"time"

	"kido.dev/kido/sync/wire"
)

// maxEntries bounds a tier's N-entries rule; more is "unlimited".
const maxEntries = 1000

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	var in wire.EventCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.checkEvent(&in); err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := s.newSealedKey(purposeSigning)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev, err := s.store.CreateEvent(r.Context(), in, key, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("event created", "event", ev.ID, "key", key.Public.ID().String())
	writeJSON(w, http.StatusCreated, ev)
}

func (s *Server) checkEvent(in *wire.EventCreate) error {
	var err error
	if in.Name, err = cleanText("event name", in.Name, 200, true); err != nil {
		return err
	}
	if in.Venue, err = cleanText("venue", in.Venue, 200, false); err != nil {
		return err
	}
	if in.Start.IsZero() || in.End.IsZero() {
		return Errorf(ErrInvalid, "give both, as RFC 3339 with an offset, e.g. 2027-08-01T10:00:00+09:00", "event start and end are required")
	}
	if !in.End.After(in.Start) {
		return Errorf(ErrInvalid, "", "event ends (%s) before it starts (%s)", in.End.Format(time.RFC3339), in.Start.Format(time.RFC3339))
	}
	if in.TimeZone != "" {
		loc, err := time.LoadLocation(in.TimeZone)
		if err != nil {
			return Errorf(ErrInvalid, "use an IANA name such as Asia/Tokyo", "unknown time zone %q", in.TimeZone)
		}
		in.Start, in.End = in.Start.In(loc), in.End.In(loc)
	}
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, tok wire.Token) {
	var ids []uint32
	if tok.Scope != wire.ScopeAdmin {
		ids = append([]uint32{}, tok.Events...)
	}
	evs, err := s.store.Events(r.Context(), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

func (s *Server) showEvent(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	ev, _ := parseEvent(r.PathValue("event"))
	d, err := s.store.EventDetail(r.Context(), ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) addTier(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	ev, _ := parseEvent(r.PathValue("event"))
	var in wire.TierCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := cleanText("tier name", in.Name, 50, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := strconv.Atoi(name); err == nil {
		s.fail(w, r, Errorf(ErrInvalid, "name tiers with words (VIP, GA); kidoctl takes a number as a tier id", "tier name %q is a number", name))
		return
	}
	entries := wire.EntriesSingle
	if in.Entries != nil {
		entries = *in.Entries
	}
	if entries < 0 || entries > maxEntries {
		s.fail(w, r, Errorf(ErrInvalid, "0 means unlimited with re-entry after an exit", "entries %d is not between 0 and %d", entries, maxEntries))
		return
	}
	t, err := s.store.AddTier(r.Context(), ev, name, entries)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}
