// Package bench holds the hook benchmarks `make bench` runs: real charm processes on the simulator, timed from
// process start to exit, with their hook-tool calls counted by tool.
package bench

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

func newSim(b *testing.B) *sim.Sim { return newSimWith(b, nil) }

// newSimWith is newSim with its options edited by set (nil: none).
func newSimWith(b *testing.B, set func(*sim.Options)) *sim.Sim {
	b.Helper()
	if os.Getuid() != 0 {
		b.Skip("the simulator needs root")
	}
	// A short work dir: b.TempDir() names the benchmark, and Pebble sockets below it would pass the 108-byte
	// limit of unix socket paths.
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	o := &sim.Options{Dir: dir, BinDir: filepath.Join(os.TempDir(), "tls-authority-test-bin"), HookTimeout: 10 * time.Minute}
	if set != nil {
		set(o)
	}
	s, err := sim.New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func settle(b *testing.B, s *sim.Sim) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		b.Fatal(err)
	}
}

func deployAuthority(b *testing.B, m *sim.Model, units int, cfg map[string]any) *sim.App {
	b.Helper()
	charm, err := artifacts.Charm()
	if err != nil {
		b.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		b.Fatal(err)
	}
	app, err := m.Deploy("tls-authority", charm, &sim.DeployOptions{Units: units, Config: cfg, Resources: map[string]string{"authority-image": image}})
	if err != nil {
		b.Fatal(err)
	}
	return app
}

// hookStats collects the records of one hook name on one unit.
type hookStats struct {
	durations []time.Duration
	calls     map[string]int // summed
	n         int
}

func (h *hookStats) add(r sim.HookRecord) {
	h.durations = append(h.durations, r.Duration)
	if h.calls == nil {
		h.calls = map[string]int{}
	}
	for k, v := range r.ToolCalls {
		h.calls[k] += v
	}
	h.n++
}

func (h *hookStats) median() time.Duration {
	d := slices.Clone(h.durations)
	slices.Sort(d)
	return d[len(d)/2]
}

// report sets the benchmark's metrics: median wall time, total and per-tool calls per hook.
func (h *hookStats) report(b *testing.B, prefix string) {
	b.ReportMetric(float64(h.median().Microseconds())/1000, prefix+"median-ms")
	total := 0
	tools := make([]string, 0, len(h.calls))
	for k, v := range h.calls {
		total += v
		tools = append(tools, k)
	}
	sort.Strings(tools)
	b.ReportMetric(float64(total)/float64(h.n), prefix+"calls/hook")
	var parts []string
	for _, k := range tools {
		b.ReportMetric(float64(h.calls[k])/float64(h.n), prefix+k+"/hook")
		parts = append(parts, k)
	}
	b.Logf("%s%d hooks, median %v, tools %s", prefix, h.n, h.median(), strings.Join(parts, ","))
}

// BenchmarkSteadyHook is a hook of tls-authority with nothing to do: update-status on a settled 3-unit model.
// Reports the leader's and a non-leader's median wall time and hook-tool calls by tool.
func BenchmarkSteadyHook(b *testing.B) {
	s := newSim(b)
	m, err := s.AddModel("bench")
	if err != nil {
		b.Fatal(err)
	}
	app := deployAuthority(b, m, 3, nil)
	settle(b, s)
	requireActive(b, app)
	leader := app.Leader()
	var other *sim.Unit
	for _, u := range app.Units() {
		if u != leader {
			other = u
			break
		}
	}
	statsL := &hookStats{}
	statsO := &hookStats{}
	b.ResetTimer()
	for range b.N {
		nl, no := len(leader.Hooks()), len(other.Hooks())
		s.UpdateStatus()
		settle(b, s)
		for _, r := range leader.Hooks()[nl:] {
			if r.Name == "update-status" {
				statsL.add(r)
			}
		}
		for _, r := range other.Hooks()[no:] {
			if r.Name == "update-status" {
				statsO.add(r)
			}
		}
	}
	b.StopTimer()
	requireActive(b, app)
	statsL.report(b, "leader-")
	statsO.report(b, "nonleader-")
}

// requireActive fails the benchmark unless every unit is Active: a fast hook that failed to do its job is no figure.
func requireActive(b *testing.B, app *sim.App) {
	b.Helper()
	for _, u := range app.Units() {
		if st := u.Status(); st.Status != "active" {
			b.Fatalf("%s is %s: %s", u.Name(), st.Status, st.Message)
		}
	}
}
