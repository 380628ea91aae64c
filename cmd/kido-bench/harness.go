package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"kido.dev/kido/internal/pgcluster"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/wire"
)

// harness is what scenarios share: the sizes, the work directory, the
// binaries and the servers started so far.
type harness struct {
	sizes
	dir, bin string
	log      io.Writer
	logMu    sync.Mutex // one line at a time to log
	servers  []*serverProc
	shared   *serverProc        // the server of the issuance and enrolment scenarios
	pg       *pgcluster.Cluster // the PostgreSQL rows' cluster, once started
	// cpuProfile, when set, is where kido-bench writes its CPU profile;
	// a herd's gates process writes its own beside it.
	cpuProfile string
}

// logf writes a line to the log; the scenarios' goroutines (the mesh
// nodes' loggers, among others) call it at once.
func (h *harness) logf(format string, args ...any) {
	line := fmt.Sprintf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	h.logMu.Lock()
	defer h.logMu.Unlock()
	io.WriteString(h.log, line)
}

func (h *harness) close() {
	for _, s := range h.servers {
		if err := s.stop(); err != nil {
			h.logf("stop %s: %v", s.name, err)
		}
	}
	if h.pg != nil {
		if err := h.pg.Stop(); err != nil {
			h.logf("stop PostgreSQL: %v", err)
		}
	}
}

var programs = []string{"kido-server", "kido-gate", "kidoctl", "kido-bench"}

// binaries returns the directory holding the kido binaries: given, or built
// into out with the go command.
func binaries(ctx context.Context, given, out string, h *harness) (string, error) {
	if given != "" {
		for _, p := range programs {
			if _, err := os.Stat(filepath.Join(given, p)); err != nil {
				return "", fmt.Errorf("-bin %s: %w\nhint: build them with go build -o %s/ ./cmd/kido-server ./cmd/kido-gate ./cmd/kidoctl ./cmd/kido-bench", given, err, given)
			}
		}
		return filepath.Abs(given)
	}
	h.logf("building %s into %s", strings.Join(programs, ", "), out)
	args := []string{"build", "-o", out + string(filepath.Separator)}
	for _, p := range programs {
		args = append(args, "kido.dev/kido/cmd/"+p)
	}
	if b, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the binaries: %w\n%s\nhint: run kido-bench inside the kido module, or give -bin DIR with prebuilt binaries", err, b)
	}
	return out, nil
}

func (h *harness) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, filepath.Join(h.bin, program), args...)
}

// serverProc is a kido-server process on a loopback port.
type serverProc struct {
	name  string
	cmd   *exec.Cmd
	url   string
	token string
	admin *client.Client
	exit  chan error
}

// startServer starts a kido-server with its data in h.dir/name, and args
// added to its command line, and waits until it listens. A server that
// made no admin token (an instance joining another's database) has none
// until useToken.
func (h *harness) startServer(ctx context.Context, name string, args ...string) (*serverProc, error) {
	data := filepath.Join(h.dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(h.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(data, "addr")
	// Not CommandContext: the server is stopped by close, with SIGTERM.
	cmd := exec.Command(filepath.Join(h.bin, "kido-server"), append([]string{"-data", data, "-listen", "127.0.0.1:0", "-addr-file", addrFile}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start kido-server: %w", err)
	}
	s := &serverProc{name: name, cmd: cmd, exit: make(chan error, 1)}
	go func() { s.exit <- cmd.Wait(); logFile.Close() }()
	h.servers = append(h.servers, s)

	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(addr), "\n") {
			s.url = strings.TrimSpace(string(addr))
			break
		}
		select {
		case err := <-s.exit:
			s.exit <- err
			return nil, fmt.Errorf("kido-server exited at start: %v (log in %s.log)", err, data)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kido-server did not listen within 30 s (log in %s.log)", data)
		}
	}
	h.logf("%s: kido-server listening at %s (pid %d)", name, s.url, cmd.Process.Pid)
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if errors.Is(err, fs.ErrNotExist) && len(args) > 0 {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	return s, s.useToken(strings.TrimSpace(string(tok)))
}

// useToken makes token the server's admin token.
func (s *serverProc) useToken(token string) error {
	admin, err := client.New(s.url, token, nil)
	if err != nil {
		return err
	}
	s.token, s.admin = token, admin
	return nil
}

// sharedServer returns the server that issuance and enrolment share,
// starting it on first use.
func (h *harness) sharedServer(ctx context.Context) (*serverProc, error) {
	if h.shared != nil {
		return h.shared, nil
	}
	s, err := h.startServer(ctx, "server")
	if err != nil {
		return nil, err
	}
	h.shared = s
	return s, nil
}

// sharedEvent creates an event (see newEvent) on the shared server.
func (h *harness) sharedEvent(ctx context.Context, name string) (*serverProc, uint32, uint8, error) {
	s, err := h.sharedServer(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	event, tier, err := newEvent(ctx, s.admin, name)
	return s, event, tier, err
}

// stop asks the server to shut down and waits for it.
func (s *serverProc) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-s.exit:
		s.exit <- err
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return errors.New("did not stop within 30 s of SIGTERM; killed")
	}
}

// cpu returns the CPU time (user + system) the server has used so far.
func (s *serverProc) cpu() time.Duration { return processCPU(s.cmd.Process.Pid) }

// newEvent creates an event running from an hour ago to a day from now,
// with one single-entry tier, and returns their ids.
func newEvent(ctx context.Context, admin *client.Client, name string) (event uint32, tier uint8, err error) {
	now := time.Now()
	ev, err := admin.CreateEvent(ctx, wire.EventCreate{Name: name, Venue: "Makuhari Messe", Start: now.Add(-time.Hour), End: now.Add(24 * time.Hour), TimeZone: "Asia/Tokyo"})
	if err != nil {
		return 0, 0, err
	}
	t, err := admin.AddTier(ctx, ev.ID, wire.TierCreate{Name: "GA"})
	if err != nil {
		return 0, 0, err
	}
	return ev.ID, t.ID, nil
}

// issueAPI issues n tickets of tier through the API, without images, in
// chunks the size kidoctl sends.
func issueAPI(ctx context.Context, admin *client.Client, event uint32, tier uint8, n int) ([]wire.IssuedTicket, error) {
	const chunk = 10_000
	out := make([]wire.IssuedTicket, 0, n)
	for off := 0; off < n; off += chunk {
		items := make([]wire.IssueItem, min(chunk, n-off))
		for i := range items {
			items[i] = wire.IssueItem{Tier: tier, Holder: fmt.Sprintf("佐藤 花子 %d", off+i), OrderRef: fmt.Sprintf("ORD-%d", off+i)}
		}
		resp, err := admin.Issue(ctx, event, wire.IssueRequest{Batch: "bench", Offset: off, Tickets: items})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Tickets...)
	}
	return out, nil
}

// procStatusKB returns a kB field of /proc/PID/status, e.g. "VmHWM".
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// processCPU returns utime+stime of a live process, or 0 if unknown.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields are counted after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}
