package syncer

import (
	"context"
	"fmt"
	"time"

	"kido.dev/kido/sync/wire"
)

// maxRoundPolls bounds the feed answers one Round applies, so that a
// server producing changes without end cannot keep it going forever.
const maxRoundPolls = 1000

// uploadStep is the uploader's step: one upload, idle when nothing more
// is waiting.
func (s *Syncer) uploadStep(ctx context.Context) (bool, error) {
	_, more, err := s.uploadOnce(ctx)
	return !more, err
}

// pullStep is the puller's step: one long-poll with a wait drawn anew
// each time, so that polls started together drift apart.
func (s *Syncer) pullStep(ctx context.Context) (bool, error) {
	wait := s.cfg.PollMin + s.cfg.Jitter(s.cfg.PollMax-s.cfg.PollMin)
	_, err := s.pullOnce(ctx, wait)
	return false, err
}

// uploadOnce sends the next batch (possibly empty) and records the
// answer, 200 or 409, in the replica. more reports that records are still
// waiting and this answer moved the acknowledgement, so sending again at
// once makes progress.
func (s *Syncer) uploadOnce(ctx context.Context) (rep Report, more bool, err error) {
	req, err := s.cfg.Replica.NextUpload(ctx, wire.MaxBatch)
	if err != nil {
		return rep, false, err
	}
	resp, err := s.cfg.Server.Upload(ctx, req)
	if resp == nil {
		return rep, false, err
	}
	conflict := err != nil // a 409 carries an answer: record it like a 200
	if err := s.cfg.Replica.AckUpload(ctx, resp); err != nil {
		return rep, false, err
	}
	rep = Report{Uploads: 1, Admissions: len(req.Admissions), Audits: len(req.Audits), Stored: resp.Stored,
		Duplicates: resp.Duplicates, Quarantined: len(resp.Quarantined), Acked: resp.Acked, AuditAcked: resp.AuditAcked}
	next, err := s.cfg.Replica.NextUpload(ctx, wire.MaxBatch)
	if err != nil {
		return rep, false, err
	}
	n, m, err := s.cfg.Replica.Pending(ctx)
	if err != nil {
		return rep, false, err
	}
	s.answered("upload", resp.ServerTime, rep, func(st *Status) {
		st.Refused, st.Pending = "", n+m
		st.Conflict = st.Conflict || conflict
	})
	more = len(next.Admissions)+len(next.Audits) > 0 && !sameStart(req, next)
	return rep, more, nil
}

// sameStart reports whether two uploads begin with the same records: if
// so, the answer between them moved nothing.
func sameStart(a, b *wire.UploadRequest) bool {
	first := func(r *wire.UploadRequest) (uint64, uint64) {
		var x, y uint64
		if len(r.Admissions) > 0 {
			x = r.Admissions[0].Seq
		}
		if len(r.Audits) > 0 {
			y = r.Audits[0].Seq
		}
		return x, y
	}
	ax, ay := first(a)
	bx, by := first(b)
	return ax == bx && ay == by
}

// pullOnce asks the feed for what follows the replica's cursor and applies
// the answer with its cursor in one transaction; when the server says so
// (or the replica has no cursor) it applies a snapshot instead.
func (s *Syncer) pullOnce(ctx context.Context, wait time.Duration) (Report, error) {
	cursor, err := s.cfg.Replica.Cursor(ctx)
	if err != nil {
		return Report{}, err
	}
	if cursor == "" {
		return s.resnapshot(ctx)
	}
	ch, err := s.cfg.Server.Changes(ctx, cursor, wait)
	if err != nil {
		return Report{}, err
	}
	if ch.Resnapshot {
		return s.resnapshot(ctx)
	}
	ap, err := s.cfg.Replica.ApplyChanges(ctx, ch)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Polls: 1, Changes: ap.Changes, Learned: ap.Admissions.Added, Conflicting: ap.Admissions.Conflicting, Pulled: ap.Kinds}
	s.answered("pull", ch.ServerTime, rep, nil)
	return rep, nil
}

func (s *Syncer) resnapshot(ctx context.Context) (Report, error) {
	snap, err := s.cfg.Server.Snapshot(ctx)
	if err != nil {
		return Report{}, err
	}
	if err := s.cfg.Replica.Apply(ctx, snap, ""); err != nil {
		return Report{}, err
	}
	rep := Report{Resnapshots: 1}
	s.answered("pull", snap.ServerTime, rep, nil)
	return rep, nil
}

// answered updates the status after an answer from the server.
func (s *Syncer) answered(loop string, serverTime time.Time, rep Report, more func(*Status)) {
	now := s.cfg.Clock.Now()
	s.update(func(st *Status) {
		st.Online, st.Contact = true, now
		if serverTime.After(st.LastSync) {
			st.LastSync = serverTime
		}
		if st.errLoop == loop {
			st.Error, st.errLoop = "", ""
		}
		st.Moved.add(rep)
		if more != nil {
			more(st)
		}
	})
}

// Round does one round of sync, as kido-gate sync does: it uploads until
// nothing more is waiting, then applies the feed until an answer brings
// no change, without waiting in between. It returns what moved; on a
// failure it stops there and returns what moved so far with the error
// (wrapping ErrRevoked after a revocation wiped the replica).
func (s *Syncer) Round(ctx context.Context) (Report, error) {
	var rep Report
	fail := func(loop string, err error) (Report, error) {
		s.failed(ctx, &loopState{name: loop}, err)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.revoked != nil {
			return rep, s.revoked
		}
		return rep, fmt.Errorf("syncer: %s: %w", loop, err)
	}
	for {
		r, more, err := s.uploadOnce(ctx)
		rep.add(r)
		if err != nil {
			return fail("upload", err)
		}
		if !more {
			break
		}
	}
	for i := 0; i < maxRoundPolls; i++ {
		r, err := s.pullOnce(ctx, 0)
		rep.add(r)
		if err != nil {
			return fail("pull", err)
		}
		if r.Changes == 0 && r.Resnapshots == 0 {
			break
		}
	}
	return rep, nil
}
