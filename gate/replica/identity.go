package replica

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// checkGateIdentity refuses a gate whose identity fields the replica
// could not use: a key that is not 32 bytes, a mesh address that is not
// host:port (wire.CheckMeshAddr), a revocation time outside kido's years
// or without the revocation.
func checkGateIdentity(g kido.Gate) error {
	if n := len(g.Pub); n != 0 && n != ed25519.PublicKeySize {
		return fmt.Errorf("%w: gate %d: key of %d bytes", ErrBadChange, g.ID, n)
	}
	if g.Mesh != "" {
		if err := wire.CheckMeshAddr(g.Mesh); err != nil {
			return fmt.Errorf("%w: gate %d: %v", ErrBadChange, g.ID, err)
		}
	}
	if g.RevokedAt != nil {
		if !g.Revoked {
			return fmt.Errorf("%w: gate %d has a revocation time but is not revoked", ErrBadChange, g.ID)
		}
		if err := kido.CheckTime("revoked_at", *g.RevokedAt); err != nil {
			return fmt.Errorf("%w: gate %d: %v", ErrBadChange, g.ID, err)
		}
	}
	return nil
}

// ErrNoGateKey: this gate's key is known to the server (the gate list
// carries it) but the replica was opened without it, so its records
// could not be signed and the server would refuse them.
var ErrNoGateKey = errors.New("replica: the gate's key is missing")

// signer returns the key this gate's records are signed with: the
// replica's Options.Key when the gate list carries its public key, nil
// when the gate has no key (enrolled before gate keys: its records go
// unsigned, as before). A key other than the recorded one, or none when
// one is recorded, is an error: records signed so would be refused.
func (r *Replica) signer(g kido.Gate) (ed25519.PrivateKey, error) {
	switch {
	case len(g.Pub) == 0:
		return nil, nil
	case r.opts.Key == nil:
		return nil, &Error{Op: "sign", Path: r.path, Err: ErrNoGateKey,
			Hint: "the gate.key file of this data directory is missing; restore it from a backup, or enrol the gate again (kido-gate enroll) with a new code"}
	case !ed25519.PublicKey(g.Pub).Equal(r.opts.Key.Public()):
		return nil, &Error{Op: "sign", Path: r.path, Err: ErrNoGateKey, Cause: fmt.Errorf("gate.key is not the key the server recorded for gate %d", g.ID),
			Hint: "this data directory holds another gate's key; use each gate's own -data directory"}
	}
	return r.opts.Key, nil
}

// scanGateIdentity fills g's identity columns as read.
func scanGateIdentity(g *kido.Gate, pub []byte, mesh string, revokedAt sql.NullInt64) {
	if len(pub) > 0 {
		g.Pub = pub
	}
	g.Mesh = mesh
	if revokedAt.Valid {
		t := fromNanos(revokedAt.Int64)
		g.RevokedAt = &t
	}
}

// Own returns this gate's id and private key, as the mesh authenticates
// with them (docs/mesh.md): key is nil when the gate has no key (enrolled
// before gate keys) and so takes no part in the mesh.
func (r *Replica) Own(ctx context.Context) (gateID uint32, key ed25519.PrivateKey, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.config(ctx, r.conn)
	if err != nil {
		return 0, nil, r.fault("read gate", err)
	}
	key, err = r.signer(cfg.Gate)
	return cfg.Gate.ID, key, err
}
