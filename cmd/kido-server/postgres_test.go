package main

import (
	"bytes"
	"context"
	"encoding/json"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/internal/pgtest"
	"kido.dev/kido/sync/server/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func noEnv(string) string { return "" }

// TestMigrateCommand migrates a new database, then finds nothing to do.
func TestMigrateCommand(t *testing.T) {
	url := pgtest.DB(t)
	for _, want := range []string{"schema migrated from version 0 to 6\n", "schema at version 6, nothing to do\n"} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{"migrate", "-db", url}, noEnv, &stdout, &stderr); err != nil {
			t.Fatalf("migrate: %v\n%s", err, stderr.String())
		}
		if !strings.HasSuffix(stdout.String(), want) || strings.Contains(stdout.String(), "?") {
			t.Errorf("migrate said %q; want it to end %q, without the URL's parameters", stdout.String(), want)
		}
	}
}

// TestDBFlagErrors: bad -db values are refused with a hint before
// anything is made.
func TestDBFlagErrors(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", data, "-db", "mysql://kido@db/kido"}, "-db takes a postgres:// URL\nhint:"},
		{[]string{"-data", data, "-db", "postgres://kido@127.0.0.1/kido", "-demo"}, "-demo runs on its own SQLite database\nhint:"},
		{[]string{"migrate"}, "migrate needs -db\nhint:"},
		{[]string{"migrate", "-db", "postgres://kido:s3cret@[::1/kido"}, "bad database URL\nhint:"},
		{[]string{"copy-store", "-from", data}, "copy-store needs -from DIR and -to URL\nhint:"},
		{[]string{"copy-store", "-from", data, "-to", "postgres://kido@127.0.0.1/kido"}, "-from names a kido-server data directory, holding kido.db"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), tc.args, noEnv, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("kido-server %s: %v; want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused start made the data directory (%v)", err)
	}
}

// TestSecondInstanceNeedsMasterKey: a second instance of a database,
// started without the first's master key, is refused rather than making a
// key that cannot open the stored ones; with it, it starts and shares
// the admin token's store.
func TestSecondInstanceNeedsMasterKey(t *testing.T) {
	url := pgtest.DB(t)
	first := filepath.Join(t.TempDir(), "first")
	stop := serveInProcess(t, "-data", first, "-db", url)
	defer stop()
	if _, err := os.Stat(filepath.Join(first, "admin.token")); err != nil {
		t.Fatalf("first instance made no admin token: %v", err)
	}

	second := filepath.Join(t.TempDir(), "second")
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-data", second, "-db", url, "-listen", "127.0.0.1:0"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "is missing but database postgres://kido@") || !strings.Contains(err.Error(), "hint:") {
		t.Fatalf("second instance without the master key: %v; want a refusal naming the database, with a hint", err)
	}
	if _, err := os.Stat(filepath.Join(second, "master.key")); !os.IsNotExist(err) {
		t.Errorf("the refused instance wrote a master key (%v)", err)
	}
	stop2 := serveInProcess(t, "-data", second, "-db", url, "-master-key", filepath.Join(first, "master.key"))
	defer stop2()
	if _, err := os.Stat(filepath.Join(second, "admin.token")); !os.IsNotExist(err) {
		t.Errorf("the second instance made another admin token (%v); the database has one", err)
	}
}

// serveInProcess runs kido-server with args until it listens, and returns
// a function that stops it.
func serveInProcess(t *testing.T, args ...string) func() {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, append(args, "-listen", "127.0.0.1:0", "-addr-file", addr), noEnv, &bytes.Buffer{}, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(addr); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("kido-server %s ended: %v\n%s", strings.Join(args, " "), err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("kido-server %s did not listen within 30 s", strings.Join(args, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kido-server %s: %v", strings.Join(args, " "), err)
		}
	}
}

// TestDoctorPostgres: with -db the doctor checks the PostgreSQL database
// without migrating it: a database with no kido schema fails with the
// command that makes one, and is left as it was; the database of a
// running instance passes with a write; the URL's password is never
// printed.
func TestDoctorPostgres(t *testing.T) {
	url := pgtest.DB(t)
	u, err := neturl.Parse(url)
	if err != nil || u.User == nil {
		t.Fatalf("test URL %q: %v", url, err)
	}
	u.User = neturl.UserPassword(u.User.Username(), "s3cret") // trust auth ignores it
	withPassword := u.String()
	data := filepath.Join(t.TempDir(), "data")
	env := doctorEnv{now: time.Now, write: doctor.WriteProbe, free: func(string) (int64, error) { return 50 << 30, nil }}
	doc := func() (doctor.Report, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		doctorWith(t.Context(), env, []string{"-data", data, "-db", withPassword, "-json"}, noEnv, &out, &errOut)
		var rep doctor.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("doctor -json: %v\n%s%s", err, out.String(), errOut.String())
		}
		return rep, out.String() + errOut.String()
	}
	result := func(rep doctor.Report, check string) doctor.Result {
		for _, r := range rep.Results {
			if r.Check == check {
				return r
			}
		}
		t.Fatalf("no %s check in %+v", check, rep.Results)
		return doctor.Result{}
	}

	// The first instance makes the data directory and the schema; before
	// it, the database is empty.
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "master.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	rep, out := doc()
	if db := result(rep, "database"); db.Status != doctor.Fail || !strings.Contains(db.Detail, "no kido schema") || !strings.Contains(db.Detail, "kido-server migrate -db URL") {
		t.Errorf("empty database: %+v", db)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the doctor printed the database password:\n%s", out)
	}
	if err := postgres.Check(t.Context(), url); err == nil || !strings.Contains(err.Error(), "no kido schema") {
		t.Errorf("the doctor changed the empty database: Check says %v", err)
	}

	stop := serveInProcess(t, "-data", data, "-db", url)
	defer stop()
	rep, out = doc()
	for _, c := range []struct {
		check  string
		detail string
	}{{"database", "schema current, a write committed"}, {"keys", "opens the identity key"}, {"server", "version"}} {
		if r := result(rep, c.check); r.Status != doctor.OK || !strings.Contains(r.Detail, c.detail) {
			t.Errorf("running instance: %s = %+v; want OK with %q", c.check, r, c.detail)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the doctor printed the database password:\n%s", out)
	}
}
