package server

import (
	"net/http"
	"slices"
	"strconv"

	"kido.dev/kido/sync/wire"
)

func (s *Server) createToken(r *http.Request, _ wire.Token) (int, any, error) {
	var in wire.TokenCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	name, err := cleanText("token name", in.Name, 100, true)
	if err != nil {
		return 0, nil, err
	}
	switch in.Scope {
	case wire.ScopeAdmin:
		if len(in.Events) > 0 {
			return 0, nil, Errorf(ErrInvalid, "leave out the events, or use scope promoter", "an admin token covers every event; it takes no event list")
		}
	case wire.ScopePromoter:
		if len(in.Events) == 0 {
			return 0, nil, Errorf(ErrInvalid, "name the events it may manage, e.g. -events 1,2", "a promoter token needs at least one event")
		}
		if _, err := s.store.Events(r.Context(), in.Events); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, Errorf(ErrInvalid, "gate credentials come from kido-gate enroll", "scope %q is not admin or promoter", in.Scope)
	}
	secret, err := s.newSecret()
	if err != nil {
		return 0, nil, err
	}
	events := slices.Clone(in.Events)
	slices.Sort(events)
	t, err := s.store.CreateToken(r.Context(), NewToken{
		Token: wire.Token{Name: name, Scope: in.Scope, Events: slices.Compact(events)},
		Hash:  HashToken(secret),
	}, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("token created", "token", t.ID, "scope", t.Scope)
	return http.StatusCreated, wire.TokenCreated{Token: t, Secret: secret}, nil
}

func (s *Server) listTokens(r *http.Request, _ wire.Token) (int, any, error) {
	ts, err := s.store.Tokens(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ts, nil
}

func (s *Server) revokeToken(r *http.Request, _ wire.Token) (int, any, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil || id == 0 {
		return 0, nil, Errorf(ErrInvalid, "token ids are the numbers kidoctl token list shows", "bad token id %q", r.PathValue("id"))
	}
	t, err := s.store.RevokeToken(r.Context(), uint32(id), s.now())
	if err != nil {
		return 0, nil, err
	}
	if t.Scope == wire.ScopeGate {
		for _, ev := range t.Events {
			s.changed(ev)
		}
	}
	s.log.Info("token revoked", "token", t.ID)
	return http.StatusOK, t, nil
}
