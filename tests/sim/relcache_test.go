package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// newSimWith is newSim with its options edited by set.
func newSimWith(t testing.TB, set func(*sim.Options)) *sim.Sim {
	t.Helper()
	o := &sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, HookTimeout: 30 * time.Second}
	set(o)
	s, err := sim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRelationCacheServesMemberSettingsUntilTheirHook pins the uniter's relation cache
// (worker/uniter/runner/context/cache.go RelationCache.Settings, contextfactory.go HookContext and
// getContextRelations): a member's settings, once read, are served from the agent's cache in later hooks, until
// a hook for that member invalidates them. So a hook for b/0 that reads b/1 sees what b/1 held when it was last
// read, even though b/1 has written since; b/1's own relation-changed then reads it afresh.
func TestRelationCacheServesMemberSettingsUntilTheirHook(t *testing.T) {
	s, m, _ := twoApps(t, 1, 2)
	a0 := unit(t, m, "a/0")
	for _, u := range []string{"b/0", "b/1"} {
		script(t, unit(t, m, u), `[ "$JUJU_HOOK_NAME" = config-changed ] && relation-set -r "$(relation-ids backend)" v="$(config-get greeting)"; true`)
	}
	script(t, a0, `case "$JUJU_HOOK_NAME" in db-relation-*) echo "$JUJU_HOOK_NAME($JUJU_REMOTE_UNIT) b/1=$(relation-get -r "$JUJU_RELATION_ID" v b/1)" >> reads.log;; esac`)
	// One write each, read once by a/0 in their relation-changed hooks: the cache holds v=one for both.
	if err := m.App("b").SetConfig(map[string]any{"greeting": "one"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if err := m.App("b").SetConfig(map[string]any{"greeting": "two"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	got := strings.Split(strings.TrimSpace(readFile(t, a0, "reads.log")), "\n")
	eq(t, "a/0's reads of b/1", got, []string{
		"db-relation-changed(b/0) b/1=one", // the first read of b/1: from the controller
		"db-relation-changed(b/1) b/1=one", // its own hook: afresh
		"db-relation-changed(b/0) b/1=one", // b/1 wrote "two", but its relation-changed has not run on a/0 yet
		"db-relation-changed(b/1) b/1=two", // its own hook invalidates the cached settings
	})
}

// TestConcurrentUnitsCoalesceChanges pins Options.Concurrency: units run side by side, as their uniters do in
// Juju, and the writes a remote unit commits while a unit is busy reach it as one relation-changed, because its
// resolver compares the settings version it last saw with the current one when it picks its next hook
// (worker/uniter/relation/resolver.go nextHookForRelation: a member's remote ChangeVersion against the one its last
// relation-changed ran with, so one hook however many writes). Run one hook at a time, the same writes give two.
func TestConcurrentUnitsCoalesceChanges(t *testing.T) {
	changed := map[int]int{}
	for _, concurrency := range []int{0, 4} {
		s := newSimWith(t, func(o *sim.Options) { o.Concurrency = concurrency })
		m := addModel(t, s, "m")
		deploy(t, m, "a", 1, nil)
		deploy(t, m, "b", 1, nil)
		deploy(t, m, "c", 1, nil)
		settle(t, s)
		r := integrate(t, m, "a:db", "b:backend")
		integrate(t, m, "b:db", "c:backend")
		settle(t, s)
		a0, b0, c0 := unit(t, m, "a/0"), unit(t, m, "b/0"), unit(t, m, "c/0")
		// a/0 is busy for a second in update-status; meanwhile b/0 writes twice, in two hooks: its config-changed,
		// then the relation-changed that c/0's write to b/0 wakes.
		script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && sleep 1; true`)
		script(t, c0, `[ "$JUJU_HOOK_NAME" = config-changed ] && relation-set -r "$(relation-ids backend)" x=1; true`)
		script(t, b0, `case "$JUJU_HOOK_NAME" in
config-changed) relation-set -r "$(relation-ids backend)" v="$(config-get greeting)";;
db-relation-changed) relation-set -r "$(relation-ids backend)" w=2;;
esac; true`)
		n := len(a0.HookNames())
		for _, app := range []string{"b", "c"} {
			if err := m.App(app).SetConfig(map[string]any{"greeting": "one"}); err != nil {
				t.Fatal(err)
			}
		}
		s.UpdateStatus()
		settle(t, s)
		for _, h := range hooksSince(a0, n) {
			if h == "db-relation-changed(b/0)" {
				changed[concurrency]++
			}
		}
		if got := r.UnitData("b/0"); got["v"] != "one" || got["w"] != "2" {
			t.Fatalf("concurrency %d: b/0's data is %v", concurrency, got)
		}
	}
	eq(t, "a/0's relation-changed(b/0) hooks, one at a time and concurrently", changed, map[int]int{0: 2, 4: 1})
}
