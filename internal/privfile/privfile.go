// Package privfile holds the one rule for files that hold personal data
// or secrets (databases with rosters, tokens, keys, manifests and ticket
// images): readable by their owner only, mode 0600, in directories of
// mode 0700, whatever the umask and whether or not the directory existed.
package privfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The modes of private files and of the directories kido makes for them.
const (
	Mode    fs.FileMode = 0o600
	DirMode fs.FileMode = 0o700
)

// Prepare creates the empty file path with Mode if it does not exist, so
// that a database engine opening it (SQLite) keeps that mode and gives it
// to the -wal and -shm files it makes beside it. An existing file is left
// as it is.
func Prepare(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("privfile: %w", err)
	}
	// The umask may have taken bits away, never added any: this only
	// makes sure, for a umask that is not a subset of 077.
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		return fmt.Errorf("privfile: %w", err)
	}
	return f.Close()
}

// MkdirAll makes dir and its parents with DirMode.
func MkdirAll(dir string) error {
	return os.MkdirAll(dir, DirMode)
}

// Loose reports whether the file at path can be read or written by its
// group or by others, with its mode. A file that does not exist is not
// loose.
func Loose(path string) (fs.FileMode, bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("privfile: %w", err)
	}
	m := st.Mode().Perm()
	return m, m&0o077 != 0, nil
}

// WriteFile writes data to path with Mode, also when path exists with a
// looser one. It does not sync: for files that are written again when
// lost (ticket images); atomicfile.WriteFile with Mode is for the rest.
func WriteFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, Mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(Mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
