package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/sync/server"
	"kido.dev/kido/sync/wire"
	"kido.dev/kido/ticket"
)

// TestBackupWhileWriting copies a store that another goroutine keeps
// writing to: the copy is whole, sound, private, and holds every event
// created before the backup began and no torn state.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kido.db")
	ctx := context.Background()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	priv, _ := ticket.GenerateKey(nil)
	k := server.SealedKey{Public: priv.Public(), Sealed: []byte("sealed")}
	if _, err := s.SetIdentity(ctx, k); err != nil {
		t.Fatal(err)
	}
	create := func() error {
		p, _ := ticket.GenerateKey(nil)
		_, err := s.CreateEvent(ctx, wire.EventCreate{Name: "Fes", Start: time.Unix(0, 0), End: time.Unix(3600, 0)}, server.SealedKey{Public: p.Public(), Sealed: []byte("sealed")}, time.Now())
		return err
	}
	for range 20 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var writeErr error
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if writeErr = create(); writeErr != nil {
				return
			}
		}
	}()
	to := filepath.Join(t.TempDir(), "copy.db")
	size, err := Backup(ctx, path, to)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if writeErr != nil {
		t.Fatalf("a write during the backup failed: %v", writeErr)
	}
	st, err := os.Stat(to)
	if err != nil || st.Size() != size || st.Mode().Perm() != 0o600 {
		t.Fatalf("copy: %v, %v; want size %d, mode 0600", st, err, size)
	}
	if err := Check(ctx, to); err != nil {
		t.Fatal(err)
	}
	c, err := Open(to)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs, err := c.Events(ctx, nil)
	if err != nil || len(evs) < 20 {
		t.Fatalf("the copy holds %d events (%v), want at least the 20 made before the backup", len(evs), err)
	}
	for i, ev := range evs {
		if ev.ID != uint32(i+1) {
			t.Fatalf("the copy's events are not a prefix of the store's: event %d at %d", ev.ID, i)
		}
	}
	if got, err := c.Identity(ctx); err != nil || !got.Public.Equal(k.Public) {
		t.Fatalf("identity in the copy: %v, %v", got, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(to), "*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestBackupRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "kido.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	exists := filepath.Join(dir, "old.db")
	os.WriteFile(exists, []byte("keep me"), 0o600)
	notKido := filepath.Join(dir, "notes.txt")
	os.WriteFile(notKido, []byte("not a database at all, just words"), 0o600)
	for _, c := range []struct {
		name, from, to, want string
	}{
		{"target exists", path, exists, "exists\nhint: give a new file name"},
		{"no database", filepath.Join(dir, "missing.db"), filepath.Join(dir, "new.db"), "no such file"},
		{"not a database", notKido, filepath.Join(dir, "new2.db"), "file is not a database"},
		{"target directory missing", path, filepath.Join(dir, "nodir", "x.db"), "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Backup(ctx, c.from, c.to)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Errorf("Backup: %v, want an error with %q", err, c.want)
			}
			if c.to != exists {
				if _, err := os.Stat(c.to); err == nil {
					t.Errorf("%s was created", c.to)
				}
			}
		})
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Errorf("the existing target was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("a backup of a missing database created it")
	}
	if err := Check(ctx, notKido); err == nil {
		t.Error("Check passed a text file")
	}
}
