package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"kido.dev/kido/internal/atomicfile"
)

// Backup writes a consistent copy of the database at path to the new file
// to, while a server may go on writing to it: SQLite's VACUUM INTO reads
// the database in one read transaction, so the copy is the database as of
// that transaction's start, whole, and writers are not held up (WAL). The
// copy is checked (PRAGMA integrity_check) before it takes its name, so
// a file named to is always a whole, sound copy; it is readable by its
// owner only (it holds holders' names and addresses and the sealed keys).
// It returns the copy's size.
func Backup(ctx context.Context, path, to string) (int64, error) {
	// Not query only: SQLite counts VACUUM INTO as a write, though it
	// writes only to the new file.
	src, err := openExisting(path, false)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if _, err := os.Lstat(to); err == nil {
		return 0, fmt.Errorf("sqlite: backup: %s exists\nhint: give a new file name, such as kido-$(date +%%Y%%m%%dT%%H%%M).db", to)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(to), filepath.Base(to)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmp.Close() // mode 0600; VACUUM INTO fills an empty file
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", tmp.Name()); err != nil {
		return 0, fmt.Errorf("sqlite: backup of %s: %w", path, err)
	}
	if err := Check(ctx, tmp.Name()); err != nil {
		return 0, fmt.Errorf("sqlite: backup: the copy fails its check: %w", err)
	}
	if err := atomicfile.Install(tmp.Name(), to); err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	ok = true
	st, err := os.Stat(to)
	if err != nil {
		return 0, fmt.Errorf("sqlite: backup: %w", err)
	}
	return st.Size(), nil
}

// Check opens the kido database at path without changing it and checks
// that it is one this version reads (its schema version) and that SQLite
// finds it sound (PRAGMA integrity_check).
func Check(ctx context.Context, path string) error {
	db, err := openExisting(path, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: %s: %w\nhint: is the file a kido database?", path, err)
	}
	if v != schemaVersion {
		return fmt.Errorf("sqlite: %s has schema version %d, this kido-server reads %d\nhint: is the file a kido database of this release?", path, v, schemaVersion)
	}
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&res); err != nil {
		return fmt.Errorf("sqlite: integrity check of %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("sqlite: %s is damaged: %s\nhint: take another backup", path, res)
	}
	return nil
}

// openExisting opens the database at path with one connection, refusing
// to create it; queryOnly refuses every write through it.
func openExisting(path string, queryOnly bool) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	q := "?mode=rw&_busy_timeout=5000"
	if queryOnly {
		q += "&_query_only=true"
	}
	db, err := sql.Open("sqlite3", "file:"+url.PathEscape(path)+q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
