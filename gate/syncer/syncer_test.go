package syncer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/gate"
	"kido.dev/kido/gate/gatetest"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

var ctx = context.Background()

func TestBackoffBounds(t *testing.T) {
	var ceilings []time.Duration
	b := Backoff{Base: time.Second, Cap: time.Minute, Jitter: func(max time.Duration) time.Duration { ceilings = append(ceilings, max); return max / 2 }}
	for attempt := range 12 {
		b.Wait(attempt)
	}
	b.Wait(1 << 30) // an attempt counter grown for days must neither overflow nor loop long
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60, 60, 60}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(ceilings, want) {
		t.Errorf("ceilings %v, want %v", ceilings, want)
	}

	// Full jitter with a real generator: every wait inside [0, ceiling),
	// and the whole range used, low end included.
	rng := rand.New(rand.NewPCG(1, 2))
	b.Jitter = func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max))) }
	for attempt := range 10 {
		ceiling := min(time.Minute, time.Second<<attempt)
		lo, hi := ceiling, time.Duration(0)
		for range 2000 {
			w := b.Wait(attempt)
			if w < 0 || w >= ceiling {
				t.Fatalf("attempt %d: wait %v outside [0, %v)", attempt, w, ceiling)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		if lo > ceiling/20 || hi < ceiling*19/20 {
			t.Errorf("attempt %d: waits span [%v, %v] of [0, %v): not full jitter", attempt, lo, hi, ceiling)
		}
	}
	for range 1000 {
		if w := b.Paced(3 * time.Second); w < 3*time.Second || w >= 4*time.Second {
			t.Fatalf("Retry-After 3: waited %v, want [3s, 4s)", w)
		}
	}
}

// TestLoopWaits drives the uploader through every kind of failure with a
// clock that fires at once, and checks each wait it chose.
func TestLoopWaits(t *testing.T) {
	g := newGate(t, true, nil)
	g.scan(t, g.f.Ticket(2))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.srv.uploads = []reply{
		{hangup: true},
		{hangup: true},
		{status: 500, body: errBody("internal", "boom")},
		{status: 503, retryAfter: "3", body: errBody(wire.CodeBusy, "busy")}, // paced: attempt stays at 3
		{status: 429, retryAfter: "1", body: errBody(wire.CodeBusy, "one at a time")},
		{hangup: true},
		{status: 503, body: errBody(wire.CodeBusy, "busy")}, // no Retry-After: a 5xx like any
		{status: 400, body: errBody(wire.CodeMalformed, "bad json")},
		{body: wire.UploadResponse{Acked: 1, Highest: 1, Stored: 1, ServerTime: time.Now().UTC()}},
	}
	g.srv.uploadsOut = cancel // the next upload (the idle one) ends the test
	err := g.s.Run(runCtx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	var waits []time.Duration
	starts := 0
	for _, w := range g.clock.Waits() {
		if w == DefaultStartDelay/2 && starts < 2 {
			starts++ // each loop's random start
			continue
		}
		waits = append(waits, w)
	}
	s := time.Second
	want := []time.Duration{
		s / 2, s, 2 * s, // network, network, 500: full jitter under 1 s, 2 s, 4 s
		3*s + s/2, 1*s + s/2, // Retry-After plus half of the one-second jitter
		4 * s, 8 * s, // network, 503 without Retry-After: attempts 3 and 4
		DefaultCap,  // 400: the cap, it will not cure itself
		DefaultIdle, // 200, nothing pending: idle until nudged
	}
	if starts != 2 || !slices.Equal(waits, want) {
		t.Errorf("waits %v (starts %d), want %v", waits, starts, want)
	}
	ups := g.srv.requests("/v1/gate/upload")
	if len(ups) != len(want)+1 {
		t.Fatalf("%d uploads, want %d", len(ups), len(want)+1)
	}
	for i, u := range ups {
		hb, err := wire.ParseHeartbeat(u.header)
		if err != nil || hb.Version != "9.9.9" || hb.Time.IsZero() || hb.Pending < 0 || hb.Free != 7<<30 || hb.Synced.IsZero() {
			t.Errorf("upload %d: heartbeat %+v %v", i, hb, err)
		}
	}
	if hb, _ := wire.ParseHeartbeat(ups[0].header); hb.Pending != 1 {
		t.Errorf("first heartbeat pending %d, want 1", hb.Pending)
	}
	if hb, _ := wire.ParseHeartbeat(ups[len(ups)-1].header); hb.Pending != 0 {
		t.Errorf("last heartbeat pending %d, want 0", hb.Pending)
	}
	st := g.s.Status()
	if !st.Online || st.Pending != 0 || st.Refused != "" || st.Moved.Acked != 1 {
		t.Errorf("final status %+v", st)
	}
	// Online and offline as the requests went: offline after a hang-up,
	// online after any answer.
	var sawOffline, sawRefused bool
	for _, c := range g.changes {
		sawOffline = sawOffline || (!c.Online && strings.Contains(c.Error, "upload:"))
		sawRefused = sawRefused || strings.Contains(c.Refused, "bad json")
	}
	if !sawOffline || !sawRefused {
		t.Errorf("status never showed offline (%v) or refused (%v)", sawOffline, sawRefused)
	}
}

// TestReconnectCutsBackoff: when one loop gets through after failures,
// the other's long backoff is cut to a moment within StartDelay; a wait
// the server asked for is not.
func TestReconnectCutsBackoff(t *testing.T) {
	for _, reconnectable := range []bool{true, false} {
		g := newGate(t, false, nil)
		done := make(chan error, 1)
		go func() { done <- g.s.sleep(ctx, 50*time.Second, nil, reconnectable) }()
		<-g.clock.asked // the sleep has started
		g.s.succeeded(&loopState{failing: true})
		if reconnectable {
			if d := <-g.clock.asked; d != DefaultStartDelay/2 {
				t.Errorf("cut to %v, want %v", d, DefaultStartDelay/2)
			}
		}
		g.clock.Advance(DefaultStartDelay)
		select {
		case <-done:
			if !reconnectable {
				t.Error("a paced wait was cut short")
			}
		case <-time.After(200 * time.Millisecond):
			if reconnectable {
				t.Error("backoff not cut when connectivity returned")
			}
			g.clock.Advance(time.Minute)
			<-done
		}
	}
}

func TestRoundPartialAcksAndRestoredServer(t *testing.T) {
	g := newGate(t, true, nil)
	for s := uint32(2); s <= 8; s++ {
		g.scan(t, g.f.Ticket(s))
	}
	g.scan(t, "junk")
	g.scan(t, g.f.Forged(9))
	now := time.Now().UTC()
	g.srv.uploads = []reply{
		// Stored 1..3 (say the rest is still in flight on the server).
		{body: wire.UploadResponse{Acked: 3, AuditAcked: 0, Highest: 3, Stored: 3, ServerTime: now}},
		// A server restored from an older backup: it has only 1.
		{body: wire.UploadResponse{Acked: 1, AuditAcked: 0, Highest: 1, Stored: 0, ServerTime: now}},
	}
	g.srv.changes = []reply{{body: wire.Changes{Changes: []wire.Change{}, Cursor: "c1", ServerTime: now}}}
	rep, err := g.s.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ups := g.srv.requests("/v1/gate/upload")
	var got []string
	for _, u := range ups {
		a, b := seqs(u.upload)
		got = append(got, fmt.Sprint(a, b))
	}
	want := []string{"[1 2 3 4 5 6 7] [1 2]", "[4 5 6 7] [1 2]", "[2 3 4 5 6 7] [1 2]"}
	if !slices.Equal(got, want) {
		t.Errorf("uploads %v, want %v", got, want)
	}
	if rep.Uploads != 3 || rep.Acked != 7 || rep.AuditAcked != 2 || rep.Polls != 1 {
		t.Errorf("report %+v", rep)
	}
	if n, m, _ := g.r.Pending(ctx); n != 0 || m != 0 {
		t.Errorf("pending %d+%d after the round", n, m)
	}
	own, _ := g.r.OwnAdmissions(ctx, 0, 0)
	if len(own) != 7 {
		t.Errorf("%d own admissions after upload, want all 7 kept", len(own))
	}
	if q := g.srv.requests("/v1/gate/changes")[0].query; !strings.Contains(q, "cursor=c0") || !strings.Contains(q, "wait=0s") {
		t.Errorf("changes query %q", q)
	}
}

func TestRoundConflict(t *testing.T) {
	g := newGate(t, true, nil)
	g.scan(t, g.f.Ticket(2))
	g.scan(t, g.f.Ticket(3))
	g.srv.uploads = []reply{{status: 409, body: wire.UploadResponse{Acked: 12, Highest: 12, Stored: 0,
		Quarantined: []wire.RecordRef{{Record: wire.RecordAdmission, Seq: 2}}, ServerTime: time.Now().UTC(),
		Error: "server: seq reused", Code: wire.CodeSeqConflict, Hint: "call the operator"}}}
	g.srv.changes = []reply{{body: wire.Changes{Changes: []wire.Change{}, Cursor: "c1", ServerTime: time.Now().UTC()}}}
	rep, err := g.s.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Quarantined != 1 || !g.s.Status().Conflict {
		t.Errorf("report %+v, status %+v", rep, g.s.Status())
	}
	if d := g.scan(t, g.f.Ticket(4)); d.Seq != 13 {
		t.Errorf("next seq %d after 409 with highest 12, want 13", d.Seq)
	}
	if st, _ := g.r.Status(ctx); st.Conflict == "" || st.Own != 3 {
		t.Errorf("replica conflict %q, own %d", st.Conflict, st.Own)
	}
}

func TestRoundRefusedBadTicket(t *testing.T) {
	g := newGate(t, true, nil)
	g.scan(t, g.f.Ticket(2))
	g.srv.uploads = []reply{{status: 400, body: errBody(wire.CodeBadTicket, "admission 1: ticket does not verify")}}
	_, err := g.s.Round(ctx)
	if err == nil || !strings.Contains(err.Error(), "admission 1") {
		t.Fatalf("Round: %v", err)
	}
	st, _ := g.r.Status(ctx)
	if !strings.Contains(st.Refused, "admission 1") || st.Pending != 1 || st.Own != 1 {
		t.Errorf("after refusal: refused %q, pending %d, own %d", st.Refused, st.Pending, st.Own)
	}
	// The operator fixed it on the server: the next round clears the state.
	g.srv.changes = []reply{{body: wire.Changes{Changes: []wire.Change{}, Cursor: "c1", ServerTime: time.Now().UTC()}}}
	if _, err := g.s.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.r.Status(ctx); st.Refused != "" || st.Pending != 0 {
		t.Errorf("after acceptance: refused %q, pending %d", st.Refused, st.Pending)
	}
}

func TestRevokedWipes(t *testing.T) {
	for _, code := range []string{wire.CodeGateRevoked, "unauthorized", "forged " + wire.CodeGateRevoked} {
		t.Run(code, func(t *testing.T) {
			g := newGate(t, true, nil)
			g.scan(t, g.f.Ticket(2))
			g.scan(t, "junk")
			forged := strings.HasPrefix(code, "forged ")
			g.srv.uploads = []reply{{status: 401, body: errBody(strings.TrimPrefix(code, "forged "), "no"), unsigned: forged}}
			_, err := g.s.Round(ctx)
			_, statErr := os.Stat(g.r.Path())
			if forged {
				// Not signed by the server: a network attacker's, and
				// nothing is wiped (docs/sync-protocol.md §13).
				if !errors.Is(err, client.ErrUntrusted) || statErr != nil || g.forgot || g.s.Status().Revoked {
					t.Errorf("forged revocation: %v, stat %v, credential forgotten %v", err, statErr, g.forgot)
				}
				return
			}
			if code == wire.CodeGateRevoked {
				if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "2 records not uploaded") {
					t.Errorf("Round: %v", err)
				}
				if !os.IsNotExist(statErr) || !g.forgot || !g.s.Status().Revoked {
					t.Errorf("not wiped: stat %v, credential forgotten %v", statErr, g.forgot)
				}
				if _, err := g.r.Scan(ctx, gate.Line{Text: g.f.Ticket(3)}, false); !errors.Is(err, gate.ErrRevoked) {
					t.Errorf("scan after wipe: %v", err)
				}
				return
			}
			if errors.Is(err, ErrRevoked) || statErr != nil || g.forgot {
				t.Errorf("plain 401 wiped: %v, %v, %v", err, statErr, g.forgot)
			}
		})
	}
}

// TestRunRevokedStopsBothLoops: the puller's long-poll is answered
// gate_revoked; Run wipes, counts what was never uploaded, and returns.
func TestRunRevokedStopsBothLoops(t *testing.T) {
	g := newGate(t, true, nil)
	// The uploader is shed until the end, so the admission stays pending.
	for range 500 {
		g.srv.uploads = append(g.srv.uploads, reply{status: 503, retryAfter: "1", body: errBody(wire.CodeBusy, "busy")})
	}
	g.scan(t, g.f.Ticket(2))
	g.srv.changes = []reply{{status: 401, body: errBody(wire.CodeGateRevoked, "gate 1 was revoked")}}
	done := make(chan error, 1)
	go func() { done <- g.s.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "1 records not uploaded were discarded") {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after revocation")
	}
	if _, err := os.Stat(g.r.Path()); !os.IsNotExist(err) {
		t.Errorf("replica still there: %v", err)
	}
}

func TestRoundResnapshotAndFeed(t *testing.T) {
	g := newGate(t, true, nil)
	mine := g.scan(t, g.f.Ticket(2))
	own, _ := g.r.OwnAdmissions(ctx, 0, 0)
	at := time.Now().UTC().Add(-time.Minute)
	other := kido.Admission{Gate: gatetest.GateEntry, Seq: 1, Serial: 3, Tier: gatetest.TierGA, Kind: kido.KindEntry, At: at, Corrected: at}
	other.Hash = wire.AdmissionHash(other)
	snap := g.f.Snapshot
	snap.Cursor = "s5"
	snap.Roster = append(slices.Clone(snap.Roster), kido.RosterEntry{Serial: 51, Tier: gatetest.TierGA, Holder: "New"})
	g.srv.snapshot = &snap
	g.srv.changes = []reply{
		{body: wire.Changes{Changes: []wire.Change{}, Resnapshot: true, ServerTime: time.Now().UTC()}},
		{body: wire.Changes{Changes: []wire.Change{
			{Kind: wire.ChangeAdmission, Admission: &own[0]}, // own, echoed back
			{Kind: wire.ChangeAdmission, Admission: &other},
		}, Cursor: "s7", ServerTime: time.Now().UTC()}},
		{body: wire.Changes{Changes: []wire.Change{}, Cursor: "s7", ServerTime: time.Now().UTC()}},
	}
	rep, err := g.s.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resnapshots != 1 || rep.Changes != 2 || rep.Learned != 1 || rep.Polls != 2 {
		t.Errorf("report %+v", rep)
	}
	qs := g.srv.requests("/v1/gate/changes")
	if len(qs) != 3 || !strings.Contains(qs[1].query, "cursor=s5") || !strings.Contains(qs[2].query, "cursor=s7") {
		t.Errorf("polls %v", qs)
	}
	st, _ := g.r.Status(ctx)
	if st.Roster != 51 || st.Cursor != "s7" || st.Passages != 2 {
		t.Errorf("replica after resnapshot: roster %d, cursor %q, passages %d", st.Roster, st.Cursor, st.Passages)
	}
	if d := g.scan(t, g.f.Ticket(3)); d.Reason != gate.AlreadyUsed || d.PriorGateName != "South" {
		t.Errorf("other gate's admission: %s at %q", d.Reason, d.PriorGateName)
	}
	if d := g.scan(t, g.f.Ticket(2)); d.Prior == nil || d.Prior.Seq != mine.Seq || !d.Here {
		t.Errorf("own admission after resnapshot: %+v", d)
	}
}

// TestRunPullsAndNudges runs both loops against the scripted server: a
// nudge sends a new admission at once, and the long-poll waits are drawn
// in [PollMin, PollMax).
func TestRunPullsAndNudges(t *testing.T) {
	g := newGate(t, true, nil)
	runCtx, cancel := context.WithCancel(ctx)
	at := time.Now().UTC()
	other := kido.Admission{Gate: gatetest.GateEntry, Seq: 1, Serial: 5, Tier: gatetest.TierGA, Kind: kido.KindEntry, At: at, Corrected: at}
	other.Hash = wire.AdmissionHash(other)
	g.srv.changes = []reply{
		{body: wire.Changes{Changes: []wire.Change{{Kind: wire.ChangeAdmission, Admission: &other}}, Cursor: "c1", ServerTime: at}},
		{body: wire.Changes{Changes: []wire.Change{}, Cursor: "c1", ServerTime: at}},
	}
	done := make(chan error, 1)
	go func() { done <- g.s.Run(runCtx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop() // before the script's server closes, should a wait fail
	// The third poll finds the script empty: the puller is in a long-poll.
	g.srv.arrived.Await(t, limit, "a third long-poll", func() bool { return len(g.srv.requests("/v1/gate/changes")) >= 3 })
	g.scan(t, g.f.Ticket(2))
	g.s.Nudge()
	g.changed.Await(t, limit, "the nudged admission acknowledged", func() bool { return g.s.Status().Moved.Acked == 1 })
	stop()
	qs := g.srv.requests("/v1/gate/changes")
	for _, q := range qs {
		if !strings.Contains(q.query, "wait=25s") { // PollMin + half of (PollMax - PollMin)
			t.Errorf("poll %q", q.query)
		}
	}
	if d := g.scan(t, g.f.Ticket(5)); d.Reason != gate.AlreadyUsed || d.PriorGateName != "South" {
		t.Errorf("pulled admission: %s at %q", d.Reason, d.PriorGateName)
	}
}

// TestForgedAnswersApplyNothing: an upload answer or a feed page that the
// pinned server did not sign (a proxy forged it) moves nothing — the
// admission stays pending, the cursor where it was, the attacker's key
// unknown — and the status shows the fault with its hint, offline.
func TestForgedAnswersApplyNothing(t *testing.T) {
	g := newGate(t, true, nil)
	g.scan(t, g.f.Ticket(2))
	g.srv.uploads = []reply{{body: wire.UploadResponse{Acked: 100, Highest: 100, ServerTime: time.Now().UTC().AddDate(1, 0, 0)}, unsigned: true}}
	_, err := g.s.Round(ctx)
	st, serr := g.r.Status(ctx)
	if !errors.Is(err, client.ErrUntrusted) || serr != nil || st.Pending != 1 || st.Acked != 0 {
		t.Fatalf("forged acknowledgement: %v; pending %d, acked %d (%v)", err, st.Pending, st.Acked, serr)
	}
	if !strings.Contains(st.ContactError, "nothing was applied") || !strings.Contains(st.ContactError, "hint:") || g.s.Status().Online {
		t.Errorf("status after a forged answer: contact error %q, online %v", st.ContactError, g.s.Status().Online)
	}

	other := g.f.Other.Public()
	key := kido.Key{ID: other.ID().String(), Public: other.String(), Event: gatetest.EventID, Current: true}
	g.srv.changes = []reply{{body: wire.Changes{Changes: []wire.Change{{Kind: wire.ChangeKey, Key: &key}}, Cursor: "c9"}, unsigned: true}}
	if _, err := g.s.Round(ctx); !errors.Is(err, client.ErrUntrusted) {
		t.Fatalf("forged feed page: %v", err)
	}
	if cur, _ := g.r.Cursor(ctx); cur != "c0" {
		t.Errorf("cursor %q after a forged page, want c0", cur)
	}
	if d := g.scan(t, gatetest.Sign(g.f.Other, ticket.Claims{Event: gatetest.EventID, Serial: 3, Tier: gatetest.TierOf(3)})); d.Reason != gate.UnknownKey {
		t.Errorf("a ticket of the key the forged page carried: %+v, want unknown_key", d)
	}
}
