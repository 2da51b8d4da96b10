package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
	"github.com/tls-authority/tls-authority/interfaces/grafanadashboard"
	"github.com/tls-authority/tls-authority/interfaces/prometheusscrape"
)

// relRunner is a small Juju for relation-ids, relation-get and relation-set, counting calls by tool.
type relRunner struct {
	mu    sync.Mutex
	ids   map[string][]string          // endpoint -> relation ids
	bags  map[string]map[string]string // "<id>/<unit or app>" -> databag
	calls map[string]int
}

func (f *relRunner) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[tool]++
	var id string
	app := slices.Contains(args, "--app")
	for i, a := range args {
		if a == "-r" && i+1 < len(args) {
			id = args[i+1]
		}
	}
	switch tool {
	case "relation-ids":
		return json.Marshal(f.ids[args[0]])
	case "relation-get":
		name := args[len(args)-2] // ... - <name> --format=json
		return json.Marshal(f.bags[id+"/"+name])
	case "relation-set":
		data, err := hooktooltest.RelationSetData(args, stdin)
		if err != nil {
			return nil, err
		}
		name := "tls-authority/0"
		if app {
			name = "tls-authority"
		}
		key := id + "/" + name
		setBag(f.bags, key, data)
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// TestPublishObservability: a full-scan hook writes the metrics-endpoint and grafana-dashboard databags as COS.md
// says; the same hook again, a steady hook and a relation hook with nothing new write nothing, and a steady hook
// makes no call at all.
func TestPublishObservability(t *testing.T) {
	run := &relRunner{
		ids: map[string][]string{MetricsEndpoint: {"metrics-endpoint:7"}, DashboardEndpoint: {"grafana-dashboard:8"}},
		bags: map[string]map[string]string{
			// Kubernetes: the ingress address is the application's service address, not the pod's.
			"metrics-endpoint:7/tls-authority/0": {"ingress-address": "10.152.183.7", "private-address": "10.152.183.7"},
		},
		calls: map[string]int{},
	}
	podAddr := "10.1.2.3"
	podIPOf = func(string) net.IP { return net.ParseIP(podAddr) }
	t.Cleanup(func() { podIPOf = podIP })
	peer := map[string]string{}
	pub := testPublished(t, "CA one")
	hook := func(name, relation, relID string, leader bool) map[string]int {
		t.Helper()
		run.calls = map[string]int{}
		env := hooktool.Env{UnitName: "tls-authority/0", ModelName: "cos", ModelUUID: "12345678-90ab-4def-8123-456789abcdef",
			HookName: name, RelationName: relation, RelationID: relID, CharmDir: repoRoot(t)}
		r := &reconciler{hc: hooktool.New(env, run), leader: leader, peerID: "authority:1", peer: maps.Clone(peer)}
		if err := r.publishObservability(pub); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		maps.Copy(peer, r.peer)
		return run.calls
	}
	calls := hook("upgrade-charm", "", "", true)
	if calls["relation-set"] != 3 {
		t.Errorf("upgrade-charm: %v, want 3 relation-set (unit, metrics app, dashboard app)", calls)
	}
	// The unit databag.
	unit := run.bags["metrics-endpoint:7/tls-authority/0"]
	u, ok := prometheusscrape.ReadUnitBag(unit)
	if !ok || u.Address != "10.1.2.3" || u.Name != "tls-authority/0" || u.Path != "" ||
		u.FQDN != "tls-authority-0.tls-authority-endpoints.cos.svc.cluster.local" {
		t.Errorf("unit databag %v", unit)
	}
	// The metrics app databag: what a consumer reads.
	meta, jobs, rules, err := prometheusscrape.ReadAppBag(run.bags["metrics-endpoint:7/tls-authority"])
	if err != nil {
		t.Fatal(err)
	}
	if meta == nil || meta.CharmName != "tls-authority" || meta.Unit != "tls-authority/0" || meta.Application != "tls-authority" {
		t.Errorf("scrape_metadata %+v", meta)
	}
	if got := prometheusscrape.ScrapeConfigs(meta, jobs, []prometheusscrape.UnitBag{u}); len(got) != 1 ||
		got[0]["job_name"] != "juju_cos_12345678_tls-authority_prometheus_scrape_agent-0" ||
		fmt.Sprint(got[0]["static_configs"].([]any)[0].(map[string]any)["targets"]) != "[10.1.2.3:8443]" ||
		got[0]["scheme"] != "https" || got[0]["tls_config"].(map[string]any)["ca_file"] != pub.CA+"\n" {
		t.Errorf("expanded jobs %v", got)
	}
	var alerts []string
	for _, g := range rules.Groups {
		if g.Name != "cos_12345678_tls_authority_tls_authority_rules" {
			t.Errorf("group %q", g.Name)
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r["alert"].(string))
			l := r["labels"].(map[string]any)
			if l["juju_model"] != "cos" || l["juju_model_uuid"] != meta.ModelUUID || l["juju_application"] != "tls-authority" || l["juju_charm"] != "tls-authority" {
				t.Errorf("rule %s labels %v", r["alert"], l)
			}
		}
	}
	if got := strings.Join(alerts, " "); got != "TLSAuthorityCAExpiringSoon TLSAuthorityCertificateNotRenewed TLSAuthorityRequestsOutstanding TLSAuthorityCRLStale TLSAuthorityAgentDown" {
		t.Errorf("alerts %s", got)
	}
	// The dashboard: base64, xz, JSON with uid, version, title and the charm tag.
	dashBag, err := grafanadashboard.ReadAppBag(run.bags["grafana-dashboard:8/tls-authority"])
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ok := dashBag.Templates["file:tls-authority"]
	if !ok || tmpl.Charm != "tls-authority" || !tmpl.InjectDropdowns || tmpl.AltUID != grafanadashboard.AltUID("tls-authority", "file:tls-authority") ||
		tmpl.JujuTopology == nil || tmpl.JujuTopology.Unit != "tls-authority/0" || dashBag.UUID == "" {
		t.Fatalf("dashboards %+v", dashBag)
	}
	d, err := grafanadashboard.DecodeTemplate(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != grafanadashboard.UID("tls-authority", "src/grafana_dashboards/tls-authority.json") || d.Title != "TLS Authority" ||
		d.Version < 1 || !slices.Contains(d.Tags, "charm: tls-authority") {
		t.Errorf("dashboard uid %s title %q version %d tags %v", d.UID, d.Title, d.Version, d.Tags)
	}
	uuid := dashBag.UUID

	if calls := hook("upgrade-charm", "", "", true); calls["relation-set"] != 0 {
		t.Errorf("upgrade-charm again: %v, want no relation-set", calls)
	}
	if calls := hook("update-status", "", "", true); len(calls) != 0 {
		t.Errorf("update-status: %v, want no call", calls)
	}
	// The CA changes (a rotation) in a hook that is no full scan: the leader publishes the new bundle at once, a
	// non-leader makes no call, and the next steady hook none either.
	pub = testPublished(t, "CA two")
	if calls := hook("update-status", "", "", false); len(calls) != 0 {
		t.Errorf("update-status on a non-leader after a CA change: %v, want no call", calls)
	}
	if calls := hook("update-status", "", "", true); calls["relation-set"] != 1 {
		t.Errorf("update-status on the leader after a CA change: %v, want the metrics app databag written", calls)
	}
	if _, jobs, _, _ := prometheusscrape.ReadAppBag(run.bags["metrics-endpoint:7/tls-authority"]); len(jobs) != 1 ||
		jobs[0]["tls_config"].(map[string]any)["ca_file"] != pub.CA+"\n" {
		t.Errorf("jobs after the CA change: %v", jobs)
	}
	if calls := hook("update-status", "", "", true); len(calls) != 0 {
		t.Errorf("update-status after the CA change was published: %v, want no call", calls)
	}
	if calls := hook("metrics-endpoint-relation-changed", MetricsEndpoint, "metrics-endpoint:7", false); calls["relation-set"] != 0 || calls["relation-get"] != 1 {
		t.Errorf("relation-changed on a non-leader: %v, want one read of its own databag", calls)
	}
	// A new pod: another address, written by the config-changed Juju runs for it; the app bags stay.
	podAddr = "10.9.9.9"
	if calls := hook("config-changed", "", "", true); calls["relation-set"] != 1 {
		t.Errorf("config-changed after an address change: %v, want one relation-set", calls)
	}
	if got := run.bags["metrics-endpoint:7/tls-authority/0"][prometheusscrape.KeyUnitAddress]; got != "10.9.9.9" {
		t.Errorf("address %s", got)
	}
	// Leadership moves: scrape_metadata names the new leader; the dashboard's topology too, with a new uuid.
	run.calls = map[string]int{}
	env := hooktool.Env{UnitName: "tls-authority/1", ModelName: "cos", ModelUUID: "12345678-90ab-4def-8123-456789abcdef",
		HookName: "leader-elected", CharmDir: repoRoot(t)}
	r := &reconciler{hc: hooktool.New(env, run), leader: true, peerID: "authority:1", peer: maps.Clone(peer)}
	if err := r.publishObservability(pub); err != nil {
		t.Fatal(err)
	}
	if meta, _, _, _ := prometheusscrape.ReadAppBag(run.bags["metrics-endpoint:7/tls-authority"]); meta.Unit != "tls-authority/1" {
		t.Errorf("scrape_metadata after a leader change: %+v", meta)
	}
	if b, _ := grafanadashboard.ReadAppBag(run.bags["grafana-dashboard:8/tls-authority"]); b.UUID == uuid {
		t.Error("the dashboards' uuid was not renewed")
	}
	// A broken relation's digest is forgotten.
	hook("grafana-dashboard-relation-broken", DashboardEndpoint, "grafana-dashboard:8", true)
	if strings.Contains(peer[peerObserved], "grafana-dashboard:8") {
		t.Errorf("digests after relation-broken: %s", peer[peerObserved])
	}
}

// testPublished is a published self-signed CA.
func testPublished(t *testing.T, cn string) *published {
	t.Helper()
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.NewRoot(key, ca.Subject{CommonName: cn}, 24*time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p := ca.EncodeCertificate(cert)
	return &published{CA: p, Bundle: []string{p}, cert: cert}
}
