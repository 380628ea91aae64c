package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"kido.dev/kido/gate/gatetest"
)

// TestRunExclusive runs real kido-gate processes on one gate directory: a
// second kido-gate run refuses to start while the first runs, naming its
// pid, and changes nothing; scan, admit and status from other processes
// go on meanwhile; the lock goes with the first run, whether it ends or is
// killed.
func TestRunExclusive(t *testing.T) {
	bin, err := exec.LookPath("kido-gate")
	if err != nil {
		t.Fatal(err) // installed in PATH by testscript.Main
	}
	dir := t.TempDir()
	f := gatetest.New(20, gatetest.GateBoth, time.Now())
	if err := writeReplica(dir, f, ""); err != nil {
		t.Fatal(err)
	}
	gateCmd := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append(args[:1:1], append([]string{"-data", dir}, args[1:]...)...)...).CombinedOutput()
		return string(out), err
	}

	first, stdin := startRun(t, bin, dir)
	out, err := gateCmd("run", "-plain", "-mesh", "off")
	pid := strconv.Itoa(first.Process.Pid)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitReject || !strings.Contains(out, "pid "+pid) || !strings.Contains(out, "hint: ") {
		t.Errorf("second run while the first (pid %s) runs: %v\n%s\nwant exit status 1 and a message naming pid %s, with a hint", pid, err, out, pid)
	}
	if strings.Contains(out, "Scan a ticket") {
		t.Errorf("the refused run started anyway:\n%s", out)
	}

	if out, err := gateCmd("scan", "-json", f.Ticket(1)); err != nil || !strings.Contains(out, `"decision":"admit"`) {
		t.Errorf("scan beside run: %v\n%s", err, out)
	}
	if out, err := gateCmd("admit", "-serial", "2", "-reason", "phone battery dead"); err != nil {
		t.Errorf("admit beside run: %v\n%s", err, out)
	}
	if out, err := gateCmd("status", "-json"); err != nil || !strings.Contains(out, `"passages":2,`) {
		t.Errorf("status beside run: %v\n%s", err, out)
	}

	// The first run ends; the next one starts.
	stdin.Close()
	if err := first.Wait(); err != nil {
		t.Errorf("first run: %v", err)
	}
	if out, err := gateCmd("run", "-plain", "-mesh", "off"); err != nil {
		t.Errorf("run after the first ended: %v\n%s", err, out)
	}

	// A run killed outright leaves no lock behind.
	killed, _ := startRun(t, bin, dir)
	killed.Process.Kill()
	killed.Wait()
	if out, err := gateCmd("run", "-plain", "-mesh", "off"); err != nil {
		t.Errorf("run after the first was killed: %v\n%s", err, out)
	}
}

// startRun starts kido-gate run on dir and returns once it has shown its
// first line, as staff would see it: it then holds the directory. Closing
// stdin ends it.
func startRun(t *testing.T, bin, dir string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-data", dir, "-plain", "-mesh", "off")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// An io.Pipe, unlike StdoutPipe, lets Wait run while the output is read.
	stdout, w := io.Pipe()
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); w.Close() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if !strings.Contains(l, "Scan a ticket") {
			t.Fatalf("run's first line: %q", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("kido-gate run showed nothing within a minute")
	}
	return cmd, stdin
}
