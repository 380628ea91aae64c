package buildinfo_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBinariesPrintVersion builds every kido binary and checks that
// -version names it, the revision checked out and the Go release.
func TestBinariesPrintVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four binaries; run without -short")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("needs a git checkout to compare the revision: git rev-parse HEAD: %v", err)
	}
	rev := strings.TrimSpace(string(head))
	dir := t.TempDir()
	bins := []string{"kido-server", "kido-gate", "kidoctl", "kido-bench"}
	// -buildvcs=true: a GOFLAGS of -buildvcs=false (set on some
	// machines) would leave the revision out and hide what is tested.
	args := []string{"build", "-buildvcs=true", "-o", dir + string(filepath.Separator)}
	for _, b := range bins {
		args = append(args, "kido.dev/kido/cmd/"+b)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, b := range bins {
		out, err := exec.Command(filepath.Join(dir, b), "-version").Output()
		if err != nil {
			t.Errorf("%s -version: %v", b, err)
			continue
		}
		line := string(out)
		for _, want := range []string{b + " v", " revision " + rev, " " + runtime.Version() + "\n"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s -version = %q, lacks %q", b, line, want)
			}
		}
		if strings.Count(line, "\n") != 1 {
			t.Errorf("%s -version = %q, want one line", b, line)
		}
	}
}
