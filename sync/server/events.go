package server

import (
	"net/http"
	"strconv"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// maxEntries bounds a tier's N-entries rule; more is "unlimited".
const maxEntries = 1000

func (s *Server) createEvent(r *http.Request, _ wire.Token) (int, any, error) {
	var in wire.EventCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	if err := checkEvent(&in); err != nil {
		return 0, nil, err
	}
	key, err := s.newSealedKey(purposeSigning)
	if err != nil {
		return 0, nil, err
	}
	ev, err := s.store.CreateEvent(r.Context(), in, key, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("event created", "event", ev.ID, "key", key.Public.ID().String())
	return http.StatusCreated, ev, nil
}

func checkEvent(in *wire.EventCreate) error {
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
	if err := (kido.Event{Start: in.Start, End: in.End}).CheckTimes(); err != nil {
		return Errorf(ErrInvalid, "give the event's times in the years 2000 to 2199, as RFC 3339 with the venue's offset", "%v", err)
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

func (s *Server) listEvents(r *http.Request, tok wire.Token) (int, any, error) {
	var ids []uint32
	if tok.Scope != wire.ScopeAdmin {
		ids = append([]uint32{}, tok.Events...)
	}
	evs, err := s.store.Events(r.Context(), ids)
	return http.StatusOK, evs, err
}

func (s *Server) showEvent(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	d, err := s.store.EventDetail(r.Context(), ev)
	return http.StatusOK, d, err
}

func (s *Server) addTier(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var in wire.TierCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	name, err := checkTierName(in.Name)
	if err != nil {
		return 0, nil, err
	}
	entries := kido.EntriesSingle
	if in.Entries != nil {
		if entries, err = checkEntries(*in.Entries); err != nil {
			return 0, nil, err
		}
	}
	t, err := s.store.AddTier(r.Context(), ev, name, entries)
	if err == nil {
		s.changed(ev)
	}
	return http.StatusCreated, t, err
}

// checkTierName cleans a tier's name, which must not read as a number:
// kidoctl takes a number as a tier id.
func checkTierName(name string) (string, error) {
	name, err := cleanText("tier name", name, 50, true)
	if err != nil {
		return "", err
	}
	if _, err := strconv.Atoi(name); err == nil {
		return "", Errorf(ErrInvalid, "name tiers with words (VIP, GA); kidoctl takes a number as a tier id", "tier name %q is a number", name)
	}
	return name, nil
}

// checkEntries checks a tier's entry rule.
func checkEntries(n int) (kido.EntryRule, error) {
	if n < 0 || n > maxEntries {
		return 0, Errorf(ErrInvalid, "0 means unlimited with re-entry after an exit", "entries %d is not between 0 and %d", n, maxEntries)
	}
	return kido.EntryRule(n), nil
}
