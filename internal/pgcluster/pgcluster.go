// Package pgcluster starts a throwaway PostgreSQL cluster: initdb in a
// temporary directory, the server on 127.0.0.1 at a free port with trust
// authentication for one superuser, removed when stopped. It is what
// internal/pgtest runs for the tests and what kido-bench runs for its
// PostgreSQL rows.
//
// PostgreSQL refuses to run as root, so when the caller is root (as in CI)
// the cluster belongs to the postgres user and its programs run through
// su postgres -c. When no PostgreSQL server programs are installed, Start
// returns an error that Is ErrNoBinaries and names the package to install.
package pgcluster

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
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries says that initdb and pg_ctl were not found.
var ErrNoBinaries = errors.New("pgcluster: PostgreSQL server programs not found (install Debian's postgresql, or put initdb and pg_ctl on PATH)")

// Options say how the cluster runs.
type Options struct {
	// Durable keeps PostgreSQL's default durability (fsync, synchronous
	// commit, full page writes), for measurements that compare with a
	// store that syncs. Without it every sync is off: the cluster is
	// thrown away and tests write a lot.
	Durable bool
	// Prefix names the databases NewDB makes ("kido_test" gives
	// kido_test_1, kido_test_2, …); empty: "kido".
	Prefix string
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir   string // holds data/, the log and the server's socket
	bin   string // directory of initdb, pg_ctl and postgres
	owner string // user the server runs as; empty: the current user
	opts  Options
	port  int
	n     atomic.Int64 // databases made so far
}

// debianBins are Debian's directories of PostgreSQL's server programs, one
// per major version.
var debianBins = "/usr/lib/postgresql/*/bin"

// findBin returns the directory holding initdb and pg_ctl: PATH first,
// then Debian's versioned directories, newest first.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob(debianBins)
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
	return "", ErrNoBinaries
}

// Installed returns ErrNoBinaries when Start could not find PostgreSQL's
// server programs, and nil otherwise.
func Installed() error {
	_, err := findBin()
	return err
}

// Start creates and starts a cluster.
func Start(opts Options) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kido-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: running as root needs a postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		c.owner = "postgres"
	}
	initArgs := []string{"-D", c.data(), "-A", "trust", "-U", "kido", "-E", "UTF8"}
	if !opts.Durable {
		initArgs = append(initArgs, "--no-sync")
	}
	if out, err := c.command("initdb", initArgs...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	// The free port is found by binding and releasing it, so another
	// process can take it before the server does: try a few.
	for try := 0; ; try++ {
		if c.port, err = freePort(); err != nil {
			break
		}
		if err = c.Start(); err == nil {
			return c, nil
		}
		if try == 4 {
			break
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	os.RemoveAll(dir)
	return nil, fmt.Errorf("%w\n%s", err, log)
}

// Start starts the server of a cluster that StopServer stopped, on the
// same port, and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300", c.port, c.dir)
	if !c.opts.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	out, err := c.command("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-o", opts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// StopServer stops the server, cutting every connection, and keeps the
// cluster for Start. It stops in fast mode, which writes what was
// committed: immediate mode, like a crash, would lose commits to the
// cluster's synchronous_commit=off unless Durable.
func (c *Cluster) StopServer() error { return c.stop("fast") }

func (c *Cluster) stop(mode string) error {
	out, err := c.command("pg_ctl", "-D", c.data(), "-m", mode, "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
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
		return 0, fmt.Errorf("pgcluster: free port: %w", err)
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
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	defer conn.Close(ctx)
	prefix := c.opts.Prefix
	if prefix == "" {
		prefix = "kido"
	}
	name := fmt.Sprintf("%s_%d", prefix, c.n.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgcluster: create database: %w", err)
	}
	return c.URL(name), nil
}

// CPU returns the CPU time (user and system) the cluster's processes have
// used so far: the postmaster's, that of the children it has reaped
// (backends that ended), and that of the children still running. Zero
// when /proc cannot tell.
func (c *Cluster) CPU() time.Duration {
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	ticks := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		f := procStat(p)
		if len(f) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		if pid != pm && ppid != pm {
			continue
		}
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			n, _ := strconv.Atoi(f[i])
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procStat returns the fields of /proc/PID/stat after the command name
// (which may hold spaces): state first, then ppid.
func procStat(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// Stop stops the server, if it runs, and removes the cluster.
func (c *Cluster) Stop() error {
	var err error
	if _, serr := os.Stat(filepath.Join(c.data(), "postmaster.pid")); serr == nil {
		err = c.stop("immediate") // nothing is kept
	}
	if rerr := os.RemoveAll(c.dir); err == nil && rerr != nil {
		err = rerr
	}
	return err
}
