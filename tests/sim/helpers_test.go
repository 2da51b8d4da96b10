package sim_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// charmDir is the test charm in tests/testcharm.
func charmDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testcharm")
}

// binDir is shared by every test so jujuc (and pebble, nsexec) are built once.
func binDir() string { return filepath.Join(os.TempDir(), "tls-authority-test-bin") }

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newSim returns a simulator without containers (fast); withContainers tests opt in.
func newSim(t testing.TB) *sim.Sim {
	t.Helper()
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, HookTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func settle(t testing.TB, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

func settleErr(s *sim.Sim) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.Settle(ctx)
}

func addModel(t testing.TB, s *sim.Sim, name string) *sim.Model {
	t.Helper()
	m, err := s.AddModel(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func deploy(t testing.TB, m *sim.Model, app string, units int, cfg map[string]any) *sim.App {
	t.Helper()
	a, err := m.Deploy(app, charmDir(t), &sim.DeployOptions{Units: units, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func integrate(t testing.TB, m *sim.Model, a, b string) *sim.Relation {
	t.Helper()
	r, err := m.Integrate(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// script writes script.sh into a unit's charm dir: it is sourced in every later hook.
func script(t testing.TB, u *sim.Unit, sh string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(u.CharmDir(), "script.sh"), []byte(sh), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFile reads a file the charm wrote into its charm dir ("" if missing).
func readFile(t testing.TB, u *sim.Unit, name string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(u.CharmDir(), name))
	return string(b)
}

// hooksSince returns the successful hook names of u after the first n.
func hooksSince(u *sim.Unit, n int) []string {
	h := u.HookNames()
	if n > len(h) {
		return nil
	}
	return h[n:]
}

func unit(t testing.TB, m *sim.Model, name string) *sim.Unit {
	t.Helper()
	u := m.Unit(name)
	if u == nil {
		t.Fatalf("unit %s not found", name)
	}
	return u
}

func eq(t testing.TB, what string, got, want any) {
	t.Helper()
	if g, w := strings.TrimSpace(toString(got)), strings.TrimSpace(toString(want)); g != w {
		t.Errorf("%s:\n got: %s\nwant: %s", what, g, w)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(x, "\n")
	case string:
		return x
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(fmtAny(v)), "\t", " "), "  ", " "))
}

// sh runs a shell command in the unit through the test charm's "run" action and returns its
// stdout (stderr folded in when the command redirects it). The action must complete.
func sh(t testing.TB, u *sim.Unit, cmd string) string {
	t.Helper()
	res, err := u.RunAction("run", map[string]any{"cmd": cmd})
	if err != nil {
		t.Fatalf("run %q on %s: %v", cmd, u.Name(), err)
	}
	if res.Status != "completed" {
		t.Fatalf("run %q on %s: %s: %s (results %v)", cmd, u.Name(), res.Status, res.Message, res.Results)
	}
	out, _ := res.Results["stdout"].(string)
	return out
}
