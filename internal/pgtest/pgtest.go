// Package pgtest starts a throwaway PostgreSQL cluster for the tests of one
// package and hands each test a fresh, empty database in it.
//
// A package's TestMain calls Main, which starts a cluster with
// internal/pgcluster (fsync off), runs the tests and removes the cluster.
// When no PostgreSQL server programs are installed, DB skips the test with
// the reason; .ci/run installs them and fails on any skip.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"kido.dev/kido/internal/pgcluster"
)

// cluster is the running cluster of this test binary, nil when none runs.
var cluster *pgcluster.Cluster

// missing says why no cluster runs, for the skip message.
var missing string

// Main starts a cluster, runs the package's tests, stops the cluster and
// exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with work of its own after the tests: it
// returns the status instead of exiting.
func Run(m *testing.M) int {
	c, err := pgcluster.Start(pgcluster.Options{Prefix: "kido_test"})
	switch {
	case errors.Is(err, pgcluster.ErrNoBinaries):
		missing = err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	default:
		cluster = c
	}
	code := m.Run()
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			code = 1
		}
	}
	return code
}

// DB creates a new empty database in the package's cluster and returns
// its URL; the test is skipped when PostgreSQL is not installed.
func DB(t testing.TB) string {
	t.Helper()
	if cluster == nil {
		if missing == "" {
			t.Fatal("pgtest: no cluster; call pgtest.Main from TestMain")
		}
		t.Skip(missing)
	}
	u, err := cluster.NewDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Own starts a cluster of the test's own, stopped and removed when the
// test ends, for a test that stops and restarts the server under its
// clients; the test is skipped when PostgreSQL is not installed.
func Own(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Start(pgcluster.Options{Prefix: "kido_test"})
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}
