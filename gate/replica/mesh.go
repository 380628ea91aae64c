package replica

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"kido.dev/kido"
	"kido.dev/kido/sync/wire"
)

// This file holds what the venue mesh (docs/mesh.md) asks of the replica:
// its version vector, the signed records a peer lacks, learning a peer's
// records, and the peers' keys and addresses from the gate list.

// Why MeshLearn refuses a record; each refusal wraps ErrPeerRecord and
// one of these, or wire.ErrBadUpload (malformed), wire.ErrUnsignedRecord
// or wire.ErrBadRecordSig.
var (
	ErrPeerRecord   = errors.New("replica: peer record refused")
	ErrUnknownGate  = errors.New("not a gate of this event")
	ErrKeylessGate  = errors.New("the gate has no key")
	ErrRevokedGate  = errors.New("made at or after the gate's revocation")
	ErrRecordKeptBy = errors.New("another record is held under its (gate, seq); kept beside it")
)

// MeshVector returns, per origin gate of this event, the highest seq s
// such that the replica holds every signed record 1..s of that gate (own
// records included, and the signed copies of learnt records kept in
// learnt_signed); gates with none are absent. Records learnt from the feed
// or the snapshot carry no signature and do not count: a peer asked for
// them gets them again, signed.
func (r *Replica) MeshVector(ctx context.Context) (map[uint32]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A gate's signed seqs ascend from 1 without gaps exactly as far as
	// each equals its rank.
	rows, err := r.conn.QueryContext(ctx, `SELECT gate, MAX(seq) FROM (
		SELECT gate, seq, ROW_NUMBER() OVER (PARTITION BY gate ORDER BY seq) AS rank FROM (
			SELECT gate, seq FROM admissions WHERE sig IS NOT NULL UNION SELECT gate, seq FROM learnt_signed)
	) WHERE seq = rank GROUP BY gate`)
	if err != nil {
		return nil, r.fault("mesh vector", err)
	}
	defer rows.Close()
	v := map[uint32]uint64{}
	for rows.Next() {
		var g uint32
		var s uint64
		if err := rows.Scan(&g, &s); err != nil {
			return nil, r.fault("mesh vector", err)
		}
		v[g] = s
	}
	if err := rows.Err(); err != nil {
		return nil, r.fault("mesh vector", err)
	}
	return v, nil
}

// MeshSince returns up to limit signed records of gate origin with seq
// above after, in seq order, each with its Sig: from admissions and
// learnt_signed, whose keys never meet (learnSigned).
func (r *Replica) MeshSince(ctx context.Context, origin uint32, after uint64, limit int) ([]kido.Admission, error) {
	if limit <= 0 {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rows, err := r.conn.QueryContext(ctx, `SELECT seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig FROM (
		SELECT seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig FROM admissions WHERE gate = ?1 AND seq > ?2 AND sig IS NOT NULL
		UNION ALL SELECT seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig FROM learnt_signed WHERE gate = ?1 AND seq > ?2)
		ORDER BY seq LIMIT ?3`, origin, after, limit)
	if err != nil {
		return nil, r.fault("mesh since", err)
	}
	defer rows.Close()
	var out []kido.Admission
	for rows.Next() {
		a := kido.Admission{Gate: origin}
		var at, corrected int64
		if err := rows.Scan(&a.Seq, &a.Serial, &a.Tier, &a.Kind, &at, &corrected, &a.Text, &a.Hash, &a.Reason, &a.Undoes, &a.Sig); err != nil {
			return nil, r.fault("mesh since", err)
		}
		a.At, a.Corrected = fromNanos(at), fromNanos(corrected)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fault("mesh since", err)
	}
	return out, nil
}

// MeshPeer returns the public key and mesh address ("" when not known
// yet) of gate g of this event; ok is false when the gate is unknown, has
// no key or is revoked.
func (r *Replica) MeshPeer(ctx context.Context, g uint32) (pub ed25519.PublicKey, addr string, ok bool, err error) {
	gs, err := r.meshGates(ctx)
	if err != nil {
		return nil, "", false, err
	}
	for _, x := range gs {
		if x.ID == g && len(x.Pub) > 0 && !x.Revoked {
			return ed25519.PublicKey(x.Pub), x.Mesh, true, nil
		}
	}
	return nil, "", false, nil
}

// MeshPeers returns every other gate of this event that has a key and a
// mesh address and is not revoked, in id order: ID, Pub and Mesh are set.
func (r *Replica) MeshPeers(ctx context.Context) ([]kido.Gate, error) {
	gs, err := r.meshGates(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	own := r.gateID
	r.mu.Unlock()
	var out []kido.Gate
	for _, g := range gs {
		if g.ID != own && len(g.Pub) > 0 && g.Mesh != "" && !g.Revoked {
			out = append(out, g)
		}
	}
	return out, nil
}

// meshGates reads the gate list with the gates' identities, in id order.
func (r *Replica) meshGates(ctx context.Context) ([]kido.Gate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.config(ctx, r.conn); err != nil {
		return nil, r.fault("read gates", err)
	}
	return readGates(ctx, r.conn)
}

// readGates reads every gate with its identity, in id order.
func readGates(ctx context.Context, q querier) ([]kido.Gate, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, revoked, pub, mesh, revoked_at FROM gates ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []kido.Gate
	for rows.Next() {
		var g kido.Gate
		var pub []byte
		var mesh string
		var revokedAt sql.NullInt64
		if err := rows.Scan(&g.ID, &g.Revoked, &pub, &mesh, &revokedAt); err != nil {
			return nil, err
		}
		scanGateIdentity(&g, pub, mesh, revokedAt)
		out = append(out, g)
	}
	return out, rows.Err()
}

// MeshLearn verifies each record peer from sent and stores the valid ones
// in one transaction, with the discipline of a feed page (mergeAdmissions):
// a (gate, seq) held with the same hash is a no-op, except that a record
// held unsigned (from the feed) takes the signature; one held with another
// hash is kept beside it in conflicting_admissions, where decisions see
// both and kido-gate status counts it. A record is valid when its gate is
// a gate of this event that has a key, it was made (by its trusted time)
// before that gate's revocation if the gate is revoked, it is well formed
// as an upload requires (wire.UploadRequest.Check) and its signature is
// its gate's (wire.VerifyAdmission). It returns how many records were new
// and, for each refused or conflicting one, why: an error wrapping
// ErrPeerRecord that names the gate, the seq and the peer. A refused
// record changes nothing.
func (r *Replica) MeshLearn(ctx context.Context, from uint32, recs []kido.Admission) (learnt int, refused []error, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err = r.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := r.config(ctx, tx); err != nil {
			return err
		}
		gs, err := readGates(ctx, tx)
		if err != nil {
			return err
		}
		runs, err := r.learntRunsIn(ctx, tx)
		if err != nil {
			return err
		}
		byID := make(map[uint32]kido.Gate, len(gs))
		for _, g := range gs {
			byID[g.ID] = g
		}
		learnt, refused = 0, nil
		for _, a := range recs {
			fault := func(why error) {
				refused = append(refused, fmt.Errorf("%w: gate %d seq %d from gate %d: %w", ErrPeerRecord, a.Gate, a.Seq, from, why))
			}
			if why := checkPeerRecord(byID, a); why != nil {
				fault(why)
				continue
			}
			isNew, conflict, err := learnRecord(ctx, tx, runs, a)
			if err != nil {
				return err
			}
			if conflict {
				fault(ErrRecordKeptBy)
			}
			if isNew {
				learnt++
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, r.fault("learn from peer", err)
	}
	return learnt, refused, nil
}

// checkPeerRecord returns why record a may not be learnt, or nil.
func checkPeerRecord(gates map[uint32]kido.Gate, a kido.Admission) error {
	g, ok := gates[a.Gate]
	switch {
	case !ok:
		return ErrUnknownGate
	case len(g.Pub) == 0:
		return ErrKeylessGate
	case g.Revoked && g.RevokedAt == nil:
		// Revoked by a server that did not say when: nothing of it is
		// trusted from a peer; the server's feed still brings what it
		// accepted.
		return fmt.Errorf("%w (revoked at an unknown time)", ErrRevokedGate)
	case g.Revoked && !a.Corrected.Before(*g.RevokedAt):
		return fmt.Errorf("%w: made at %s, revoked at %s", ErrRevokedGate, a.Corrected.UTC().Format(time.RFC3339Nano), g.RevokedAt.UTC().Format(time.RFC3339Nano))
	}
	if err := (&wire.UploadRequest{Admissions: []kido.Admission{a}}).Check(); err != nil {
		return err
	}
	return wire.VerifyAdmission(ed25519.PublicKey(g.Pub), a)
}

// learnRecord stores verified record a: inserted when its (gate, seq) is
// new; its signature added when held unsigned with the same content, or,
// held in learnt, a kept beside it to be relayed (learnSigned); kept in
// conflicting_admissions when held with other content.
func learnRecord(ctx context.Context, tx *sql.Tx, runs *learntRuns, a kido.Admission) (isNew, conflict bool, err error) {
	if held, conflict, err := learnSigned(ctx, tx, runs, a); err != nil || held {
		return false, conflict, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO admissions (gate, seq, serial, tier, kind, at, corrected, text, hash, reason, undoes, sig)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gate, seq) DO NOTHING`,
		a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes, a.Sig)
	if err != nil {
		return false, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, false, err
	}
	var held string
	if err := tx.QueryRowContext(ctx, "SELECT hash FROM admissions WHERE gate = ? AND seq = ?", a.Gate, a.Seq).Scan(&held); err != nil {
		return false, false, err
	}
	if wire.SameRecord(held, a.Hash) {
		// The feed's copy (perhaps only a check of its hash) becomes the
		// whole signed record.
		_, err := tx.ExecContext(ctx, `UPDATE admissions SET at = ?, text = ?, hash = ?, reason = ?, sig = ? WHERE gate = ? AND seq = ? AND sig IS NULL`,
			toNanos(a.At), a.Text, a.Hash, a.Reason, a.Sig, a.Gate, a.Seq)
		return false, false, err
	}
	_, err = tx.ExecContext(ctx, insertConflicting,
		a.Gate, a.Seq, a.Serial, a.Tier, a.Kind, toNanos(a.At), toNanos(a.Corrected), a.Text, a.Hash, a.Reason, a.Undoes)
	return false, true, err
}
