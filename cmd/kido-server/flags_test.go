package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenFlag: a -listen that is not HOST:PORT is refused before the
// data directory is made; a listen failure names another server only when
// the address is in use.
func TestListenFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, addr := range []string{"nope", "127.0.0.1:99999", "127.0.0.1:http-nope", "::1:8700"} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{"-data", data, "-listen", addr}, noEnv, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "is not HOST:PORT") || !strings.Contains(err.Error(), "\nhint: give a host and port, such as 127.0.0.1:8700") {
			t.Errorf("-listen %s: %v", addr, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused -listen made the data directory (%v)", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stdout, stderr bytes.Buffer
	err = run(t.Context(), []string{"-data", data, "-listen", l.Addr().String()}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "hint: is another kido-server running on "+l.Addr().String()) {
		t.Errorf("-listen on an address in use: %v", err)
	}
}

// TestHelpPlaceholders: -h names each flag's value by what it is (the
// backquoted word of its usage), exits 0 and prints no error.
func TestHelpPlaceholders(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-long-polls n\n", "-max-conns n\n", "-upload-workers n\n", "-change-retention duration\n", "-listen address\n"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestUsageErrors: a bad flag or argument, of kido-server or a subcommand,
// is a usage error (main exits 2) of one line and a hint, with no help
// printed; -h prints the help and is no error.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "flag provided but not defined: -bogus\nhint: kido-server -h shows the flags"},
		{[]string{"bogus"}, "unknown command \"bogus\"\nhint: kido-server -h shows the commands and flags"},
		{[]string{"-max-conns", "x"}, "invalid value \"x\" for flag -max-conns: parse error\nhint: kido-server -h shows the flags"},
		{[]string{"backup", "-bogus"}, "hint: kido-server backup -h shows the flags"},
		{[]string{"restore", "-bogus"}, "hint: kido-server restore -h shows the flags"},
		{[]string{"migrate", "-bogus"}, "hint: kido-server migrate -h shows the flags"},
		{[]string{"copy-store", "-bogus"}, "hint: kido-server copy-store -h shows the flags"},
		{[]string{"doctor", "-bogus"}, "hint: kido-server doctor -h shows the flags"},
		{[]string{"doctor", "extra"}, "unexpected argument \"extra\""},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), tc.args, noEnv, &stdout, &stderr)
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 1 {
			t.Errorf("kido-server %s: %v; want a usage error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
		if stdout.Len()+stderr.Len() > 0 {
			t.Errorf("kido-server %s printed %q%q; main prints the error alone", strings.Join(tc.args, " "), stdout.String(), stderr.String())
		}
	}
	for _, args := range [][]string{{"-h"}, {"backup", "-h"}, {"doctor", "-h"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, noEnv, &stdout, &stderr); err != nil || !strings.Contains(stderr.String(), "usage: kido-server") {
			t.Errorf("kido-server %s: %v, help %q", strings.Join(args, " "), err, stderr.String())
		}
	}
}
