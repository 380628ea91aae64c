package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/cmd/internal/doctor"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/postgres"
	"kido.dev/kido/sync/server/sqlite"
	"kido.dev/kido/sync/wire"
)

const doctorUsage = `usage: kido-server doctor -data DIR [-db URL] [-master-key FILE] [-tls-cert FILE -tls-key FILE] [-json]

Checks, in order, what the server needs, with the flags the server runs
with, and prints one line per check: OK, WARN, FAIL (with the exact fault
and what to do) or SKIP (not run: a check it needs failed). Exits 1 if any
check fails. Safe while the server runs: the only write is the database's
one-row probe that health also makes.

	files     data directory, master key and admin token, and their modes
	tls       certificate and key: they match, expiry (with -tls-cert)
	disk      the data directory takes a write; free space
	database  schema, integrity, a write (with -db: the PostgreSQL
	          database's schema, without migrating it, and a write)
	keys      the master key opens the server's sealed identity key
	server    a kido-server runs on this directory and its health is ok

Example:

	kido-server doctor -data /var/lib/kido -tls-cert /etc/kido/cert.pem -tls-key /etc/kido/key.pem

Flags:
`

// certWarn is how long before its expiry the certificate is a warning.
const certWarn = 14 * 24 * time.Hour

// doctorEnv is what the checks take from the world; tests replace parts.
type doctorEnv struct {
	now   func() time.Time
	write func(dir string) error
	free  func(dir string) (int64, error)
}

func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return doctorWith(ctx, doctorEnv{now: time.Now, write: doctor.WriteProbe, free: doctor.FreeSpace}, args, getenv, stdout, stderr)
}

func doctorWith(ctx context.Context, env doctorEnv, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	fl := flag.NewFlagSet("kido-server doctor", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, doctorUsage); fl.PrintDefaults() }
	fl.StringVar(&c.data, "data", "./kido-data", "data `directory` of the server")
	fl.StringVar(&c.db, "db", "", "PostgreSQL database `URL` the server runs with (-db); empty: SQLite in the data directory")
	fl.StringVar(&c.masterKey, "master-key", getenv("KIDO_MASTER_KEY"), "master key `file` (default DATA/master.key; env KIDO_MASTER_KEY)")
	fl.StringVar(&c.certFile, "tls-cert", "", "TLS certificate `file` (PEM) the server serves")
	fl.StringVar(&c.keyFile, "tls-key", "", "TLS private key `file` (PEM)")
	asJSON := fl.Bool("json", false, "print one JSON object")
	if err := parseFlags(fl, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return usagef("unexpected argument %q\nhint: kido-server doctor takes flags only; see kido-server doctor -h", fl.Arg(0))
	}
	if c.masterKey == "" {
		c.masterKey = filepath.Join(c.data, "master.key")
	}
	var r doctor.Report
	d := &serverDoctor{env: env, c: c, r: &r}
	d.run(ctx)
	if err := r.Write(stdout, *asJSON); err != nil {
		return err
	}
	return r.Summary()
}

type serverDoctor struct {
	env    doctorEnv
	c      config
	r      *doctor.Report
	master []byte
	store  interface {
		server.Store
		Close() error
	}
}

func (d *serverDoctor) run(ctx context.Context) {
	d.files()
	d.tls()
	if d.r.Passed("files") {
		d.r.Disk(d.c.data, server.DefaultMinFree, d.env.write, d.env.free)
	} else {
		d.r.Add("disk", doctor.Skip, "needs files", "")
	}
	d.database(ctx)
	if d.store != nil {
		defer d.store.Close()
	}
	if d.r.Passed("database") && d.master != nil {
		d.keys(ctx)
	} else {
		d.r.Add("keys", doctor.Skip, "needs files and database", "")
	}
	d.server(ctx)
}

func (d *serverDoctor) files() {
	st, err := os.Stat(d.c.data)
	if err != nil {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("data directory: %v", err), "give the server's -data directory; a first start creates it")
		return
	}
	var warns []string
	if m := st.Mode().Perm(); m&0o077 != 0 {
		warns = append(warns, fmt.Sprintf("the data directory is open to others (mode %04o): chmod 700 %s", m, d.c.data))
	}
	kst, err := os.Stat(d.c.masterKey)
	if err != nil {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("master key: %v", err), "restore master.key from its backup, or give its path with -master-key; without it the signing keys cannot be opened")
		return
	}
	if m := kst.Mode().Perm(); m&0o077 != 0 {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("master key %s is readable by others (mode %04o); the server refuses to start", d.c.masterKey, m), "chmod 600 "+d.c.masterKey)
		return
	}
	b, err := os.ReadFile(d.c.masterKey)
	if err != nil {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("master key: %v", err), "run the doctor as the server's user")
		return
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != server.MasterKeySize {
		d.r.Add("files", doctor.Fail, fmt.Sprintf("master key %s is not %d hex digits", d.c.masterKey, 2*server.MasterKeySize), "restore master.key from its backup")
		return
	}
	d.master = key
	tok := filepath.Join(d.c.data, "admin.token")
	if tst, err := os.Stat(tok); err == nil && tst.Mode().Perm()&0o077 != 0 {
		warns = append(warns, fmt.Sprintf("%s is readable by others (mode %04o): chmod 600 %s", tok, tst.Mode().Perm(), tok))
	}
	detail := fmt.Sprintf("%s, master key %s mode 0600", d.c.data, d.c.masterKey)
	if len(warns) > 0 {
		d.r.Add("files", doctor.Warn, detail+"; "+strings.Join(warns, "; "), "fix the modes named")
		return
	}
	d.r.Add("files", doctor.OK, detail, "")
}

func (d *serverDoctor) tls() {
	if d.c.certFile == "" && d.c.keyFile == "" {
		d.r.Add("tls", doctor.Warn, "no -tls-cert: the server speaks plain HTTP", "serve HTTPS (-tls-cert, -tls-key) unless a TLS proxy in front does, or the venue's network is closed")
		return
	}
	if (d.c.certFile == "") != (d.c.keyFile == "") {
		d.r.Add("tls", doctor.Fail, "-tls-cert and -tls-key go together", "give both")
		return
	}
	pair, err := tls.LoadX509KeyPair(d.c.certFile, d.c.keyFile)
	if err != nil {
		d.r.Add("tls", doctor.Fail, fmt.Sprintf("certificate %s and key %s: %v", d.c.certFile, d.c.keyFile, err), "give the certificate (PEM chain) and the private key that belongs to it")
		return
	}
	if kst, err := os.Stat(d.c.keyFile); err == nil && kst.Mode().Perm()&0o077 != 0 {
		d.r.Add("tls", doctor.Fail, fmt.Sprintf("TLS key %s is readable by others (mode %04o)", d.c.keyFile, kst.Mode().Perm()), "chmod 600 "+d.c.keyFile)
		return
	}
	leaf := pair.Leaf
	left := leaf.NotAfter.Sub(d.env.now())
	names := leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	switch {
	case left <= 0:
		d.r.Add("tls", doctor.Fail, fmt.Sprintf("certificate %s for %s expired at %s; every gate refuses it", d.c.certFile, strings.Join(names, ", "), leaf.NotAfter.UTC().Format(time.RFC3339)), "renew the certificate and restart kido-server")
	case left < certWarn:
		d.r.Add("tls", doctor.Warn, fmt.Sprintf("certificate %s for %s expires in %s (%s)", d.c.certFile, strings.Join(names, ", "), left.Round(time.Hour), leaf.NotAfter.UTC().Format(time.RFC3339)), "renew the certificate and restart kido-server before it expires")
	default:
		d.r.Add("tls", doctor.OK, fmt.Sprintf("certificate for %s matches its key, valid until %s", strings.Join(names, ", "), leaf.NotAfter.UTC().Format(time.RFC3339)), "")
	}
}

func (d *serverDoctor) database(ctx context.Context) {
	if d.c.db != "" {
		d.postgres(ctx)
		return
	}
	db := filepath.Join(d.c.data, dbName)
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		d.r.Add("database", doctor.Fail, "no database "+db, "start kido-server once to create it, or give the right -data directory; to restore one: kido-server restore")
		return
	}
	if err := sqlite.Check(ctx, db); err != nil {
		d.r.Add("database", doctor.Fail, err.Error(), "restore the latest backup: docs/runbook.md §2")
		return
	}
	s, err := sqlite.Open(db)
	if err != nil {
		d.r.Add("database", doctor.Fail, err.Error(), "docs/runbook.md §7")
		return
	}
	d.store = s
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Probe(wctx); err != nil {
		d.r.Add("database", doctor.Fail, fmt.Sprintf("%s takes no write: %v", db, err), "check the disk and the file's permissions; docs/runbook.md §6")
		return
	}
	d.r.Add("database", doctor.OK, fmt.Sprintf("%s: schema current, integrity ok, a write committed", db), "")
}

// postgres checks the database of -db: its schema without migrating it
// (a starting server would), then a write.
func (d *serverDoctor) postgres(ctx context.Context) {
	name := redactURL(d.c.db)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := postgres.Check(cctx, d.c.db); err != nil {
		d.r.Add("database", doctor.Fail, fmt.Sprintf("%s: %v", name, err), "docs/ops/postgres.md")
		return
	}
	s, err := postgres.Open(cctx, d.c.db)
	if err != nil {
		d.r.Add("database", doctor.Fail, fmt.Sprintf("%s: %v", name, err), "docs/ops/postgres.md")
		return
	}
	d.store = s
	if err := s.Probe(cctx); err != nil {
		d.r.Add("database", doctor.Fail, fmt.Sprintf("%s takes no write: %v", name, err), "check the database user's privileges and the database server's disk; docs/ops/postgres.md")
		return
	}
	d.r.Add("database", doctor.OK, fmt.Sprintf("%s: schema current, a write committed", name), "")
}

func (d *serverDoctor) keys(ctx context.Context) {
	if _, err := d.store.Identity(ctx); errors.Is(err, server.ErrNotFound) {
		d.r.Add("keys", doctor.Warn, "no identity key yet: the server has not started on this database", "start kido-server")
		return
	}
	srv, err := server.New(ctx, server.Config{Store: d.store, MasterKey: d.master})
	if err != nil {
		d.r.Add("keys", doctor.Fail, fmt.Sprintf("the master key %s does not open the server's keys: %v", d.c.masterKey, err), "give the master key this database was made with (-master-key); a new key cannot open the old keys")
		return
	}
	d.r.Add("keys", doctor.OK, fmt.Sprintf("the master key opens the identity key (fingerprint %s)", srv.Info().Fingerprint), "")
}

func (d *serverDoctor) server(ctx context.Context) {
	lock, err := dirlock.Acquire(d.c.data, fmt.Sprintf("pid %d, kido-server doctor", os.Getpid()))
	if err == nil {
		lock.Release()
		d.r.Add("server", doctor.Fail, "no kido-server runs on "+d.c.data, "start it: systemctl start kido-server (or kido-server -data "+d.c.data+")")
		return
	}
	var held *dirlock.HeldError
	if !errors.As(err, &held) {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("lock of %s: %v", d.c.data, err), "check the data directory's permissions")
		return
	}
	url, ok := listeningURL(held.Info)
	if !ok {
		d.r.Add("server", doctor.Warn, fmt.Sprintf("a kido-server holds %s but is not listening yet (%s)", d.c.data, held.Info), "wait for it to start, then run the doctor again")
		return
	}
	// The certificate was checked from its file above; this only asks
	// the server on this machine for its health.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/health", nil)
	if err != nil {
		d.r.Add("server", doctor.Fail, err.Error(), "")
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("the server (%s) does not answer GET /v1/health: %v", held.Info, err), "see its log; restart it")
		return
	}
	defer resp.Body.Close()
	var h wire.Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil || h.Status == "" {
		d.r.Add("server", doctor.Fail, fmt.Sprintf("%s answers %s to GET /v1/health, not as a kido server", url, resp.Status), "see its log")
		return
	}
	switch {
	case h.Status != "ok":
		d.r.Add("server", doctor.Fail, fmt.Sprintf("%s: health %s: %s", url, h.Status, h.Database), "docs/runbook.md §6")
	case len(h.Warnings) > 0:
		d.r.Add("server", doctor.Warn, fmt.Sprintf("%s, version %s, health ok, warnings: %s", url, h.Server.Version, strings.Join(h.Warnings, "; ")), "act on the warnings: docs/runbook.md §6")
	default:
		d.r.Add("server", doctor.OK, fmt.Sprintf("%s, version %s, health ok", url, h.Server.Version), "")
	}
}

// listeningInfo is what a listening server writes in its lock file;
// listeningURL reads the URL back for the doctor.
func listeningInfo(pid int, url string) string {
	return fmt.Sprintf("pid %d, listening on %s", pid, url)
}

func listeningURL(info string) (string, bool) {
	_, url, ok := strings.Cut(info, ", listening on ")
	return url, ok && (strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://"))
}
