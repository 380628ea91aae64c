package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// runArgs runs kidoctl with args and no environment; it returns what was
// written to stderr and the error.
func runArgs(args ...string) (string, error) {
	var stdout, stderr strings.Builder
	err := run(context.Background(), args, env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	return stderr.String(), err
}

// TestUsageErrors checks command-line mistakes: each is a usage error (exit
// status 2) with a message that names it, found before any server is asked.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		// An event id given as the argument is accepted: what stops these
		// is only the missing server.
		{[]string{"event", "show", "1"}, "no server given"},
		{[]string{"report", "1"}, "no server given"},
		{[]string{"conflicts", "-json", "7"}, "no server given"},
		{[]string{"keys", "list", "1"}, "no server given"},
		{[]string{"keys", "list"}, "no server given"},
		{[]string{"keys", "rotate", "1"}, "no server given"},
		{[]string{"gate", "list", "1"}, "no server given"},
		{[]string{"tier", "add", "1", "-name", "VIP"}, "no server given"},
		{[]string{"issue", "1", "-tier", "GA", "-count", "1", "-out", "x"}, "no server given"},
		{[]string{"report", "1", "-event", "1"}, "no server given"}, // the same id twice agrees
		{[]string{"gates", "1", "-silent-after", "1s"}, "from 30s to 24h"},

		{[]string{"event", "show", "1", "-event", "2"}, "event 1 and -event 2 disagree\nhint: give the event id once: kidoctl event show 1"},
		{[]string{"keys", "list", "-event", "3", "1"}, "event 1 and -event 3 disagree"},
		{[]string{"report", "1", "2"}, `unexpected argument "2": report takes one event id`},
		{[]string{"report", "x"}, `"x" is not an event id` + "\nhint: kidoctl event list shows the ids"},
		{[]string{"conflicts", "0"}, `"0" is not an event id`},
		{[]string{"report", "99999999999"}, `"99999999999" is not an event id`},
		{[]string{"report"}, "no event given\nhint: kidoctl report ID, or -event ID"},
		{[]string{"gates", "-event", "0"}, "-event ID is required"},
		{[]string{"event", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"event", "create"}, "-name is required"},
		{[]string{"revoke", "-event", "1"}, "give serials or -order REF"},
		{[]string{"revoke", "17"}, "-event ID is required"},
		{[]string{"gate", "revoke", "-event", "1", "x"}, `gate id "x" is not a positive number`},
		{[]string{"keys", "revoke"}, "keys revoke takes one key id"},
		{[]string{"token", "revoke", "a"}, `"a" is not a token id`},
		{[]string{"event", "delete"}, `unknown subcommand "delete" of event`},
		{[]string{"bogus"}, `unknown command "bogus"`},
	} {
		_, err := runArgs(c.args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("kidoctl %s: got %v, want a usage error", strings.Join(c.args, " "), err)
			continue
		}
		if !strings.Contains(ue.msg, c.want) {
			t.Errorf("kidoctl %s:\ngot  %q\nwant %q in it", strings.Join(c.args, " "), ue.msg, c.want)
		}
	}
}

// TestRuntimeErrorIsNotUsage: a server that cannot be reached is a failure
// (exit status 1), not a usage mistake, and says what to do.
func TestRuntimeErrorIsNotUsage(t *testing.T) {
	_, err := runArgs("report", "1", "-server", "http://127.0.0.1:1", "-token", "kido_X")
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		t.Fatalf("got %v, want a runtime error", err)
	}
	if !strings.Contains(err.Error(), "\nhint: ") {
		t.Errorf("%q has no hint", err)
	}
}

// TestHelpHasExample: every command and subcommand answers -h with an
// example of itself, and -h is no error.
func TestHelpHasExample(t *testing.T) {
	for _, name := range everyCommand(t) {
		help, err := runArgs(append(name, "-h")...)
		if err != nil {
			t.Errorf("kidoctl %s -h: %v", strings.Join(name, " "), err)
		}
		if !strings.Contains(help, "\nExample:\n\n\tkidoctl "+strings.Join(name, " ")) {
			t.Errorf("kidoctl %s -h has no example of itself:\n%s", strings.Join(name, " "), help)
		}
	}
}

// TestNoSecretInUsage: with the token in the environment, no command's
// help, flag mistake or missing argument writes it anywhere.
func TestNoSecretInUsage(t *testing.T) {
	const secret = "kido_SECRETSECRETSECRETSECRETSECRET"
	getenv := func(k string) string {
		if k == "KIDO_TOKEN" {
			return secret
		}
		return ""
	}
	for _, name := range everyCommand(t) {
		for _, extra := range [][]string{{"-h"}, {"-tokne", "x"}, {"-json=maybe"}, nil} {
			args := append(slices.Clone(name), extra...)
			var stdout, stderr strings.Builder
			err := run(context.Background(), args, env{getenv: getenv, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			for what, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "error": msg} {
				if strings.Contains(text, secret) {
					t.Errorf("kidoctl %s: the token is in its %s:\n%s", strings.Join(args, " "), what, text)
				}
			}
			if extra != nil && extra[0] == "-h" && len(name) > 0 && !strings.Contains(stderr.String(), "KIDO_TOKEN") && !strings.Contains(stderr.String(), "SUBCOMMAND") {
				t.Errorf("kidoctl %s -h does not describe -token:\n%s", strings.Join(name, " "), stderr.String())
			}
		}
	}
}

// everyCommand returns every command and subcommand, as their usage lists
// them.
func everyCommand(t *testing.T) [][]string {
	t.Helper()
	subs := regexp.MustCompile(`^usage: kidoctl \S+ ([a-z|]+) \[flags\]`)
	var all [][]string
	nsubs := 0
	for _, c := range commands() {
		all = append(all, []string{c.name})
		help, _ := runArgs(c.name, "-h")
		if m := subs.FindStringSubmatch(help); m != nil {
			for _, sub := range strings.Split(m[1], "|") {
				all = append(all, []string{c.name, sub})
				nsubs++
			}
		}
	}
	if nsubs < 10 {
		t.Fatalf("found %d subcommands; the usage of event, keys, gate and token lists more", nsubs)
	}
	return all
}

// TestPlainHTTPRefused: kidoctl sends no token over plain http:// to a
// host that is not this machine unless -insecure-http says so; a bad -ca
// is refused before any call.
func TestPlainHTTPRefused(t *testing.T) {
	_, err := runArgs("event", "list", "-server", "http://192.0.2.1:8700", "-token", "secret")
	if err == nil || !strings.Contains(err.Error(), "refusing plain http://") || !strings.Contains(err.Error(), "-insecure-http") {
		t.Errorf("plain http:// to another host: got %v, want a refusal naming -insecure-http", err)
	}
	_, err = runArgs("event", "list", "-server", "https://192.0.2.1:8700", "-token", "secret", "-ca", "/nonexistent/ca.pem")
	if err == nil || !strings.Contains(err.Error(), "-ca") {
		t.Errorf("missing -ca file: got %v, want a refusal naming -ca", err)
	}
}

// TestUsageExitStatus: the kidoctl binary exits 2 on a usage error of its
// own or of a subcommand, with one error line and one hint; -h exits 0.
func TestUsageExitStatus(t *testing.T) {
	bin, err := exec.LookPath("kidoctl") // installed in PATH by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"bogus"}, 2},
		{[]string{"readiness", "-bogus"}, 2},
		{[]string{"gate", "add", "-direction"}, 2},
		{[]string{"gates", "-silent-after", "x"}, 2},
		{[]string{"readiness", "-h"}, 0},
		{[]string{"-h"}, 0},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.Stderr = &stderr
		err := cmd.Run()
		got := 0
		if ee, ok := err.(*exec.ExitError); ok {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("kidoctl %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), got, tc.want, stderr.String())
		}
		if lines := strings.Count(stderr.String(), "\n"); tc.want == 2 && (lines != 2 || !strings.Contains(stderr.String(), "\nhint: ")) {
			t.Errorf("kidoctl %s said %d lines, want an error and a hint:\n%s", strings.Join(tc.args, " "), lines, stderr.String())
		}
	}
}
