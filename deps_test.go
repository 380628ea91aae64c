package kido_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureDeps keeps the domain and the gate's decision free of network
// code: they are the part of kido that must work with no network at all,
// and the wire envelopes (which carry net/http) must not creep into them
// through a shared type.
func TestPureDeps(t *testing.T) {
	for _, pkg := range []string{"kido.dev/kido", "kido.dev/kido/gate"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s printed %d packages; expected its dependency tree", pkg, len(deps))
		}
		for _, d := range deps {
			if d == "net/http" || d == "net" || d == "kido.dev/kido/sync/wire" || strings.HasPrefix(d, "kido.dev/kido/sync/") {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}

// TestServerOnlyDeps keeps the PostgreSQL driver, which only kido-server
// needs, out of the gate and the admin CLI.
func TestServerOnlyDeps(t *testing.T) {
	for _, pkg := range []string{"kido.dev/kido/cmd/kido-gate", "kido.dev/kido/cmd/kidoctl"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, d := range strings.Fields(string(out)) {
			if strings.HasPrefix(d, "github.com/jackc/") || d == "kido.dev/kido/sync/server/postgres" {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}
