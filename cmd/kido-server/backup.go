package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"kido.dev/kido/internal/atomicfile"
	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/server/sqlite"
)

const backupUsage = `usage: kido-server backup -data DIR -to FILE

Writes a consistent copy of the server's database to FILE, a new file,
while the server runs: SQLite's VACUUM INTO copies the database as it was
at one instant, whole, without holding up the server's writes. The copy is
checked before it takes its name and is readable by its owner only.
master.key is not in the copy: keep it apart (docs/runbook.md §2).

Example:

	kido-server backup -data /var/lib/kido -to /backup/kido-$(date +%Y%m%dT%H%M).db

Flags:
`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kido-server backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, backupUsage); fs.PrintDefaults() }
	data := fs.String("data", "./kido-data", "data `directory` of the server")
	to := fs.String("to", "", "new `file` to write the copy to")
	pgURL := fs.String("db", "", "refused: a PostgreSQL database is backed up with its own tools")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *pgURL != "" {
		return errors.New("backup copies the SQLite database of a data directory; a PostgreSQL database (-db) is backed up and restored with pg_dump and pg_restore or the engine's base backups\nhint: docs/ops/postgres.md, Backup and restore")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q\nhint: kido-server backup takes flags only; see kido-server backup -h", fs.Arg(0))
	}
	if *to == "" {
		return errors.New("backup: -to FILE is missing\nhint: kido-server backup -data /var/lib/kido -to /backup/kido-$(date +%Y%m%dT%H%M).db")
	}
	start := time.Now()
	size, err := sqlite.Backup(ctx, filepath.Join(*data, dbName), *to)
	if err != nil {
		return err
	}
	// The server's metrics show when this was (kido_backup_last_success_timestamp_seconds).
	note := fmt.Sprintf("%s %s %d\n", start.UTC().Format(time.RFC3339), *to, size)
	if err := atomicfile.WriteFile(filepath.Join(*data, server.LastBackupFile), 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, note)
		return err
	}); err != nil {
		return fmt.Errorf("backup written, but not noted for the metrics: %w", err)
	}
	fmt.Fprintf(stdout, "backup: %s, %d bytes, consistent as of %s, integrity ok (%s)\n", *to, size, start.UTC().Format(time.RFC3339), time.Since(start).Round(time.Millisecond))
	return nil
}
