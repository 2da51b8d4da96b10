package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// requestCacheDir is where the leader keeps the certificates relations' remote databags (charm/requests.go).
const requestCacheDir = ".tls-authority-requests"

// TestProviderRequestCache follows the leader's request cache through what can make it wrong: requests that
// arrive, change and leave while the authority is blocked, a scale-down, leadership moving away and back, and a
// hook killed after the cache was written. At every step the cache must equal the relation data, and a hook that
// signs for relations it did not just hear about must read no requirer databag.
func TestProviderRequestCache(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 2, nil)
	a := deployRequirer(t, m, "a", 3)
	deployRequirer(t, m, "b", 2)
	ra := integrate(t, m, "a:certificates", "tls-authority:certificates")
	rb := integrate(t, m, "b:certificates", "tls-authority:certificates")
	rels := []*sim.Relation{ra, rb}
	settle(t, s)
	leader := authority.Leader()
	checkRequestCache(t, "deployed", leader, rels)

	// Blocked: requests arrive, one is replaced, a unit leaves, another comes.
	if err := authority.SetConfig(map[string]any{"certificate-validity": "x"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	csrs := map[string]string{}
	for _, u := range []string{"a/0", "a/1", "a/2"} {
		csrs[u] = newCSR(t, ecKey(t), strings.ReplaceAll(u, "/", "-")+".example.com")
		publishCSRs(t, m.Unit(u), false, req(csrs[u], false))
	}
	csrs["b"] = newCSR(t, ecKey(t), "b.example.com")
	publishCSRs(t, m.Unit("b/0"), true, req(csrs["b"], false))
	csrs["a/1"] = newCSR(t, ecKey(t), "a-1-renewed.example.com")
	publishCSRs(t, m.Unit("a/1"), false, req(csrs["a/1"], false))
	settle(t, s)
	if err := a.Scale(2); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if err := a.Scale(3); err != nil { // a/3: a new unit, not a/2 again
		t.Fatal(err)
	}
	settle(t, s)
	csrs["a/3"] = newCSR(t, ecKey(t), "a-3.example.com")
	publishCSRs(t, m.Unit("a/3"), false, req(csrs["a/3"], false))
	settle(t, s)
	delete(csrs, "a/2")
	checkRequestCache(t, "blocked", leader, rels)

	// Unblocked: config-changed signs everything from the cache, reading only the peer databag.
	before := len(leader.Hooks())
	if err := authority.SetConfig(map[string]any{"certificate-validity": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	hook := findHook(t, leader, before, "config-changed")
	if hook.ToolCalls["relation-get"] != 1 || hook.ToolCalls["relation-list"] != 0 {
		t.Errorf("config-changed read requirer databags: %v", hook.ToolCalls)
	}
	checkAll(t, authority, rels, sentOf(ra, rb, csrs))
	checkRequestCache(t, "unblocked", leader, rels)

	// Leadership moves: the old leader drops its cache (it will not see the next changes), the new one reads cold.
	other := m.Unit("tls-authority/1")
	if err := m.SetLeader(other.Name()); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if _, err := os.Stat(filepath.Join(leader.CharmDir(), requestCacheDir)); !os.IsNotExist(err) {
		t.Errorf("a non-leader kept its request cache (stat: %v)", err)
	}
	csrs["a/0"] = newCSR(t, ecKey(t), "a-0-renewed.example.com")
	publishCSRs(t, m.Unit("a/0"), false, req(csrs["a/0"], false))
	settle(t, s)
	checkAll(t, authority, rels, sentOf(ra, rb, csrs))
	checkRequestCache(t, "new leader", other, rels)

	// Back to the first unit, which missed a/0's change while it was not the leader.
	if err := m.SetLeader(leader.Name()); err != nil {
		t.Fatal(err)
	}
	csrs["a/3"] = newCSR(t, ecKey(t), "a-3-renewed.example.com")
	publishCSRs(t, m.Unit("a/3"), false, req(csrs["a/3"], false))
	settle(t, s)
	checkAll(t, authority, rels, sentOf(ra, rb, csrs))
	checkRequestCache(t, "leader again", leader, rels)

	// A relation-changed hook killed after it read and cached the new CSR: its writes are dropped, the retry
	// finds the cache already up to date and must still sign.
	s.InjectFailure(leader.Name(), "certificates-relation-changed", 3)
	csrs["a/1"] = newCSR(t, ecKey(t), "a-1-again.example.com")
	publishCSRs(t, m.Unit("a/1"), false, req(csrs["a/1"], false))
	settle(t, s)
	killed := 0
	for _, h := range leader.Hooks() {
		if h.Killed {
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("%d hooks killed, want the one injected", killed)
	}
	caPEM := caOf(t, authority)
	caFile := writeTemp(t, "ca.pem", caPEM)
	for _, s := range sentOf(ra, rb, csrs) {
		certs, _, _ := issuedBag(t, s.rel, authority.Name())
		checkIssued(t, certs, s.csr, false, caPEM, caFile)
	}
	checkRequestCache(t, "after a killed hook", leader, rels)

	// The signing hook killed half way, after its first relation-set: its writes are dropped, the rerun signs
	// again from the same cache and the digests in the peer databag match what the databags hold.
	if err := authority.SetConfig(map[string]any{"certificate-validity": "x"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	csrs["a/0"] = newCSR(t, ecKey(t), "a-0-third.example.com")
	publishCSRs(t, m.Unit("a/0"), false, req(csrs["a/0"], false))
	csrs["b"] = newCSR(t, ecKey(t), "b-renewed.example.com")
	publishCSRs(t, m.Unit("b/0"), true, req(csrs["b"], false))
	settle(t, s)
	before = len(leader.Hooks())
	s.InjectFailureAfterTool(leader.Name(), "config-changed", "relation-set", 1)
	if err := authority.SetConfig(map[string]any{"certificate-validity": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var runs []sim.HookRecord
	for _, h := range leader.Hooks()[before:] {
		if h.Name == "config-changed" {
			runs = append(runs, h)
		}
	}
	if len(runs) != 2 || !runs[0].Killed || runs[0].ToolCalls["relation-set"] == 0 || runs[1].ExitCode != 0 {
		t.Fatalf("want a config-changed killed after a relation-set, then one that succeeds; got %+v", runs)
	}
	caPEM = caOf(t, authority)
	for _, s := range sentOf(ra, rb, csrs) {
		certs, _, _ := issuedBag(t, s.rel, authority.Name())
		checkIssued(t, certs, s.csr, false, caPEM, caFile)
	}
	checkWrittenDigests(t, s, m, authority, rels)
	checkRequestCache(t, "after a killed signing hook", leader, rels)

	// A relation removed: its file goes, and so do its refusals from the counts.
	if err := authority.SetConfig(map[string]any{"allow-wildcards": false}); err != nil {
		t.Fatal(err)
	}
	publishCSRs(t, m.Unit("b/0"), true, req(csrs["b"], false), req(newCSR(t, ecKey(t), "*.b.example.com", "*.b.example.com"), false))
	settle(t, s)
	if msg := leader.Status().Message; !strings.Contains(msg, "refused 1") {
		t.Fatalf("a wildcard request with allow-wildcards false: status %q, want refused 1", msg)
	}
	if err := m.RemoveRelation(rb); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if msg := leader.Status().Message; strings.Contains(msg, "refused") {
		t.Errorf("after the relation went: status %q still counts its refusals", msg)
	}
	if _, err := os.Stat(requestCacheFile(leader, rb)); !os.IsNotExist(err) {
		t.Errorf("the removed relation's cache file is still there (stat: %v)", err)
	}
	checkRequestCache(t, "relation removed", leader, []*sim.Relation{ra})
}

func sentOf(ra, rb *sim.Relation, csrs map[string]string) []sent {
	var out []sent
	for from, csr := range csrs {
		r := ra
		if from == "b" {
			r = rb
		}
		out = append(out, sent{rel: r, csr: csr, from: from})
	}
	return out
}

func findHook(t *testing.T, u *sim.Unit, from int, name string) sim.HookRecord {
	t.Helper()
	for _, h := range u.Hooks()[from:] {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("%s ran no %s", u.Name(), name)
	return sim.HookRecord{}
}

func requestCacheFile(u *sim.Unit, r *sim.Relation) string {
	return filepath.Join(u.CharmDir(), requestCacheDir, fmt.Sprintf("certificates-%d.json", r.ID()))
}

// checkRequestCache compares the leader's cache file of each relation with the relation's committed data: the
// same remote units, each with its databag, and the remote app's databag.
func checkRequestCache(t *testing.T, step string, leader *sim.Unit, rels []*sim.Relation) {
	t.Helper()
	for _, r := range rels {
		data, err := os.ReadFile(requestCacheFile(leader, r))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var got struct {
			App    string                       `json:"app"`
			Units  map[string]map[string]string `json:"units"`
			AppBag map[string]string            `json:"app-bag"`
		}
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: cache file: %v", step, err)
		}
		remote := strings.Split(r.Endpoints()[0], ":")[0]
		if got.App != remote {
			t.Errorf("%s: %v: cached app %q, want %q", step, r.Endpoints(), got.App, remote)
		}
		want := leader.RelationMembers(r)
		for _, u := range want {
			if bag := r.UnitData(u); !maps.Equal(got.Units[u], bag) && len(bag)+len(got.Units[u]) > 0 {
				t.Errorf("%s: %s: cached %v, relation has %v", step, u, got.Units[u], bag)
			}
		}
		if cached := slices.Sorted(maps.Keys(got.Units)); !slices.Equal(cached, want) {
			t.Errorf("%s: %v: cached units %v, in scope %v", step, r.Endpoints(), cached, want)
		}
		if bag := r.AppData(remote); !maps.Equal(got.AppBag, bag) && len(bag)+len(got.AppBag) > 0 {
			t.Errorf("%s: %v: cached app bag %v, relation has %v", step, r.Endpoints(), got.AppBag, bag)
		}
	}
}

// checkWrittenDigests checks that the provider's record of each relation's databag digest (peer key "written")
// names every relation, and that a full scan then finds nothing to write: the killed hook left no trace.
func checkWrittenDigests(t *testing.T, s *sim.Sim, m *sim.Model, authority *sim.App, rels []*sim.Relation) {
	t.Helper()
	var peer *sim.Relation
	for _, r := range m.Relations() {
		if e := r.Endpoints(); len(e) == 1 && e[0] == authority.Name()+":authority" {
			peer = r
		}
	}
	if peer == nil {
		t.Fatal("no peer relation")
	}
	var written map[string]string
	if err := json.Unmarshal([]byte(peer.AppData(authority.Name())["written"]), &written); err != nil {
		t.Fatalf("peer key written: %v", err)
	}
	for _, r := range rels {
		if written[fmt.Sprintf("certificates:%d", r.ID())] == "" {
			t.Errorf("no digest for %v in %v", r.Endpoints(), written)
		}
	}
	leader := authority.Leader()
	before := len(leader.Hooks())
	if err := authority.SetConfig(map[string]any{"certificate-limit": 50}); err != nil { // a full scan
		t.Fatal(err)
	}
	settle(t, s)
	if h := findHook(t, leader, before, "config-changed"); h.ToolCalls["relation-set"] > 1 {
		t.Errorf("a full scan after the rerun wrote %d databags: %v", h.ToolCalls["relation-set"], h.ToolCalls)
	}
}
