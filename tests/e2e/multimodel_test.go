package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/hooktrace"
	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/container"
	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

// buildDemo builds what the demo scenarios deploy where `make demo` puts it (build/, ignored by git).
func buildDemo(t *testing.T, root string) {
	t.Helper()
	build := filepath.Join(root, "build")
	for _, s := range []struct{ pkg, out string }{
		{"./hooks", filepath.Join(build, "dispatch")},
		{"./hooktrace/cmd/hooktrace", filepath.Join(build, "hooktrace")},
		{"./agent/cmd/tls-authority-agent", container.ImagePath(filepath.Join(build, "image"), artifacts.AgentPath)},
		{"./tests/requirer/hooks", filepath.Join(build, "requirer", "dispatch")},
		{"./tests/requirer/server", container.ImagePath(filepath.Join(build, "requirer-image"), "/usr/local/bin/requirer-server")},
	} {
		if err := artifacts.GoBuild(root, s.pkg, s.out); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []pack.Options{
		{CharmDir: root, Dispatch: filepath.Join(build, "dispatch"), Executables: map[string]string{hooktrace.Binary: filepath.Join(build, "hooktrace")},
			Out: filepath.Join(build, "tls-authority_amd64.charm")},
		{CharmDir: filepath.Join(root, "tests", "requirer"), Dispatch: filepath.Join(build, "requirer", "dispatch"), Out: filepath.Join(build, "tls-requirer_amd64.charm")},
	} {
		if err := pack.Charm(&c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMultiModelReferenceArchitecture runs the reference architecture of `make demo` (tests/scenarios/multimodel*.yaml)
// and checks its final tables: every certificate verified by openssl up to the root the architecture says it
// chains to, and every handshake as expected. In the self-signed variant the APP certificates (proxy, app-b) chain
// to pki's root and the UNIT certificates to their model's own; in the intermediate variant all chain to pki's.
func TestMultiModelReferenceArchitecture(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	if testing.Short() {
		t.Skip("deploys three models")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildDemo(t, root)
	for _, tt := range []struct {
		file string
		// pending says why the variant cannot run yet; "" runs it.
		pending string
		// roots: the root each holder's certificate chains to.
		roots map[string]string
	}{{
		file: "multimodel.yaml",
		roots: map[string]string{"pki-ca": "pki-ca", "authority-a": "authority-a", "authority-b": "authority-b",
			"proxy": "pki-ca", "app-b": "pki-ca", "app-a/0": "authority-a", "app-a/1": "authority-a", "app-a/2": "authority-a",
			"app-b/0": "authority-b", "app-b/1": "authority-b"},
	}, {
		file: "multimodel-intermediate.yaml",
		roots: map[string]string{"pki-ca": "pki-ca", "authority-a": "pki-ca", "authority-b": "pki-ca",
			"proxy": "pki-ca", "app-b": "pki-ca", "app-a/0": "pki-ca", "app-a/1": "pki-ca", "app-a/2": "pki-ca",
			"app-b/0": "pki-ca", "app-b/1": "pki-ca"},
	}} {
		t.Run(tt.file, func(t *testing.T) {
			if tt.pending != "" {
				t.Skip(tt.pending)
			}
			res := runScenarioFile(t, root, tt.file)
			checkRoots(t, res, tt.roots)
			var refused, proxied int
			for _, h := range res.Handshakes {
				if !h.OK {
					t.Errorf("handshake %s to %s: %s", h.From, h.To, h.Result)
				}
				if h.ExpectFail {
					refused++
				}
				if strings.Contains(h.Result, "via app-a/") {
					proxied++
				}
			}
			// The proxy reached each of app-a's 3 units; the refused ones are a caller without a client
			// certificate, and (self-signed variant) the pki root alone against app-a directly.
			if proxied != 3 || refused == 0 {
				t.Errorf("%d handshakes through the proxy to app-a (want 3), %d refused as expected (want some)", proxied, refused)
			}
		})
	}
}

// runScenarioFile runs tests/scenarios/<file> on a fresh simulator and fails the test unless every expectation
// passed.
func runScenarioFile(t *testing.T, root, file string) *scenario.Result {
	t.Helper()
	sc, err := scenario.Load(filepath.Join(root, "tests", "scenarios", file))
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
		t.Fatalf("%s: %d expectations passed, %d failed:\n%s", file, res.Passed, res.Failed, strings.Join(res.Failures, "\n"))
	}
	return res
}

// checkRoots checks that every certificate the scenario recorded verified with openssl and that exactly the holders
// of roots hold one, chaining to the root named.
func checkRoots(t *testing.T, res *scenario.Result, roots map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, c := range res.Certificates {
		got[c.Holder] = c.Root
		if !c.OK || !strings.HasPrefix(c.Verified, "OK") {
			t.Errorf("certificate of %s: %s", c.Holder, c.Verified)
		}
	}
	for holder, want := range roots {
		if got[holder] != want {
			t.Errorf("certificate of %s chains to %q, want %q", holder, got[holder], want)
		}
	}
	if len(got) != len(roots) {
		t.Errorf("recorded certificates of %v, want those of %v", got, roots)
	}
}
