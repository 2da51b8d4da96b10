package sim_test

import (
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// twoApps deploys a (provides db) and b (requires backend), settles and integrates them.
func twoApps(t *testing.T, aUnits, bUnits int) (*sim.Sim, *sim.Model, *sim.Relation) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", aUnits, nil)
	deploy(t, m, "b", bUnits, nil)
	settle(t, s)
	r := integrate(t, m, "a:db", "b:backend")
	settle(t, s)
	return s, m, r
}

func TestIntegrateHookOrder(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	deploy(t, m, "b", 1, nil)
	settle(t, s)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	integrate(t, m, "a:db", "b:backend")
	settle(t, s)
	eq(t, "a/0", hooksSince(a0, na), []string{"db-relation-created", "db-relation-joined(b/0)", "db-relation-changed(b/0)"})
	eq(t, "b/0", hooksSince(b0, nb), []string{"backend-relation-created", "backend-relation-joined(a/0)", "backend-relation-changed(a/0)"})
	if !strings.Contains(readFile(t, a0, "events.log"), "db-relation-created rel=db:2 remote= app=b ") {
		t.Errorf("relation-created must have JUJU_REMOTE_APP set and JUJU_REMOTE_UNIT empty:\n%s", readFile(t, a0, "events.log"))
	}
}

func TestIntegrateAmbiguityAndErrors(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	deploy(t, m, "b", 1, nil)
	// a provides db and requires backend, both testdb: "a b" matches a:db-b:backend and a:backend-b:db.
	if _, err := m.Integrate("a", "b"); err == nil || !strings.Contains(err.Error(), "ambiguous relation") {
		t.Fatalf("want ambiguous relation, got %v", err)
	}
	if _, err := m.Integrate("a:db", "b:backend"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Integrate("a:db", "b:backend"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("want already exists, got %v", err)
	}
	if _, err := m.Integrate("a:db", "nope"); err == nil || !strings.Contains(err.Error(), `application "nope" not found`) {
		t.Fatalf("got %v", err)
	}
}

func TestScaleUpAndDownHookOrder(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	if err := m.App("b").Scale(2); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	b1 := unit(t, m, "b/1")
	eq(t, "new unit b/1", b1.HookNames(), []string{
		"install", "peers-relation-created", "backend-relation-created", "leader-settings-changed", "config-changed", "start",
		// Peer relations after all others (relation/resolver.go relationsResolver.NextOp).
		"backend-relation-joined(a/0)", "backend-relation-changed(a/0)", "peers-relation-joined(b/0)", "peers-relation-changed(b/0)",
	})
	eq(t, "a/0 on scale up", hooksSince(a0, na), []string{"db-relation-joined(b/1)", "db-relation-changed(b/1)"})
	eq(t, "b/0 on scale up (peer joined only now)", hooksSince(b0, nb), []string{"peers-relation-joined(b/1)", "peers-relation-changed(b/1)"})

	na, nb = len(a0.HookNames()), len(b0.HookNames())
	if err := m.App("b").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "dying b/1", hooksSince(b1, 10), []string{"backend-relation-departed(a/0)", "backend-relation-broken", "peers-relation-departed(b/0)", "stop", "remove"})
	eq(t, "a/0 on scale down", hooksSince(a0, na), []string{"db-relation-departed(b/1)"})
	eq(t, "b/0 on scale down", hooksSince(b0, nb), []string{"peers-relation-departed(b/1)"})
	if m.Unit("b/1") != nil {
		t.Error("b/1 still present after remove")
	}
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "db-relation-departed rel=db:2 remote=b/1 app=b departing=b/1") {
		t.Errorf("remaining unit: JUJU_DEPARTING_UNIT must be the departing unit:\n%s", ev)
	}
	if ev := readFile(t, b1, "events.log"); !strings.Contains(ev, "backend-relation-departed rel=backend:2 remote=a/0 app=a departing=b/1") {
		t.Errorf("dying unit: JUJU_DEPARTING_UNIT must be itself:\n%s", ev)
	}
	if st := b1.Status(); st.Status != "terminated" {
		t.Errorf("removed unit status %v", st)
	}
}

func TestRemoveRelationHookOrder(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	// In broken, relation-ids omits the relation but -r still resolves; relation-list is empty.
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = db-relation-broken ]; then
  relation-ids db --format=json > ids.json
  relation-list -r "$JUJU_RELATION_ID" --format=json > list.json
  relation-get -r "$JUJU_RELATION_ID" --format=json - a/0 > own.json
fi`)
	if err := m.RemoveRelation(r); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "a/0", hooksSince(a0, na), []string{"db-relation-departed(b/0)", "db-relation-broken"})
	eq(t, "b/0", hooksSince(b0, nb), []string{"backend-relation-departed(a/0)", "backend-relation-broken"})
	eq(t, "relation-ids in broken", readFile(t, a0, "ids.json"), "[]")
	eq(t, "relation-list in broken", readFile(t, a0, "list.json"), "[]")
	if !strings.Contains(readFile(t, a0, "own.json"), `"private-address":"`+m.App("a").ServiceAddress()+`"`) {
		t.Errorf("-r must resolve in broken: %q", readFile(t, a0, "own.json"))
	}
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "db-relation-broken rel=db:2 remote= app=b ") {
		t.Errorf("broken must have JUJU_REMOTE_APP and no JUJU_REMOTE_UNIT:\n%s", ev)
	}
	if len(m.Relations()) != 2 { // the two peer relations remain
		t.Errorf("relation not removed: %v", len(m.Relations()))
	}
	eq(t, "relation-ids after removal", sh(t, a0, "relation-ids db --format=json"), "[]")
}

func TestUnitBagPrefilledAtScopeEntry(t *testing.T) {
	_, m, r := twoApps(t, 1, 1)
	d := r.UnitData("a/0")
	ip := m.App("a").ServiceAddress() // Kubernetes: the application's service address, not the pod's
	eq(t, "bag", d["private-address"]+" "+d["ingress-address"]+" "+d["egress-subnets"], ip+" "+ip+" "+ip+"/32")
	eq(t, "remote read", sh(t, unit(t, m, "b/0"), "relation-get -r backend:2 private-address a/0"), ip)
}

func TestNonLeaderRelationSetAppRefused(t *testing.T) {
	_, m, _ := twoApps(t, 2, 1)
	out := sh(t, unit(t, m, "a/1"), "relation-set -r db:2 --app x=y 2>&1; echo rc=$?")
	eq(t, "non-leader relation-set --app", out, "ERROR cannot write relation settings\nrc=1")
	out = sh(t, unit(t, m, "a/0"), "relation-set -r db:2 --app x=y 2>&1; echo rc=$?")
	eq(t, "leader relation-set --app", out, "rc=0")
}

func TestNonLeaderOwnAppBagReadPeerOnly(t *testing.T) {
	_, m, _ := twoApps(t, 2, 1)
	a1 := unit(t, m, "a/1")
	eq(t, "non-peer own app bag", sh(t, a1, "relation-get -r db:2 --app - a 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	eq(t, "peer own app bag", sh(t, a1, "relation-get -r peers:0 --app --format=json - a 2>&1; echo rc=$?"), "{}\nrc=0")
	eq(t, "leader own app bag", sh(t, unit(t, m, "a/0"), "relation-get -r db:2 --app --format=json - a"), "{}")
}

func TestRemoteBagsReadOnly(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	b0 := unit(t, m, "b/0")
	// relation-set only ever writes the caller's own bags; remote data is read-only by construction.
	sh(t, unit(t, m, "a/0"), "relation-set -r db:2 k=from-a")
	eq(t, "remote unit bag", sh(t, b0, "relation-get -r backend:2 k a/0"), "from-a")
	eq(t, "own bag unchanged", sh(t, b0, "relation-get -r backend:2 --format=json k b/0"), "null")
}

func TestRelationChangedOnlyForRealDiff(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	script(t, a0, `[ "$JUJU_HOOK_NAME" = update-status ] && relation-set -r db:2 foo=bar`)
	nb, na := len(b0.HookNames()), len(a0.HookNames())
	s.UpdateStatus()
	settle(t, s)
	// Relation hooks outrank update-status (resolver priority), and the changed hook, chosen after
	// the tick, absorbs b/0's update-status.
	eq(t, "first write: b/0 gets changed", hooksSince(b0, nb), []string{"backend-relation-changed(a/0)"})
	eq(t, "own write: no changed on writer", hooksSince(a0, na), []string{"update-status"})
	nb = len(b0.HookNames())
	s.UpdateStatus()
	settle(t, s)
	eq(t, "same value again: no changed", hooksSince(b0, nb), []string{"update-status"})
}

func TestAppBagChangeFiresAppLevelChanged(t *testing.T) {
	s, m, _ := twoApps(t, 2, 1)
	a0, a1, b0 := unit(t, m, "a/0"), unit(t, m, "a/1"), unit(t, m, "b/0")
	na0, na1, nb := len(a0.HookNames()), len(a1.HookNames()), len(b0.HookNames())
	if res, err := a0.RunAction("set", map[string]any{"relation": "db", "data": "k=v", "app": true}); err != nil || res.Status != "completed" {
		t.Fatalf("%v %v", res, err)
	}
	if res, err := a0.RunAction("set", map[string]any{"relation": "peers", "data": "p=q", "app": true}); err != nil || res.Status != "completed" {
		t.Fatalf("%v %v", res, err)
	}
	settle(t, s)
	eq(t, "remote app gets app-level changed", hooksSince(b0, nb), []string{"backend-relation-changed"})
	if !strings.Contains(readFile(t, b0, "events.log"), "backend-relation-changed rel=backend:2 remote= app=a ") {
		t.Errorf("app-level changed: JUJU_REMOTE_UNIT empty, JUJU_REMOTE_APP set")
	}
	eq(t, "peer non-leader gets app-level changed", hooksSince(a1, na1), []string{"peers-relation-changed"})
	eq(t, "leader gets nothing for its own peer app write", hooksSince(a0, na0), nil)
	eq(t, "data", m.Relations()[2].AppData("a")["k"], "v")
}

// TestAppBagChangeAfterOwnWrites: a leader that wrote its own app databag several times still gets app-level
// relation-changed when the remote app then writes its databag once (each side's version is its own).
func TestAppBagChangeAfterOwnWrites(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	for _, v := range []string{"1", "2", "3"} {
		if res, err := a0.RunAction("set", map[string]any{"relation": "db", "data": "k=" + v, "app": true}); err != nil || res.Status != "completed" {
			t.Fatalf("%v %v", res, err)
		}
		settle(t, s)
	}
	na := len(a0.HookNames())
	if res, err := b0.RunAction("set", map[string]any{"relation": "backend", "data": "x=y", "app": true}); err != nil || res.Status != "completed" {
		t.Fatalf("%v %v", res, err)
	}
	settle(t, s)
	eq(t, "a/0 hears of b's app databag", hooksSince(a0, na), []string{"db-relation-changed"})
}

func TestRelationGetDefaultsAndErrors(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	sh(t, unit(t, m, "b/0"), "relation-set -r backend:2 greeting=hi")
	settle(t, s)
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = db-relation-changed ]; then relation-get greeting > got.txt; relation-get --format=json > all.json; fi`)
	sh(t, unit(t, m, "b/0"), "relation-set -r backend:2 greeting=hello")
	settle(t, s)
	eq(t, "default target is the remote unit", readFile(t, a0, "got.txt"), "hello")
	eq(t, "no relation outside relation hooks", sh(t, a0, "relation-get k a/0 2>&1; echo rc=$?"), "ERROR no relation id specified\nrc=2")
	eq(t, "unknown relation", sh(t, a0, "relation-get -r db:99 k a/0 2>&1; echo rc=$?"), `ERROR invalid value "db:99" for option -r: relation not found`+"\nrc=2")
	eq(t, "-r takes a bare number", sh(t, a0, "relation-get -r 2 greeting b/0"), "hello")
	eq(t, "no unit", sh(t, a0, "relation-get -r 2 greeting 2>&1; echo rc=$?"), "ERROR no unit or application specified\nrc=2")
	eq(t, "missing key json", sh(t, a0, "relation-get -r 2 --format=json nope b/0"), "null")
	eq(t, "missing key smart", sh(t, a0, "relation-get -r 2 nope b/0"), "")
	eq(t, "relation-list", sh(t, a0, "relation-list -r 2 --format=json"), `["b/0"]`)
	eq(t, "relation-list --app", sh(t, a0, "relation-list -r 2 --app"), "b")
	eq(t, "relation-ids smart", sh(t, a0, "relation-ids db"), "db:2")
	eq(t, "relation-model-get", sh(t, a0, "relation-model-get -r 2 --format=json"), `{"uuid":"`+m.UUID()+`"}`)
}

func TestJujuLogPrefixedInRelationHooks(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	script(t, a0, `[ "$JUJU_HOOK_NAME" = db-relation-changed ] && juju-log --log-level WARNING hi; [ "$JUJU_HOOK_NAME" = update-status ] && juju-log -l bogus plain; true`)
	sh(t, unit(t, m, "b/0"), "relation-set -r backend:2 x=1")
	s.UpdateStatus()
	settle(t, s)
	var logs []string
	for _, h := range a0.Hooks() {
		logs = append(logs, h.Logs...)
	}
	eq(t, "logs", logs, []string{"WARNING db:2: hi", "INFO plain"})
}
