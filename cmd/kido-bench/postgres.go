package main

import (
	"context"
	"fmt"
	"path/filepath"

	"kido.dev/kido/internal/pgcluster"
)

// runPropagationPG is the propagation scenario across two kido-server
// instances on one PostgreSQL database: gate A syncs with instance A, gate
// B long-polls instance B, so each sample is A's upload committed, the
// NOTIFY delivered to B, B's long-poll woken and answered.
func runPropagationPG(ctx context.Context, h *harness) ([]row, error) {
	servers, err := h.pgInstances(ctx, "propagation-pg")
	if err != nil {
		return nil, err
	}
	event, tier, err := newEvent(ctx, servers[0].admin, "Propagation bench")
	if err != nil {
		return nil, err
	}
	return propagate(ctx, h, servers, event, tier, "propagation-pg",
		fmt.Sprintf("cross-instance propagation on PostgreSQL (%d samples; gate A uploads through kido-server instance A, gate B long-polls instance B; gate/syncer in-process on replicas from kido-gate enroll)", h.samples))
}

// runHerdPG is the herd with its gates split between two kido-server
// instances on one PostgreSQL database, even gates on A and odd on B.
func runHerdPG(ctx context.Context, h *harness) ([]row, error) {
	servers, err := h.pgInstances(ctx, "herd-pg")
	if err != nil {
		return nil, err
	}
	return herd(ctx, h, herdSetup{
		prefix:  "herd-pg",
		where:   "gates split between two kido-server instances on one PostgreSQL database; gate/syncer in one gates process",
		servers: servers[:],
		dbCPU:   h.pg.CPU,
	})
}

// pgInstances starts two kido-server instances, name-A and name-B, on a
// new database of the run's PostgreSQL cluster (started on first use):
// A makes the master key and the admin token, B is given both, as
// docs/ops/postgres.md says to start a second instance.
func (h *harness) pgInstances(ctx context.Context, name string) ([2]*serverProc, error) {
	var servers [2]*serverProc
	if h.pg == nil {
		h.logf("starting a throwaway PostgreSQL cluster (durable: fsync and synchronous commit on)")
		c, err := pgcluster.Start(pgcluster.Options{Durable: true, Prefix: "kido_bench"})
		if err != nil {
			return servers, fmt.Errorf("%w\nhint: the rows propagation-pg and herd-pg need PostgreSQL's server programs (Debian: apt-get install postgresql); -only can leave them out", err)
		}
		h.pg = c
	}
	url, err := h.pg.NewDB(ctx)
	if err != nil {
		return servers, err
	}
	a, err := h.startServer(ctx, name+"-A", "-db", url)
	if err != nil {
		return servers, err
	}
	b, err := h.startServer(ctx, name+"-B", "-db", url, "-master-key", filepath.Join(h.dir, name+"-A", "master.key"))
	if err != nil {
		return servers, err
	}
	if err := b.useToken(a.token); err != nil {
		return servers, err
	}
	return [2]*serverProc{a, b}, nil
}
