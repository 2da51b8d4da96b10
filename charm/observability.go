package charm

// observability.go owns what COS reads of this authority: the metrics-endpoint (prometheus_scrape) and
// grafana-dashboard databags, and the counts file the agent's metrics come from.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tls-authority/tls-authority/interfaces/grafanadashboard"
	"github.com/tls-authority/tls-authority/interfaces/prometheusscrape"
)

// Endpoints COS relates to, and the charm's name as COS labels it.
const (
	MetricsEndpoint   = "metrics-endpoint"
	DashboardEndpoint = "grafana-dashboard"
	CharmName         = "tls-authority"
)

// peerObserved is the digest of each metrics-endpoint and grafana-dashboard application databag as the leader last
// wrote it ({relation id: digest}). Committed with those databags in one hook, it says without a read whether a
// databag needs writing.
const peerObserved = "observed"

// peerObservedCA is the digest of the CA bundle the leader last put in the scrape job's tls_config. The scrape job
// is the one COS databag that changes with the CA (a rotation, an intermediate switch), in hooks that are not
// otherwise full scans; comparing this digest tells such a hook, without a call, to publish the databags again.
const peerObservedCA = "observed-ca"

// MetricsJobName is the scrape job the charm sends; COS names it juju_<model>_<uuid8>_<app>_prometheus_scrape_agent-<n>.
const MetricsJobName = "agent"

// metricsFiles adds what the agent's metrics need besides the inventory: the counts the status line shows.
func (r *reconciler) metricsFiles(files map[string]string) {
	files["counts.json"] = "{}"
	if c := r.peer[peerCounts]; c != "" {
		files["counts.json"] = c
	}
}

// publishObservability keeps the COS databags right. Their content changes only with the topology (model, leader),
// the charm's files (an upgrade), the unit's address (Juju runs config-changed for it), or the CA bundle the scrape
// job trusts, so only full-scan hooks, the hooks of these two endpoints and the leader's hook that changed the CA
// look at them: a steady hook makes no call here.
func (r *reconciler) publishObservability(pub *published) error {
	env := r.hc.Env
	own := env.RelationName == MetricsEndpoint || env.RelationName == DashboardEndpoint
	full := fullScanHooks[env.HookName]
	caDigest := scrapeCADigest(pub)
	if r.leader && r.peerID != "" && r.peer[peerObservedCA] != caDigest {
		full = true
	}
	if !own && !full {
		return nil
	}
	written := map[string]string{}
	if s := r.peer[peerObserved]; s != "" {
		_ = json.Unmarshal([]byte(s), &written) // a digest only saves a write: unreadable means write again
	}
	ids := map[string][]string{}
	if full {
		for _, ep := range []string{MetricsEndpoint, DashboardEndpoint} {
			live, err := r.hc.RelationIDs(ep)
			if err != nil {
				return err
			}
			ids[ep] = live
		}
	}
	if own && !strings.HasSuffix(env.HookName, "-relation-broken") && !slices.Contains(ids[env.RelationName], env.RelationID) {
		ids[env.RelationName] = append(ids[env.RelationName], env.RelationID)
	}
	if own && strings.HasSuffix(env.HookName, "-relation-broken") {
		delete(written, env.RelationID)
	}
	if full {
		all := append(slices.Clone(ids[MetricsEndpoint]), ids[DashboardEndpoint]...)
		maps.DeleteFunc(written, func(id, _ string) bool { return !slices.Contains(all, id) })
	}
	for _, id := range ids[MetricsEndpoint] {
		if err := r.publishUnitScrape(id); err != nil {
			return err
		}
	}
	if r.leader {
		var bags observedBags
		for _, ep := range []string{MetricsEndpoint, DashboardEndpoint} {
			for _, id := range ids[ep] {
				bag, digest, err := bags.get(r, pub, ep)
				if err != nil {
					return err
				}
				if written[id] == digest {
					continue
				}
				if ep == DashboardEndpoint {
					if bag, err = withFreshUUID(bag); err != nil {
						return err
					}
				}
				if err := r.hc.SetAppData(id, bag); err != nil {
					return err
				}
				written[id] = digest
			}
		}
	}
	if r.peerID == "" || !r.leader {
		return nil
	}
	return r.setPeer(map[string]string{peerObserved: jsonOrEmpty(written), peerObservedCA: caDigest})
}

// scrapeCA is the CA bundle a scraper trusts the agents' serving certificates under: every CA this authority
// trusts, so that a unit whose certificate the previous CA of a rotation signed still verifies. "" before the CA.
func scrapeCA(pub *published) string {
	if pub == nil || pub.CA == "" {
		return ""
	}
	return strings.Join(pub.Trust(), "\n") + "\n"
}

func scrapeCADigest(pub *published) string {
	h := sha256.Sum256([]byte(scrapeCA(pub)))
	return hex.EncodeToString(h[:8])
}

// observedBags builds each endpoint's application databag once per hook, and only when a relation needs it.
type observedBags struct {
	metrics, dashboards          map[string]string
	metricsDigest, dashboardsDig string
}

func (b *observedBags) get(r *reconciler, pub *published, ep string) (map[string]string, string, error) {
	var err error
	switch ep {
	case MetricsEndpoint:
		if b.metrics == nil {
			if b.metrics, err = r.scrapeAppBag(pub); err != nil {
				return nil, "", err
			}
			b.metricsDigest = bagDigestOf(b.metrics)
		}
		return b.metrics, b.metricsDigest, nil
	default:
		if b.dashboards == nil {
			if b.dashboards, err = r.dashboardAppBag(); err != nil {
				return nil, "", err
			}
			b.dashboardsDig = bagDigestOf(b.dashboards)
		}
		return b.dashboards, b.dashboardsDig, nil
	}
}

func bagDigestOf(bag map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(bag)) {
		fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(bag[k]), bag[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (r *reconciler) topology() *prometheusscrape.Topology {
	env := r.hc.Env
	return &prometheusscrape.Topology{Model: env.ModelName, ModelUUID: env.ModelUUID, Application: env.AppName(),
		Unit: env.UnitName, CharmName: CharmName}
}

// scrapeAppBag is the leader's metrics-endpoint databag: its topology, one job scraping every unit's agent over
// HTTPS, and the alert rules shipped in the charm. The job's tls_config carries the CA bundle as PEM content in
// ca_file, which prometheus-k8s writes to a file of its own (COS.md); each agent's certificate names its pod IP, the
// address a "*" target becomes, so no server_name is needed.
func (r *reconciler) scrapeAppBag(pub *published) (map[string]string, error) {
	t := r.topology()
	files, err := readCharmFiles(r.hc.Env.CharmDir, prometheusscrape.RulesDir, prometheusscrape.IsRuleFile)
	if err != nil {
		return nil, err
	}
	var rules []prometheusscrape.RuleFile
	for _, f := range files {
		rules = append(rules, prometheusscrape.RuleFile{Path: f.rel, Data: f.data})
	}
	set, err := prometheusscrape.LoadRules(rules, t)
	if err != nil {
		return nil, fmt.Errorf("cannot load the charm's alert rules: %w", err)
	}
	job := prometheusscrape.Job{
		JobName: MetricsJobName, MetricsPath: "/metrics", Scheme: "https",
		StaticConfigs: []prometheusscrape.StaticConfig{{Targets: []string{fmt.Sprintf("*:%d", AgentTLSPort)}}},
	}
	if bundle := scrapeCA(pub); bundle != "" {
		job.TLSConfig = map[string]string{prometheusscrape.TLSCAFile: bundle}
	}
	return prometheusscrape.WriteAppBag(&prometheusscrape.AppBag{Metadata: *t, Rules: set, Jobs: []prometheusscrape.Job{job}})
}

// dashboardAppBag is the leader's grafana-dashboard databag, without its uuid (withFreshUUID), so that its digest
// only changes with its content.
func (r *reconciler) dashboardAppBag() (map[string]string, error) {
	files, err := readCharmFiles(r.hc.Env.CharmDir, grafanadashboard.DashboardsDir, grafanadashboard.IsDashboardFile)
	if err != nil {
		return nil, err
	}
	t := r.topology()
	templates := map[string]grafanadashboard.Template{}
	for _, f := range files {
		rel := path.Join(grafanadashboard.DashboardsDir, f.rel)
		dash, err := grafanadashboard.Prepare(CharmName, rel, f.data)
		if err != nil {
			return nil, err
		}
		content, err := grafanadashboard.EncodeContent(dash)
		if err != nil {
			return nil, err
		}
		id := grafanadashboard.FileID(path.Base(f.rel))
		templates[id] = grafanadashboard.Template{Charm: CharmName, Content: content, InjectDropdowns: true,
			AltUID:       grafanadashboard.AltUID(CharmName, id),
			JujuTopology: &grafanadashboard.Topology{Model: t.Model, ModelUUID: t.ModelUUID, App: t.Application, Unit: t.Unit}}
	}
	return grafanadashboard.WriteAppBag(&grafanadashboard.AppBag{Templates: templates})
}

// withFreshUUID sets the bag's uuid, which the Python provider renews on every write so that Grafana sees a change.
func withFreshUUID(bag map[string]string) (map[string]string, error) {
	var b grafanadashboard.AppBag
	if err := json.Unmarshal([]byte(bag[grafanadashboard.KeyDashboards]), &b); err != nil {
		return nil, fmt.Errorf("cannot encode dashboards: %w", err)
	}
	b.UUID = grafanadashboard.NewUUID()
	return grafanadashboard.WriteAppBag(&b)
}

// publishUnitScrape writes this unit's scrape address, name, path and FQDN where they differ. The address is the
// pod's, as the Python provider publishes its binding's bind address: not the ingress-address Juju keeps in the
// databag, which on Kubernetes is the application's service address (the same for every unit, so Prometheus would
// scrape whichever unit the service picked under every unit's name; seen on Juju 4.1-beta2, and 3.6's
// networkinfocaas.go does the same). The pod IP comes from the pod's /etc/hosts, without a hook tool.
func (r *reconciler) publishUnitScrape(id string) error {
	env := r.hc.Env
	have, err := r.hc.UnitData(id, env.UnitName)
	if err != nil {
		return err
	}
	fqdn := podFQDN(env.UnitName, env.ModelName)
	addr := fqdn // as the Python provider does when the bind address is not an IP
	if ip := podIPOf(podHostname(env.UnitName)); ip != nil {
		addr = ip.String()
	}
	want := prometheusscrape.WriteUnitBag(&prometheusscrape.UnitBag{Address: addr, Name: env.UnitName, FQDN: fqdn})
	update := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			update[k] = v
		}
	}
	// The path is "" on the wire; relation-set deletes an empty value, and a missing key reads as "".
	delete(update, prometheusscrape.KeyUnitPath)
	if len(update) == 0 {
		return nil
	}
	return r.hc.SetUnitData(id, update)
}

// podFQDN is the unit's pod name in its headless service: <app>-<n>.<app>-endpoints.<model>.svc.cluster.local.
func podFQDN(unit, model string) string {
	app, _, _ := strings.Cut(unit, "/")
	return fmt.Sprintf("%s.%s-endpoints.%s.svc.cluster.local", podHostname(unit), app, model)
}

type charmFile struct {
	rel  string // relative to the folder, "/" separated
	data []byte
}

// readCharmFiles reads the files of a folder of the charm, recursively, in a stable order. A missing folder has none.
func readCharmFiles(charmDir, dir string, keep func(string) bool) ([]charmFile, error) {
	root := filepath.Join(charmDir, filepath.FromSlash(dir))
	var out []charmFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || !keep(d.Name()) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, charmFile{rel: filepath.ToSlash(rel), data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the charm's %s: %w", dir, err)
	}
	return out, nil
}
