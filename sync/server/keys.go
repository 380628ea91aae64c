package server

import (
	"net/http"
	"slices"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

func (s *Server) listKeys(r *http.Request, tok wire.Token) (int, any, error) {
	var ev uint32
	if q := r.URL.Query().Get("event"); q != "" {
		ev, _ = parseEvent(q)
	}
	keys, err := s.store.Keys(r.Context(), ev)
	if tok.Scope != wire.ScopeAdmin {
		keys = slices.DeleteFunc(keys, func(k kido.Key) bool { return !slices.Contains(tok.Events, k.Event) })
	}
	return http.StatusOK, keys, err
}

func (s *Server) rotateKey(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	key, err := s.newSealedKey(purposeSigning)
	if err != nil {
		return 0, nil, err
	}
	k, err := s.store.AddKey(r.Context(), ev, key, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("signing key rotated", "event", ev, "key", k.ID)
	return http.StatusCreated, k, nil
}

func (s *Server) revokeKey(r *http.Request, tok wire.Token) (int, any, error) {
	id := r.PathValue("key")
	if _, err := ticket.ParseKeyID(id); err != nil {
		return 0, nil, Errorf(ErrInvalid, "key ids are 8 hex digits, as kidoctl keys list shows", "bad key id %q", id)
	}
	var in wire.KeyRevoke
	if r.ContentLength != 0 {
		if err := readJSON(r, maxBody, &in); err != nil {
			return 0, nil, err
		}
	}
	// The scope is checked against the event that holds the key, before
	// anything changes.
	keys, err := s.store.Keys(r.Context(), in.Event)
	if err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(keys, func(k kido.Key) bool { return k.ID == id })
	if i < 0 {
		return 0, nil, Errorf(ErrNotFound, "kidoctl keys list shows the keys", "no signing key %s", id)
	}
	if err := mayEvent(tok, keys[i].Event); err != nil {
		return 0, nil, err
	}
	k, err := s.store.RevokeKey(r.Context(), in.Event, id)
	if err != nil {
		return 0, nil, err
	}
	s.changed(k.Event)
	s.log.Warn("signing key revoked", "event", k.Event, "key", k.ID)
	return http.StatusOK, k, nil
}
