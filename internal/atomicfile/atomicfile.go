// Package atomicfile writes a file so that a reader, or the next start
// after a crash or power cut, finds either the old file or the whole new
// one, never a part: the new content goes to a temporary file in the same
// directory, which is synced, given its mode and renamed over the target,
// and the directory is synced so that the rename itself survives.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes the file at path atomically with the bytes write
// produces, and mode perm. The temporary file is created readable by its
// owner only, so a secret is never readable by others, not even for a
// moment; a failure removes it and leaves path as it was.
func WriteFile(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp*")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("atomicfile: write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return Install(f.Name(), path)
}

// Install moves the finished file tmp to path, in the same directory, as
// WriteFile does with its temporary file: tmp is synced, renamed over path,
// and the directory synced. For files written by other means (SQLite's
// VACUUM INTO); on failure tmp is left for the caller to remove.
func Install(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
