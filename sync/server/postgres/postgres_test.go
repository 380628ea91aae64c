package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kido.dev/kido"
	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

var t0 = time.Date(2027, 8, 1, 1, 0, 0, 0, time.UTC)

func open(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMigrateConcurrently starts several instances on a new database at
// once: each migration step must run exactly once and every instance
// must come up.
func TestMigrateConcurrently(t *testing.T) {
	url := pgtest.DB(t)
	const instances = 8
	start := make(chan struct{})
	errs := make(chan error, instances)
	var wg sync.WaitGroup
	for range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := Open(t.Context(), url)
			if err == nil {
				err = s.Ping(t.Context())
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("instance start: %v", err)
		}
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n, v int
	if err := conn.QueryRow(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || v != len(migrations) {
		t.Errorf("schema_migrations has %d rows up to version %d; want %d rows up to %d", n, v, len(migrations), len(migrations))
	}
	from, to, err := Migrate(t.Context(), url)
	if err != nil || from != len(migrations) || to != len(migrations) {
		t.Errorf("Migrate on a current database = %d, %d, %v; want %d, %d, nil", from, to, err, len(migrations), len(migrations))
	}
}

// TestMigrateNewer refuses a database a newer release migrated, and
// changes nothing in it.
func TestMigrateNewer(t *testing.T) {
	url := pgtest.DB(t)
	open(t, url).Close()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	next := len(migrations) + 1
	if _, err := conn.Exec(t.Context(), "INSERT INTO schema_migrations (version) VALUES ($1)", next); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), url)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", next)) || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("Open on a newer schema: %v; want the version and a hint", err)
	}
}

// TestBadURL keeps a password out of the error about a bad URL.
func TestBadURL(t *testing.T) {
	_, err := Open(t.Context(), "postgres://kido:s3cret@[::1/db")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("Open with a bad URL: %v; want an error with a hint and without the password", err)
	}
}

// signingKey returns the test key named name, sealed as a store keeps it
// (the sealed bytes are opaque to a store).
func signingKey(t *testing.T, name string) server.SealedKey {
	seed := sha256.Sum256([]byte("kido postgres test key " + name))
	k, err := ticket.NewPrivateKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return server.SealedKey{Public: k.Public(), Sealed: []byte("sealed " + name)}
}

// wakeup is a broadcast: a channel closed and replaced on every signal.
type wakeup struct {
	mu sync.Mutex
	c  chan struct{}
}

func newWakeup() *wakeup { return &wakeup{c: make(chan struct{})} }

func (w *wakeup) channel() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c
}

func (w *wakeup) signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.c)
	w.c = make(chan struct{})
}

// TestFeedAcrossInstances is §4.4 on PostgreSQL: several instances (each
// its own Store and pool on one database) commit uploads of one event at
// once, while walkers on every instance follow the feed in small pages,
// woken by the notifications of other instances' commits. Every walk must
// see every admission exactly once, in position order, and end at the
// log the writers left.
func TestFeedAcrossInstances(t *testing.T) {
	const instances, gatesPer, batches, batch = 3, 3, 12, 4
	url := pgtest.DB(t)
	ctx := t.Context()
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = open(t, url)
	}
	s := stores[0]
	ev, err := s.CreateEvent(ctx, wire.EventCreate{Name: "Feed", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "event"), t0)
	if err != nil {
		t.Fatal(err)
	}
	var gates [][]kido.Gate
	for i := range instances {
		var gs []kido.Gate
		for j := range gatesPer {
			g, err := s.AddGate(ctx, kido.Gate{Event: ev.ID, Name: fmt.Sprintf("G%d.%d", i, j), Direction: kido.DirectionEntry},
				server.GateCode{Hash: server.HashToken(fmt.Sprintf("code %d %d", i, j)), Expires: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, g)
		}
		gates = append(gates, gs)
	}
	start, err := s.Changes(ctx, ev.ID, server.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := instances * gatesPer * batches * batch

	// Every instance's walkers wake on that instance's notifications,
	// which come from every instance's commits.
	wctx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	wakes := make([]*wakeup, instances)
	for i, st := range stores {
		wakes[i] = newWakeup()
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			st.WatchChanges(wctx, func(uint32) { wakes[i].signal() }, func(error) {})
		}()
	}
	defer func() { stopWatch(); watchers.Wait() }()

	type walkResult struct {
		name string
		seen []string
		err  error
	}
	results := make(chan walkResult, instances*2)
	written := make(chan struct{}) // closed when every upload has committed
	deadline := time.Now().Add(60 * time.Second)
	var walkers sync.WaitGroup
	for i, st := range stores {
		for _, limit := range []int{1, 7} {
			walkers.Add(1)
			go func() {
				defer walkers.Done()
				r := walkResult{name: fmt.Sprintf("instance %d limit %d", i, limit)}
				defer func() { results <- r }()
				c := start.Next
				for {
					wake := wakes[i].channel()
					// A read begun after the writers finished that finds
					// nothing new ends the walk.
					finished := false
					select {
					case <-written:
						finished = true
					default:
					}
					p, err := st.Changes(ctx, ev.ID, c, limit)
					if err != nil || p.Resnapshot {
						r.err = fmt.Errorf("changes after %v: %v, resnapshot %v", c, err, p.Resnapshot)
						return
					}
					for _, raw := range p.Changes {
						var ch wire.Change
						if err := json.Unmarshal(raw, &ch); err != nil || ch.Admission == nil {
							r.err = fmt.Errorf("change %s: %v", raw, err)
							return
						}
						r.seen = append(r.seen, fmt.Sprintf("%d/%d", ch.Admission.Gate, ch.Admission.Seq))
					}
					c = p.Next
					if len(p.Changes) > 0 {
						continue
					}
					if finished {
						return
					}
					select {
					case <-wake:
					case <-written:
					case <-time.After(time.Until(deadline)):
						r.err = fmt.Errorf("saw %d of %d changes by the deadline", len(r.seen), want)
						return
					}
				}
			}()
		}
	}

	var writers sync.WaitGroup
	errs := make(chan error, instances*gatesPer)
	for i, st := range stores {
		for _, g := range gates[i] {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for b := range batches {
					var req wire.UploadRequest
					for k := range batch {
						seq := uint64(b*batch + k + 1)
						req.Admissions = append(req.Admissions, kido.Admission{Gate: g.ID, Seq: seq, Serial: uint32(seq), Tier: 1, Kind: kido.KindEntry,
							At: t0, Corrected: t0, Hash: fmt.Sprintf("h%d.%d", g.ID, seq)})
					}
					if _, err := st.Upload(ctx, ev.ID, g.ID, &req, nil, t0); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	writers.Wait()
	close(written)
	close(errs)
	for err := range errs {
		t.Fatalf("upload: %v", err)
	}
	walkers.Wait()
	close(results)

	final, err := s.Changes(ctx, ev.ID, start.Next, want+1)
	if err != nil || len(final.Changes) != want {
		t.Fatalf("log after the writers: %d changes, %v; want %d", len(final.Changes), err, want)
	}
	var log []string
	for _, raw := range final.Changes {
		var ch wire.Change
		if err := json.Unmarshal(raw, &ch); err != nil {
			t.Fatal(err)
		}
		log = append(log, fmt.Sprintf("%d/%d", ch.Admission.Gate, ch.Admission.Seq))
	}
	for r := range results {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		if strings.Join(r.seen, " ") != strings.Join(log, " ") {
			t.Errorf("%s saw %d changes that differ from the log's %d (skipped, doubled or reordered)", r.name, len(r.seen), len(log))
		}
		if len(r.seen) != want {
			t.Errorf("%s saw %d changes; want %d", r.name, len(r.seen), want)
		}
	}
}

// TestUploadRaceAcrossInstances sends one gate's batch, and a batch that
// reuses its keys with other content, to two instances at once, many
// times over (a gate retrying through a load balancer): each admission is
// stored and logged once, the rest counted as duplicates, and the other
// content quarantined once however often it arrived.
func TestUploadRaceAcrossInstances(t *testing.T) {
	url := pgtest.DB(t)
	ctx := t.Context()
	a, b := open(t, url), open(t, url)
	ev, err := a.CreateEvent(ctx, wire.EventCreate{Name: "Race", Venue: "Hall", Start: t0, End: t0.Add(time.Hour)}, signingKey(t, "event"), t0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.AddGate(ctx, kido.Gate{Event: ev.ID, Name: "G", Direction: kido.DirectionEntry},
		server.GateCode{Hash: server.HashToken("code"), Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := a.Changes(ctx, ev.ID, server.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const n, tries = 20, 16
	batch := func(hash string) *wire.UploadRequest {
		req := &wire.UploadRequest{}
		for seq := uint64(1); seq <= n; seq++ {
			req.Admissions = append(req.Admissions, kido.Admission{Gate: g.ID, Seq: seq, Serial: uint32(seq), Tier: 1, Kind: kido.KindEntry,
				At: t0, Corrected: t0, Hash: fmt.Sprintf("%s%d", hash, seq)})
		}
		return req
	}
	type result struct {
		other bool
		resp  wire.UploadResponse
		err   error
	}
	results := make(chan result, 4*tries)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 * tries {
		st, other := a, i%4 >= 2
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			hash := "h"
			if other {
				hash = "x"
			}
			resp, err := st.Upload(ctx, ev.ID, g.ID, batch(hash), nil, t0)
			results <- result{other, resp, err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	stored, dups, quarantined := 0, 0, 0
	firstOther := false
	for r := range results {
		if r.err != nil {
			t.Fatalf("upload: %v", r.err)
		}
		if r.resp.Acked != n {
			t.Errorf("acked %d; want %d", r.resp.Acked, n)
		}
		stored += r.resp.Stored
		dups += r.resp.Duplicates
		quarantined += len(r.resp.Quarantined)
		if r.other && r.resp.Stored > 0 {
			firstOther = true
		}
	}
	// Whichever content came first is stored; every upload of the same
	// content is a duplicate, every upload of the other quarantined.
	if stored != n || dups != (2*tries-1)*n || quarantined != 2*tries*n {
		t.Errorf("stored %d, duplicates %d, quarantined %d; want %d, %d, %d", stored, dups, quarantined, n, (2*tries-1)*n, 2*tries*n)
	}
	page, err := b.Changes(ctx, ev.ID, head.Next, 1000)
	if err != nil || len(page.Changes) != n {
		t.Fatalf("change log after the race: %d changes, %v; want %d", len(page.Changes), err, n)
	}
	recs, err := b.EventRecords(ctx, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "h"
	if firstOther {
		want = "x"
	}
	for i, a := range recs.Admissions {
		if a.Hash != fmt.Sprintf("%s%d", want, a.Seq) || a.Seq != uint64(i+1) {
			t.Errorf("admission %d: seq %d hash %s; want seq %d, hash %s%d", i, a.Seq, a.Hash, i+1, want, i+1)
		}
	}
	if recs.Quarantined != n {
		t.Errorf("quarantine holds %d records; want %d (each once)", recs.Quarantined, n)
	}
}
