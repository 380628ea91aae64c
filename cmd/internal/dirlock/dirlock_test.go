package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSecondAcquireIsRefusedAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "pid 1, listening on 127.0.0.1:8700")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()

	_, err = Acquire(dir, "pid 2")
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: got %v, want a *HeldError", err)
	}
	if got, want := held.Info, "pid 1, listening on 127.0.0.1:8700"; got != want {
		t.Errorf("HeldError.Info = %q, want %q", got, want)
	}
	if got, want := held.Error(), "dirlock: "+dir+" is in use by another process (pid 1, listening on 127.0.0.1:8700)"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got := readLockFile(t, dir); got != "pid 1, listening on 127.0.0.1:8700\n" {
		t.Errorf("lock file after the refused Acquire = %q, want the holder's info untouched", got)
	}

	if err := l.Update("pid 1, listening on 127.0.0.1:9000"); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(dir, "pid 2"); !errors.As(err, &held) || held.Info != "pid 1, listening on 127.0.0.1:9000" {
		t.Errorf("Acquire after Update: got %v, want the updated info", err)
	}
}

func TestReleaseLetsTheNextIn(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "first")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if got := readLockFile(t, dir); got != "" {
		t.Errorf("lock file after Release = %q, want it empty", got)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	if err := l.Update("again"); err == nil {
		t.Error("Update of a released lock succeeded")
	}
	l2, err := Acquire(dir, "second")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer l2.Release()
	if got := readLockFile(t, dir); got != "second\n" {
		t.Errorf("lock file = %q, want the new holder's info", got)
	}
}

func TestAcquireMissingDirectory(t *testing.T) {
	_, err := Acquire(filepath.Join(t.TempDir(), "missing"), "x")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
}

// TestHeldUntilTheHolderDies runs the holder in another process and kills
// it with SIGKILL: the lock lasts exactly as long as the process, with
// nothing left to clean up.
func TestHeldUntilTheHolderDies(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHolder$")
	cmd.Env = append(os.Environ(), "DIRLOCK_HELPER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe() // the helper holds the lock until this closes or it is killed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v; want locked", line, err)
	}

	_, err = Acquire(dir, "parent")
	var held *HeldError
	if want := fmt.Sprintf("pid %d", cmd.Process.Pid); !errors.As(err, &held) || held.Info != want {
		t.Errorf("Acquire while the helper holds the lock: got %v, want a HeldError naming %q", err, want)
	}

	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(dir, "parent")
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

// TestHelperHolder is the holder process of TestHeldUntilTheHolderDies.
func TestHelperHolder(t *testing.T) {
	dir := os.Getenv("DIRLOCK_HELPER_DIR")
	if dir == "" {
		return // run as a test of its own: nothing to do
	}
	if _, err := Acquire(dir, fmt.Sprintf("pid %d", os.Getpid())); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // held until the parent ends us
	os.Exit(0)
}

func readLockFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
