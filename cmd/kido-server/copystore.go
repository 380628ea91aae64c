package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver for the source

	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/sync/server/postgres"
)

const copyStoreUsage = `usage: kido-server copy-store -from DIR -to URL

Copies a SQLite deployment (the data directory of a stopped kido-server)
into a new, empty PostgreSQL database, in one transaction: events, keys
still sealed, tickets, gates, tokens, admissions and the change log at
its positions, so that every enrolled gate keeps syncing with the same
credential and cursor once kido-server runs with -db URL. The master key
stays in DIR/master.key; give it to every instance (docs/ops/postgres.md).

Example:

	kido-server copy-store -from /var/lib/kido -to postgres://kido@db.internal/kido
	kido-server -data /var/lib/kido -db postgres://kido@db.internal/kido

Flags:
`

func runCopyStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kido-server copy-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, copyStoreUsage); fs.PrintDefaults() }
	from := fs.String("from", "", "data `directory` of the SQLite deployment")
	to := fs.String("to", "", "PostgreSQL database `URL` (postgres://…)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 || *from == "" || *to == "" {
		return errors.New("copy-store needs -from DIR and -to URL\nhint: kido-server copy-store -from /var/lib/kido -to postgres://USER@HOST/DB")
	}
	dbPath := filepath.Join(*from, "kido.db")
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("copy-store: %w\nhint: -from names a kido-server data directory, holding kido.db", err)
	}
	// The source must not change under the copy: hold its directory lock.
	lock, err := dirlock.Acquire(*from, fmt.Sprintf("pid %d, kido-server copy-store", os.Getpid()))
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("data directory %s is in use (%s)\nhint: stop that kido-server first", *from, held.Info)
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer lock.Release()
	src, err := sql.Open("sqlite3", "file:"+url.PathEscape(dbPath)+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return fmt.Errorf("copy-store: %w", err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	n, err := dst.CopySQLite(ctx, src)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %d rows from %s to %s\nnext: kido-server -data %s -db %s\n", n, dbPath, redactURL(*to), *from, redactURL(*to))
	return nil
}
