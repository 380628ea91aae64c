package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // event time zones work on hosts without a zoneinfo database

	"kido.dev/kido/cmd/internal/buildinfo"
	"kido.dev/kido/cmd/internal/cliflags"
	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/internal/privfile"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server"
)

// dbName is the database's file in the data directory.
const dbName = "kido.db"

const usage = `usage: kido-server [flags]
       kido-server migrate -db URL
       kido-server copy-store -from DIR -to URL
       kido-server backup -data DIR -to FILE
       kido-server restore -data DIR -from FILE
       kido-server doctor -data DIR [-tls-cert FILE -tls-key FILE] [-json]

Runs the kido server: the JSON API under /v1/ (docs/api.md), state in a
SQLite database in the data directory, or with -db in a PostgreSQL
database that several instances share (docs/ops/postgres.md), private
keys sealed under a master key kept outside the database.

On first start it creates the data directory, master.key (unless
-master-key names one) and admin.token, the first admin token, and says
where they are. Back up master.key apart from the database: without it
the signing keys cannot be opened. kido-server backup copies the database
while the server runs; kido-server restore puts a copy back; kido-server
doctor checks everything the server needs, one line per check (-h on
each).

With -db the data directory still holds master.key and admin.token (and
the lock that keeps two instances off one directory); every instance of a
database needs the same master key: start the first, then copy its
master.key to the others or give them -master-key. Put the database
password in PGPASSWORD or ~/.pgpass rather than in the URL.

Examples:

	kido-server -data /var/lib/kido -listen 0.0.0.0:8700 \
		-tls-cert /etc/kido/cert.pem -tls-key /etc/kido/key.pem
	kido-server -data /var/lib/kido -db postgres://kido@db.internal/kido -listen 0.0.0.0:8700

Flags:
`

// usageError is a wrong command line: main exits 2 on it, as kido-gate
// and kidoctl do, and 1 on any other error.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// parseFlags parses a command's flags as cliflags.Parse does; a bad flag
// is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := cliflags.Parse(fs, fs.Name(), args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err}
	}
	return err
}

type config struct {
	data, db, listen, certFile, keyFile, masterKey, addrFile string
	retention                                                time.Duration
	uploadWorkers, longPolls, maxConns                       int
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "migrate":
			return runMigrate(ctx, args[1:], stdout, stderr)
		case "copy-store":
			return runCopyStore(ctx, args[1:], stdout, stderr)
		case "backup":
			return runBackup(ctx, args[1:], stdout, stderr)
		case "restore":
			return runRestore(ctx, args[1:], stdout, stderr)
		case "doctor":
			return runDoctor(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	var c config
	fs := flag.NewFlagSet("kido-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&c.data, "data", "./kido-data", "data `directory`")
	fs.StringVar(&c.db, "db", "", "PostgreSQL database `URL` (postgres://…); empty: SQLite in the data directory")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8700", "`address` to listen on")
	fs.StringVar(&c.certFile, "tls-cert", "", "TLS certificate `file` (PEM); with -tls-key serves HTTPS")
	fs.StringVar(&c.keyFile, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&c.masterKey, "master-key", getenv("KIDO_MASTER_KEY"), "master key `file` (default DATA/master.key; env KIDO_MASTER_KEY)")
	fs.DurationVar(&c.retention, "change-retention", server.MinRetention, "keep change-log rows at least this `duration` (at least 168h; rows of an event also stay until 24 h after its end)")
	fs.IntVar(&c.uploadWorkers, "upload-workers", 4, "`n` uploads worked on at once; four times as many wait up to 2 s, more are shed with 503")
	fs.IntVar(&c.longPolls, "long-polls", 2048, "`n` long-polls waiting at once; more are shed with 503")
	fs.IntVar(&c.maxConns, "max-conns", server.DefaultMaxConns, "`n` client connections open at once; more wait to be accepted")
	fs.StringVar(&c.addrFile, "addr-file", "", "write the address actually listened on to `file` once ready (for scripts; useful with -listen 127.0.0.1:0)")
	demo := demoFlags(fs)
	showVersion := fs.Bool("version", false, "print what this binary was built from and exit")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		return buildinfo.Read().Write(stdout, "kido-server")
	}
	if fs.NArg() > 0 {
		return usagef("unknown command %q\nhint: kido-server -h shows the commands and flags", fs.Arg(0))
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return errors.New("-tls-cert and -tls-key go together\nhint: give both to serve HTTPS, or neither")
	}
	if c.retention < server.MinRetention {
		return fmt.Errorf("-change-retention %s is shorter than %s\nhint: gates offline longer than the retention resnapshot; the protocol promises at least 7 days", c.retention, server.MinRetention)
	}
	if c.uploadWorkers < 1 || c.longPolls < 1 || c.maxConns < 1 {
		return errors.New("-upload-workers, -long-polls and -max-conns must be at least 1")
	}
	if err := checkListen(c.listen); err != nil {
		return err
	}
	if c.db != "" && !strings.HasPrefix(c.db, "postgres://") && !strings.HasPrefix(c.db, "postgresql://") {
		return errors.New("-db takes a postgres:// URL\nhint: leave -db out to keep the SQLite database in the data directory")
	}
	if demo.on {
		if c.db != "" {
			return errors.New("-demo runs on its own SQLite database\nhint: leave -db out with -demo")
		}
		return runDemo(ctx, c, demo.dir, stdout)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return serve(ctx, c, log)
}

// checkListen refuses a -listen address that is not HOST:PORT before
// anything is created: a typo must not leave a fresh data directory behind.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err == nil && strings.ContainsAny(host, " /") {
		err = fmt.Errorf("host %q is not a host name or IP address", host)
	}
	if err != nil {
		return fmt.Errorf("-listen %q is not HOST:PORT: %v\nhint: give a host and port, such as 127.0.0.1:8700, 0.0.0.0:8700 (all interfaces) or [::1]:8700", addr, err)
	}
	return nil
}

func serve(ctx context.Context, c config, log *slog.Logger) error {
	if err := privfile.MkdirAll(c.data); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// Held until the process ends: a second server on this directory
	// would write the same database.
	lock, err := dirlock.Acquire(c.data, fmt.Sprintf("pid %d, starting to listen on %s", os.Getpid(), c.listen))
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("data directory %s is in use by another kido-server (%s)\nhint: stop that server first, or give this one another -data directory", c.data, held.Info)
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer lock.Release()
	store, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer store.Close()
	var tlsExpiry time.Time
	if c.certFile != "" {
		if tlsExpiry, err = certExpiry(c.certFile); err != nil {
			return err
		}
	}
	srv, err := server.New(ctx, server.Config{Store: store.Store, MasterKey: store.master, Version: buildinfo.Read().Short(), Revision: buildinfo.Read().Revision, Logger: log,
		Retention: c.retention, UploadWorkers: c.uploadWorkers, LongPolls: c.longPolls, TLSExpiry: tlsExpiry, DataDir: store.dataDir})
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(c.data, "admin.token")
	created, err := srv.EnsureAdminToken(ctx, func(secret string) error {
		return writeSecretFile(tokenPath, []byte(secret+"\n"))
	})
	if err != nil {
		return err
	}
	if created {
		log.Info("first start: admin token written", "file", tokenPath)
	}
	warnLoose(log, append([]string{tokenPath, c.keyFile}, store.files...)...)

	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen: %w\nhint: is another kido-server running on %s? choose another -listen address", err, c.listen)
		}
		return fmt.Errorf("listen: %w\nhint: -listen takes HOST:PORT with HOST an address of this machine (or empty for all), such as 127.0.0.1:8700", err)
	}
	scheme := "http"
	if c.certFile != "" {
		scheme = "https"
	}
	// Background work (heartbeat writes, pruning, warnings) runs until the
	// HTTP server has stopped, then writes the last heartbeats.
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() { srv.Run(bgCtx); close(bgDone) }()
	defer func() { stopBg(); <-bgDone }()
	hs := srv.HTTPServer()
	l = srv.Listener(l, c.maxConns)
	if err := lock.Update(listeningInfo(os.Getpid(), scheme+"://"+l.Addr().String())); err != nil {
		l.Close()
		return err
	}
	info := srv.Info()
	warnPlainHTTP(log, scheme, l.Addr())
	log.Info("listening", "url", scheme+"://"+l.Addr().String(), "data", c.data, "db", store.name, "fingerprint", info.Fingerprint, "version", info.Version)
	if c.addrFile != "" {
		if err := os.WriteFile(c.addrFile, []byte(scheme+"://"+l.Addr().String()+"\n"), 0o644); err != nil {
			l.Close()
			return fmt.Errorf("addr file: %w", err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		if c.certFile != "" {
			errc <- hs.ServeTLS(l, c.certFile, c.keyFile)
		} else {
			errc <- hs.Serve(l)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// warnPlainHTTP warns when the server serves plain HTTP on an address other
// machines reach: tokens, gate credentials and ticket texts cross the
// network readable, and an attacker on the path can answer in the
// server's place wherever answers are not signed (docs/sync-protocol.md
// §13.5). Gates and kidoctl refuse such a URL without -insecure-http.
func warnPlainHTTP(log *slog.Logger, scheme string, addr net.Addr) {
	host, _, err := net.SplitHostPort(addr.String())
	if scheme != "http" || (err == nil && client.IsLoopback(host)) {
		return
	}
	log.Warn("serving plain HTTP on an address other machines reach: tokens, credentials and tickets cross the network unencrypted; kido-gate and kidoctl refuse it without -insecure-http",
		"address", addr.String(), "hint", "give -tls-cert and -tls-key, or listen on 127.0.0.1 behind a TLS reverse proxy")
}

// warnLoose warns of each file that its group or others may read: the
// admin token and the TLS key are credentials, the database holds them
// and the rosters. The server still starts (an operator may have a
// reason); master.key is refused instead (loadMasterKey).
func warnLoose(log *slog.Logger, paths ...string) {
	for _, p := range paths {
		if p == "" {
			continue
		}
		mode, loose, err := privfile.Loose(p)
		if err != nil {
			log.Warn("cannot check file mode", "file", p, "err", err)
		} else if loose {
			log.Warn("file readable by others; hint: chmod 600 "+p, "file", p, "mode", fmt.Sprintf("%04o", mode))
		}
	}
}
