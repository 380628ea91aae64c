package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/postgres"
	"kido.dev/kido/sync/server/sqlite"
)

// openedStore is the server's store with what serve says about it.
type openedStore struct {
	server.Store
	master  []byte
	dataDir string   // whose free space health watches; "" for PostgreSQL, whose disk is the database server's
	name    string   // for the log: no password
	files   []string // the database's files in the data directory, if it has any
}

// openStore loads the master key and opens the SQLite database in the
// data directory, or the PostgreSQL database of -db. The master key is
// made afresh only for a database that never held a server.
func openStore(ctx context.Context, c config, log *slog.Logger) (*openedStore, error) {
	if c.db == "" {
		dbPath := filepath.Join(c.data, "kido.db")
		existing := ""
		if _, err := os.Stat(dbPath); err == nil {
			existing = dbPath
		}
		// Before the database is opened, which creates its file: a key
		// that fails to load leaves no database behind without a key.
		master, err := loadMasterKey(c, existing, log)
		if err != nil {
			return nil, err
		}
		s, err := sqlite.Open(dbPath)
		if err != nil {
			return nil, err
		}
		return &openedStore{Store: s, master: master, dataDir: c.data, name: dbPath, files: []string{dbPath, dbPath + "-wal", dbPath + "-shm"}}, nil
	}
	s, err := postgres.Open(ctx, c.db)
	if err != nil {
		return nil, err
	}
	o := &openedStore{Store: s, name: redactURL(c.db)}
	existing := ""
	_, err = s.Identity(ctx)
	switch {
	case err == nil:
		existing = "database " + o.name
	case !errors.Is(err, server.ErrNotFound):
		s.Close()
		return nil, err
	}
	if o.master, err = loadMasterKey(c, existing, log); err != nil {
		s.Close()
		return nil, err
	}
	return o, nil
}

// redactURL returns a database URL without its password and parameters,
// which may hold one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://…"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery = ""
	return u.String()
}

const migrateUsage = `usage: kido-server migrate -db URL

Brings the schema of a PostgreSQL database up to this release's version
and says which version it was at. kido-server does the same at every
start, under a lock that makes instances starting at once safe; migrate
lets a deployment do it first, with a user allowed to create tables.

Example:

	PGPASSWORD=… kido-server migrate -db postgres://kido_admin@db.internal/kido

Flags:
`

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kido-server migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage); fs.PrintDefaults() }
	db := fs.String("db", "", "PostgreSQL database `URL` (postgres://…)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q\nhint: kido-server migrate takes -db only", fs.Arg(0))
	}
	if *db == "" {
		return errors.New("migrate needs -db\nhint: kido-server migrate -db postgres://USER@HOST/DB (the SQLite database migrates itself at start)")
	}
	from, to, err := postgres.Migrate(ctx, *db)
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(stdout, "%s: schema at version %d, nothing to do\n", redactURL(*db), to)
		return nil
	}
	fmt.Fprintf(stdout, "%s: schema migrated from version %d to %d\n", redactURL(*db), from, to)
	return nil
}
