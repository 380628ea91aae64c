package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"kido.dev/kido/gate/mesh"
	"kido.dev/kido/gate/replica"
	"kido.dev/kido/sync/wire"
)

// meshFlags are run's and serve's flags for the venue mesh
// (docs/mesh.md).
type meshFlags struct {
	listen string
	peers  []string
}

// addMeshFlags adds -mesh and -peer to fs.
func addMeshFlags(fs *flag.FlagSet) *meshFlags {
	m := &meshFlags{}
	fs.StringVar(&m.listen, "mesh", mesh.DefaultListen, "listen for the event's other gates at `address` (host:port; \"off\": no venue mesh)")
	fs.Func("peer", "also exchange admissions with the gate at `address` (host:port); repeatable", func(s string) error {
		// The one rule for a mesh address, as the gate list's addresses
		// are checked.
		if err := wire.CheckMeshAddr(s); err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "wire: "))
		}
		m.peers = append(m.peers, s)
		return nil
	})
	return m
}

// check refuses a -mesh that is neither off nor host:port, before any file
// is touched.
func (m *meshFlags) check() error {
	if m.listen == "off" {
		if len(m.peers) > 0 {
			return usageErrorf("-peer with -mesh off\nhint: drop -mesh off to exchange admissions with peers")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(m.listen); err != nil {
		return usageErrorf("-mesh %q: %v\nhint: give host:port, such as :%s (every interface) or 192.168.1.20:%s, or off", m.listen, err, mesh.DefaultPort, mesh.DefaultPort)
	}
	return nil
}

// meshRun is a running mesh node; the zero of *meshRun (nil) is a gate
// without one, whose methods do nothing.
type meshRun struct {
	node *mesh.Node
	done chan struct{}

	mu        sync.Mutex
	adv       string // the address last reported, and when it was worked out
	advAt     time.Time
	advServer string
}

// startMesh starts the gate's mesh node and says so on out, unless -mesh
// off, the gate has no key (enrolled before gate keys) or it cannot
// listen: it then says why, in words for the operator, and returns nil,
// and the gate scans alone. The node logs to out, and pokes its peers
// also when another process (kido-gate scan or admit) records an
// admission.
func startMesh(ctx context.Context, r *replica.Replica, mf *meshFlags, out io.Writer) (*meshRun, error) {
	if mf.listen == "off" {
		fmt.Fprintln(out, "mesh: off (-mesh off)")
		return nil, nil
	}
	gateID, key, err := r.Own(ctx)
	if err != nil {
		return nil, err
	}
	if key == nil {
		fmt.Fprintln(out, "mesh: off, this gate has no key (enrolled before gate keys; enrol it again to join the venue mesh)")
		return nil, nil
	}
	st, err := r.Status(ctx)
	if err != nil {
		return nil, err
	}
	node, err := mesh.Listen(mesh.Config{Store: r, Event: st.Event.ID, Gate: gateID, Key: key,
		Listen: mf.listen, Peers: mf.peers, Log: func(msg string) { fmt.Fprintln(out, msg) }})
	if err != nil {
		// The gate decides alone without its peers: scanning goes on.
		fmt.Fprintf(out, "mesh: OFF, %v\n", err)
		return nil, nil
	}
	m := &meshRun{node: node, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		if err := node.Run(ctx); err != nil {
			fmt.Fprintln(out, err)
		}
	}()
	go m.watch(ctx, r)
	fmt.Fprintf(out, "mesh: listening for the event's other gates at %s\n", node.Addr())
	return m, nil
}

// watch pokes the node when another process commits to the replica, as
// the sync loop uploads at once what another process recorded: the data
// version changes only for other connections' commits.
func (m *meshRun) watch(ctx context.Context, r *replica.Replica) {
	last, err := r.DataVersion(ctx)
	if err != nil {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v, err := r.DataVersion(ctx); err == nil && v != last {
			last = v
			m.node.Poke()
		}
	}
}

// poke pushes a new admission to the peers at once.
func (m *meshRun) poke() {
	if m != nil {
		m.node.Poke()
	}
}

// advertised is the mesh address the gate's heartbeat reports to the
// server at serverURL, worked out again at most once a minute (the route
// to the server may change, its look-up costs no packet but a syscall).
func (m *meshRun) advertised(serverURL string) string {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adv == "" || m.advServer != serverURL || time.Since(m.advAt) > time.Minute {
		host := ""
		if u, err := url.Parse(serverURL); err == nil {
			host = u.Host
		}
		m.adv, m.advAt, m.advServer = m.node.Advertised(host), time.Now(), serverURL
	}
	return m.adv
}

// wait waits for the node to stop (its context cancelled).
func (m *meshRun) wait() {
	if m != nil {
		<-m.done
	}
}
