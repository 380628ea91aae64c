package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
)

// instance is one kido server core on its own Store of a shared database.
type instance struct {
	core *server.Server
	url  string
}

func startInstance(t testing.TB, url string, master []byte) *instance {
	t.Helper()
	st := open(t, url)
	core, err := server.New(t.Context(), server.Config{Store: st, MasterKey: master, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { core.Run(ctx); close(ran) }()
	hs := httptest.NewServer(core.Handler())
	t.Cleanup(func() { core.StopWaiting(); hs.Close(); cancel(); <-ran })
	return &instance{core: core, url: hs.URL}
}

// longPolls reads how many long-polls the instance holds from /metrics.
func (in *instance) longPolls(t testing.TB) string {
	resp, err := http.Get(in.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "kido_longpolls_active "); ok {
			return v
		}
	}
	t.Fatal("no kido_longpolls_active in /metrics")
	return ""
}

// crossInstance is a gate enrolled through instance B, and an admin
// client of instance A, of one database.
type crossInstance struct {
	a, b   *instance
	admin  *client.Client
	gate   *client.Client // of B, pinned
	event  uint32
	cursor string // the gate's feed position, at the log's head
}

func newCrossInstance(t testing.TB) *crossInstance {
	url := pgtest.DB(t)
	ctx := t.Context()
	master := make([]byte, server.MasterKeySize)
	rand.Read(master)
	x := &crossInstance{a: startInstance(t, url, master), b: startInstance(t, url, master)}
	var token string
	if _, err := x.a.core.EnsureAdminToken(ctx, func(s string) error { token = s; return nil }); err != nil {
		t.Fatal(err)
	}
	var err error
	if x.admin, err = client.New(x.a.url, token, nil); err != nil {
		t.Fatal(err)
	}
	ev, err := x.admin.CreateEvent(ctx, wire.EventCreate{Name: "Wake", Venue: "Hall", Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	x.event = ev.ID
	added, err := x.admin.AddGate(ctx, ev.ID, wire.GateCreate{Name: "Gate on B"})
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(x.b.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := anon.Enroll(ctx, added.Code, "device")
	if err != nil {
		t.Fatal(err)
	}
	if x.gate, err = client.New(x.b.url, enrolled.Credential, nil); err != nil {
		t.Fatal(err)
	}
	if x.gate, err = x.gate.Pinned(client.Pin{Identity: enrolled.Server.ID, Event: ev.ID, Gate: enrolled.Gate.ID}); err != nil {
		t.Fatal(err)
	}
	ch, err := x.gate.Changes(ctx, "0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	x.cursor = ch.Cursor
	return x
}

// round has the gate long-poll B for up to wait, commits a change through
// A once B holds the poll (so that only a wake-up can answer it early),
// and returns the poll's answer and how long after the commit it came.
func (x *crossInstance) round(t testing.TB, wait time.Duration, name string) (*wire.Changes, time.Duration) {
	type answer struct {
		ch  *wire.Changes
		err error
		at  time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		ch, err := x.gate.Changes(t.Context(), x.cursor, wait)
		answered <- answer{ch, err, time.Now()}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for x.b.longPolls(t) != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the long-poll never reached instance B")
		}
		time.Sleep(time.Millisecond)
	}
	committed := time.Now()
	if _, err := x.admin.AddGate(t.Context(), x.event, wire.GateCreate{Name: name}); err != nil {
		t.Fatal(err)
	}
	got := <-answered
	if got.err != nil {
		t.Fatal(got.err)
	}
	x.cursor = got.ch.Cursor
	return got.ch, got.at.Sub(committed)
}

// TestLongPollWakesAcrossInstances: a gate long-polls instance B; a
// change committed through instance A must answer that poll at once,
// through the database's notification, rather than when its wait runs
// out. Three rounds; the first right after both instances started.
func TestLongPollWakesAcrossInstances(t *testing.T) {
	x := newCrossInstance(t)
	const wait = 20 * time.Second
	for round := range 3 {
		ch, took := x.round(t, wait, fmt.Sprintf("Gate %d on A", round))
		if len(ch.Changes) != 1 || took >= wait {
			t.Fatalf("round %d: the poll on B answered %d changes %v after A's commit; want the change before its %v wait ran out", round, len(ch.Changes), took, wait)
		}
		t.Logf("round %d: B's poll answered %v after A's commit", round, took.Round(time.Millisecond))
	}
}

// BenchmarkCrossInstancePropagation measures how long after a commit
// through instance A a long-poll waiting on instance B answers with it
// (the goal: p99 under 1 s). Each op is one commit through the
// admin API (a gate added) and the poll's answer.
func BenchmarkCrossInstancePropagation(b *testing.B) {
	x := newCrossInstance(b)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		ch, took := x.round(b, 20*time.Second, fmt.Sprintf("Gate %d on A", i))
		if len(ch.Changes) != 1 {
			b.Fatalf("poll answered %d changes; want 1", len(ch.Changes))
		}
		lat = append(lat, took)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
