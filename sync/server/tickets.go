package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"

	"kido.dev/kido"

	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// maxIssueChunk bounds the tickets of one issue request.
const maxIssueChunk = 10000

var batchRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// signer unseals the event's current key and returns a Signer for it.
func (s *Server) signer(r *http.Request, ev uint32) (Signer, error) {
	sk, err := s.store.CurrentKey(r.Context(), ev)
	if errors.Is(err, ErrNotFound) {
		if _, err := s.store.Events(r.Context(), []uint32{ev}); err != nil {
			return Signer{}, err
		}
		return Signer{}, Errorf(ErrConflict, fmt.Sprintf("make a new key with: kidoctl keys rotate -event %d", ev), "event %d has no usable signing key (the current one was revoked)", ev)
	}
	if err != nil {
		return Signer{}, err
	}
	priv, err := s.unseal(sk, purposeSigning)
	if err != nil {
		return Signer{}, err
	}
	return Signer{
		Key:  sk.Public.ID().String(),
		Sign: func(c ticket.Claims) string { return ticket.Sign(priv, c).String() },
	}, nil
}

func (s *Server) issue(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var in wire.IssueRequest
	if err := readJSON(r, maxIssueBody, &in); err != nil {
		return 0, nil, err
	}
	if err := checkIssue(&in); err != nil {
		return 0, nil, err
	}
	sg, err := s.signer(r, ev)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.store.Issue(r.Context(), ev, in, sg)
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	return http.StatusOK, wire.IssueResponse{Batch: in.Batch, Tickets: out}, nil
}

func checkIssue(in *wire.IssueRequest) error {
	if !batchRE.MatchString(in.Batch) {
		return Errorf(ErrInvalid, "a batch id is 1 to 64 letters, digits, '.', '_' or '-'", "bad batch id %q", in.Batch)
	}
	if len(in.Tickets) == 0 || len(in.Tickets) > maxIssueChunk {
		return Errorf(ErrInvalid, "send the batch in chunks", "a request issues 1 to %d tickets, not %d", maxIssueChunk, len(in.Tickets))
	}
	// A batch numbers at most one ticket per serial; the bound keeps
	// Offset+i far from wrapping.
	if in.Offset < 0 || in.Offset > math.MaxUint32-len(in.Tickets) {
		return Errorf(ErrInvalid, "offsets count the batch's tickets from 0", "offset %d out of range 0 to %d", in.Offset, math.MaxUint32-len(in.Tickets))
	}
	for i := range in.Tickets {
		it := &in.Tickets[i]
		var err error
		n := in.Offset + i
		if it.Holder, err = cleanText(fmt.Sprintf("holder of item %d", n), it.Holder, 200, false); err != nil {
			return err
		}
		if it.Reading, err = cleanText(fmt.Sprintf("reading of item %d", n), it.Reading, 200, false); err != nil {
			return err
		}
		if it.Email, err = cleanText(fmt.Sprintf("email of item %d", n), it.Email, 254, false); err != nil {
			return err
		}
		if it.OrderRef, err = cleanText(fmt.Sprintf("order_ref of item %d", n), it.OrderRef, 100, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) selection(r *http.Request) (uint32, wire.Selection, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var sel wire.Selection
	if err := readJSON(r, maxBody, &sel); err != nil {
		return 0, sel, err
	}
	if (len(sel.Serials) == 0) == (sel.OrderRef == "") {
		return 0, sel, Errorf(ErrInvalid, "give serials or an order reference", "select tickets by serials or by order_ref, exactly one of the two")
	}
	return ev, sel, nil
}

func (s *Server) revoke(r *http.Request, _ wire.Token) (int, any, error) {
	ev, sel, err := s.selection(r)
	if err != nil {
		return 0, nil, err
	}
	already, err := s.revokedBefore(r.Context(), ev, sel)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.store.Revoke(r.Context(), ev, sel)
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("tickets revoked", "event", ev, "count", len(out)-len(already))
	return http.StatusOK, wire.Revoked{Tickets: out, AlreadyRevoked: already}, nil
}

// revokedBefore returns which of the selected tickets are revoked already,
// for the answer to say so. It is read before the revocation, in a
// transaction of its own: a revocation racing this one may be told as new
// to both callers, which changes nothing but the message.
func (s *Server) revokedBefore(ctx context.Context, ev uint32, sel wire.Selection) ([]uint32, error) {
	var already []uint32
	if sel.OrderRef != "" {
		ts, err := s.store.Tickets(ctx, ev, sel.OrderRef)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Revoked {
				already = append(already, t.Serial)
			}
		}
		return already, nil
	}
	is, err := s.store.IssuedTickets(ctx, ev, sel.Serials)
	if err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	for _, serial := range sel.Serials {
		if i, ok := is[serial]; ok && i.Revoked != 0 && !seen[serial] {
			seen[serial] = true
			already = append(already, serial)
		}
	}
	return already, nil
}

func (s *Server) reissue(r *http.Request, _ wire.Token) (int, any, error) {
	ev, sel, err := s.selection(r)
	if err != nil {
		return 0, nil, err
	}
	sg, err := s.signer(r, ev)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.store.Reissue(r.Context(), ev, sel, sg)
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("tickets reissued", "event", ev, "count", len(out))
	return http.StatusOK, wire.Reissued{Tickets: out}, nil
}

func (s *Server) tickets(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	out, err := s.store.Tickets(r.Context(), ev, "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// DeliveryRefused says why a run may not claim a ticket for sending, ""
// when it may: every Store's Deliver decides by it.
func DeliveryRefused(revoked bool, m *wire.Mail, req wire.DeliveryRequest) string {
	switch {
	case revoked:
		return "revoked"
	case m == nil:
		return ""
	case m.State == wire.MailSent:
		return wire.MailSent
	case m.State == wire.MailSending && m.Run != req.Run && !req.Retake:
		return wire.MailSending
	}
	return ""
}

// maxDelivery bounds a DeliveryRequest's claims and results, and a
// result's address and answer.
const (
	maxDeliveryItems = 1000
	maxDeliveryText  = 1000
)

func (s *Server) deliver(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var req wire.DeliveryRequest
	if err := readJSON(r, maxBody, &req); err != nil {
		return 0, nil, err
	}
	if !validRun(req.Run) {
		return 0, nil, Errorf(ErrInvalid, "run is 16 to 64 of a-z and 0-9, chosen at random by the sender", "bad run id %q", req.Run)
	}
	if len(req.Claim) > maxDeliveryItems || len(req.Results) > maxDeliveryItems {
		return 0, nil, Errorf(ErrInvalid, "", "at most %d claims and %d results in a request", maxDeliveryItems, maxDeliveryItems)
	}
	for _, res := range req.Results {
		for what, v := range map[string]string{"to": res.To, "answer": res.Answer} {
			if len(v) > maxDeliveryText {
				return 0, nil, Errorf(ErrInvalid, "", "result of ticket %d: %s longer than %d bytes", res.Serial, what, maxDeliveryText)
			}
			if err := kido.CheckText(v); err != nil {
				return 0, nil, Errorf(ErrInvalid, "", "result of ticket %d: %s: %v", res.Serial, what, err)
			}
		}
	}
	out, err := s.store.Deliver(r.Context(), ev, req, s.now())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

func validRun(run string) bool {
	if len(run) < 16 || len(run) > 64 {
		return false
	}
	for _, c := range []byte(run) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
