package server

import (
	"context"
	"sync"

	"kido.dev/kido/sync/wire"
)

// meshAddrs remembers the mesh address last stored for each gate, so that
// a heartbeat that repeats it (every request does) costs no write. After
// a restart each gate's first heartbeat writes once more, changing
// nothing.
type meshAddrs struct {
	mu sync.Mutex
	m  map[uint32]string
}

func (m *meshAddrs) known(gate uint32, addr string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[gate] == addr
}

func (m *meshAddrs) set(gate uint32, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[uint32]string{}
	}
	m.m[gate] = addr
}

// noteMesh stores the mesh address a gate reported in its heartbeat
// (wire.HeaderGateMesh, checked by then) when it is new, so that the gate
// list of every replica of the event carries it (docs/mesh.md), and wakes
// the event's long-polls when that appended a gate change.
func (s *Server) noteMesh(ctx context.Context, tok wire.Token, addr string) error {
	if s.meshAddrs.known(tok.Gate, addr) {
		return nil
	}
	changed, err := s.store.SetGateMesh(ctx, tok.Events[0], tok.Gate, addr)
	if err != nil {
		return err
	}
	s.meshAddrs.set(tok.Gate, addr)
	if changed {
		s.changed(tok.Events[0])
	}
	return nil
}
