package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

func TestFailedHookDropsWritesAndBlocksUntilResolved(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ]; then
  relation-set -r db:2 foo=bar
  relation-set -r db:2 --app appkey=1
  state-set k=v
  open-port 8080
  secret-add --label failed content=x >/dev/null
  status-set active "immediate"
  juju-log "kept"
  [ -f ok ] || exit 3
fi`)
	nb := len(b0.HookNames())
	s.UpdateStatus()
	err := settleErr(s)
	if err == nil || !strings.Contains(err.Error(), `a/0 (hook failed: "update-status")`) {
		t.Fatalf("settle must report a/0 in error, got %v", err)
	}
	eq(t, "agent status", a0.AgentStatus().String(), `error: hook failed: "update-status"`)
	eq(t, "status data", s.State().Models[0].Apps[0].Units[0].AgentData["hook"], "update-status")
	eq(t, "status-set is immediate", a0.Status().String(), "active: immediate")
	eq(t, "app status shows the error", m.App("a").Status().String(), `error: hook failed: "update-status"`)
	if _, ok := r.UnitData("a/0")["foo"]; ok {
		t.Error("failed hook's relation-set committed")
	}
	if _, ok := r.AppData("a")["appkey"]; ok {
		t.Error("failed hook's app relation-set committed")
	}
	if len(a0.StateData()) != 0 || len(a0.OpenedPorts()) != 0 {
		t.Errorf("state/ports committed: %v %v", a0.StateData(), a0.OpenedPorts())
	}
	if st := s.State(); len(st.Secrets) != 0 {
		t.Errorf("secret committed: %+v", st.Secrets)
	}
	eq(t, "no relation-changed on b/0", hooksSince(b0, nb), []string{"update-status"})
	// The failed hook blocks later hooks of that unit (update-status queued again is still the same hook).
	if logs := a0.Hooks()[len(a0.Hooks())-1].Logs; len(logs) != 1 || logs[0] != "INFO kept" {
		t.Errorf("juju-log must be kept: %v", logs)
	}
	if err := a0.Resolve(true); err != nil {
		t.Fatal(err)
	}
	if err := settleErr(s); err == nil {
		t.Fatal("retry without fix must fail again")
	}
	script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && relation-set -r db:2 foo=bar; true`)
	if err := a0.Resolve(true); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "committed after retry", r.UnitData("a/0")["foo"], "bar")
	eq(t, "agent idle", a0.AgentStatus().String(), "idle")
}

func TestResolveNoRetryMarksHookDone(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, map[string]any{"script": `[ "$JUJU_HOOK_NAME" = start ] && exit 1; true`})
	if err := settleErr(s); err == nil {
		t.Fatal("want start failure")
	}
	a0 := unit(t, m, "a/0")
	eq(t, "hooks before resolve", a0.HookNames(), []string{"install", "peers-relation-created", "leader-elected", "config-changed"})
	if err := a0.Resolve(false); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "start not rerun", a0.HookNames(), []string{"install", "peers-relation-created", "leader-elected", "config-changed"})
	if err := a0.Resolve(false); err == nil {
		t.Error("resolving a unit not in error must fail")
	}
}

func TestAutoRetry(t *testing.T) {
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, AutoRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	// Fails twice, then succeeds: a counter in the charm dir.
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ]; then echo x >> tries; [ $(wc -l < tries) -ge 3 ] || exit 1; fi`)
	s.UpdateStatus()
	settle(t, s)
	eq(t, "tries", strings.Count(readFile(t, a0, "tries"), "x"), "3")
	// A hook failing more often than AutoRetry stays in error.
	script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && exit 1; true`)
	s.UpdateStatus()
	if err := settleErr(s); err == nil {
		t.Fatal("want error after retries")
	}
	var fails int
	for _, h := range a0.Hooks() {
		if h.Name == "update-status" && h.ExitCode != 0 {
			fails++
		}
	}
	eq(t, "failures: 2 + (1 + 2 retries)", fails, "5")
}

func TestHookEndsWhenItsProcessDoes(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	// A daemon left behind keeps the hook's stdout open; the hook still ends (after WaitDelay).
	script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && { sleep 3 & }; true`)
	s.UpdateStatus()
	start := time.Now()
	settle(t, s)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("settle took %v", d)
	}
	eq(t, "agent", a0.AgentStatus().String(), "idle")
}

func TestHookKilledBySignalIsRequeued(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ] && [ ! -f killed ]; then touch killed; state-set x=1; kill -9 $$; fi`)
	s.UpdateStatus()
	settle(t, s)
	var got []string
	for _, h := range a0.Hooks() {
		if h.Name == "update-status" {
			got = append(got, map[bool]string{true: "killed", false: "ok"}[h.Killed])
		}
	}
	eq(t, "runs", got, []string{"killed", "ok"})
	eq(t, "writes of the killed run dropped", len(a0.StateData()), "0")
	eq(t, "agent", a0.AgentStatus().String(), "idle")
}

func TestRemoveApplication(t *testing.T) {
	s, m, _ := twoApps(t, 1, 2)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	if err := m.RemoveApp("b"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "remaining side", hooksSince(a0, na), []string{"db-relation-departed(b/0)", "db-relation-departed(b/1)", "db-relation-broken"})
	// b/0 led: dying, it resigns locally and runs no leader-settings-changed (leadership/resolver.go
	// NextOp: not while dying); its peer relation is departed last (relationsResolver.NextOp).
	eq(t, "removed unit", hooksSince(b0, nb), []string{"backend-relation-departed(a/0)", "backend-relation-broken", "peers-relation-departed(b/1)", "stop", "remove"})
	if m.App("b") != nil {
		t.Error("application still present")
	}
	if n := len(m.Relations()); n != 1 {
		t.Errorf("%d relations left, want a's peer relation only", n)
	}
}

func TestDepartedUnitDataReadableWhileRelationLives(t *testing.T) {
	s, m, _ := twoApps(t, 1, 2)
	a0 := unit(t, m, "a/0")
	sh(t, unit(t, m, "b/1"), "relation-set -r backend:2 k=from-b1")
	if err := m.App("b").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "departed unit's data", sh(t, a0, "relation-get -r db:2 k b/1"), "from-b1")
	eq(t, "relation-list", sh(t, a0, "relation-list -r db:2"), "b/0")
}

func TestInjectFailureAfterNToolCalls(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ]; then
  relation-set -r db:2 x=1
  state-set k=v
  echo after >> after.txt
fi`)
	s.InjectFailure("a/0", "update-status", 1)
	s.UpdateStatus()
	settle(t, s)
	var recs []string
	for _, h := range a0.Hooks() {
		if h.Name == "update-status" {
			recs = append(recs, strings.TrimSpace(strings.Join([]string{h.Name, map[bool]string{true: "killed"}[h.Killed]}, " ")))
			if h.Killed && h.Calls() != 1 {
				t.Errorf("killed hook made %d calls, want 1", h.Calls())
			}
		}
	}
	eq(t, "killed then requeued", recs, []string{"update-status killed", "update-status"})
	eq(t, "second run committed", r.UnitData("a/0")["x"], "1")
	eq(t, "killed run did not reach the end", strings.Count(readFile(t, a0, "after.txt"), "after"), "1")
	eq(t, "not in error", a0.AgentStatus().String(), "idle")
}

func TestInjectFailureDropsWrites(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ]; then
  n=$(( $(cat n 2>/dev/null || echo 0) + 1 )); echo $n > n
  relation-set -r db:2 x=$n
  state-set k=$n
  juju-log never-reached-in-first-run
fi`)
	s.InjectFailure("a/0", "update-status", 2)
	nb := len(b0.HookNames())
	s.UpdateStatus()
	settle(t, s)
	eq(t, "only the rerun's writes", r.UnitData("a/0")["x"]+" "+a0.StateData()["k"], "2 2")
	eq(t, "b/0 saw one change", hooksSince(b0, nb), []string{"update-status", "backend-relation-changed(a/0)"})
}

func TestLeaderChangeHooks(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 3, nil)
	settle(t, s)
	a0, a1, a2 := unit(t, m, "a/0"), unit(t, m, "a/1"), unit(t, m, "a/2")
	n0, n1, n2 := len(a0.HookNames()), len(a1.HookNames()), len(a2.HookNames())
	if err := m.SetLeader("a/1"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "new leader", hooksSince(a1, n1), []string{"leader-elected"})
	eq(t, "old leader", hooksSince(a0, n0), []string{"leader-settings-changed"})
	// A leadership change does not move the leader settings version: other non-leaders run nothing.
	eq(t, "other", hooksSince(a2, n2), []string{})
	eq(t, "is-leader smart", sh(t, a1, "is-leader"), "True")
	eq(t, "is-leader json", sh(t, a0, "is-leader --format=json"), "false")
	// Removing the leader elects another live unit.
	if err := m.App("a").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if !a0.IsLeader() {
		t.Error("a/0 must lead after a/1 and a/2 left")
	}
}

func TestLifecycleStatuses(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, map[string]any{"script": `[ "$JUJU_HOOK_NAME" = install ] && status-get --format=json --include-data > install-status.json; true`})
	settle(t, s)
	a1 := unit(t, m, "a/1")
	// config-changed writes the script only after install: install saw Juju's default.
	if err := m.App("a").SetConfig(map[string]any{"script": `[ "$JUJU_HOOK_NAME" = stop ] && status-get > stop-status.txt; true`}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "after start", a1.Status().String(), "unknown")
	if err := m.App("a").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "stop sees maintenance", readFile(t, a1, "stop-status.txt"), "maintenance")
	eq(t, "terminated", a1.Status().String(), "terminated")
}

func TestStatusSetAndGet(t *testing.T) {
	_, m, _ := twoApps(t, 2, 1)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	eq(t, "non-leader app status", sh(t, a1, "status-set --application active x 2>&1; echo rc=$?"), "ERROR this unit is not the leader\nrc=1")
	eq(t, "invalid status", sh(t, a1, "status-set bogus 2>&1; echo rc=$?"), `ERROR invalid status "bogus", expected one of [maintenance blocked waiting active]`+"\nrc=2")
	sh(t, a0, "status-set blocked 'need config'")
	eq(t, "status-get", sh(t, a0, "status-get"), "blocked")
	eq(t, "status-get json", sh(t, a0, "status-get --include-data --format=json"), `{"message":"need config","status":"blocked","status-data":{}}`)
	sh(t, a0, "status-set --application active ready")
	eq(t, "app status", m.App("a").Status().String(), "active: ready")
	out := sh(t, a0, "status-get --application --format=json")
	if !strings.Contains(out, `"application-status":{"message":"ready","status":"active"`) || !strings.Contains(out, `"a/1":{"message":"","status":"unknown"`) {
		t.Errorf("status-get --application: %s", out)
	}
	sh(t, a0, "application-version-set 1.2.3")
	if st := m.App("a"); st == nil {
		t.Fatal("no app")
	}
}

func TestConfigGetAndChanged(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	a := deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	eq(t, "defaults, unset without default omitted", sh(t, a0, "config-get --format=json"), `{"enabled":true,"greeting":"hello","script":""}`)
	eq(t, "single key", sh(t, a0, "config-get greeting"), "hello")
	eq(t, "bool smart", sh(t, a0, "config-get enabled"), "True")
	eq(t, "unset key json", sh(t, a0, "config-get count --format=json"), "null")
	eq(t, "--all", sh(t, a0, "config-get --all --format=json"), `{"count":null,"creds":null,"enabled":true,"greeting":"hello","script":""}`)
	n := len(a0.HookNames())
	if err := a.SetConfig(map[string]any{"count": 3, "greeting": "hi"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "config-changed", hooksSince(a0, n), []string{"config-changed"})
	eq(t, "set", sh(t, a0, "config-get --format=json"), `{"count":3,"enabled":true,"greeting":"hi","script":""}`)
	n = len(a0.HookNames())
	if err := a.SetConfig(map[string]any{"count": 3}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "no change, no hook", hooksSince(a0, n), nil)
	if err := a.SetConfig(map[string]any{"greeting": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "reset to default", sh(t, a0, "config-get greeting"), "hello")
	if err := a.SetConfig(map[string]any{"count": "x"}); err == nil {
		t.Error("bad int accepted")
	}
	if err := a.SetConfig(map[string]any{"nope": 1}); err == nil || !strings.Contains(err.Error(), `unknown option "nope"`) {
		t.Errorf("unknown option: %v", err)
	}
}

func TestStateAndPorts(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	eq(t, "pending reads", sh(t, a0, "state-set a=1 b=2; state-get a; state-delete b; state-get --format=json"), "1\n{\"a\":\"1\"}")
	eq(t, "committed", sh(t, a0, "state-get --format=json"), `{"a":"1"}`)
	eq(t, "ports", sh(t, a0, "open-port 8080; open-port 53/udp; open-port 1000-2000/tcp; close-port 53/udp; opened-ports --format=json"), `["1000-2000/tcp","8080/tcp"]`)
	eq(t, "bad port", sh(t, a0, "open-port 70000 2>&1; echo rc=$?"), `ERROR port must be in the range [1, 65535]; got "70000"`+"\nrc=2")
	eq(t, "network-get", sh(t, a0, "network-get db --bind-address; network-get db --ingress-address --format=json"), a0.Address()+"\n\""+m.App("a").ServiceAddress()+"\"")
}

func TestHookEnvironment(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, map[string]any{"script": `[ "$JUJU_HOOK_NAME" = start ] && env | sort > env.txt; true`})
	settle(t, s)
	env := readFile(t, unit(t, m, "a/0"), "env.txt")
	for _, want := range []string{
		"JUJU_DISPATCH_PATH=hooks/start", "JUJU_HOOK_NAME=start", "JUJU_UNIT_NAME=a/0", "JUJU_MODEL_NAME=m",
		"JUJU_MODEL_UUID=" + m.UUID(), "JUJU_AGENT_SOCKET_NETWORK=unix", "JUJU_VERSION=3.6.11", "LANG=C.UTF-8",
		"JUJU_CONTEXT_ID=a/0-start-", "CHARM_DIR=/", "JUJU_CHARM_DIR=/", "SIM_CONTAINERS_DIR=/", "PATH=/",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "HOME=") || strings.Contains(env, "GOPATH=") {
		t.Errorf("env must be built from scratch:\n%s", env)
	}
}

func TestRecordsAndWildcardInjection(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	s.InjectFailure("a/0", "*", 1)
	a0 := unit(t, m, "a/0")
	script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && state-set a=1; true`)
	s.UpdateStatus()
	settle(t, s)
	recs := s.Records()
	last := recs[len(recs)-3:]
	var got []string
	for _, r := range last {
		got = append(got, r.Unit+" "+r.Name+map[bool]string{true: " killed"}[r.Killed])
	}
	eq(t, "records in order", got, []string{"a/0 update-status killed", "b/0 update-status", "a/0 update-status"})
	if recs[len(recs)-1].Seq <= recs[len(recs)-2].Seq {
		t.Error("sequence numbers must grow")
	}
}

// TestInjectFailureAfterTool: the hook dies right after the n-th call of the named tool, whatever came before it.
func TestInjectFailureAfterTool(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = update-status ]; then
  is-leader >/dev/null; config-get >/dev/null
  relation-set -r db:2 x=1
  state-set k=v
  relation-set -r db:2 y=2
  echo after >> after.txt
fi`)
	s.InjectFailureAfterTool("a/0", "update-status", "relation-set", 2)
	s.UpdateStatus()
	settle(t, s)
	var killed []map[string]int
	for _, h := range a0.Hooks() {
		if h.Name == "update-status" && h.Killed {
			killed = append(killed, h.ToolCalls)
		}
	}
	eq(t, "the killed run's calls", killed, []map[string]int{{"is-leader": 1, "config-get": 1, "relation-set": 2, "state-set": 1}})
	eq(t, "killed run did not reach the end", strings.Count(readFile(t, a0, "after.txt"), "after"), "1")
}
