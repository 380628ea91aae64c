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
