package sim_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// minimalCharm writes a charm whose dispatch is the given shell body.
func minimalCharm(b testing.TB, body string) string {
	dir := filepath.Join(b.TempDir(), "charm")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte("name: minimal\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dispatch"), []byte("#!/bin/sh\n"+body+"\n"), 0o755)
	return dir
}

// benchHooks runs update-status b.N times on one unit and reports the mean hook duration
// (process start to exit, as HookRecord.Duration) per hook and per tool call.
func benchHooks(b *testing.B, containers bool, body string, calls int) {
	if containers && os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	s, err := sim.New(&sim.Options{Dir: b.TempDir(), BinDir: binDir(), NoContainers: !containers})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, _ := s.AddModel("m")
	if _, err := m.Deploy("x", minimalCharm(b, body), nil); err != nil {
		b.Fatal(err)
	}
	settle(b, s)
	u := m.Unit("x/0")
	n0 := len(u.Hooks())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.UpdateStatus()
		settle(b, s)
	}
	b.StopTimer()
	var total time.Duration
	hooks := u.Hooks()[n0:]
	for _, h := range hooks {
		total += h.Duration
	}
	mean := total / time.Duration(len(hooks))
	b.ReportMetric(float64(mean.Microseconds()), "µs/hook")
	if calls > 0 {
		b.ReportMetric(float64(mean.Microseconds())/float64(calls), "µs/call(upper)")
	}
}

func BenchmarkEmptyHook(b *testing.B)             { benchHooks(b, false, "exit 0", 0) }
func BenchmarkEmptyHookInNamespace(b *testing.B)  { benchHooks(b, true, "exit 0", 0) }
func BenchmarkHookWith50ToolCalls(b *testing.B)   { benchHooks(b, false, hookWithCalls, 50) }
func BenchmarkHookWith50ToolCallsNS(b *testing.B) { benchHooks(b, true, hookWithCalls, 50) }

const hookWithCalls = `i=0; while [ $i -lt 50 ]; do is-leader >/dev/null; i=$((i+1)); done`
