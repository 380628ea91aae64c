package server

import (
	"net/http"
	"slices"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, tok wire.Token) {
	var ev uint32
	if q := r.URL.Query().Get("event"); q != "" {
		ev, _ = parseEvent(q)
	}
	keys, err := s.store.Keys(r.Context(), ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if tok.Scope != wire.ScopeAdmin {
		keys = slices.DeleteFunc(keys, func(k wire.Key) bool { return !slices.Contains(tok.Events, k.Event) })
	}
	writeJSON(w, http.StatusOK, keys)
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	ev, _ := parseEvent(r.PathValue("event"))
	key, err := s.newSealedKey(purposeSigning)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.AddKey(r.Context(), ev, key, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("signing key rotated", "event", ev, "key", k.ID)
	writeJSON(w, http.StatusCreated, k)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, tok wire.Token) {
	id := r.PathValue("key")
	if _, err := ticket.ParseKeyID(id); err != nil {
		s.fail(w, r, Errorf(ErrInvalid, "key ids are 8 hex digits, as kidoctl keys list shows", "bad key id %q", id))
		return
	}
	var in wire.KeyRevoke
	if r.ContentLength != 0 {
		if err := readJSON(r, maxBody, &in); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// A promoter names the event through the key itself; check the scope
	// against the event that holds the key, before anything changes.
	keys, err := s.store.Keys(r.Context(), in.Event)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(keys, func(k wire.Key) bool { return k.ID == id })
	if i < 0 {
		s.fail(w, r, Errorf(ErrNotFound, "kidoctl keys list shows the keys", "no signing key %s", id))
		return
	}
	if err := mayEvent(tok, keys[i].Event); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.store.RevokeKey(r.Context(), in.Event, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Warn("signing key revoked", "event", k.Event, "key", k.ID)
	writeJSON(w, http.StatusOK, k)
}
