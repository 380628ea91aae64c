package main

import (
	"bytes"
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
