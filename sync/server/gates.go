package server

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

func (s *Server) addGate(r *http.Request, _ wire.Token) (int, any, error) {
	ev, _ := parseEvent(r.PathValue("event"))
	var in wire.GateCreate
	if err := readJSON(r, maxBody, &in); err != nil {
		return 0, nil, err
	}
	g, err := s.checkGate(r, ev, in)
	if err != nil {
		return 0, nil, err
	}
	n, err := rand.Int(s.rand, new(big.Int).Exp(big.NewInt(10), big.NewInt(wire.EnrollSecretDigits), nil))
	if err != nil {
		return 0, nil, fmt.Errorf("server: enrolment code: %w", err)
	}
	code := wire.EnrollCode{Secret: fmt.Sprintf("%0*d", wire.EnrollSecretDigits, n), Fingerprint: s.info.Fingerprint}
	expires := s.now().Add(s.codeTTL).UTC()
	g, err = s.store.AddGate(r.Context(), g, GateCode{Hash: HashToken(code.Secret), Expires: expires})
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Info("gate added", "event", ev, "gate", g.ID, "code_expires", expires)
	return http.StatusCreated, wire.GateCreated{Gate: g, Code: code.String(), Expires: expires, Server: s.info}, nil
}

// checkGate validates a GateCreate and resolves its tier names to ids.
func (s *Server) checkGate(r *http.Request, ev uint32, in wire.GateCreate) (kido.Gate, error) {
	tiers, err := s.store.Tiers(r.Context(), ev)
	if err != nil {
		return kido.Gate{}, err
	}
	return resolveGate(ev, in, tiers)
}

// resolveGate validates a gate's settings and resolves its tier names (or
// ids) to ids among the event's tiers: for a new gate and a corrected one.
func resolveGate(ev uint32, in wire.GateCreate, tiers []kido.Tier) (kido.Gate, error) {
	g := kido.Gate{Event: ev, Direction: in.Direction}
	var err error
	if g.Name, err = cleanText("gate name", in.Name, 100, true); err != nil {
		return g, err
	}
	switch g.Direction {
	case "":
		g.Direction = kido.DirectionEntry
	case kido.DirectionEntry, kido.DirectionExit, kido.DirectionBoth:
	default:
		return g, Errorf(ErrInvalid, "use entry, exit or both", "unknown direction %q", in.Direction)
	}
	for _, name := range in.Tiers {
		i := slices.IndexFunc(tiers, func(t kido.Tier) bool {
			return strings.EqualFold(t.Name, strings.TrimSpace(name)) || strconv.Itoa(int(t.ID)) == name
		})
		if i < 0 {
			return g, Errorf(ErrInvalid, fmt.Sprintf("kidoctl event show %d lists its tiers", ev), "event %d has no tier %q", ev, name)
		}
		if !slices.Contains(g.Tiers, tiers[i].ID) {
			g.Tiers = append(g.Tiers, tiers[i].ID)
		}
	}
	slices.Sort(g.Tiers)
	return g, nil
}

// listGates answers the event's gates with their heartbeats and upload
// state (docs/sync-protocol.md §6).
func (s *Server) listGates(r *http.Request, _ wire.Token) (int, any, error) {
	id, _ := parseEvent(r.PathValue("event"))
	after := defaultSilentAfter
	if v := r.URL.Query().Get("silent_after"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 30*time.Second || d > 24*time.Hour {
			return 0, nil, Errorf(ErrInvalid, "give a Go duration from 30s to 24h, e.g. 2m", "bad silent_after %q", v)
		}
		after = d
	}
	evs, err := s.store.Events(r.Context(), []uint32{id})
	if err != nil {
		return 0, nil, err
	}
	sts, err := s.gateStatuses(r.Context(), evs[0], after)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sts, nil
}

// revokeGate revokes a gate and its credential; its next contact is 401
// gate_revoked and it wipes its replica (docs/sync-protocol.md §8).
func (s *Server) revokeGate(r *http.Request, _ wire.Token) (int, any, error) {
	ev, id, err := gateRequest(r, nil)
	if err != nil {
		return 0, nil, err
	}
	g, err := s.store.RevokeGate(r.Context(), ev, id, s.now())
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Warn("gate revoked", "event", ev, "gate", g.ID, "name", g.Name)
	return http.StatusOK, g, nil
}

// voidGate voids a revoked gate's admissions from a time on, recorded with
// who, when and why (docs/sync-protocol.md §3.6); the void travels through
// the feed so the gates stop counting them.
func (s *Server) voidGate(r *http.Request, tok wire.Token) (int, any, error) {
	var in wire.VoidRequest
	ev, id, err := gateRequest(r, &in)
	if err != nil {
		return 0, nil, err
	}
	if in.From.IsZero() {
		return 0, nil, Errorf(ErrInvalid, "give from: the time the gate was stolen or misused, e.g. 2027-08-01T10:00:00+09:00", "void without a from time")
	}
	if err := kido.CheckTime("from", in.From); err != nil {
		return 0, nil, Errorf(ErrInvalid, "give the time the gate was stolen or misused, e.g. 2027-08-01T10:00:00+09:00", "void %v", err)
	}
	if !kido.HasReason(in.Reason) {
		return 0, nil, Errorf(ErrInvalid, "say why, e.g. \"tablet stolen at North 1\"", "void without a reason")
	}
	if err := wire.CheckReason(in.Reason); err != nil {
		return 0, nil, Errorf(ErrInvalid, fmt.Sprintf("one line of at most %d bytes", kido.MaxReason), "void %v", err)
	}
	v := kido.Void{Event: ev, Gate: id, From: in.From.UTC(), Reason: in.Reason, By: tok.Name, Created: s.now().UTC()}
	v, n, err := s.store.VoidGate(r.Context(), v)
	if err != nil {
		return 0, nil, err
	}
	s.changed(ev)
	s.log.Warn("gate voided", "event", ev, "gate", v.Gate, "from", v.From, "voided", n, "by", v.By, "reason", v.Reason)
	return http.StatusOK, wire.Voided{Void: v, Voided: n}, nil
}

// enroll needs no token: the single-use code is the credential. Every
// attempt takes from the global and per-source budgets before any code is
// looked at (a success gives it back), and a failure counts against the
// code id it named (enrolGuard). An unauthenticated caller learns only
// that a code did not work, never which gate used it or when: that goes to
// the log.
func (s *Server) enroll(r *http.Request) (int, any, error) {
	source := sourceOf(r.RemoteAddr)
	if !s.enrolGuard.take(source) {
		s.metrics.enrolment("throttled")
		return 0, nil, Errorf(ErrUnavailable, "wait a minute and try again", "too many failed enrolment attempts")
	}
	g, id, resp, err := s.tryEnroll(r)
	if err == nil {
		s.enrolGuard.refund(source)
		s.metrics.enrolment("ok")
		s.log.Info("gate enrolled", "event", g.Event, "gate", g.ID)
		return http.StatusOK, resp, nil
	}
	if code, _ := status(err); code != http.StatusBadRequest && code != http.StatusNotFound {
		s.enrolGuard.refund(source) // the server's fault, not a guess
		return 0, nil, err
	}
	if id != "" {
		s.enrolGuard.failed(id)
	}
	s.metrics.enrolment("failed")
	s.log.Warn("enrolment failed", "remote", r.RemoteAddr, "code_id", id, "err", err)
	return 0, nil, err
}

// tryEnroll returns the enrolled gate, or an error and the id of the code
// the attempt named ("" when none parsed).
func (s *Server) tryEnroll(r *http.Request) (kido.Gate, string, *wire.EnrollResponse, error) {
	var in wire.EnrollRequest
	if err := readJSON(r, maxBody, &in); err != nil {
		return kido.Gate{}, "", nil, err
	}
	code, err := wire.ParseEnrollCode(in.Code)
	if err != nil {
		return kido.Gate{}, "", nil, Errorf(ErrInvalid, "type the code exactly as kidoctl gate add printed it", "%v", err)
	}
	if code.Fingerprint != s.info.Fingerprint {
		return kido.Gate{}, "", nil, Errorf(ErrNotFound, "enrol with the server that made the code", "this code was made by another server (fingerprint %s, this server is %s)", code.Fingerprint, s.info.Fingerprint)
	}
	id := code.ID()
	if s.enrolGuard.burned(id) {
		return kido.Gate{}, id, nil, Errorf(ErrNotFound, "", "code refused after %d failed attempts", maxCodeFailures)
	}
	if n := len(in.Nonce); n < 16 || n > 128 {
		return kido.Gate{}, id, nil, Errorf(ErrInvalid, "send 16 to 128 random characters", "nonce of %d characters", n)
	}
	if n := len(in.Pub); n != 0 && n != ed25519.PublicKeySize {
		return kido.Gate{}, id, nil, Errorf(ErrInvalid, "send the gate's Ed25519 public key, 32 bytes", "gate key of %d bytes", n)
	}
	device, err := cleanText("device", in.Device, 100, false)
	if err != nil {
		return kido.Gate{}, id, nil, err
	}
	secret, err := s.newSecret()
	if err != nil {
		return kido.Gate{}, id, nil, err
	}
	cred := NewToken{Token: wire.Token{Name: "gate device " + device, Scope: wire.ScopeGate}, Hash: HashToken(secret)}
	g, err := s.store.Enroll(r.Context(), HashToken(code.Secret), device, in.Pub, cred, s.now())
	if errors.Is(err, ErrNotFound) {
		// The store says why (used by which gate, when, expired): the log
		// keeps it, the caller may be guessing and learns nothing.
		s.log.Warn("enrolment code refused", "remote", r.RemoteAddr, "code_id", id, "why", err)
		return kido.Gate{}, id, nil, Errorf(ErrNotFound, "check the code, or make a new one with kidoctl gate add (a code works once, for 24 hours)", "unknown, used or expired enrolment code")
	}
	if err != nil {
		return kido.Gate{}, id, nil, err
	}
	sig := ed25519.Sign(s.identity, wire.EnrollSignedMessage(in.Nonce, g.ID, secret))
	return g, id, &wire.EnrollResponse{
		Gate:       g,
		Credential: secret,
		Server:     s.info,
		Signature:  base64.StdEncoding.EncodeToString(sig),
	}, nil
}

// snapshot serves GET /v1/gate/snapshot?nonce=N: the gate's full state,
// signed with the nonce (docs/sync-protocol.md §13).
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request, tok wire.Token) error {
	if err := s.heartbeat(r, tok); err != nil {
		return err
	}
	nonce := r.URL.Query().Get("nonce")
	if err := wire.CheckNonce(nonce); err != nil {
		return Errorf(ErrInvalid, "send nonce=, 32 random hex digits, as kido-gate does", "snapshot: %v", err)
	}
	if !s.snapping.start(tok.Gate) {
		s.shed(w, "snapshot", true)
		return nil
	}
	defer s.snapping.done(tok.Gate)
	select {
	case s.snapshots <- struct{}{}:
		defer func() { <-s.snapshots }()
	default:
		s.shed(w, "snapshot", false)
		return nil
	}
	snap, err := s.store.Snapshot(r.Context(), tok.Gate)
	if err != nil {
		return err
	}
	if snap.Gate.Revoked {
		return Errorf(ErrForbidden, "enrol the device again with a new code from kidoctl gate add", "gate %d was revoked", snap.Gate.ID)
	}
	snap.Server = s.info
	snap.ServerTime = s.now().UTC()
	// The whole body is encoded before a byte is sent: its signature goes
	// in a header (docs/sync-protocol.md §13).
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(snap); err != nil {
		return fmt.Errorf("server: encode snapshot: %w", err)
	}
	w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.SnapshotSignedMessage(nonce, body.Bytes())))
	w.Header().Set("Content-Type", "application/json")
	var out io.Writer = w
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer zw.Close()
		out = zw
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	}
	if _, err := out.Write(body.Bytes()); err != nil {
		// The status is sent; the gate sees a truncated body and retries.
		s.log.Warn("snapshot not sent whole", "gate", tok.Gate, "err", err)
	}
	return nil
}

// gateRequest reads the event and gate ids of a request to
// /v1/events/{event}/gates/{gate}/..., and its JSON body into in unless
// in is nil. The event id was checked by the route's access check.
func gateRequest(r *http.Request, in any) (ev, id uint32, err error) {
	ev, _ = parseEvent(r.PathValue("event"))
	n, err := strconv.ParseUint(r.PathValue("gate"), 10, 32)
	if err != nil || n == 0 {
		return 0, 0, Errorf(ErrInvalid, fmt.Sprintf("gate ids are the numbers kidoctl gates -event %d shows", ev), "bad gate id %q", r.PathValue("gate"))
	}
	if in != nil {
		if err := readJSON(r, maxBody, in); err != nil {
			return 0, 0, err
		}
	}
	return ev, uint32(n), nil
}
