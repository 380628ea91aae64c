package dirlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// FileName is the name of the lock file inside a locked directory.
const FileName = "lock"

// HeldError says that another process holds the lock.
type HeldError struct {
	Dir  string
	Info string // what the holder wrote into the lock file; empty if it had not yet
}

func (e *HeldError) Error() string {
	info := e.Info
	if info == "" {
		info = "it is starting"
	}
	return fmt.Sprintf("dirlock: %s is in use by another process (%s)", e.Dir, info)
}

// Lock is a held lock on a directory.
type Lock struct {
	mu   sync.Mutex
	f    *os.File // nil once released
	path string
}

// Acquire locks dir, which must exist, and writes info (one line: who holds
// it) into the lock file. If another process holds the lock it returns a
// *HeldError carrying that process's info and changes nothing.
func Acquire(dir, info string) (*Lock, error) {
	path := filepath.Join(dir, FileName)
	// No O_TRUNC: a refused process must not wipe the holder's info.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	if err := flock(f); err != nil {
		held := errors.Is(err, syscall.EWOULDBLOCK)
		var text []byte
		if held {
			text, _ = io.ReadAll(io.LimitReader(f, 4096))
		}
		f.Close()
		if held {
			return nil, &HeldError{Dir: dir, Info: strings.TrimSpace(string(text))}
		}
		return nil, fmt.Errorf("dirlock: lock %s: %w", path, err)
	}
	l := &Lock{f: f, path: path}
	if err := l.Update(info); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Update replaces the info in the lock file, for a holder that learns more
// about itself once it holds the lock (the address it listens on, say).
func (l *Lock) Update(info string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("dirlock: update of a released lock")
	}
	return l.write(info + "\n")
}

// write replaces the file's content; l.mu is held.
func (l *Lock) write(s string) error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("dirlock: %s: %w", l.path, err)
	}
	if s == "" {
		return nil
	}
	if _, err := l.f.WriteAt([]byte(s), 0); err != nil {
		return fmt.Errorf("dirlock: %s: %w", l.path, err)
	}
	return nil
}

// Release empties the lock file and drops the lock. Releasing twice is
// harmless.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	werr := l.write("")
	cerr := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	if cerr != nil {
		return fmt.Errorf("dirlock: %s: %w", l.path, cerr)
	}
	return werr
}
