package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// This file holds what gate keys add to an upload (docs/mesh.md): every
// admission of a gate that has a key must carry its valid signature, and
// a gate may relay other gates' signed records of its event.

// checkSigs checks the signature of every admission of req against its
// origin gate's key, before anything is stored: a record of a gate that
// has a key is refused, with the whole request, when its signature is
// missing or not that key's (400 bad_sig); a relayed record must name
// another gate of the event (403 wrong_gate) that has a key. Signatures
// of the uploader's own records are dropped when it has no key (a gate
// enrolled before gate keys): nothing could verify them.
func (s *Server) checkSigs(ctx context.Context, ev uint32, tok wire.Token, req *wire.UploadRequest) error {
	if len(req.Admissions) == 0 && len(req.Relayed) == 0 {
		return nil
	}
	pubs, err := s.gateKeys.of(ctx, s.store, ev, tok.Gate, req.Relayed)
	if err != nil {
		return err
	}
	const hint = "the record was changed after its gate signed it, or forged; call the operator"
	own := pubs[tok.Gate]
	if len(own) == 0 {
		for i := range req.Admissions {
			req.Admissions[i].Sig = nil
		}
	}
	errs := make([]error, len(req.Admissions)+len(req.Relayed))
	verifyAll(len(errs), func(i int) {
		if i < len(req.Admissions) {
			if a := req.Admissions[i]; len(own) > 0 {
				errs[i] = verifyRecord(own, a)
			}
			return
		}
		a := req.Relayed[i-len(req.Admissions)]
		pub, known := pubs[a.Gate]
		switch {
		case a.Gate == tok.Gate:
			errs[i] = codeErrorf(ErrInvalid, wire.CodeBadBatch, "a gate sends its own records in admissions, not relayed", "relayed admission %d names the uploading gate %d", a.Seq, a.Gate)
		case !known:
			errs[i] = codeErrorf(ErrForbidden, wire.CodeWrongGate, "a gate relays only records of gates of its own event", "relayed admission %d names gate %d, not a gate of event %d", a.Seq, a.Gate, ev)
		case len(pub) == 0:
			errs[i] = codeErrorf(ErrInvalid, wire.CodeBadSig, "only records of gates enrolled with a key are relayed; the gate uploads its own", "relayed admission %d of gate %d: the gate has no key", a.Seq, a.Gate)
		default:
			errs[i] = verifyRecord(pub, a)
		}
	})
	for i, err := range errs {
		if err == nil {
			continue
		}
		var se *Error
		if !errors.As(err, &se) {
			err = codeErrorf(ErrInvalid, wire.CodeBadSig, hint, "upload from gate %d: %v", tok.Gate, err)
		}
		if i >= len(req.Admissions) {
			s.log.Warn("upload: relayed record refused", "event", ev, "gate", tok.Gate, "err", err)
		}
		return err
	}
	return nil
}

// verifyRecord checks admission a's signature against its gate's key pub,
// naming the record in the error.
func verifyRecord(pub ed25519.PublicKey, a kido.Admission) error {
	if err := wire.VerifyAdmission(pub, a); err != nil {
		return fmt.Errorf("admission %d of gate %d: %w", a.Seq, a.Gate, err)
	}
	return nil
}

// storeRelayed stores the relayed records of req, one origin gate at a
// time, as that gate's own upload would be: checked (checkAdmissions:
// ticket, suspicion, the origin's revocation), then stored by (origin,
// seq) and hash, so a record relayed twice, or also uploaded by its
// origin, is stored once and one with another hash is quarantined. Each
// origin is its own transaction: what one stored stays if a later one
// fails, and a retry finds it a duplicate.
func (s *Server) storeRelayed(r *http.Request, ev, uploader uint32, relayed []kido.Admission) ([]wire.RelayAck, error) {
	var acks []wire.RelayAck
	for len(relayed) > 0 {
		n := 1
		for n < len(relayed) && relayed[n].Gate == relayed[0].Gate {
			n++
		}
		origin, recs := relayed[0].Gate, relayed[:n]
		relayed = relayed[n:]
		flags, err := s.checkAdmissions(r, ev, origin, recs)
		if err != nil {
			return nil, err
		}
		req := &wire.UploadRequest{Admissions: recs}
		resp, err := s.store.Upload(r.Context(), ev, origin, req, flags, s.now())
		if err != nil {
			return nil, err
		}
		if resp.Stored > 0 {
			s.changed(ev)
		}
		s.marks.stored(origin, resp.Highest)
		s.metrics.uploaded(req, &resp)
		for _, f := range resp.Flagged {
			s.metrics.flagged(f.Status)
			s.log.Warn("upload: relayed admission stored as "+f.Status, "event", ev, "gate", origin, "relayed_by", uploader, "seq", f.Seq, "why", f.Reason)
		}
		ack := wire.RelayAck{Gate: origin, Acked: resp.Acked, Highest: resp.Highest, Stored: resp.Stored, Duplicates: resp.Duplicates}
		for _, q := range resp.Quarantined {
			ack.Quarantined = append(ack.Quarantined, q.Seq)
		}
		if len(ack.Quarantined) > 0 {
			s.log.Warn("upload quarantined: same (gate, seq), other content", "event", ev, "gate", origin, "relayed_by", uploader, "seqs", ack.Quarantined)
		}
		acks = append(acks, ack)
	}
	return acks, nil
}

// gateKeys caches the gates' public keys, so that an upload's signature
// checks cost no read of the store. A gate's key is set once, at its
// enrolment, and never changes: a gate known with a key is known for
// good, and so is an enrolled gate known without one (the uploader, whose
// credential proves its enrolment). Only a gate not yet enrolled can gain
// a key, so no other gate is cached without one.
type gateKeys struct {
	mu sync.Mutex
	m  map[uint32]ed25519.PublicKey // gate → key; nil: enrolled without one
}

// of returns the keys of the uploader and of every origin of relayed, by
// gate id; a gate absent from the map is not a gate of event ev. It reads
// the store only when one of them is not cached.
func (k *gateKeys) of(ctx context.Context, st Store, ev, uploader uint32, relayed []kido.Admission) (map[uint32]ed25519.PublicKey, error) {
	k.mu.Lock()
	out := map[uint32]ed25519.PublicKey{}
	missing := false
	for _, g := range append([]uint32{uploader}, gatesOf(relayed)...) {
		pub, ok := k.m[g]
		if !ok {
			missing = true
			break
		}
		out[g] = pub
	}
	k.mu.Unlock()
	if !missing {
		return out, nil
	}
	gs, err := st.Gates(ctx, ev)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[uint32]ed25519.PublicKey{}
	}
	out = map[uint32]ed25519.PublicKey{}
	for _, g := range gs {
		out[g.ID] = g.Pub
		if len(g.Pub) > 0 || g.ID == uploader {
			k.m[g.ID] = g.Pub
		}
	}
	return out, nil
}

// gatesOf lists the gates of records, each once.
func gatesOf(recs []kido.Admission) []uint32 {
	var out []uint32
	for i, a := range recs {
		if i == 0 || a.Gate != recs[i-1].Gate {
			out = append(out, a.Gate)
		}
	}
	return out
}
