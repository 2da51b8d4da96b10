package sim_test

import (
	"slices"
	"strings"
	"testing"
)

// The uniter enters a relation's scope as soon as the installed unit sees the relation
// (statetracker.go SynchronizeScopes, joinRelation), before its relation-created runs: remote units
// run relation-joined for it and read its address-prefilled bag even while its relation-created
// is failing, and its hook context already lists the relation (contextfactory.go
// getContextRelations lists every relationer).
func TestRemoteSeesUnitJoinBeforeItsRelationCreated(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	na := len(a0.HookNames())
	if err := m.App("b").Scale(2); err != nil {
		t.Fatal(err)
	}
	b1 := unit(t, m, "b/1")
	script(t, a0, `[ "$JUJU_HOOK_NAME" = db-relation-joined ] && relation-get ingress-address > joined-addr; true`)
	script(t, b1, `[ "$JUJU_HOOK_NAME" = peers-relation-created ] && relation-ids backend > ids-in-peers-created
[ "$JUJU_HOOK_NAME" = backend-relation-created ] && [ ! -f created-failed ] && { touch created-failed; exit 1; }
true`)
	if err := settleErr(s); err == nil || !strings.Contains(err.Error(), "backend-relation-created") {
		t.Fatalf("settle: %v, want b/1 in error on backend-relation-created", err)
	}
	eq(t, "a/0 joined b/1 while b/1's relation-created fails", hooksSince(a0, na), []string{"db-relation-joined(b/1)", "db-relation-changed(b/1)"})
	eq(t, "a/0 reads b/1's prefilled bag in its joined", readFile(t, a0, "joined-addr"), m.App("b").ServiceAddress())
	eq(t, "b/1's context lists the relation before its relation-created", readFile(t, b1, "ids-in-peers-created"), "backend:2")
	eq(t, "b/1 ran no backend hook", slices.ContainsFunc(b1.HookNames(), func(h string) bool { return strings.HasPrefix(h, "backend-") }), "false")
	if err := b1.Resolve(true); err != nil {
		t.Fatal(err)
	}
	nb := len(b1.HookNames())
	settle(t, s)
	got := hooksSince(b1, nb)
	eq(t, "b/1 after resolve: the retried hook first", got[:1], []string{"backend-relation-created"})
	// Its own joined comes after, before the peer relation's hooks (peers last: relationsResolver.NextOp).
	eq(t, "b/1 after resolve: its own joined comes after", got, []string{"backend-relation-created", "leader-settings-changed", "config-changed", "start", "backend-relation-joined(a/0)", "backend-relation-changed(a/0)", "peers-relation-joined(b/0)", "peers-relation-changed(b/0)"})
}

// A relation-joined queues its unit's relation-changed ahead of every other hook of the relation
// (relation/resolver.go nextHookForRelation: ChangedPending first), even an app-level
// relation-changed that became due in between.
func TestChangedRightAfterJoinedBeforeAppChanged(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	// a/0 writes its app bag in the hook it runs while b/0 is between joined(a/1) and its changed.
	script(t, a0, `[ "$JUJU_HOOK_NAME" = peers-relation-joined ] && relation-set -r db:2 --app k=v; true`)
	nb := len(b0.HookNames())
	if err := m.App("a").Scale(2); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	got := hooksSince(b0, nb)
	eq(t, "b/0", got, []string{"backend-relation-joined(a/1)", "backend-relation-changed(a/1)", "backend-relation-changed"})
}

// On a relation removal both sides depart each other with JUJU_DEPARTING_UNIT = the remote unit
// (neither local unit nor application is dying); when an application is removed its units name
// themselves and the remaining side names the departing unit (relation/resolver.go
// nextHookForRelation: departee).
func TestDepartingUnitOnRelationAndAppRemoval(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	if err := m.RemoveRelation(r); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, c := range []struct {
		u    string
		want string
	}{
		{"a/0", "db-relation-departed rel=db:2 remote=b/0 app=b departing=b/0 "},
		{"b/0", "backend-relation-departed rel=backend:2 remote=a/0 app=a departing=a/0 "},
	} {
		if ev := readFile(t, unit(t, m, c.u), "events.log"); !strings.Contains(ev, c.want) {
			t.Errorf("%s: want %q in\n%s", c.u, c.want, ev)
		}
	}
	integrate(t, m, "a:db", "b:backend")
	settle(t, s)
	if err := m.RemoveApp("b"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "db-relation-departed rel=db:3 remote=b/0 app=b departing=b/0 ") {
		t.Errorf("remaining side: %s", ev)
	}
	if ev := readFile(t, b0, "events.log"); !strings.Contains(ev, "backend-relation-departed rel=backend:3 remote=a/0 app=a departing=b/0 ") {
		t.Errorf("removed side: %s", ev)
	}
}

// leader-settings-changed follows the leader settings version (leadership/resolver.go NextOp;
// remotestate/watcher.go leadershipChanged moves no version): a leadership change alone gives the
// other non-leaders nothing, the deposed leader one only if the version moved since it last ran
// it, and a leader-set one on every non-leader.
func TestLeaderSettingsChangedFollowsTheVersion(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 3, nil)
	settle(t, s)
	us := []string{"a/0", "a/1", "a/2"}
	step := func(what string, do func(), want ...string) {
		t.Helper()
		var n []int
		for _, u := range us {
			n = append(n, len(unit(t, m, u).HookNames()))
		}
		do()
		settle(t, s)
		var got []string
		for i, u := range us {
			got = append(got, u+":"+strings.Join(hooksSince(unit(t, m, u), n[i]), ","))
		}
		eq(t, what, got, want)
	}
	setLeader := func(u string) func() {
		return func() {
			if err := m.SetLeader(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	step("a/1 elected: the deploy-time leader never ran leader-settings-changed", setLeader("a/1"),
		"a/0:leader-settings-changed", "a/1:leader-elected", "a/2:")
	step("a/2 elected: no leader-set while a/1 led", setLeader("a/2"),
		"a/0:", "a/1:", "a/2:leader-elected")
	step("leader-set", func() { sh(t, unit(t, m, "a/2"), "leader-set k=v") },
		"a/0:leader-settings-changed", "a/1:leader-settings-changed", "a/2:")
	step("a/0 elected: a/2 has not seen the leader-set it made", setLeader("a/0"),
		"a/0:leader-elected", "a/1:", "a/2:leader-settings-changed")
}

// Every hook the uniter runs records the update-status timer version it saw
// (resolver/opfactory.go wrapHookOp), so an update-status due before another hook was chosen is
// dropped once that hook succeeds; with nothing else to run it runs.
func TestUpdateStatusAbsorbedByOtherHooks(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	na, nb := len(a0.HookNames()), len(b0.HookNames())
	s.UpdateStatus()
	if err := m.App("a").SetConfig(map[string]any{"script": "true"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "a/0: config-changed absorbs the tick", hooksSince(a0, na), []string{"config-changed"})
	eq(t, "b/0: nothing else to run", hooksSince(b0, nb), []string{"update-status"})
}
