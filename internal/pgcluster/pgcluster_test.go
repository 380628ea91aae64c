package pgcluster

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStopServerAndStart: a database and its rows survive StopServer (a
// crash: every connection cut) and Start on the same URL, and CPU counts
// the cluster's processes.
func TestStopServerAndStart(t *testing.T) {
	c, err := Start(Options{})
	if errors.Is(err, ErrNoBinaries) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	url, err := c.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t AS SELECT generate_series(1, 100000) AS x"); err != nil {
		t.Fatal(err)
	}
	if cpu := c.CPU(); cpu <= 0 {
		t.Errorf("CPU = %v after a query, want more than 0", cpu)
	}
	if err := c.StopServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a query on a stopped server succeeded")
	}
	conn.Close(ctx)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 100000 {
		t.Errorf("after the restart t has %d rows (%v), want 100000", n, err)
	}
}

// TestNotInstalled: without PostgreSQL's programs, Start fails with
// ErrNoBinaries, whose message names the package to install.
func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	was := debianBins
	debianBins = filepath.Join(t.TempDir(), "*", "bin")
	defer func() { debianBins = was }()
	c, err := Start(Options{})
	if !errors.Is(err, ErrNoBinaries) || !strings.Contains(err.Error(), "install Debian's postgresql") {
		if c != nil {
			c.Stop()
		}
		t.Fatalf("Start without PostgreSQL: %v, want ErrNoBinaries naming the package", err)
	}
	if err := Installed(); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("Installed without PostgreSQL: %v, want ErrNoBinaries", err)
	}
}
