package server

import (
	"net/http"
	"slices"
	"strconv"

	"kido.dev/kido/sync/wire"
)

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	var in wire.TokenCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	name, err := cleanText("token name", in.Name, 100, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch in.Scope {
	case wire.ScopeAdmin:
		if len(in.Events) > 0 {
			s.fail(w, r, Errorf(ErrInvalid, "leave out the events, or use scope promoter", "an admin token covers every event; it takes no event list"))
			return
		}
	case wire.ScopePromoter:
		if len(in.Events) == 0 {
			s.fail(w, r, Errorf(ErrInvalid, "name the events it may manage, e.g. -events 1,2", "a promoter token needs at least one event"))
			return
		}
		if _, err := s.store.Events(r.Context(), in.Events); err != nil {
			s.fail(w, r, err)
			return
		}
	default:
		s.fail(w, r, Errorf(ErrInvalid, "gate credentials come from kido-gate enroll", "scope %q is not admin or promoter", in.Scope))
		return
	}
	secret, err := s.newSecret()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events := slices.Clone(in.Events)
	slices.Sort(events)
	t, err := s.store.CreateToken(r.Context(), NewToken{
		Token: wire.Token{Name: name, Scope: in.Scope, Events: slices.Compact(events)},
		Hash:  HashToken(secret),
	}, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("token created", "token", t.ID, "scope", t.Scope)
	writeJSON(w, http.StatusCreated, wire.TokenCreated{Token: t, Secret: secret})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	ts, err := s.store.Tokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ wire.Token) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil || id == 0 {
		s.fail(w, r, Errorf(ErrInvalid, "token ids are the numbers kidoctl token list shows", "bad token id %q", r.PathValue("id")))
		return
	}
	t, err := s.store.RevokeToken(r.Context(), uint32(id), s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("token revoked", "token", t.ID)
	writeJSON(w, http.StatusOK, t)
}
