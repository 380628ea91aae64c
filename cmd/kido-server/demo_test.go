package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kido.dev/kido/gate/gatedir"
	"kido.dev/kido/sync/client"
	"kido.dev/kido/sync/server/servertest"
	"kido.dev/kido/sync/wire"
)

// TestDemo runs the quickstart as a newcomer would, with the real
// binaries: it starts kido-server -demo, follows the printed steps in
// order, stops the demo with SIGINT and checks it cleaned up, then shows
// that a second run works, also after a crash, and that a busy port, a
// running demo or a foreign directory are refused with a hint.
func TestDemo(t *testing.T) {
	bin := buildTools(t)
	work := t.TempDir()
	listen := "127.0.0.1:" + freePort(t)
	demoDir := filepath.Join(work, "kido-demo")

	// First run: follow every printed step.
	d := startDemo(t, bin, work, "-listen", listen)
	out := d.waitFor(t, "Press Ctrl-C")
	env, cmds := parseSteps(t, out)
	if !strings.HasPrefix(env["KIDO_SERVER"], "http://"+listen) || !strings.HasPrefix(env["KIDO_TOKEN"], "kido_") {
		t.Fatalf("export line gives %v; want the demo server on %s and a token", env, listen)
	}
	for _, f := range []string{"tickets/manifest.csv", "tickets/e1-00000036.png", "gate1/replica.db", "gate2/credential"} {
		if _, err := os.Stat(filepath.Join(demoDir, f)); err != nil {
			t.Errorf("demo made no %s: %v", f, err)
		}
	}
	for _, g := range []string{"gate1", "gate2"} {
		checkGateDir(t, filepath.Join(demoDir, g))
	}
	steps := []struct {
		cmd  string // as printed, with the binary's base name
		exit int
		out  string // a regexp the output must match
	}{
		{"kido-gate scan -data kido-demo/gate1 -image kido-demo/tickets/e1-00000001.png", 0, `^ADMIT +valid ticket +serial 1 VIP`},
		{"kido-gate sync -data kido-demo/gate1", 0, `1 stored`},
		{"kido-gate scan -data kido-demo/gate2 -image kido-demo/tickets/e1-00000001.png", 0, `^ADMIT +valid ticket +serial 1 VIP`},
		{"kido-gate sync -data kido-demo/gate2", 0, `1 stored`},
		{"kidoctl report -event 1", 0, `(?m)^admitted +2\n(?s:.*)^double entries +1$`},
		{"kidoctl conflicts -event 1", 0, `(?m)^1 double entry: 0 reviewed, 1 open$`},
		{"kido-gate scan -data kido-demo/gate1 -image kido-demo/tickets/e1-00000002.png", 0, `^ADMIT .*serial 2`},
		{"kido-gate sync -data kido-demo/gate1", 0, `1 stored`},
		{"kido-gate sync -data kido-demo/gate2", 0, `pulled 1 change in 2 answers: 1 admission \(1 new\)`},
		{"kido-gate scan -data kido-demo/gate2 -image kido-demo/tickets/e1-00000002.png", 1, `^REJECT +already used: admitted at Gate 1.*\[already_used\]`},
	}
	if len(cmds) != len(steps) {
		t.Fatalf("demo printed %d commands, want %d:\n%s", len(cmds), len(steps), out)
	}
	for i, s := range steps {
		argv := cmds[i]
		if dir := filepath.Dir(argv[0]); dir != bin {
			t.Fatalf("step %d runs %s; want the binary beside kido-server in %s", i+1, argv[0], bin)
		}
		if got := filepath.Base(argv[0]) + " " + strings.Join(argv[1:], " "); got != s.cmd {
			t.Fatalf("step %d is %q, want %q", i+1, got, s.cmd)
		}
		got, code := runTool(t, work, env, argv)
		if code != s.exit || !regexp.MustCompile(s.out).MatchString(got) {
			t.Fatalf("%s: exit %d, want %d; output does not match %q:\n%s", s.cmd, code, s.exit, s.out, got)
		}
	}
	// The double entry, with both records.
	js, code := runTool(t, work, env, append(cmds[5], "-json"))
	var cs []wire.Conflict
	if err := json.Unmarshal([]byte(js), &cs); code != 0 || err != nil {
		t.Fatalf("conflicts -json: exit %d, %v:\n%s", code, err, js)
	}
	if len(cs) != 1 || cs[0].Serial != 1 || len(cs[0].Admissions) != 2 ||
		cs[0].Admissions[0].Gate == cs[0].Admissions[1].Gate || cs[0].Admissions[0].Excess == cs[0].Admissions[1].Excess {
		t.Fatalf("conflicts: want one double entry of serial 1 with one record from each gate, one of them excess; got %+v", cs)
	}

	out = d.interrupt(t)
	if !strings.Contains(out, "server stopped; removed kido-demo") {
		t.Errorf("demo did not say it cleaned up:\n%s", out)
	}
	if _, err := os.Stat(demoDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("demo left %s behind: %v", demoDir, err)
	}

	// A second run on the same port starts afresh; then it crashes.
	d = startDemo(t, bin, work, "-listen", listen)
	env, cmds = parseSteps(t, d.waitFor(t, "Press Ctrl-C"))
	if got, code := runTool(t, work, env, cmds[0]); code != 0 || !strings.HasPrefix(got, "ADMIT") {
		t.Fatalf("second run, first scan: exit %d:\n%s", code, got)
	}
	d.kill(t)
	if _, err := os.Stat(filepath.Join(demoDir, demoMarker)); err != nil {
		t.Fatalf("a killed demo should leave its directory: %v", err)
	}

	// After the crash, a third run clears the leftovers and uses the port.
	d = startDemo(t, bin, work, "-listen", listen)
	out = d.waitFor(t, "Press Ctrl-C")
	if !strings.Contains(out, "removed the leftovers of an earlier demo in kido-demo") {
		t.Errorf("third run did not say it removed leftovers:\n%s", out)
	}
	env, cmds = parseSteps(t, out)
	if got, code := runTool(t, work, env, cmds[0]); code != 0 || !strings.HasPrefix(got, "ADMIT") {
		t.Fatalf("after a crash, first scan: exit %d:\n%s", code, got)
	}

	// Refusals, while it runs: they touch nothing.
	other := filepath.Join(work, "other")
	foreign := filepath.Join(work, "foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"running demo", []string{"-listen", "127.0.0.1:0"}, `a demo is already running in kido-demo(?s:.*)hint: stop it with Ctrl-C`},
		{"busy port", []string{"-listen", listen, "-demo-dir", other}, `cannot listen on ` + regexp.QuoteMeta(listen) + `(?s:.*)hint: .*-listen 127\.0\.0\.1:0`},
		{"foreign directory", []string{"-listen", "127.0.0.1:0", "-demo-dir", foreign}, `is not a kido demo directory\nhint: `},
	} {
		code, stderr := runFailing(t, bin, work, c.args)
		if code != 1 || !regexp.MustCompile(c.want).MatchString(stderr) {
			t.Errorf("%s: exit %d, stderr does not match %q:\n%s", c.name, code, c.want, stderr)
		}
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused demo made %s", other)
	}
	if b, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("a refused demo touched a foreign directory: %q %v", b, err)
	}
	if got, code := runTool(t, work, env, cmds[1]); code != 0 || !strings.Contains(got, "1 stored") {
		t.Fatalf("the running demo was disturbed by the refused ones: sync exit %d:\n%s", code, got)
	}
	d.interrupt(t)
	if _, err := os.Stat(demoDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("third run left %s behind: %v", demoDir, err)
	}
}

// checkGateDir checks that dir is a gate directory as gate/enrol leaves
// it: the credential and the replica, readable by their owner only, and
// nothing else (no temporary file of an atomic write).
func checkGateDir(t *testing.T, dir string) {
	t.Helper()
	names := dirNames(t, dir)
	if want := []string{gatedir.CredentialFile, gatedir.KeyFile, gatedir.ReplicaFile}; !slices.Equal(names, want) {
		t.Errorf("%s holds %q, want %q", dir, names, want)
	}
	for _, p := range []string{gatedir.Credential(dir), gatedir.Key(dir), gatedir.Replica(dir)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode().Perm())
		}
	}
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestDemoEnrolChecksIdentity: the demo enrols its gates through the one
// enrolment, which refuses an answer the server identity did not sign, and
// leaves no credential behind.
func TestDemoEnrolChecksIdentity(t *testing.T) {
	s := servertest.Start(t)
	h := s.Core.Handler()
	tampered := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/enroll" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var resp wire.EnrollResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Errorf("enrol answer: %v", err)
		}
		resp.Credential += "x" // no longer what the server signed
		json.NewEncoder(w).Encode(resp)
	}))
	defer tampered.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(s.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := setupDemo(context.Background(), tampered.URL, tokenFile, dir)
	if !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("demo with a tampered enrolment answer: got %v, want ErrForbidden", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gate1", gatedir.CredentialFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused enrolment left a credential: %v", err)
	}
}

// buildTools builds the three binaries into one directory, as an install
// would put them, and returns it.
func buildTools(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator),
		"kido.dev/kido/cmd/kido-server", "kido.dev/kido/cmd/kido-gate", "kido.dev/kido/cmd/kidoctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// demoProc is a running kido-server -demo whose stdout is collected.
type demoProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func (d *demoProc) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *demoProc) stdout() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

func startDemo(t *testing.T, bin, dir string, args ...string) *demoProc {
	t.Helper()
	d := &demoProc{done: make(chan struct{})}
	d.cmd = exec.Command(filepath.Join(bin, "kido-server"), append([]string{"-demo"}, args...)...)
	d.cmd.Dir = dir
	d.cmd.Env = cleanEnv()
	d.cmd.Stdout = d
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	return d
}

// waitFor returns the output once it holds s.
func (d *demoProc) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if out := d.stdout(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-d.done:
			t.Fatalf("demo exited (%v) before printing %q:\n%s\nstderr:\n%s", d.err, s, d.stdout(), d.stderr.String())
		case <-deadline:
			t.Fatalf("demo did not print %q within 60 s:\n%s", s, d.stdout())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and expects a clean exit.
func (d *demoProc) interrupt(t *testing.T) string {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of SIGINT")
	}
	if d.err != nil {
		t.Fatalf("demo exited with %v after SIGINT; stderr:\n%s", d.err, d.stderr.String())
	}
	return d.stdout()
}

// kill stops the demo as a crash would: nothing is cleaned up.
func (d *demoProc) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// runFailing runs a demo that must refuse to start and returns its exit
// code and stderr.
func runFailing(t *testing.T, bin, dir string, args []string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "kido-server"), append([]string{"-demo"}, args...)...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("demo %v: want it to refuse, got %v", args, err)
	}
	return ee.ExitCode(), stderr.String()
}

// runTool runs one printed command with the exported variables and
// returns its combined output and exit code.
func runTool(t *testing.T, dir string, env map[string]string, argv []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return string(out), 0
}

// cleanEnv is the test's environment without KIDO_ variables, so that only
// what the demo printed points the tools at a server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KIDO_") {
			env = append(env, kv)
		}
	}
	return env
}

// parseSteps reads the printed steps: commands are the lines indented by
// four spaces; the first sets the environment with export.
func parseSteps(t *testing.T, out string) (map[string]string, [][]string) {
	t.Helper()
	var cmds [][]string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "    "); ok && strings.TrimSpace(rest) != "" {
			cmds = append(cmds, splitShell(t, rest))
		}
	}
	if len(cmds) == 0 || cmds[0][0] != "export" {
		t.Fatalf("no export line first among the printed commands:\n%s", out)
	}
	env := map[string]string{}
	for _, kv := range cmds[0][1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("export %q: no =", kv)
		}
		env[k] = v
	}
	return env, cmds[1:]
}

// splitShell splits a command line as a POSIX shell does for plain words
// and single quotes, which is all the demo prints; anything else the
// shell would treat specially fails the test.
func splitShell(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case strings.ContainsRune("\"\\$`#;&|<>(){}*?~", r):
			t.Fatalf("printed command %q has %q, which a shell would not take literally", line, r)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("printed command %q has an unclosed quote", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestShellQuote checks with a real shell that a quoted word comes back
// unchanged, so printed paths with spaces or quotes paste safely.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"kido-demo/gate1", "/tmp/my demo/gate 1", "it's", `a"b$c\d`, "木戸/e1-00000001.png", ""} {
		out, err := exec.Command("sh", "-c", "printf '%s' "+shellQuote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if got := string(out); got != s {
			t.Errorf("shellQuote(%q) = %s; the shell reads it as %q", s, shellQuote(s), got)
		}
	}
	if got := shellQuote("kido-demo/tickets/e1-00000001.png"); got != "kido-demo/tickets/e1-00000001.png" {
		t.Errorf("a plain path was quoted: %s", got)
	}
}
