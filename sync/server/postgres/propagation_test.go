package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

func startInstance(t *testing.T, url string, master []byte) *instance {
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
func (in *instance) longPolls(t *testing.T) string {
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

// TestLongPollWakesAcrossInstances: a gate long-polls instance B; a
// change committed through instance A must answer that poll at once,
// through the database's notification, rather than when its wait runs
// out. Three rounds, each committing only once B holds the poll.
func TestLongPollWakesAcrossInstances(t *testing.T) {
	url := pgtest.DB(t)
	ctx := t.Context()
	master := make([]byte, server.MasterKeySize)
	rand.Read(master)
	a, b := startInstance(t, url, master), startInstance(t, url, master)
	var token string
	if _, err := a.core.EnsureAdminToken(ctx, func(s string) error { token = s; return nil }); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(a.url, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := admin.CreateEvent(ctx, wire.EventCreate{Name: "Wake", Venue: "Hall", Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	added, err := admin.AddGate(ctx, ev.ID, wire.GateCreate{Name: "Gate on B"})
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(b.url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := anon.Enroll(ctx, added.Code, "device")
	if err != nil {
		t.Fatal(err)
	}
	gate, err := client.New(b.url, enrolled.Credential, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gate, err = gate.Pinned(client.Pin{Identity: enrolled.Server.ID, Event: ev.ID, Gate: enrolled.Gate.ID}); err != nil {
		t.Fatal(err)
	}
	ch, err := gate.Changes(ctx, "0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	cursor := ch.Cursor
	const wait = 20 * time.Second
	for round := range 3 {
		type answer struct {
			ch   *wire.Changes
			err  error
			took time.Duration
		}
		answered := make(chan answer, 1)
		go func() {
			start := time.Now()
			ch, err := gate.Changes(ctx, cursor, wait)
			answered <- answer{ch, err, time.Since(start)}
		}()
		// Commit only once B holds the poll, so that only a wake-up can
		// answer it early.
		deadline := time.Now().Add(10 * time.Second)
		for b.longPolls(t) != "1" {
			if time.Now().After(deadline) {
				t.Fatal("the long-poll never reached instance B")
			}
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := admin.AddGate(ctx, ev.ID, wire.GateCreate{Name: fmt.Sprintf("Gate %d on A", round)}); err != nil {
			t.Fatal(err)
		}
		got := <-answered
		if got.err != nil {
			t.Fatal(got.err)
		}
		if len(got.ch.Changes) != 1 || got.took >= wait {
			t.Fatalf("round %d: the poll on B answered %d changes after %v; want the change from A before its %v wait ran out", round, len(got.ch.Changes), got.took, wait)
		}
		t.Logf("round %d: B's poll answered %v after it began", round, got.took.Round(time.Millisecond))
		cursor = got.ch.Cursor
	}
}
