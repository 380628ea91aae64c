package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestWarnPlainHTTP: kido-server warns at start when it serves plain HTTP
// on an address other machines reach, and only then.
func TestWarnPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		scheme, addr string
		warn         bool
	}{
		{"http", "127.0.0.1:8700", false},
		{"http", "[::1]:8700", false},
		{"https", "0.0.0.0:8700", false},
		{"http", "0.0.0.0:8700", true},
		{"http", "[::]:8700", true},
		{"http", "192.168.1.10:8700", true},
	} {
		var buf bytes.Buffer
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		warnPlainHTTP(slog.New(slog.NewTextHandler(&buf, nil)), tt.scheme, addr)
		got := buf.String()
		if warned := strings.Contains(got, "level=WARN") && strings.Contains(got, "plain HTTP") && strings.Contains(got, "hint="); warned != tt.warn {
			t.Errorf("%s on %s: logged %q, want a warning %v", tt.scheme, tt.addr, got, tt.warn)
		}
	}
}
