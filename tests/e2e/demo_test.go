package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

// TestDemoScenarios runs the scenarios of `make demo` (tests/scenarios/demo*.yaml), so `make test` proves what the
// demo shows. It builds what they deploy where `make demo` puts it (build/, ignored by git).
func TestDemoScenarios(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := filepath.Join(root, "build")
	steps := []struct{ pkg, out string }{
		{"./hooks", filepath.Join(build, "dispatch")},
		{"./agent/cmd/tls-authority-agent", filepath.Join(build, "image", "bin", "tls-authority-agent")},
		{"./tests/requirer/hooks", filepath.Join(build, "requirer", "dispatch")},
		{"./tests/requirer/server", filepath.Join(build, "requirer-image", "bin", "requirer-server")},
	}
	for _, s := range steps {
		if err := artifacts.GoBuild(root, s.pkg, s.out); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []pack.Options{
		{CharmDir: root, Dispatch: filepath.Join(build, "dispatch"), Out: filepath.Join(build, "tls-authority_amd64.charm")},
		{CharmDir: filepath.Join(root, "tests", "requirer"), Dispatch: filepath.Join(build, "requirer", "dispatch"), Out: filepath.Join(build, "tls-requirer_amd64.charm")},
	} {
		if err := pack.Charm(&c); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"demo.yaml", "demo-tls.yaml"} {
		t.Run(name, func(t *testing.T) {
			sc, err := scenario.Load(filepath.Join(root, "tests", "scenarios", name))
			if err != nil {
				t.Fatal(err)
			}
			dir, err := os.MkdirTemp("", "demo-") // short: unix socket paths live below it
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res, err := scenario.Run(ctx, sc, &scenario.Options{Dir: dir, BinDir: binDir(), Out: testLog{t}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed > 0 || res.Passed == 0 {
				t.Fatalf("%s: %d expectations passed, %d failed:\n%s", name, res.Passed, res.Failed, strings.Join(res.Failures, "\n"))
			}
			t.Logf("%s: %d expectations passed in %v", name, res.Passed, res.Duration.Round(time.Millisecond))
		})
	}
}
