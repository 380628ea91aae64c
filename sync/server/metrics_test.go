package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/internal/promtext"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// swapStore is a Store that can be taken away: with Store nil, any call
// panics, so a request that reads the store fails.
type swapStore struct{ server.Store }

// TestMetrics drives uploads, a double entry, a refused admission, a failed
// enrolment and a feed answer, runs the periodic check, then takes the
// store away and scrapes: every figure comes from memory, the scrape reads
// nothing, and promtool accepts the scrape.
func TestMetrics(t *testing.T) {
	var now atomic.Pointer[time.Time]
	t0 := start.Add(time.Hour) // the event is under way
	now.Store(&t0)
	var sw *swapStore
	dataDir := t.TempDir()
	backedUp := time.Date(2027, 7, 31, 23, 0, 0, 0, time.UTC)
	if err := os.WriteFile(filepath.Join(dataDir, server.LastBackupFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(dataDir, server.LastBackupFile), backedUp, backedUp)
	f := newFixtureWith(t, func(c *server.Config) {
		c.DataDir = dataDir
		sw = &swapStore{c.Store}
		c.Store = sw
		c.Now = func() time.Time { return *now.Load() }
		c.Revision = "3fbbbf6"
	})
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 2)
	north, south := f.gate(t, ev, "North"), f.gate(t, ev, "South")

	at := t0.Add(time.Minute) // after the gates enrolled (at t0), within the event
	first := north.admission(tks[0], kido.KindEntry, at)
	if a := north.upload(t, wire.UploadRequest{Admissions: []kido.Admission{first, north.admission(tks[1], kido.KindEntry, at)}}); a.status != http.StatusOK {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	if a := north.upload(t, wire.UploadRequest{Admissions: []kido.Admission{first}}); a.status != http.StatusOK {
		t.Fatalf("upload again: %d %s", a.status, a.body)
	}
	// The same ticket at South: a double entry.
	if a := south.upload(t, wire.UploadRequest{Admissions: []kido.Admission{south.admission(tks[0], kido.KindEntry, at.Add(time.Minute))}}); a.status != http.StatusOK || len(a.upload(t).Flagged) != 0 {
		t.Fatalf("upload at South: %d %s", a.status, a.body)
	}
	never := south.admission(tks[1], kido.KindManual, at)
	never.Serial = 999
	never.Hash = wire.AdmissionHash(never)
	if a := south.upload(t, wire.UploadRequest{Admissions: []kido.Admission{never}}); a.status != http.StatusOK || len(a.upload(t).Flagged) != 1 {
		t.Fatalf("upload of a serial never issued: %d %s, want it stored as refused", a.status, a.body)
	}
	if _, err := f.client(t, "").Enroll(ctx, "0000 0000 0000 0000 0000 0000", "thief"); err == nil {
		t.Fatal("enrolment with a made-up code succeeded")
	}
	north.changes(t, north.snapshotCursor(t), 0)

	t1 := t0.Add(90 * time.Second)
	now.Store(&t1)
	f.server.CheckDatabase()
	f.server.CheckNow(ctx)

	sw.Store = nil // from here, a store read panics and the scrape fails
	resp, err := f.srv.Client().Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("scrape with the store taken away: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	sc, err := promtext.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	m := sc.Map()
	e := `{event="1"}`
	for k, want := range map[string]float64{
		`kido_upload_records_total{result="stored"}`:                                               4,
		`kido_upload_records_total{result="duplicate"}`:                                            1,
		`kido_upload_records_total{result="quarantined"}`:                                          0,
		`kido_flagged_admissions_total{status="refused"}`:                                          1,
		`kido_flagged_admissions_total{status="suspect"}`:                                          0,
		`kido_enrolments_total{outcome="failed"}`:                                                  1,
		`kido_upload_batch_records_count`:                                                          4,
		`kido_upload_batch_records_sum`:                                                            5,
		`kido_feed_answer_changes_count`:                                                           1,
		`kido_request_duration_seconds_count{endpoint="upload"}`:                                   4,
		`kido_requests_total{endpoint="upload",status="200"}`:                                      4,
		`kido_upload_checks_total{by="issued_text"}`:                                               3,
		`kido_double_entries` + e:                                                                  1,
		`kido_gate_pending_records` + e:                                                            5, // each gate reports 3; South's last upload acknowledged 1 of its 3
		`kido_gate_oldest_pending_seconds` + e:                                                     90,
		`kido_gates_silent` + e:                                                                    0,
		`kido_signing_key_age_seconds` + e:                                                         90,
		`kido_database_up`:                                                                         1,
		`kido_longpolls_active`:                                                                    0,
		`kido_build_info{goversion="` + runtime.Version() + `",revision="3fbbbf6",version="test"}`: 1,
		`kido_backup_last_success_timestamp_seconds`:                                               float64(backedUp.Unix()),
		`kido_shed_total{kind="snapshot"}`:                                                         0,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", k, got, ok, want)
		}
	}
	for _, k := range []string{"go_goroutines", "process_start_time_seconds", "kido_data_free_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("scrape lacks %s", k)
		}
	}
	promtoolCheck(t, body)
}

// promtoolCheck runs promtool check metrics on a scrape.
func promtoolCheck(t *testing.T, scrape []byte) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// readCountingStore counts the reads of every admission of an event, and
// fails the uploads of gate failFor.
type readCountingStore struct {
	server.Store
	reads   atomic.Int32
	failFor atomic.Uint32
}

func (c *readCountingStore) EventRecords(ctx context.Context, event uint32) (*server.EventRecords, error) {
	c.reads.Add(1)
	return c.Store.EventRecords(ctx, event)
}

func (c *readCountingStore) Upload(ctx context.Context, event, gate uint32, req *wire.UploadRequest, flags map[uint64]wire.Flag, now time.Time) (wire.UploadResponse, error) {
	if gate == c.failFor.Load() {
		return wire.UploadResponse{}, errors.New("disk full")
	}
	return c.Store.Upload(ctx, event, gate, req, flags, now)
}

// TestDoubleEntriesCountedWhenMoved: the periodic check reads every
// admission of an event to count its double entries only when a change of
// the event was committed since its last count, or 5 minutes later; the
// gauge follows each new double entry, also one whose upload failed after
// the gate's own records were stored (its relayed ones did not).
func TestDoubleEntriesCountedWhenMoved(t *testing.T) {
	clock := &settable{t: start.Add(time.Hour)}
	var cs *readCountingStore
	f := newFixtureWith(t, func(c *server.Config) {
		cs = &readCountingStore{Store: c.Store}
		c.Store = cs
		c.Now = clock.now
	})
	ctx := context.Background()
	ev := f.event(t)
	tks := f.issue(t, ev, "b1", 3)
	north, south, west := f.keyedGate(t, ev, "North"), f.keyedGate(t, ev, "South"), f.keyedGate(t, ev, "West")
	gauge := func() float64 {
		t.Helper()
		resp, err := f.srv.Client().Get(f.srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc, err := promtext.Parse(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return sc.Map()[`kido_double_entries{event="1"}`]
	}
	check := func(wantReads int32, wantGauge float64) {
		t.Helper()
		f.server.CheckNow(ctx)
		if got := cs.reads.Load(); got != wantReads {
			t.Errorf("event read whole %d times, want %d", got, wantReads)
		}
		if got := gauge(); got != wantGauge {
			t.Errorf("kido_double_entries = %v, want %v", got, wantGauge)
		}
	}
	at := clock.now().Add(time.Minute)
	upload := func(g *gateDev, req wire.UploadRequest, want int) {
		t.Helper()
		if a := g.upload(t, req); a.status != want {
			t.Fatalf("upload at gate %d: %d %s, want %d", g.id, a.status, a.body, want)
		}
	}
	double := func(tk wire.IssuedTicket, at time.Time) {
		t.Helper()
		for _, g := range []*gateDev{north, south} {
			upload(g, wire.UploadRequest{Admissions: []kido.Admission{g.signed(tk, at)}}, http.StatusOK)
		}
	}
	check(1, 0)
	check(1, 0) // nothing moved: not read again
	double(tks[0], at)
	check(2, 1)
	check(2, 1)
	double(tks[1], at.Add(time.Minute))
	check(3, 2)

	// North's second entry of ticket 3 is stored; West's record it relays
	// fails: the upload answers 500, and North's retry stores nothing new.
	upload(south, wire.UploadRequest{Admissions: []kido.Admission{south.signed(tks[2], at)}}, http.StatusOK)
	check(4, 2)
	cs.failFor.Store(west.id)
	req := wire.UploadRequest{Admissions: []kido.Admission{north.signed(tks[2], at.Add(time.Minute))}, Relayed: []kido.Admission{west.signed(tks[0], at)}}
	upload(north, req, http.StatusInternalServerError)
	check(5, 3)

	// Nothing moves for 5 minutes: counted again all the same.
	clock.set(clock.now().Add(4 * time.Minute))
	check(5, 3)
	clock.set(clock.now().Add(time.Minute))
	check(6, 3)
}
