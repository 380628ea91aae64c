package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGateDeps keeps server-only code out of the gate binary: a gate is a
// tablet in a venue, and must not carry the server's store, its sealing code
// or its handlers.
func TestGateDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages; expected the gate's dependency tree", len(deps))
	}
	forbidden := []string{
		"kido.dev/kido/sync/server",
		"golang.org/x/crypto/chacha20poly1305", // server-side key sealing
		"github.com/jackc/pgx",
		"github.com/prometheus/client_golang", // the server's metrics
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("kido-gate depends on %s, which belongs to the server only", d)
			}
		}
	}
}
