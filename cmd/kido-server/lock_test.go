package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/cmd/internal/dirlock"
)

// TestDataDirectoryLock runs kido-server processes on one data directory:
// a second one is refused with a message naming the first (pid, address)
// and changes nothing; the directory is free again once the first stops,
// whether it stops cleanly or is killed.
func TestDataDirectoryLock(t *testing.T) {
	bin := buildTools(t)
	data := filepath.Join(t.TempDir(), "data")

	first := startServer(t, bin, data)
	names, lockText := dirState(t, data)
	if !strings.Contains(lockText, fmt.Sprintf("pid %d", first.cmd.Process.Pid)) || !strings.Contains(lockText, first.url) {
		t.Errorf("lock file says %q; want the first server's pid %d and %s", lockText, first.cmd.Process.Pid, first.url)
	}

	addrFile := filepath.Join(t.TempDir(), "second.addr")
	cmd := exec.Command(filepath.Join(bin, "kido-server"), "-data", data, "-listen", "127.0.0.1:0", "-addr-file", addrFile)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second server on the same data directory: %v, want exit 1; stderr:\n%s", err, stderr.String())
	}
	want := fmt.Sprintf(`^kido-server: data directory %s is in use by another kido-server \(pid %d, listening on %s\)\nhint: stop that server first, or give this one another -data directory\n$`,
		regexp.QuoteMeta(data), first.cmd.Process.Pid, regexp.QuoteMeta(first.url))
	if !regexp.MustCompile(want).MatchString(stderr.String()) {
		t.Errorf("second server said:\n%s\nwant it to match %s", stderr.String(), want)
	}
	if _, err := os.Stat(addrFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused server got as far as listening (%s: %v)", addrFile, err)
	}
	if names2, lockText2 := dirState(t, data); !slices.Equal(names2, names) || lockText2 != lockText {
		t.Errorf("the refused server changed the data directory: files %v, lock %q; before %v, %q", names2, lockText2, names, lockText)
	}
	if code := healthStatus(t, first.url); code != http.StatusOK {
		t.Errorf("first server after the refusal: health %d", code)
	}

	// A clean stop frees the directory; so does a crash.
	first.stop(t, os.Interrupt)
	second := startServer(t, bin, data)
	second.stop(t, os.Kill)
	third := startServer(t, bin, data)
	third.stop(t, os.Interrupt)
}

// serverProc is a running kido-server.
type serverProc struct {
	cmd   *exec.Cmd
	url   string
	start string // its log up to listening
	done  chan struct{}
}

// startServer starts kido-server on data and returns once it listens.
func startServer(t *testing.T, bin, data string) *serverProc {
	t.Helper()
	s := &serverProc{done: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(bin, "kido-server"), "-data", data, "-listen", "127.0.0.1:0")
	s.cmd.Env = cleanEnv()
	logs, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	urlRE := regexp.MustCompile(`msg=listening url=(\S+)`)
	sc := bufio.NewScanner(logs)
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			s.url = m[1]
			break
		}
	}
	s.start = seen.String()
	go func() { io.Copy(io.Discard, logs); s.cmd.Wait(); close(s.done) }()
	if s.url == "" {
		<-s.done
		t.Fatalf("kido-server -data %s exited before listening:\n%s", data, seen.String())
	}
	return s
}

// stop sends sig and waits for the process to end.
func (s *serverProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("kido-server did not stop within 30 s of %v", sig)
	}
}

// dirState returns the names in dir and the lock file's text.
func dirState(t *testing.T, dir string) ([]string, string) {
	t.Helper()
	names := dirNames(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, dirlock.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return names, string(b)
}

func healthStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
