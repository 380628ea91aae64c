package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// upload serves POST /v1/gate/upload in the order of docs/sync-protocol.md
// §9.2: the credential and heartbeat are checked by then; one upload per
// gate, then the body is read under its deadline (bodyWithin: a slow
// sender holds its own connection, not a worker), then it waits for a
// worker; every check comes before anything is written.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, tok wire.Token) error {
	if err := s.heartbeat(r, tok); err != nil {
		return err
	}
	if !s.uploading.start(tok.Gate) {
		s.shed(w, "upload", true)
		return nil
	}
	defer s.uploading.done(tok.Gate)
	body, err := readBody(r, wire.MaxUploadBody)
	if err != nil {
		s.metrics.shed("upload-body")
		return err
	}
	if !s.uploads.acquire(s.feed.stop) {
		s.shed(w, "upload", false)
		return nil
	}
	defer s.uploads.release()

	// The answer is signed over the hash of the body as received
	// (docs/sync-protocol.md §13.1).
	sum := sha256.Sum256(body)
	status, resp, err := s.doUpload(r, tok, body)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(resp)
	w.Header().Set(wire.HeaderSignature, wire.SignAnswer(s.identity, wire.UploadSignedMessage(tok.Events[0], tok.Gate, sum, b.Bytes())))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b.Bytes())
	return nil
}

func (s *Server) doUpload(r *http.Request, tok wire.Token, body []byte) (int, *wire.UploadResponse, error) {
	var req wire.UploadRequest
	if err := wire.Decode(bytes.NewReader(body), &req, wire.MaxUploadBody); err != nil {
		if errors.Is(err, wire.ErrTooLarge) {
			return 0, nil, codeErrorf(ErrTooLarge, wire.CodeTooLarge, fmt.Sprintf("send at most %d records per upload", wire.MaxBatch), "upload body over %d bytes", wire.MaxUploadBody)
		}
		return 0, nil, codeErrorf(ErrInvalid, wire.CodeMalformed, "update kido-gate; the upload format is in docs/sync-protocol.md §3.1", "upload: %v", err)
	}
	if err := req.Check(); err != nil {
		var ue *wire.UploadError
		code := wire.CodeMalformed
		if errors.As(err, &ue) {
			code = ue.Code
		}
		return 0, nil, codeErrorf(ErrInvalid, code, "the gate sent a record that breaks the protocol; call the operator", "upload from gate %d: %v", tok.Gate, err)
	}
	for _, a := range req.Admissions {
		if a.Gate != tok.Gate {
			return 0, nil, codeErrorf(ErrForbidden, wire.CodeWrongGate, "a gate uploads only its own records", "admission %d names gate %d; this credential is gate %d's", a.Seq, a.Gate, tok.Gate)
		}
	}
	for _, a := range req.Audits {
		if a.Gate != tok.Gate {
			return 0, nil, codeErrorf(ErrForbidden, wire.CodeWrongGate, "a gate uploads only its own records", "audit %d names gate %d; this credential is gate %d's", a.Seq, a.Gate, tok.Gate)
		}
	}
	ev := tok.Events[0]
	if err := s.checkSigs(r.Context(), ev, tok, &req); err != nil {
		return 0, nil, err
	}
	flags, err := s.checkAdmissions(r, ev, tok.Gate, req.Admissions)
	if err != nil {
		return 0, nil, err
	}
	relayed := req.Relayed
	req.Relayed = nil
	resp, err := s.store.Upload(r.Context(), ev, tok.Gate, &req, flags, s.now())
	if err != nil {
		return 0, nil, err
	}
	// Committed: waiting long-polls wake, and the periodic check counts
	// the event again, even if the relayed records fail below.
	if resp.Stored > 0 {
		s.changed(ev)
	}
	if resp.Relayed, err = s.storeRelayed(r, ev, tok.Gate, relayed); err != nil {
		return 0, nil, err
	}
	s.marks.stored(tok.Gate, resp.Highest)
	s.uploadAcked(tok.Gate, &req, &resp)
	s.metrics.uploaded(&req, &resp)
	for _, f := range resp.Flagged {
		s.metrics.flagged(f.Status)
		s.log.Warn("upload: admission stored as "+f.Status, "event", ev, "gate", tok.Gate, "seq", f.Seq, "why", f.Reason)
	}
	resp.ServerTime = s.now().UTC()
	if len(resp.Quarantined) == 0 {
		return http.StatusOK, &resp, nil
	}
	s.log.Warn("upload quarantined: same (gate, seq), other content", "event", ev, "gate", tok.Gate, "records", resp.Quarantined)
	resp.Code = wire.CodeSeqConflict
	resp.Error = fmt.Sprintf("server: gate %d reused %d sequence numbers with other content; those records are quarantined", tok.Gate, len(resp.Quarantined))
	resp.Hint = "the gate was restored from a backup or its disk cloned; the operator sees the records in kidoctl gates"
	return http.StatusConflict, &resp, nil
}

// parallelVerify is the fewest signatures worth spreading over the cores:
// below it, starting goroutines costs more than it saves.
const parallelVerify = 32

// checkAdmissions checks the admissions not already stored with the same
// hash (docs/sync-protocol.md §3.3, §3.6) and returns the flags of those
// to store as refused or suspect; nothing is refused whole, so one bad
// record never holds up the gate's records behind it.
//
// Ticket verification: an admission whose text is byte for byte the text
// this server issued for its serial is authentic without a signature
// check (the server signed exactly those bytes); any other text must
// parse, verify under a key of the event (revoked keys included: the
// admission happened), be for this event and carry the record's serial
// and tier. Either way the serial must have been issued with the record's
// tier. A failure stores the admission as refused, with its text, and
// logs it in the refused-uploads log. An admission that passes is then
// checked against the gate (suspicion.suspect).
func (s *Server) checkAdmissions(r *http.Request, ev, gate uint32, batch []kido.Admission) (map[uint64]wire.Flag, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	stored, err := s.store.StoredHashes(r.Context(), gate, batch[0].Seq, batch[len(batch)-1].Seq)
	if err != nil {
		return nil, err
	}
	as := slices.DeleteFunc(slices.Clone(batch), func(a kido.Admission) bool { return stored[a.Seq] == a.Hash })
	if len(as) == 0 {
		return nil, nil
	}
	serials := make([]uint32, len(as))
	for i, a := range as {
		serials[i] = a.Serial
	}
	issued, err := s.store.IssuedTickets(r.Context(), ev, serials)
	if err != nil {
		return nil, err
	}
	msgs := make([]string, len(as))
	var signed []int // admissions whose text must be verified by signature
	byText := 0
	for i, a := range as {
		t, ok := issued[a.Serial]
		switch {
		case !ok:
			msgs[i] = fmt.Sprintf("serial %d was never issued for event %d", a.Serial, ev)
		case a.Kind == kido.KindManual || a.Kind == kido.KindUndo || (t.Text != "" && a.Text == t.Text):
			// A manual admission and an undo carry no ticket to verify.
			if a.Kind != kido.KindManual && a.Kind != kido.KindUndo {
				byText++
			}
			if t.Tier != a.Tier {
				msgs[i] = fmt.Sprintf("serial %d was issued with tier %d, not %d", a.Serial, t.Tier, a.Tier)
			}
		default:
			signed = append(signed, i)
		}
	}
	s.metrics.verified(byText, len(signed))
	if len(signed) > 0 {
		kr, err := s.keyring(r, ev)
		if err != nil {
			return nil, err
		}
		verifyAll(len(signed), func(j int) {
			i := signed[j]
			msgs[i] = checkTicket(kr, ev, as[i], issued[as[i].Serial].Tier)
		})
	}
	sp, err := s.newSuspicion(r.Context(), ev, gate, batch)
	if err != nil {
		return nil, err
	}
	flags := map[uint64]wire.Flag{}
	var refused []Refusal
	for i, a := range as {
		if msgs[i] != "" {
			flags[a.Seq] = flag(a, wire.StatusRefused, msgs[i])
			refused = append(refused, Refusal{Event: ev, Gate: gate, Record: wire.RecordAdmission, Seq: a.Seq, Hash: a.Hash,
				Error: fmt.Sprintf("server: admission %d: %s", a.Seq, msgs[i]), Received: s.now()})
			continue
		}
		if why := sp.suspect(a, issued[a.Serial]); why != "" {
			flags[a.Seq] = flag(a, wire.StatusSuspect, why)
		}
	}
	if len(refused) > 0 {
		if err := s.store.RecordRefused(r.Context(), refused); err != nil {
			return nil, err
		}
	}
	return flags, nil
}

// keyring returns every key of the event, revoked ones included.
func (s *Server) keyring(r *http.Request, ev uint32) (*ticket.Keyring, error) {
	keys, err := s.store.Keys(r.Context(), ev)
	if err != nil {
		return nil, err
	}
	var kr ticket.Keyring
	for _, k := range keys {
		pub, err := ticket.ParsePublicKey(k.Public)
		if err != nil {
			return nil, fmt.Errorf("server: stored key %s: %w", k.ID, err)
		}
		kr.Add(ticket.Key{Public: pub, Event: k.Event})
	}
	return &kr, nil
}

// verifyAll runs check(0..n-1), spread over the cores when n is large
// enough to pay for it. check must only write to its own index's data.
func verifyAll(n int, check func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n/parallelVerify)
	if workers <= 1 {
		for i := range n {
			check(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				check(i)
			}
		}()
	}
	wg.Wait()
}

// checkTicket returns why admission a's ticket text fails verification, or
// "". issuedTier is the tier its serial was issued with.
func checkTicket(kr *ticket.Keyring, ev uint32, a kido.Admission, issuedTier uint8) string {
	t, err := ticket.Parse(a.Text)
	if err != nil {
		return fmt.Sprintf("ticket text does not parse: %v", err)
	}
	if t.Event != ev {
		return fmt.Sprintf("ticket is for event %d, the gate's event is %d", t.Event, ev)
	}
	// Keys carry no validity window here, and none is revoked in this
	// keyring, so the time given does not matter.
	if err := kr.Verify(t, a.Corrected); err != nil {
		return fmt.Sprintf("ticket does not verify: %v", err)
	}
	if t.Serial != a.Serial || t.Tier != a.Tier {
		return fmt.Sprintf("record says serial %d tier %d, the ticket says serial %d tier %d", a.Serial, a.Tier, t.Serial, t.Tier)
	}
	if issuedTier != a.Tier {
		return fmt.Sprintf("serial %d was issued with tier %d, not %d", a.Serial, issuedTier, a.Tier)
	}
	return ""
}
