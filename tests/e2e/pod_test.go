package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// podWorld is one model holding a two-unit authority and a one-unit requirer; TestPodRecreation builds two, runs
// the same steps in both and re-creates pods in one of them only.
type podWorld struct {
	name string
	m    *sim.Model
	auth *sim.App
	req  *sim.App
	rel  *sim.Relation
	peer *sim.Relation
}

func newPodWorld(t *testing.T, s *sim.Sim, name string) *podWorld {
	t.Helper()
	m, err := s.AddModel(name)
	if err != nil {
		t.Fatal(err)
	}
	w := &podWorld{name: name, m: m}
	w.auth = deployAuthority(t, m, "tls-authority", 2, nil)
	w.req = deployRequirer(t, m, "req", 1)
	w.rel = integrate(t, m, "req:certificates", "tls-authority:certificates")
	for _, r := range m.Relations() {
		if slices.Equal(r.Endpoints(), []string{"tls-authority:authority"}) {
			w.peer = r
		}
	}
	if w.peer == nil {
		t.Fatalf("%s: no peer relation", name)
	}
	return w
}

func (w *podWorld) units(t *testing.T) (leader, other *sim.Unit) {
	t.Helper()
	for _, u := range w.auth.Units() {
		if u.IsLeader() {
			leader = u
		} else {
			other = u
		}
	}
	if leader == nil || other == nil {
		t.Fatalf("%s: want a leader and a non-leader", w.name)
	}
	return leader, other
}

// publishCSR sets the requirer's one CSR. Its action's settle may leave a unit in error (a pod killed under a
// hook), so only the action's own outcome is checked.
func (w *podWorld) publishCSR(t *testing.T, csr string) {
	t.Helper()
	data, _ := json.Marshal(map[string]string{tlscertificates.KeyCSRs: tlscertificates.WriteRequests([]tlscertificates.CSRRequest{req(csr, false)})})
	res, _ := w.req.Units()[0].RunAction("publish", map[string]any{"data": string(data), "app": false})
	if res == nil || res.Status != "completed" {
		t.Fatalf("%s: publish: %+v", w.name, res)
	}
}

// charmFiles lists what the charm wrote in its charm dir (its caches).
func charmFiles(t *testing.T, u *sim.Unit) []string {
	t.Helper()
	ents, err := os.ReadDir(u.CharmDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tls-authority") {
			out = append(out, e.Name())
		}
	}
	return out
}

// checkNewPod checks a re-created pod: a new address and a charm dir without anything the old pod's charm wrote.
func checkNewPod(t *testing.T, step string, u *sim.Unit, oldAddr string) {
	t.Helper()
	if u.Address() == oldAddr {
		t.Errorf("%s: %s kept its address %s on the new pod", step, u.Name(), oldAddr)
	}
	if f := charmFiles(t, u); len(f) > 0 {
		t.Errorf("%s: %s's new charm dir holds %v", step, u.Name(), f)
	}
}

// firstAfterKill returns the first run (hook or action) of u after its last killed one: the first to meet the new
// pod's fresh charm dir.
func firstAfterKill(t *testing.T, u *sim.Unit) sim.HookRecord {
	t.Helper()
	hs := u.Hooks()
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Killed {
			if i+1 == len(hs) {
				t.Fatalf("%s: nothing ran after the kill", u.Name())
			}
			return hs[i+1]
		}
	}
	t.Fatalf("%s: no killed run", u.Name())
	return sim.HookRecord{}
}

func resolveAll(t *testing.T, us ...*sim.Unit) {
	t.Helper()
	for _, u := range us {
		if err := u.Resolve(true); err != nil {
			t.Fatal(err)
		}
	}
}

func settleErrOf(s *sim.Sim) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return s.Settle(ctx)
}

// podView is what must not depend on pods coming and going, with what is random (keys, serials, dates of
// issue, addresses) taken out.
type podView struct {
	CSRs     []string          // answered CSRs, sorted
	Errors   int               // request errors in the provider databag
	PeerKeys []string          // keys of the peer app databag
	Peer     map[string]string // peer values that carry no key material or time: counts, pending, refused
	Inv      int               // inventory entries
	Statuses []string          // unit and app statuses
	Agent    []string          // per unit: "bundle ok" / "crl ok"
}

func viewOf(t *testing.T, step string, w *podWorld) podView {
	t.Helper()
	caPEM := caOf(t, w.auth)
	caFile := writeTemp(t, w.name+"-ca.pem", caPEM)
	certs, errs, _ := issuedBag(t, w.rel, "tls-authority")
	var v podView
	for _, c := range certs {
		checkIssued(t, certs, c.CSR, false, caPEM, caFile)
		v.CSRs = append(v.CSRs, c.CSR)
	}
	slices.Sort(v.CSRs)
	v.Errors = len(errs)
	peer := w.peer.AppData("tls-authority")
	v.Peer = map[string]string{}
	for k, val := range peer {
		v.PeerKeys = append(v.PeerKeys, k)
		switch k {
		case "counts", "pending", "refused":
			v.Peer[k] = val
		}
	}
	slices.Sort(v.PeerKeys)
	// The inventory is kept per relation: inventory-<relation number>.
	for k, val := range peer {
		if !strings.HasPrefix(k, "inventory-") {
			continue
		}
		var inv []json.RawMessage
		if err := json.Unmarshal([]byte(val), &inv); err != nil {
			t.Fatalf("%s %s: %s: %v", step, w.name, k, err)
		}
		v.Inv += len(inv)
	}
	units := w.auth.Units()
	for _, u := range units {
		v.Statuses = append(v.Statuses, u.Status().String(), u.AgentStatus().String())
		// The agent answers at the unit's current address; the requirer sees the application's service address in
		// the unit's databag (Kubernetes), which a new pod does not change.
		bundle := strings.TrimSpace(string(httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address()))))
		crl := string(httpGet(t, fmt.Sprintf("http://%s:8080/crl.pem", u.Address())))
		v.Agent = append(v.Agent, fmt.Sprintf("bundle=%v crl=%v", bundle == strings.TrimSpace(caPEM), strings.Contains(crl, "BEGIN X509 CRL")))
		bag := w.rel.UnitData(u.Name())
		if svc := w.auth.ServiceAddress(); bag["ingress-address"] != svc || bag["private-address"] != svc {
			t.Errorf("%s %s: %s's certificates databag has addresses %q/%q, the service is at %s", step, w.name, u.Name(), bag["ingress-address"], bag["private-address"], svc)
		}
	}
	v.Statuses = append(v.Statuses, w.auth.Status().String())
	return v
}

func compareWorlds(t *testing.T, step string, pods, ctl *podWorld) {
	t.Helper()
	noFailedHooksExceptKills(t, pods.auth)
	noFailedHooks(t, ctl.auth)
	got, want := viewOf(t, step, pods), viewOf(t, step, ctl)
	g, _ := json.MarshalIndent(got, "", " ")
	wnt, _ := json.MarshalIndent(want, "", " ")
	if string(g) != string(wnt) {
		t.Fatalf("%s: the re-created pods end elsewhere than the control:\n got %s\nwant %s", step, g, wnt)
	}
}

// noFailedHooksExceptKills is noFailedHooks for units whose pods were killed under a hook on purpose.
func noFailedHooksExceptKills(t *testing.T, app *sim.App) {
	t.Helper()
	for _, u := range app.Units() {
		for _, h := range u.Hooks() {
			if h.ExitCode != 0 && !h.Killed {
				t.Errorf("%s: %s %s exited %d: %s", u.Name(), h.Kind, h.Name, h.ExitCode, h.Stderr)
			}
		}
		if st := u.AgentStatus(); st.Status == "error" {
			t.Errorf("%s agent status %v", u.Name(), st)
		}
	}
}

// TestPodRecreation re-creates the authority's pods at the moments that test its caches: the charm dir of a new
// pod is fresh (no request cache, peer id, status or received-CAs file) and the pod has a new address. Juju
// (resolver/loop.go checkCharmInstallUpgrade, operation/deploy.go) makes upgrade-charm the first hook of a pod
// deleted gracefully; a pod killed under a hook gets that hook back first, after any action queued meanwhile
// (operation/deploy.go interruptedHook, actions/resolver.go). So the first hook to meet the fresh charm dir is in
// turn a certificates relation-changed (a requirer changed its CSR while the pod was away), an action
// (get-issued-certificates), a secret hook, then upgrade-charm after ChurnPod and refresh. After each step the
// databags, peer data, statuses and the agents' bundle and CRL equal those of a control model that ran the same
// steps without losing a pod, and each agent answers at its unit's new address.
//
// secret-changed cannot be one of them: Juju runs it for consumers of a secret and for non-leader units that read
// their application's secret, and the authority consumes no secret and reads the CA secret on the leader only
// (the owner gets no secret-changed). The secret hook is secret-rotate, which Juju runs on the owner's leader.
func TestPodRecreation(t *testing.T) {
	s := newSim(t)
	pods, ctl := newPodWorld(t, s, "pods"), newPodWorld(t, s, "ctl")
	settle(t, s)
	csr1 := newCSR(t, ecKey(t), "req-0.example.com", "req-0.example.com")
	pods.publishCSR(t, csr1)
	ctl.publishCSR(t, csr1)
	settle(t, s)
	compareWorlds(t, "deployed", pods, ctl)

	// 1. Both authority pods die under the relation-changed of a new CSR.
	leader, other := pods.units(t)
	oldL, oldO := leader.Address(), other.Address()
	s.InjectPodKill(leader.Name(), "certificates-relation-changed", 1)
	s.InjectPodKill(other.Name(), "certificates-relation-changed", 1)
	csr2 := newCSR(t, ecKey(t), "req-0-renewed.example.com", "req-0-renewed.example.com")
	pods.publishCSR(t, csr2)
	if err := settleErrOf(s); err == nil || !strings.Contains(err.Error(), `hook failed: "certificates-relation-changed"`) {
		t.Fatalf("want both units in error on their new pods, got %v", err)
	}
	checkNewPod(t, "relation-changed", leader, oldL)
	checkNewPod(t, "relation-changed", other, oldO)
	resolveAll(t, leader, other)
	settle(t, s)
	ctl.publishCSR(t, csr2)
	settle(t, s)
	for _, u := range []*sim.Unit{leader, other} {
		if got := firstAfterKill(t, u); got.Kind != "hook" || got.Name != "certificates-relation-changed" {
			t.Errorf("%s: first on the new pod: %s %s", u.Name(), got.Kind, got.Name)
		}
	}
	// The start and config-changed that follow would repair a hook that trusted a missing cache: the relation-changed
	// itself, on the empty charm dir, must sign the new CSR and record it (relation-set on the provider and the peer databags) and set the status.
	if got := firstAfterKill(t, leader); got.ToolCalls["relation-set"] != 2 || got.ToolCalls["status-set"] != 1 {
		t.Errorf("the leader's first hook on the new pod did not sign and set its status: %v", got.ToolCalls)
	}
	compareWorlds(t, "relation-changed first", pods, ctl)

	// 2. The leader's pod dies under update-status; an action comes before the retried hook.
	oldL = leader.Address()
	s.InjectPodKill(leader.Name(), "update-status", 1)
	s.UpdateStatus()
	if err := settleErrOf(s); err == nil {
		t.Fatal("want the leader in error on its new pod")
	}
	checkNewPod(t, "action", leader, oldL)
	res, _ := leader.RunAction("get-issued-certificates", nil)
	if res == nil || res.Status != "completed" {
		t.Fatalf("get-issued-certificates on the new pod: %+v", res)
	}
	if got := firstAfterKill(t, leader); got.Kind != "action" || got.Name != "get-issued-certificates" {
		t.Errorf("first on the new pod: %s %s", got.Kind, got.Name)
	}
	resolveAll(t, leader)
	settle(t, s)
	want := action(t, ctl.auth.Leader(), "get-issued-certificates", nil)
	if g, w := issuedCSRs(t, res), issuedCSRs(t, want); !slices.Equal(g, w) {
		t.Errorf("get-issued-certificates on the new pod: %v, control %v", g, w)
	}
	compareWorlds(t, "action first", pods, ctl)

	// 3. The leader's pod dies under secret-rotate of the CA secret.
	oldL = leader.Address()
	s.InjectPodKill(leader.Name(), "secret-rotate", 1)
	for _, w := range []*podWorld{pods, ctl} {
		if err := s.RotateSecret(w.peer.AppData("tls-authority")["ca-secret"]); err != nil {
			t.Fatal(err)
		}
	}
	if err := settleErrOf(s); err == nil || !strings.Contains(err.Error(), `hook failed: "secret-rotate"`) {
		t.Fatalf("want the leader in error on its new pod, got %v", err)
	}
	checkNewPod(t, "secret hook", leader, oldL)
	resolveAll(t, leader)
	settle(t, s)
	if got := firstAfterKill(t, leader); got.Kind != "hook" || got.Name != "secret-rotate" {
		t.Errorf("first on the new pod: %s %s", got.Kind, got.Name)
	}
	compareWorlds(t, "secret hook first", pods, ctl)

	// 4. Graceful: both pods deleted, then a refresh replaces every pod.
	for _, step := range []string{"churn", "refresh"} {
		oldL, oldO = leader.Address(), other.Address()
		nl, no := len(leader.HookNames()), len(other.HookNames())
		if step == "churn" {
			leader.ChurnPod()
			other.ChurnPod()
		} else {
			charm, err := artifacts.Charm()
			if err != nil {
				t.Fatal(err)
			}
			if err := pods.auth.Refresh(charm); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, s)
		for _, c := range []struct {
			u    *sim.Unit
			n    int
			addr string
		}{{leader, nl, oldL}, {other, no, oldO}} {
			if got := c.u.HookNames()[c.n:]; len(got) < 4 || !slices.Equal(got[:4], []string{"stop", "upgrade-charm", "config-changed", "start"}) {
				t.Errorf("%s %s: hooks %v", step, c.u.Name(), got)
			}
			if c.u.Address() == c.addr {
				t.Errorf("%s: %s kept its address", step, c.u.Name())
			}
			// Nothing answers at the old pod's address any more.
			if conn, err := net.DialTimeout("tcp", c.addr+":8080", time.Second); err == nil {
				conn.Close()
				t.Errorf("%s: %s's old address still answers", step, c.u.Name())
			}
		}
		compareWorlds(t, step, pods, ctl)
	}
}

// issuedCSRs lists the CSRs get-issued-certificates returned, sorted.
func issuedCSRs(t *testing.T, res *sim.ActionResult) []string {
	t.Helper()
	var out []struct {
		CSR string `json:"csr"`
	}
	s, _ := res.Results["certificates"].(string)
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("get-issued-certificates: %v: %q", err, s)
	}
	var csrs []string
	for _, c := range out {
		csrs = append(csrs, c.CSR)
	}
	slices.Sort(csrs)
	return csrs
}
