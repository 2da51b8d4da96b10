package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// stormScale is applications × units per application; STORM_SCALE=AxU overrides the 10x100.
func stormScale(b *testing.B) (apps, units int) {
	apps, units = 10, 100
	if v := os.Getenv("STORM_SCALE"); v != "" {
		a, u, ok := strings.Cut(v, "x")
		var err1, err2 error
		apps, err1 = strconv.Atoi(a)
		units, err2 = strconv.Atoi(u)
		if !ok || err1 != nil || err2 != nil || apps < 1 || units < 1 {
			b.Fatalf("STORM_SCALE=%q, want AxU", v)
		}
	}
	return apps, units
}

var (
	stormOnce  sync.Once
	stormCharm string
	stormErr   error
)

// stormRequirer packs tests/bench/stormrequirer once per process.
func stormRequirer(b *testing.B) string {
	stormOnce.Do(func() {
		root, err := artifacts.RepoRoot()
		if err != nil {
			stormErr = err
			return
		}
		out, err := os.MkdirTemp("", "storm-requirer-")
		if err != nil {
			stormErr = err
			return
		}
		dispatch := filepath.Join(out, "dispatch")
		if stormErr = artifacts.GoBuild(root, "./tests/bench/stormrequirer", dispatch); stormErr != nil {
			return
		}
		stormCharm = filepath.Join(out, "storm-requirer_amd64.charm")
		stormErr = pack.Charm(&pack.Options{CharmDir: filepath.Join(root, "tests", "bench", "stormrequirer"), Dispatch: dispatch, Out: stormCharm})
	})
	if stormErr != nil {
		b.Fatal(stormErr)
	}
	return stormCharm
}

// stormMode is one way of running the storm: the simulator's hook scheduling, and whether units join one at a time
// (the model settles after each) or an application's units all at once.
type stormMode struct {
	name        string
	concurrency int // sim.Options.Concurrency: 0 runs one hook at a time, round-robin
	burst       bool
}

var stormModes = []stormMode{
	{name: "one-at-a-time/serial"},
	{name: "one-at-a-time/concurrent", concurrency: 16},
	{name: "burst/concurrent", concurrency: 16, burst: true},
}

// BenchmarkScaleStorm is issue 10's scale storm: requirer applications (UNIT mode) of units that join one at a time,
// each related to one tls-authority, until every unit is Active with its certificate. Run three ways: one hook at a
// time in the whole model (the simulator's default), units side by side as Juju runs them (their events
// coalesce), and each application scaled to its full size at once (the authority's leader serves every
// outstanding request of a relation in one hook: batching). Reports hook-tool calls per join, the leader's hook
// wall time per join, the relation bytes written per join, and the requirer hooks the storm cost.
func BenchmarkScaleStorm(b *testing.B) {
	apps, units := stormScale(b)
	charm := stormRequirer(b)
	for _, mode := range stormModes {
		// One storm per mode whatever -benchtime says: a storm is a thousand joins, its figures are per join.
		b.Run(strings.ReplaceAll(mode.name, "/", "-"), func(b *testing.B) { runStorm(b, mode, charm, apps, units) })
	}
}

func runStorm(b *testing.B, mode stormMode, charm string, apps, units int) {
	b.StopTimer()
	s := newSimWith(b, func(o *sim.Options) { o.Concurrency = mode.concurrency })
	m, err := s.AddModel("storm")
	if err != nil {
		b.Fatal(err)
	}
	authority := deployAuthority(b, m, 1, nil)
	var reqApps []*sim.App
	for i := range apps {
		// Deployed with one unit, scaled to none (as `juju scale-application <app> 0`): the storm's units all join.
		a, err := m.Deploy(fmt.Sprintf("app%d", i), charm, &sim.DeployOptions{Units: 1})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Scale(0); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Integrate(a.Name()+":certificates", "tls-authority:certificates"); err != nil {
			b.Fatal(err)
		}
		reqApps = append(reqApps, a)
	}
	settle(b, s)
	requireActive(b, authority)
	leader := authority.Leader().Name()
	from := len(s.Records())
	start := time.Now()
	b.StartTimer()
	// perJoin holds, for each join, the leader's hook wall time; with bursts, one entry per application.
	var perJoin []time.Duration
	mark := from
	settleAndCount := func() {
		settle(b, s)
		recs := s.Records()
		var d time.Duration
		for _, r := range recs[mark:] {
			if r.Unit == leader {
				d += r.Duration
			}
		}
		perJoin = append(perJoin, d)
		mark = len(recs)
	}
	for i, a := range reqApps {
		if mode.burst {
			if err := a.Scale(units); err != nil {
				b.Fatal(err)
			}
			settleAndCount()
		} else {
			for n := 1; n <= units; n++ {
				if err := a.Scale(n); err != nil {
					b.Fatal(err)
				}
				settleAndCount()
			}
		}
		stormProgress(mode.name, i+1, apps, (i+1)*units, sumStorm(s.Records()[from:], leader), time.Since(start))
	}
	b.StopTimer()
	wall := time.Since(start)
	for _, a := range reqApps {
		requireActive(b, a)
		if got := len(a.Units()); got != units {
			b.Fatalf("%s has %d units", a.Name(), got)
		}
	}
	for _, r := range m.Relations() {
		if certs, _, _, _ := tlscertificates.ReadProviderBag(r.AppData("tls-authority")); r.Endpoints()[0] != "tls-authority:authority" && len(certs) != units {
			b.Fatalf("%v: %d certificates, want %d", r.Endpoints(), len(certs), units)
		}
	}
	if os.Getenv("STORM_TRACE") != "" {
		for _, r := range s.Records()[from:] {
			b.Logf("%-18s %-40s %-10s %6.1fms %3d calls %6d bytes %v", r.Unit, r.Name, r.Remote, float64(r.Duration.Microseconds())/1000, r.Calls(), r.RelationBytes, r.ToolCalls)
		}
	}
	reportStorm(b, s.Records()[from:], leader, perJoin, apps*units, wall)
}

// reportStorm turns the storm's hook records into the figures.
// stormTotals are a storm's sums over its hook records.
type stormTotals struct {
	calls, leaderCalls, leaderHooks, reqHooks, bytes, leaderBytes, leaderWrites int
	leaderSum, reqSum                                                           time.Duration
}

func sumStorm(recs []sim.HookRecord, leader string) stormTotals {
	var t stormTotals
	for _, r := range recs {
		t.calls += r.Calls()
		t.bytes += r.RelationBytes
		if r.Unit == leader {
			t.leaderHooks++
			t.leaderCalls += r.Calls()
			t.leaderSum += r.Duration
			t.leaderBytes += r.RelationBytes
			if r.ToolCalls["relation-set"] > 0 {
				t.leaderWrites++
			}
			continue
		}
		if r.Model == "storm" && !strings.HasPrefix(r.Unit, "tls-authority/") {
			t.reqHooks++
			t.reqSum += r.Duration
		}
	}
	return t
}

// stormProgress prints, after each application, the figures so far on stderr (a benchmark's own log comes out only
// when it ends, and a full-size storm takes hours): a run stopped early still says what it measured.
func stormProgress(mode string, done, apps, joins int, t stormTotals, elapsed time.Duration) {
	j := float64(joins)
	fmt.Fprintf(os.Stderr, "storm %s: %d/%d applications, %d joins: %.1f calls/join (leader %.1f), %d leader writes, %.0f bytes/join, "+
		"%d requirer hooks (%v), leader %.0f ms/join, %v wall\n", mode, done, apps, joins, float64(t.calls)/j, float64(t.leaderCalls)/j,
		t.leaderWrites, float64(t.bytes)/j, t.reqHooks, t.reqSum.Round(time.Second), float64(t.leaderSum.Microseconds())/1000/j, elapsed.Round(time.Second))
}

func reportStorm(b *testing.B, recs []sim.HookRecord, leader string, perJoin []time.Duration, joins int, wall time.Duration) {
	t := sumStorm(recs, leader)
	slices.Sort(perJoin)
	median := perJoin[len(perJoin)/2]
	j := float64(joins)
	b.ReportMetric(float64(t.calls), "calls")
	b.ReportMetric(float64(t.calls)/j, "calls/join")
	b.ReportMetric(float64(t.leaderCalls)/j, "leader-calls/join")
	b.ReportMetric(t.leaderSum.Seconds(), "leader-s")
	b.ReportMetric(float64(t.leaderSum.Microseconds())/1000/j, "leader-ms/join")
	b.ReportMetric(float64(median.Microseconds())/1000, "leader-median-ms/settle")
	b.ReportMetric(float64(t.leaderWrites), "leader-writes")
	b.ReportMetric(float64(t.bytes)/j, "bytes/join")
	b.ReportMetric(float64(t.leaderBytes)/j, "leader-bytes/join")
	b.ReportMetric(float64(t.reqHooks), "requirer-hooks")
	b.ReportMetric(t.reqSum.Seconds(), "requirer-hook-s")
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.Logf("%d joins: %d hook-tool calls (%.1f/join; leader %.1f/join in %d hooks), leader hook time %v (median %v per settle), "+
		"%d leader writes, %.0f relation bytes/join (leader %.0f), %d requirer hooks taking %v, %v wall",
		joins, t.calls, float64(t.calls)/j, float64(t.leaderCalls)/j, t.leaderHooks, t.leaderSum.Round(time.Millisecond), median.Round(time.Microsecond),
		t.leaderWrites, float64(t.bytes)/j, float64(t.leaderBytes)/j, t.reqHooks, t.reqSum.Round(time.Millisecond), wall.Round(time.Millisecond))
}
