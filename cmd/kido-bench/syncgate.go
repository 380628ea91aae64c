package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/gate/syncer"
	"kido.dev/kido/internal/promtext"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// syncGate is one gate running the real sync loop (gate/syncer) on its own
// replica against a real server, in this process.
type syncGate struct {
	id uint32
	r  *replica.Replica
	s  *syncer.Syncer
}

// newSyncGate sets up the sync loop of the gate whose replica is r, with
// the default timings of docs/sync-protocol.md, its calls timed by rec.
// changed, if not nil, receives a value (without blocking) whenever the
// loop's status changes.
func newSyncGate(url, credential string, id uint32, r *replica.Replica, rec *recorder, changed chan<- struct{}) (*syncGate, error) {
	st, err := r.Status(context.Background())
	if err != nil {
		return nil, err
	}
	pin := client.Pin{Identity: st.Server.ID, Event: st.Event.ID, Gate: id}
	c, err := client.NewGate(url, credential, pin, client.Security{}, syncer.Heartbeat(r, "kido-bench", time.Now, nil))
	if err != nil {
		return nil, err
	}
	cfg := syncer.Config{Replica: r, Server: recordingServer{c, rec}}
	if changed != nil {
		cfg.OnChange = func(syncer.Status) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	return &syncGate{id: id, r: r, s: syncer.New(cfg)}, nil
}

// runAll runs the sync loops of gates, all started at the same instant,
// until ctx ends; wait returns once every loop has stopped.
func runAll(ctx context.Context, gates []*syncGate) (wait func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, g := range gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g.s.Run(ctx)
		}()
	}
	close(start)
	return wg.Wait
}

// recorder times the gates' sync calls and counts their answers, as the
// gates saw them.
type recorder struct {
	mu       sync.Mutex
	uploads  []time.Duration // every upload answered, whatever its status
	accepted []time.Duration // uploads answered 200
	answers  map[string]int  // "upload 200", "changes 503", "upload network error"…
}

func (rec *recorder) add(call string, d time.Duration, err error) {
	status := "200"
	var ce *client.Error
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Status != 0:
		status = strconv.Itoa(ce.Status)
	default:
		status = "network error"
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.answers == nil {
		rec.answers = map[string]int{}
	}
	rec.answers[call+" "+status]++
	if call == "upload" && status != "network error" {
		rec.uploads = append(rec.uploads, d)
		if status == "200" {
			rec.accepted = append(rec.accepted, d)
		}
	}
}

// recordingServer is the gate client with every call recorded.
type recordingServer struct {
	*client.Client
	rec *recorder
}

func (s recordingServer) Upload(ctx context.Context, req *wire.UploadRequest) (*wire.UploadResponse, error) {
	t0 := time.Now()
	resp, err := s.Client.Upload(ctx, req)
	s.rec.add("upload", time.Since(t0), err)
	return resp, err
}

func (s recordingServer) Changes(ctx context.Context, cursor string, wait time.Duration) (*wire.Changes, error) {
	t0 := time.Now()
	ch, err := s.Client.Changes(ctx, cursor, wait)
	s.rec.add("changes", time.Since(t0), err)
	return ch, err
}

// serverCounts reads the server's request counters (GET /metrics,
// kido_requests_total and kido_shed_total) as "endpoint status" → count,
// and "shed kind" → count.
func serverCounts(ctx context.Context, url string) (map[string]int, error) {
	sc, err := promtext.Get(ctx, nil, url)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range sc {
		switch s.Name {
		case "kido_requests_total":
			out[s.Labels["endpoint"]+" "+s.Labels["status"]] = int(s.Value)
		case "kido_shed_total":
			out["shed "+s.Labels["kind"]] = int(s.Value)
		}
	}
	return out, nil
}

// allCounts is serverCounts summed over servers.
func allCounts(ctx context.Context, servers []*serverProc) (map[string]int, error) {
	out := map[string]int{}
	for _, s := range servers {
		c, err := serverCounts(ctx, s.url)
		if err != nil {
			return nil, err
		}
		for k, n := range c {
			out[k] += n
		}
	}
	return out, nil
}

// perInstance says, in a row's name, that a figure is over several
// instances; nothing for one.
func perInstance(servers []*serverProc) string {
	if len(servers) < 2 {
		return ""
	}
	return fmt.Sprintf(", all %d instances", len(servers))
}

// delta returns after−before for every key that moved, as "key: n" in key
// order.
func delta(before, after map[string]int, prefix string) []string {
	var out []string
	for k, n := range after {
		if d := n - before[k]; d != 0 && strings.HasPrefix(k, prefix) {
			out = append(out, fmt.Sprintf("%s: %d", k, d))
		}
	}
	slices.Sort(out)
	return out
}

// openKeyedReplica opens the replica of the enrolled gate directory dir
// with the gate's key, so that its passages are signed as a real gate's
// are; the key is returned too, for a mesh node's handshake.
func openKeyedReplica(dir string) (*replica.Replica, ed25519.PrivateKey, error) {
	key, err := gatedir.ReadKey(dir)
	if err != nil {
		return nil, nil, err
	}
	r, err := replica.Open(gatedir.Replica(dir), replica.Options{Key: key})
	return r, key, err
}
