// Package pgtest starts a throwaway PostgreSQL cluster for the tests of one
// package and hands each test a fresh, empty database in it.
//
// A package's TestMain calls Main, which runs initdb in a temporary
// directory, starts the server on 127.0.0.1 at a free port with trust
// authentication, runs the tests and removes the cluster. PostgreSQL
// refuses to run as root, so when the tests run as root (as in CI) the
// cluster belongs to the postgres user and its programs run through
// su postgres -c. When no PostgreSQL server programs are installed, DB
// skips the test with the reason; .ci/run installs them and fails on any
// skip.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// cluster is the running cluster of this test binary, nil when none runs.
var cluster *Cluster

// missing says why no cluster runs, for the skip message.
var missing string

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir   string // data directory
	bin   string // directory of initdb, pg_ctl and postgres
	owner string // user the server runs as; empty: the current user
	port  int
	n     atomic.Int64 // databases made so far
}

// Main starts a cluster, runs the package's tests, stops the cluster and
// exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with work of its own after the tests: it
// returns the status instead of exiting.
func Run(m *testing.M) int {
	c, err := Start()
	switch {
	case errors.Is(err, errNoBinaries):
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

var errNoBinaries = errors.New("pgtest: PostgreSQL server programs not found (install Debian's postgresql, or put initdb and pg_ctl on PATH)")

// findBin returns the directory holding initdb and pg_ctl: PATH first,
// then Debian's versioned directories, newest first.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", errNoBinaries
}

// Start creates and starts a cluster.
func Start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kido-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: running as root needs a postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		c.owner = "postgres"
	}
	if out, err := c.command("initdb", "-D", c.data(), "-A", "trust", "-U", "kido", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// The free port is found by binding and releasing it, so another
	// process can take it before the server does: try a few.
	for try := 0; ; try++ {
		if c.port, err = freePort(); err != nil {
			break
		}
		// fsync off: the cluster is thrown away, and the tests write a lot.
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", c.port, dir)
		var out []byte
		out, err = c.command("pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "log"), "-w", "-o", opts, "start").CombinedOutput()
		if err == nil {
			return c, nil
		}
		err = fmt.Errorf("pg_ctl start: %w\n%s", err, out)
		if try == 4 {
			break
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	os.RemoveAll(dir)
	return nil, fmt.Errorf("pgtest: %w\n%s", err, log)
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// command runs a PostgreSQL program as the cluster's owner.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	argv := append([]string{filepath.Join(c.bin, name)}, args...)
	if c.owner == "" {
		return exec.Command(argv[0], argv[1:]...)
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return exec.Command("su", c.owner, "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the URL of database db in the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://kido@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDB creates a new empty database and returns its URL.
func (c *Cluster) NewDB(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("kido_test_%d", c.n.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// Stop stops the server and removes the cluster.
func (c *Cluster) Stop() error {
	out, err := c.command("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop").CombinedOutput()
	if rerr := os.RemoveAll(c.dir); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: stop: %w\n%s", err, out)
	}
	return nil
}
