package terraform

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/requirer"
	"github.com/tls-authority/tls-authority/tests/sim"
	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

// standIn is the local charm that plays a Charmhub charm on the simulator: tls-authority is itself (built from this
// tree); the COS charms are played by the reference requirer, whose certificates and receive-ca-cert endpoints
// carry the same names and interfaces as theirs, and which serves its certificate on 8443 and installs the CAs it
// receives in its server container, as the COS charms do.
type standIn struct {
	charm     string
	resources map[string]string // resource name → image directory, for each oci-image of the stand-in
	container string
	requirer  bool
}

func standIns(t *testing.T) map[string]standIn {
	t.Helper()
	charm, err := artifacts.Charm()
	if err != nil {
		t.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		t.Fatal(err)
	}
	reqCharm, reqImage, err := requirer.Build()
	if err != nil {
		t.Fatal(err)
	}
	req := standIn{charm: reqCharm, resources: map[string]string{requirer.Resource: reqImage}, container: "server", requirer: true}
	return map[string]standIn{
		"tls-authority":    {charm: charm, resources: map[string]string{"authority-image": image}, container: "authority"},
		"alertmanager-k8s": req,
		"catalogue-k8s":    req,
		"grafana-k8s":      req,
		"loki-k8s":         req,
		"prometheus-k8s":   req,
		"traefik-k8s":      req,
	}
}

func unitFQDN(app string, n int, model string) string {
	return fmt.Sprintf("%s-%d.%s-endpoints.%s.svc.cluster.local", app, n, app, model)
}

// parseOfferURL splits <owner>/<model>.<offer>.
func parseOfferURL(t *testing.T, url string) (model, offer string) {
	t.Helper()
	owner, rest, ok := strings.Cut(url, "/")
	model, offer, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || owner != Owner {
		t.Fatalf("cannot parse offer URL %q", url)
	}
	return model, offer
}

type step = map[string]any

// scenarioOf turns a planned deployment into simulator steps: what Terraform would ask Juju for, in the order the
// provider does it (models, applications, offers, then integrations, consuming an offer before its first use under
// the offer's name: terraform-provider-juju v1.5.6 internal/juju/offers.go, ConsumeRemoteOffer, passes no
// RemoteAppAlias from juju_integration, so Juju names the SAAS after the offer, and a second integration with the
// same offer reuses it).
func scenarioOf(t *testing.T, d *Deployment, si map[string]standIn) []step {
	t.Helper()
	var steps []step
	for _, m := range d.Models {
		steps = append(steps, step{"model": m.Name})
	}
	for _, a := range d.Apps {
		s, ok := si[a.Charm.Name]
		if !ok {
			t.Fatalf("%s: no stand-in for charm %q", a.Address, a.Charm.Name)
		}
		if len(a.Resources) > 0 {
			t.Fatalf("%s: Charmhub resource revisions %v cannot be simulated", a.Address, a.Resources)
		}
		if s.requirer && len(a.Config) > 0 {
			t.Fatalf("%s: config %v is %s's, which its stand-in does not have", a.Address, a.Config, a.Charm.Name)
		}
		dep := step{"model": d.ModelName(a.ModelUUID), "app": a.Name, "charm": s.charm, "units": a.Units, "resources": s.resources, "trust": a.Trust}
		if len(a.Config) > 0 {
			cfg := map[string]any{}
			for k, v := range a.Config {
				cfg[k] = v // strings, as the provider sends them; Juju parses them by the option's type
			}
			dep["config"] = cfg
		}
		steps = append(steps, step{"deploy": dep})
	}
	for _, o := range d.Offers {
		if len(o.Endpoints) != 1 {
			t.Fatalf("%s: the simulator offers one endpoint per offer, not %v", o.Address, o.Endpoints)
		}
		steps = append(steps, step{"offer": step{"model": d.ModelName(o.ModelUUID), "app": o.Application, "endpoint": o.Endpoints[0], "name": o.Name}})
	}
	consumed := map[string]bool{}
	for _, in := range d.Integrations {
		model := d.ModelName(in.ModelUUID)
		var ends []string
		for _, e := range in.Ends {
			if e.OfferURL == "" {
				ends = append(ends, e.Name+":"+e.Endpoint)
				continue
			}
			from, offer := parseOfferURL(t, e.OfferURL)
			if !consumed[model+" "+e.OfferURL] {
				consumed[model+" "+e.OfferURL] = true
				steps = append(steps, step{"consume": step{"model": model, "from": from, "offer": offer, "alias": offer}})
			}
			ends = append(ends, offer)
		}
		steps = append(steps, step{"integrate": step{"model": model, "a": ends[0], "b": ends[1]}})
	}
	return steps
}

// checksOf are the expectations for what the deployment should do: every unit active; each authority's CA carries
// the configured common name; each application integrated with an authority's certificates endpoint (directly or
// through its offer) serves, on every unit, a certificate for the unit's FQDN that this authority's CA (from its
// agent's /ca.pem) verifies; each application integrated with the same authority's send-ca-cert reaches those
// applications in its model over HTTPS with its own container's trust store.
func checksOf(d *Deployment, si map[string]standIn) []step {
	steps := []step{{"settle": step{}}}
	for _, m := range d.Models {
		status := map[string]string{}
		for _, a := range d.Apps {
			if d.ModelName(a.ModelUUID) == m.Name {
				for n := range a.Units {
					status[fmt.Sprintf("%s/%d", a.Name, n)] = "active"
				}
			}
		}
		steps = append(steps, step{"expect": step{"model": m.Name, "status": status}})
	}
	for _, a := range d.Apps {
		if cn := a.Config["ca-common-name"]; a.Charm.Name == "tls-authority" && cn != "" {
			steps = append(steps, step{"exec": step{"model": d.ModelName(a.ModelUUID), "unit": a.Name + "/0", "container": si[a.Charm.Name].container,
				"command": "openssl x509 -noout -subject -in /var/lib/tls-authority/ca.pem", "expect": step{"exit": 0, "stdout-contains": cn}}})
		}
	}
	// Each integration with an authority's certificates or send-ca-cert endpoint, direct or through its offer.
	var uses []use
	for _, in := range d.Integrations {
		if u, ok := authorityUse(d, in); ok {
			uses = append(uses, u)
		}
	}
	served := map[*App][]*App{} // authority → the applications it signs for
	for _, u := range uses {
		if u.endpoint != "certificates" {
			continue
		}
		served[u.authority] = append(served[u.authority], u.client)
		caKey := "ca-" + d.ModelName(u.authority.ModelUUID) + "-" + u.authority.Name
		steps = append(steps, step{"http-get": step{"model": d.ModelName(u.authority.ModelUUID), "unit": u.authority.Name + "/0", "port": 8080,
			"path": "/ca.pem", "expect-status": 200, "save-as": caKey}})
		model := d.ModelName(u.client.ModelUUID)
		for n := range u.client.Units {
			steps = append(steps, step{"http-get": step{"model": model, "unit": fmt.Sprintf("%s/%d", u.client.Name, n), "port": 8443, "scheme": "https",
				"ca": caKey, "server-name": unitFQDN(u.client.Name, n, model), "expect-status": 200,
				"body-contains": fmt.Sprintf("hello from %s-%d", u.client.Name, n)}})
		}
	}
	for _, u := range uses {
		if u.endpoint != "send-ca-cert" {
			continue
		}
		model := d.ModelName(u.client.ModelUUID)
		for _, target := range served[u.authority] {
			if d.ModelName(target.ModelUUID) != model || target == u.client {
				continue
			}
			url := fmt.Sprintf("https://%s:8443/", unitFQDN(target.Name, 0, model))
			steps = append(steps, step{"exec": step{"model": model, "unit": u.client.Name + "/0", "container": si[u.client.Charm.Name].container,
				"command": "curl -sS --fail " + url, "expect": step{"exit": 0, "stdout-contains": "hello from " + target.Name + "-0"}}})
		}
	}
	return steps
}

// use is an application integrated with an authority's endpoint.
type use struct {
	authority, client *App
	endpoint          string // the authority's: certificates or send-ca-cert
}

// authorityUse resolves an integration with a tls-authority application's certificates or send-ca-cert endpoint,
// direct or through that endpoint's offer, to the authority, the endpoint and the other application.
func authorityUse(d *Deployment, in *Integration) (u use, ok bool) {
	app := func(model, name string) *App {
		for _, a := range d.Apps {
			if d.ModelName(a.ModelUUID) == model && a.Name == name {
				return a
			}
		}
		return nil
	}
	model := d.ModelName(in.ModelUUID)
	type end struct {
		app      *App
		endpoint string
	}
	var ends []end
	for _, e := range in.Ends {
		if e.OfferURL == "" {
			ends = append(ends, end{app(model, e.Name), e.Endpoint})
			continue
		}
		for _, o := range d.Offers {
			if o.URL == e.OfferURL {
				ends = append(ends, end{app(d.ModelName(o.ModelUUID), o.Application), o.Endpoints[0]})
			}
		}
	}
	if len(ends) != 2 || ends[0].app == nil || ends[1].app == nil {
		return u, false
	}
	for i, e := range ends {
		if e.app.Charm.Name == "tls-authority" && (e.endpoint == "certificates" || e.endpoint == "send-ca-cert") {
			u.authority, u.endpoint, u.client = e.app, e.endpoint, ends[1-i].app
			return u, true
		}
	}
	return u, false
}

// TestExampleOnSimulator plans examples/cos with its defaults (internal and external TLS), deploys what it plans on
// the simulator, and checks that what runs is what the HCL says: applications, units, trust, config, offers and
// integrations, and certificates through the offers.
func TestExampleOnSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("deploys eight units")
	}
	if os.Geteuid() != 0 {
		t.Skip("the simulator needs root")
	}
	root := repoRoot(t)
	res, err := Evaluate(load(t, filepath.Join(root, "examples", "cos")), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Deployment
	si := standIns(t)
	steps := append(scenarioOf(t, d, si), checksOf(d, si)...)
	doc, err := yaml.Marshal(map[string]any{"name": "terraform-examples-cos", "steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "examples-cos.yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("scenario from examples/cos:\n%s", doc)
	sc, err := scenario.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "tf-") // short: unix socket paths live below it
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out strings.Builder
	run, err := scenario.Run(ctx, sc, &scenario.Options{Dir: work, BinDir: filepath.Join(os.TempDir(), "tls-authority-test-bin"), Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if run.Failed > 0 || run.Passed == 0 {
		t.Fatalf("%d expectations passed, %d failed:\n%s", run.Passed, run.Failed, strings.Join(run.Failures, "\n"))
	}
	checkState(t, root, d, run.State)
}

// checkState compares the simulator's final state with the plan.
func checkState(t *testing.T, root string, d *Deployment, st *sim.State) {
	t.Helper()
	models := map[string]*sim.ModelState{}
	for i := range st.Models {
		models[st.Models[i].Name] = &st.Models[i]
	}
	opts := charmOptions(t, filepath.Join(root, "config.yaml"))
	for _, a := range d.Apps {
		ms := models[d.ModelName(a.ModelUUID)]
		var as *sim.AppState
		for i := range ms.Apps {
			if ms.Apps[i].Name == a.Name {
				as = &ms.Apps[i]
			}
		}
		if as == nil {
			t.Errorf("%s: no application %q in model %s", a.Address, a.Name, ms.Name)
			continue
		}
		if len(as.Units) != a.Units {
			t.Errorf("%s: %d units, want %d", a.Address, len(as.Units), a.Units)
		}
		if a.Charm.Name != "tls-authority" {
			continue
		}
		if as.Charm != a.Charm.Name {
			t.Errorf("%s: charm %q, want %q", a.Address, as.Charm, a.Charm.Name)
		}
		for k, v := range a.Config {
			o, ok := opts[k]
			if !ok {
				t.Errorf("%s: config %q is no option of config.yaml", a.Address, k)
				continue
			}
			if got := fmt.Sprint(as.Config[k]); got != v {
				t.Errorf("%s: config %s = %q (%s), want %q", a.Address, k, got, o.Type, v)
			}
		}
		for k, o := range opts {
			if _, set := a.Config[k]; !set && o.Default != nil && fmt.Sprint(as.Config[k]) != fmt.Sprint(o.Default) {
				t.Errorf("%s: config %s = %v, want the default %v", a.Address, k, as.Config[k], o.Default)
			}
		}
	}
	for _, o := range d.Offers {
		ms := models[d.ModelName(o.ModelUUID)]
		found := false
		for _, so := range ms.Offers {
			found = found || so.Name == o.Name && so.App == o.Application && so.Endpoint == o.Endpoints[0]
		}
		if !found {
			t.Errorf("%s: no offer %s of %s:%s in %v", o.Address, o.Name, o.Application, o.Endpoints[0], ms.Offers)
		}
	}
	offerByURL := map[string]*Offer{}
	for _, o := range d.Offers {
		offerByURL[o.URL] = o
	}
	for _, in := range d.Integrations {
		ms := models[d.ModelName(in.ModelUUID)]
		var want []string
		var via *Offer
		for _, e := range in.Ends {
			if e.OfferURL != "" {
				via = offerByURL[e.OfferURL]
				want = append(want, via.Name+":"+via.Endpoints[0])
			} else {
				want = append(want, e.Name+":"+e.Endpoint)
			}
		}
		sort.Strings(want)
		var rel *sim.RelationState
		for i, r := range ms.Relations {
			got := append([]string(nil), r.Endpoints...)
			sort.Strings(got)
			if strings.Join(got, " ") == strings.Join(want, " ") {
				rel = &ms.Relations[i]
			}
		}
		if rel == nil {
			t.Errorf("%s: no relation %v in model %s", in.Address, want, ms.Name)
			continue
		}
		if (via != nil) != rel.CrossModel {
			t.Errorf("%s: cross-model %v, want %v", in.Address, rel.CrossModel, via != nil)
		}
		if via != nil && via.Endpoints[0] == "certificates" {
			checkIssuedThroughOffer(t, d, via, rel)
		}
	}
}

// checkIssuedThroughOffer checks the certificates the offering authority published on a cross-model relation: one
// per requirer unit, each signed by that authority's CA, whose subject carries its configured common name.
func checkIssuedThroughOffer(t *testing.T, d *Deployment, via *Offer, rel *sim.RelationState) {
	t.Helper()
	raw := rel.AppData[via.Name]["certificates"]
	var entries []struct {
		CA          string `json:"ca"`
		Certificate string `json:"certificate"`
	}
	if err := json.Unmarshal([]byte(raw), &entries); err != nil || len(entries) == 0 {
		t.Errorf("relation %v: no certificates from %s (%v): %q", rel.Endpoints, via.URL, err, raw)
		return
	}
	var cn string
	for _, a := range d.Apps {
		if a.ModelUUID == via.ModelUUID && a.Name == via.Application {
			cn = a.Config["ca-common-name"]
		}
	}
	for _, e := range entries {
		ca, cert := parsePEM(t, e.CA), parsePEM(t, e.Certificate)
		if ca == nil || cert == nil {
			continue
		}
		if err := cert.CheckSignatureFrom(ca); err != nil {
			t.Errorf("relation %v: %s is not signed by its CA: %v", rel.Endpoints, cert.Subject, err)
		}
		if cn != "" && ca.Subject.CommonName != cn {
			t.Errorf("relation %v: CA %q, want the offering authority's %q", rel.Endpoints, ca.Subject.CommonName, cn)
		}
	}
	t.Logf("%s: %s issued %s certificate(s) through %s", strings.Join(rel.Endpoints, " "), via.Application, strconv.Itoa(len(entries)), via.URL)
}

func parsePEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Errorf("not PEM: %q", s)
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Error(err)
		return nil
	}
	return c
}
