package server_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"kido.dev/kido/sync/server"
)

// TestAlertRules checks docs/ops/alerts.yml with promtool (syntax, then
// its unit tests in alerts_test.yml), and that every kido_ metric the
// rules name is one the server registers: renaming a metric without its
// alert fails here.
func TestAlertRules(t *testing.T) {
	rules := filepath.Join("..", "..", "docs", "ops", "alerts.yml")
	b, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, func(c *server.Config) {
		c.DataDir = t.TempDir()
		c.TLSExpiry = time.Now().Add(90 * 24 * time.Hour)
	})
	names := f.server.MetricNames()
	used := regexp.MustCompile(`\bkido_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) < 10 {
		t.Fatalf("the rules name %d kido metrics; expected the alert set", len(used))
	}
	for _, n := range used {
		if !slices.Contains(names, n) {
			t.Errorf("%s names %s, which the server does not export (it has %v)", rules, n, names)
		}
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
	}
	for _, args := range [][]string{{"check", "rules", rules}, {"test", "rules", filepath.Join(filepath.Dir(rules), "alerts_test.yml")}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
