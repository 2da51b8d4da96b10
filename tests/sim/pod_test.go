package sim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// firstEvents returns the hook names in the first n lines of the unit's events.log (the test
// charm appends one line per event to its charm dir), so what a fresh charm dir saw first.
func firstEvents(t *testing.T, u *sim.Unit, n int) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, u, "events.log")), "\n") {
		if len(out) == n || l == "" {
			break
		}
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

// Juju: resolver/loop.go checkCharmInstallUpgrade (no charm dir on a new pod: deploy again),
// operation/deploy.go Commit (queues upgrade-charm), operation/runhook.go Commit (upgrade-charm
// queues config-changed; start clears Stopped), reboot/resolver.go NextOp with uniter.go loop
// (a sidecar agent owes start), leadership/resolver.go NextOp (leader-settings-changed for
// non-leaders, not while Stopped).
func TestChurnPodNewPodHookOrderFreshCharmDirNewAddress(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	for _, u := range []*sim.Unit{a0, a1} {
		os.WriteFile(filepath.Join(u.CharmDir(), ".unit-state.db"), []byte("written by the charm"), 0o600)
	}
	old0, old1 := a0.Address(), a1.Address()
	n0, n1 := len(a0.HookNames()), len(a1.HookNames())
	a0.ChurnPod()
	a1.ChurnPod()
	settle(t, s)
	// The new pod's address changes the unit's addresses hash (config-changed), but not its ingress address, the
	// application's service address: the peer sees no relation-changed.
	eq(t, "leader", hooksSince(a0, n0), []string{"stop", "upgrade-charm", "config-changed", "start"})
	eq(t, "non-leader", hooksSince(a1, n1), []string{"stop", "upgrade-charm", "config-changed", "start", "leader-settings-changed"})
	for _, u := range []*sim.Unit{a0, a1} {
		if _, err := os.Stat(filepath.Join(u.CharmDir(), ".unit-state.db")); err == nil {
			t.Errorf("%s: a file the charm wrote survived the new pod", u.Name())
		}
		if _, err := os.Stat(filepath.Join(u.CharmDir(), "dispatch")); err != nil {
			t.Errorf("%s: the charm's own files must be deployed again: %v", u.Name(), err)
		}
	}
	eq(t, "fresh events.log", firstEvents(t, a0, 1), []string{"upgrade-charm"})
	if a0.Address() == old0 || a1.Address() == old1 || a0.Address() == a1.Address() {
		t.Errorf("new pods need new, distinct addresses: %s -> %s, %s -> %s", old0, a0.Address(), old1, a1.Address())
	}
	// network-get binds the new pod address at once; the ingress address stays the service's.
	svc := m.App("a").ServiceAddress()
	eq(t, "network-get", sh(t, a0, "network-get peers --bind-address; network-get peers --ingress-address"), a0.Address()+"\n"+svc)
	eq(t, "peer settings", sh(t, a1, "relation-get -r peers:0 - a/0 --format=json"),
		`{"egress-subnets":"`+svc+`/32","ingress-address":"`+svc+`","private-address":"`+svc+`"}`)
}

// Juju: juju refresh on Kubernetes replaces every pod (juju/juju#13003): the same new-pod
// sequence as ChurnPod, with the new charm; stop runs on the old pod with the old charm.
func TestRefreshReplacesPods(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	a := deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	os.WriteFile(filepath.Join(a0.CharmDir(), ".unit-state.db"), []byte("lost"), 0o600)
	old := a0.Address()
	n0, n1 := len(a0.HookNames()), len(a1.HookNames())
	if err := a.Refresh(charmDir(t)); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "leader", hooksSince(a0, n0), []string{"stop", "upgrade-charm", "config-changed", "start"})
	eq(t, "non-leader", hooksSince(a1, n1), []string{"stop", "upgrade-charm", "config-changed", "start", "leader-settings-changed"})
	eq(t, "charm dir is fresh", readFile(t, a0, ".unit-state.db"), "")
	if a0.Address() == old {
		t.Errorf("the refreshed pod kept its address %s", old)
	}
}

// Juju: uniter/resolver.go nextOp runs config-changed when AddressesHash changes (the pod's new address is among
// the unit's addresses); its commit carries UpdateNetworkInfo (runner/context/context.go doFlush), which rewrites
// private-address, ingress-address and egress-subnets in the unit's relation settings (apiserver uniter
// updateUnitNetworkInfoOperation) only where they changed. On Kubernetes they are the application's service
// address (networkinfocaas.go), which a new pod does not change: the remote side sees no relation-changed.
func TestNewPodAddressKeepsIngressAddress(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	nb, na := len(b0.HookNames()), len(a0.HookNames())
	old := a0.Address()
	a0.ChurnPod()
	settle(t, s)
	if a0.Address() == old {
		t.Fatalf("the new pod kept its address %s", old)
	}
	eq(t, "a/0", hooksSince(a0, na), []string{"stop", "upgrade-charm", "config-changed", "start"})
	eq(t, "remote side", hooksSince(b0, nb), []string(nil))
	svc := m.App("a").ServiceAddress()
	eq(t, "ingress-address", r.UnitData("a/0")["ingress-address"], svc)
	eq(t, "private-address", r.UnitData("a/0")["private-address"], svc)
}

// Juju: a pod killed mid-hook leaves the uniter state at RunHook/Pending (operation/runhook.go
// Prepare); the new pod's deploy restores that hook instead of queueing upgrade-charm
// (operation/deploy.go Commit, interruptedHook), the resolver treats it as a failed hook
// (uniter/resolver.go nextOpHookError), an action can run meanwhile (actions/resolver.go
// NextOp), and start waits for the hook (reboot/resolver.go NextOp).
func TestPodKillMidHookRestoresTheHookOnTheNewPod(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	old := a0.Address()
	// On the old pod the hook reads the relation, so it makes a tool call to die at.
	script(t, a0, `[ "$JUJU_HOOK_NAME" = db-relation-changed ] && relation-get -r db:2 - b/0 >/dev/null; true`)
	s.InjectPodKill("a/0", "db-relation-changed", 1)
	// The action's own settle runs a/0's relation-changed, which takes the pod down.
	b0.RunAction("run", map[string]any{"cmd": "relation-set -r backend:2 k=v"})
	if err := settleErr(s); err == nil || !strings.Contains(err.Error(), `a/0 (hook failed: "db-relation-changed")`) {
		t.Fatalf("want a/0 in error on the new pod, got %v", err)
	}
	if a0.Address() == old {
		t.Error("the new pod kept the old address")
	}
	eq(t, "fresh charm dir", readFile(t, a0, "events.log"), "")
	res, _ := a0.RunAction("echo", map[string]any{"message": "hi"})
	if res == nil || res.Status != "completed" {
		t.Fatalf("an action must run on a unit in hook error: %+v", res)
	}
	if err := a0.Resolve(true); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "first events on the new pod", firstEvents(t, a0, 4), []string{"action:echo", "db-relation-changed", "start", "config-changed"})
	if ev := readFile(t, a0, "events.log"); strings.Contains(ev, "upgrade-charm") || strings.Contains(ev, "stop ") {
		t.Errorf("a killed pod runs no stop and its successor no upgrade-charm:\n%s", ev)
	}
	eq(t, "agent", a0.AgentStatus().String(), "idle")
}

// Juju's reboot resolver (reboot/resolver.go) puts start before pebble-ready on the new pod; the
// new pod's containers are fresh (new Pebble, new boot id, empty filesystem) and their hosts file
// maps the unit's FQDN to its new address.
func TestChurnPodFreshContainersAndHosts(t *testing.T) {
	s := newContainerSim(t)
	m := addModel(t, s, "m")
	if _, err := m.Deploy("a", containerCharm(t), &sim.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0 := unit(t, m, "a/0")
	if _, _, err := a0.Container("workload").Exec(10*time.Second, "sh", "-c", "echo x > /var/lib/left-behind"); err != nil {
		t.Fatal(err)
	}
	n := len(a0.HookNames())
	a0.ChurnPod()
	settle(t, s)
	eq(t, "churn", hooksSince(a0, n), []string{"stop", "upgrade-charm", "config-changed", "start", "workload-pebble-ready"})
	out, _, err := a0.Container("workload").Exec(10*time.Second, "sh", "-c", "cat /var/lib/left-behind 2>/dev/null; getent hosts "+a0.FQDN())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "x\n") || !strings.HasPrefix(strings.TrimSpace(out), a0.Address()+" ") {
		t.Errorf("workload container after churn: %q (want no left-behind file, FQDN -> %s)", out, a0.Address())
	}
}
