package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"kido.dev/kido"
)

// peer is one address a node dials, with its own goroutine.
type peer struct {
	addr   string
	want   uint32 // the gate the Store lists at addr; 0 for an address given by hand
	poke   chan struct{}
	cancel context.CancelFunc
	client *http.Client
	status PeerStatus // under Node.mu
}

// client returns the HTTP client a node uses for one peer: TLS 1.3 with
// the node's certificate, the peer checked against the gate list, no proxy
// from the environment, every phase bounded.
func (n *Node) client(addr string, want uint32) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countConn{Conn: c, n: n}, nil
		},
		TLSClientConfig:        n.clientTLS(addr, want),
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  serverTimeout,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        time.Minute,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 8 << 10,
	}}
}

// runPeer keeps one peer converged until ctx ends: a session at once, on
// every poke, and every PullEvery (give or take half of it), whether the
// last one failed or not.
func (n *Node) runPeer(ctx context.Context, p *peer) {
	push, fails := false, 0
	wait := time.Duration(0) // the first session at once
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-p.poke:
			push = true
		case <-t.C:
		}
		t.Stop()
		err := n.session(ctx, p, push)
		if ctx.Err() != nil {
			return
		}
		n.noteSession(p, push, err, fails)
		if err != nil {
			fails++
		} else {
			fails = 0
		}
		// A failing peer is tried again at the same pace: on a LAN a dial
		// costs next to nothing, and a backoff would delay healing.
		wait = n.cfg.PullEvery/2 + n.cfg.Jitter(n.cfg.PullEvery)
		push = false
	}
}

// noteSession records the outcome of a session in the peer's status and
// logs what changed: a peer lost, a peer found again, another fault.
func (n *Node) noteSession(p *peer, push bool, err error, fails int) {
	n.mu.Lock()
	prev := p.status
	if err == nil {
		p.status.OK, p.status.Last, p.status.Err = true, time.Now(), ""
	} else {
		p.status.OK, p.status.Err = false, err.Error()
	}
	gate, hook := p.status.Gate, n.onSession
	n.mu.Unlock()
	switch {
	case err != nil && (fails == 0 || prev.Err != err.Error()):
		n.log("mesh: %s: %s", peerName(p.addr, gate), strings.TrimPrefix(err.Error(), "mesh: "))
	case err == nil && fails > 0:
		n.log("mesh: %s answers again", peerName(p.addr, gate))
	}
	if hook != nil {
		hook(p.addr, gate, push, err)
	}
}

func peerName(addr string, gate uint32) string {
	if gate == 0 {
		return "peer " + addr
	}
	return fmt.Sprintf("gate %d at %s", gate, addr)
}

// session runs rounds with one peer until neither side lacks what the
// other can give, at most maxRounds, and stops early when a round moves
// nothing (a peer that refuses what it is sent is not sent it again before
// the next session). A push starts by sending this gate's own records the
// peer lacks according to the vector it last sent; a pull starts with the
// vector alone, since what the peer last said may be stale.
func (n *Node) session(ctx context.Context, p *peer, push bool) error {
	var send []kido.Admission
	if g := n.peerGate(p); push && g != 0 {
		if theirs, ok := n.knownOf(g); ok {
			mine, err := n.cfg.Store.MeshVector(ctx)
			if err != nil {
				return fmt.Errorf("mesh: read vector: %w", err)
			}
			if send, _, err = n.lacking(ctx, theirs, mine, n.cfg.Gate); err != nil {
				return err
			}
			if len(send) == 0 {
				return nil // a poke after a rejected scan: nothing new to push
			}
		}
	}
	var before map[uint32]uint64
	for round := 0; round < maxRounds; round++ {
		mine, err := n.cfg.Store.MeshVector(ctx)
		if err != nil {
			return fmt.Errorf("mesh: read vector: %w", err)
		}
		ans, gate, err := n.exchange(ctx, p, &Exchange{Vector: VectorOf(mine), Records: send})
		if err != nil {
			return err
		}
		theirs := vectorMap(ans.Vector)
		n.setKnown(gate, ans.Vector)
		learnt := n.learn(ctx, gate, p.addr, ans.Records)
		if learnt > 0 {
			if mine, err = n.cfg.Store.MeshVector(ctx); err != nil {
				return fmt.Errorf("mesh: read vector: %w", err)
			}
		}
		if send, _, err = n.lacking(ctx, theirs, mine, 0); err != nil {
			return err
		}
		pullMore := ans.More && learnt > 0
		if len(send) == 0 && !pullMore {
			return nil
		}
		if before != nil && learnt == 0 && !advanced(before, theirs) {
			return nil
		}
		before = theirs
	}
	return nil
}

// advanced reports whether after holds a higher seq than before for some
// gate.
func advanced(before, after map[uint32]uint64) bool {
	for g, s := range after {
		if s > before[g] {
			return true
		}
	}
	return false
}

func (n *Node) peerGate(p *peer) uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return p.status.Gate
}

// exchange sends one Exchange to p and returns its answer and the gate
// that answered, checked again against the gate list (a connection kept
// open outlives a revocation).
func (n *Node) exchange(ctx context.Context, p *peer, x *Exchange) (*Exchange, uint32, error) {
	body, err := x.encode(true)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+p.addr+ExchangePath, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("mesh: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		// The request's method and URL say nothing the log needs.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, ErrRefusedPeer) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("mesh: %w", err)
	}
	defer resp.Body.Close()
	if resp.TLS == nil {
		return nil, 0, errors.New("mesh: answer without TLS")
	}
	c, err := n.checkPeer(ctx, rawChain(resp.TLS.PeerCertificates), p.want)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, c.gate, fmt.Errorf("mesh: gate %d answered %s: %q", c.gate, resp.Status, bytes.TrimSpace(msg))
	}
	ans, err := DecodeExchange(resp.Body, false)
	if err != nil {
		return nil, c.gate, fmt.Errorf("gate %d: %w", c.gate, err)
	}
	n.mu.Lock()
	p.status.Gate = c.gate
	n.mu.Unlock()
	return ans, c.gate, nil
}

// lacking returns the records this gate holds that a peer with vector
// theirs lacks, at most MaxRecords, in ascending (gate, seq) order, and
// whether more remain; only those of origin only, if it is not 0.
func (n *Node) lacking(ctx context.Context, theirs, mine map[uint32]uint64, only uint32) ([]kido.Admission, bool, error) {
	out := []kido.Admission{}
	for _, e := range VectorOf(mine) {
		if only != 0 && e.Gate != only || e.Seq <= theirs[e.Gate] {
			continue
		}
		room := MaxRecords - len(out)
		if room == 0 {
			return out, true, nil
		}
		recs, err := n.cfg.Store.MeshSince(ctx, e.Gate, theirs[e.Gate], room+1)
		if err != nil {
			return nil, false, fmt.Errorf("mesh: read records of gate %d: %w", e.Gate, err)
		}
		if len(recs) > room {
			return append(out, recs[:room]...), true, nil
		}
		out = append(out, recs...)
	}
	return out, false, nil
}

// learn hands records from gate to the Store and logs those it refused
// (the first few of them, and how many).
func (n *Node) learn(ctx context.Context, gate uint32, addr string, recs []kido.Admission) int {
	if len(recs) == 0 {
		return 0
	}
	learnt, refused, err := n.cfg.Store.MeshLearn(ctx, gate, recs)
	if err != nil {
		n.log("mesh: learn %d records from gate %d at %s: %v", len(recs), gate, addr, err)
		return 0
	}
	for i, r := range refused {
		if i == 3 {
			n.log("mesh: gate %d at %s: %d more records refused", gate, addr, len(refused)-i)
			break
		}
		n.log("mesh: gate %d at %s sent a record that was refused: %v", gate, addr, r)
	}
	return learnt
}
