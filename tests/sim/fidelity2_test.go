package sim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// A dying leader keeps the lease until the unit is gone: is-leader answers true in its own departed, broken,
// stop and remove hooks, no other unit leads meanwhile (is-leader false in their departed hooks), and only
// after its removal does another unit run leader-elected. It runs no leader-settings-changed while dying, even
// when the leader settings moved since it last ran one (leadership/resolver.go NextOp).
func TestDyingLeaderKeepsLeadershipUntilGone(t *testing.T) {
	s, m, _ := twoApps(t, 1, 3)
	b0, b2 := unit(t, m, "b/0"), unit(t, m, "b/2")
	if err := m.SetLeader("b/2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	// The leader settings move after b/2 last ran leader-settings-changed (at deploy).
	sh(t, b2, "leader-set k=v")
	settle(t, s)
	log := filepath.Join(t.TempDir(), "leader.log")
	for _, n := range []string{"b/0", "b/1", "b/2"} {
		script(t, unit(t, m, n), `echo "$JUJU_UNIT_NAME $JUJU_HOOK_NAME $(is-leader)" >> `+log)
	}
	nb2 := len(b2.HookNames())
	if err := m.App("b").Scale(2); err != nil {
		t.Fatal(err)
	}
	if l := m.App("b").Leader(); l == nil || l.Name() != "b/2" {
		t.Fatalf("leader after the scale down: %v, want b/2 until it is gone", l)
	}
	settle(t, s)
	eq(t, "dying leader's hooks", hooksSince(b2, nb2), []string{"backend-relation-departed(a/0)", "backend-relation-broken", "peers-relation-departed(b/0)", "peers-relation-departed(b/1)", "stop", "remove"})
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	gone := false
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "b/2 ") {
			got = append(got, l)
			gone = gone || strings.Contains(l, " remove ")
			continue
		}
		if !gone && strings.HasSuffix(l, " True") {
			t.Errorf("%s: another unit leads while b/2 is still there", l)
		}
	}
	eq(t, "is-leader in the dying leader's hooks", got, []string{
		"b/2 backend-relation-departed True", "b/2 backend-relation-broken True", "b/2 peers-relation-departed True",
		"b/2 peers-relation-departed True", "b/2 stop True", "b/2 remove True",
	})
	if !strings.Contains(string(b), "b/0 leader-elected True") {
		t.Errorf("b/0 must be elected once b/2 is gone:\n%s", b)
	}
	if l := m.App("b").Leader(); l != b0 {
		t.Errorf("leader %v, want b/0", l)
	}
}

// Peer relations come after all others when a unit departs, so its non-peer relation-departed and
// relation-broken still see the peer relation (relation/resolver.go relationsResolver.NextOp).
func TestPeerRelationsLastOnDeparture(t *testing.T) {
	s, m, _ := twoApps(t, 1, 2)
	b1 := unit(t, m, "b/1")
	script(t, b1, `[ "$JUJU_HOOK_NAME" = backend-relation-broken ] && relation-list -r "$(relation-ids peers)" > peers-in-broken; true`)
	n := len(b1.HookNames())
	if err := m.App("b").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "dying b/1", hooksSince(b1, n), []string{"backend-relation-departed(a/0)", "backend-relation-broken", "peers-relation-departed(b/0)", "stop", "remove"})
	eq(t, "peer still there in backend-relation-broken", readFile(t, b1, "peers-in-broken"), "b/0")
}

// relation-ids leaves out a relation only when it is dying (or suspended) with no member left
// (contextfactory.go getContextRelations, context.go RelationIds): a dying unit's relation-broken on a live
// relation still lists it, and the last relation-departed of a removed relation does too.
func TestRelationIdsHidesOnlyARelationAboutToBreak(t *testing.T) {
	s, m, r := twoApps(t, 1, 2)
	a0, b1 := unit(t, m, "a/0"), unit(t, m, "b/1")
	record := `case "$JUJU_HOOK_NAME" in db-relation-*|backend-relation-*) echo "$JUJU_HOOK_NAME $(relation-ids --format=json)" >> ids.log;; esac`
	script(t, b1, record)
	script(t, a0, record)
	if err := m.App("b").Scale(1); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "dying unit, live relation", readFile(t, b1, "ids.log"), "backend-relation-departed [\"backend:2\"]\nbackend-relation-broken [\"backend:2\"]")
	if err := m.RemoveRelation(r); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "removed relation", readFile(t, a0, "ids.log"), "db-relation-departed [\"db:2\"]\ndb-relation-departed [\"db:2\"]\ndb-relation-broken []")
}

// The secrets resolver runs expired revisions first, then rotations, then changed consumed secrets, then
// obsolete revisions, whatever order they were queued in (secrets/resolver.go NextOp).
func TestSecretHookOrder(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	consumed := strings.TrimSpace(sh(t, b0, "secret-add --owner application foo=v1"))
	sh(t, b0, "secret-grant "+consumed+" -r backend:2")
	sh(t, a0, "secret-get "+consumed)
	expiring := strings.TrimSpace(sh(t, a0, "secret-add --owner unit --label exp --expire 1h foo=v1"))
	obsolete := strings.TrimSpace(sh(t, a0, "secret-add --owner unit --label obs foo=v1"))
	rotating := strings.TrimSpace(sh(t, a0, "secret-add --owner unit --label rot foo=v1"))
	settle(t, s)
	// a/0 is held in error while its secret hooks are queued (actions still run), in the reverse order:
	// remove, changed, rotate, expired.
	holdInError(t, s, a0)
	n := len(a0.HookNames())
	runIgnoringErrors(t, a0, "secret-set "+obsolete+" foo=v2") // secret-remove of revision 1 to a/0
	runIgnoringErrors(t, b0, "secret-set "+consumed+" foo=v2") // secret-changed to a/0
	if err := s.RotateSecret(rotating); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Advance(2 * time.Hour); err != nil { // secret-expired of the expiring secret
		t.Fatal(err)
	}
	release(t, a0)
	settle(t, s)
	eq(t, "order", hooksSince(a0, n), []string{"secret-expired", "secret-rotate", "secret-changed", "secret-remove"})
	ev := readFile(t, a0, "events.log")
	for _, want := range []string{"secret-expired rel= remote= app= departing= secret=" + expiring, "secret-remove rel= remote= app= departing= secret=" + obsolete} {
		if !strings.Contains(ev, want) {
			t.Errorf("missing %q in:\n%s", want, ev)
		}
	}
}

// The leader runs no app-level relation-changed on a peer relation (relation/resolver.go
// nextHookForRelation: "if !isPeer || !leader"): a unit that wrote the peer application bag as leader runs
// one once it no longer leads, and a unit that becomes leader before running one skips it.
func TestPeerAppChangedSkippedForTheLeader(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	// a/1 is held in error so that it runs nothing until it leads.
	holdInError(t, s, a1)
	n0, n1 := len(a0.HookNames()), len(a1.HookNames())
	if res, _ := a0.RunAction("set", map[string]any{"relation": "peers", "data": "p=q", "app": true}); res == nil || res.Status != "completed" {
		t.Fatalf("set: %v", res)
	}
	if err := m.SetLeader("a/1"); err != nil {
		t.Fatal(err)
	}
	release(t, a1)
	settle(t, s)
	eq(t, "new leader", hooksSince(a1, n1), []string{"leader-elected"})
	eq(t, "deposed leader", hooksSince(a0, n0), []string{"leader-settings-changed", "peers-relation-changed"})
}

// holdInError fails u's update-status and leaves u in error: it runs no hook until release, but runs actions.
func holdInError(t *testing.T, s *sim.Sim, u *sim.Unit) {
	t.Helper()
	script(t, u, `[ "$JUJU_HOOK_NAME" = update-status ] && exit 1; true`)
	s.UpdateStatus()
	_ = settleErr(s)
	if !strings.Contains(u.AgentStatus().String(), "update-status") {
		t.Fatalf("%s must be in error, is %s", u.Name(), u.AgentStatus())
	}
}

// release resolves the error holdInError left, without retrying the hook.
func release(t *testing.T, u *sim.Unit) {
	t.Helper()
	script(t, u, "")
	if err := u.Resolve(false); err != nil {
		t.Fatal(err)
	}
}

// runIgnoringErrors is sh for a model with a unit held in error: the action must complete, the settle after it
// may report the unit in error.
func runIgnoringErrors(t *testing.T, u *sim.Unit, cmd string) {
	t.Helper()
	if res, _ := u.RunAction("run", map[string]any{"cmd": cmd}); res == nil || res.Status != "completed" {
		t.Fatalf("run %q on %s: %v", cmd, u.Name(), res)
	}
}
