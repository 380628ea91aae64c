package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"kido.dev/kido/cmd/internal/dirlock"
	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/sync/server/sqlite"
)

const restoreUsage = `usage: kido-server restore -data DIR -from FILE

Puts a copy made by kido-server backup in place as the server's database,
with the server stopped. The copy is checked first; the database it
replaces (with its -wal and -shm files) is kept beside it, renamed
kido.db.replaced-TIME. Then start kido-server: each gate re-uploads what
the copy lacks and resnapshots (docs/runbook.md §2). The data directory's
master.key must be the one the copy was made under.

Example:

	systemctl stop kido-server
	kido-server restore -data /var/lib/kido -from /backup/kido-20270801T0900.db
	systemctl start kido-server

Flags:
`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("kido-server restore", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, restoreUsage); fl.PrintDefaults() }
	data := fl.String("data", "./kido-data", "data `directory` of the server")
	from := fl.String("from", "", "the backup `file` to restore")
	pgURL := fl.String("db", "", "refused: a PostgreSQL database is backed up with its own tools")
	if err := parseFlags(fl, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *pgURL != "" {
		return errors.New("restore copies the SQLite database of a data directory; a PostgreSQL database (-db) is backed up and restored with pg_dump and pg_restore or the engine's base backups\nhint: docs/ops/postgres.md, Backup and restore")
	}
	if fl.NArg() > 0 {
		return usagef("unexpected argument %q\nhint: kido-server restore takes flags only; see kido-server restore -h", fl.Arg(0))
	}
	if *from == "" {
		return errors.New("restore: -from FILE is missing\nhint: kido-server restore -data /var/lib/kido -from /backup/kido-20270801T0900.db")
	}
	// The lock proves no server runs on the directory, and keeps one from
	// starting halfway through.
	lock, err := dirlock.Acquire(*data, fmt.Sprintf("pid %d, kido-server restore", os.Getpid()))
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("restore: data directory %s is in use by a running kido-server (%s)\nhint: stop the server first; kido-server backup copies a running server", *data, held.Info)
	}
	if err != nil {
		return fmt.Errorf("restore: data directory: %w", err)
	}
	defer lock.Release()
	if err := sqlite.Check(ctx, *from); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := os.Stat(filepath.Join(*data, "master.key")); err != nil {
		fmt.Fprintf(stderr, "kido-server: warning: no master.key in %s: give the server the master key the copy was made under (-master-key)\n", *data)
	}
	db := filepath.Join(*data, dbName)
	aside := fmt.Sprintf("%s.replaced-%s", db, time.Now().UTC().Format("20060102T150405Z"))
	moved := false
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(db+suffix, aside+suffix)
		switch {
		case err == nil:
			moved = moved || suffix == ""
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("restore: keep the old database aside: %w", err)
		}
	}
	src, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer src.Close()
	if err := atomicfile.WriteFile(db, 0o600, func(w io.Writer) error { _, err := io.Copy(w, src); return err }); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if moved {
		fmt.Fprintf(stdout, "restore: the database replaced is kept as %s\n", aside)
	}
	fmt.Fprintf(stdout, "restore: %s is now the copy %s; start kido-server, and the gates re-upload what the copy lacks\n", db, *from)
	return nil
}
