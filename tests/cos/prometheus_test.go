package cos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/grafanadashboard"
	"github.com/tls-authority/tls-authority/interfaces/prometheusscrape"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newSim(t *testing.T) *sim.Sim {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root for private mount namespaces")
	}
	// A short work dir: Pebble sockets below t.TempDir() would pass the 108-byte limit of unix socket paths.
	dir, err := os.MkdirTemp("", "cos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := sim.New(&sim.Options{Dir: dir, BinDir: filepath.Join(os.TempDir(), "tls-authority-test-bin"), Log: testLog{t}, HookTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func settle(t *testing.T, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

// consumerCharm writes a charm that requires prometheus_scrape and grafana_dashboard and does nothing: the COS side
// of the relations, whose databags this test reads as COS would.
func consumerCharm(t *testing.T) string {
	dir := t.TempDir()
	meta := `name: cos-consumer
summary: COS consumer (tests only)
description: Requires what COS requires of a charm; reads nothing itself.
requires:
  metrics-endpoint:
    interface: prometheus_scrape
  grafana-dashboard:
    interface: grafana_dashboard
`
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dispatch"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newCSR(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func relationOf(t *testing.T, m *sim.Model, endpoint string) *sim.Relation {
	t.Helper()
	for _, r := range m.Relations() {
		for _, ep := range r.Endpoints() {
			if ep == "tls-authority:"+endpoint {
				return r
			}
		}
	}
	t.Fatalf("no %s relation", endpoint)
	return nil
}

// scrapeConfig is what a COS Prometheus builds from the metrics-endpoint databags: the jobs expanded per unit
// (prometheusscrape.ScrapeConfigs, as the consumer library's jobs()), honor_labels as prometheus-k8s adds it, and
// the alert rules written to a rule file. Intervals are short so the test need not wait. A job's tls_config carries
// PEM content in ca_file; like prometheus-k8s, the content goes to a file of its own and ca_file names that file.
// caOverride, when set, is written instead of the databag's CA (the negative check).
func scrapeConfig(t *testing.T, rel *sim.Relation, app *sim.App, dir, caOverride string) []map[string]any {
	t.Helper()
	meta, jobs, rules, err := prometheusscrape.ReadAppBag(rel.AppData(app.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if meta == nil {
		t.Fatal("no scrape_metadata")
	}
	var units []prometheusscrape.UnitBag
	for _, u := range app.Units() {
		ub, ok := prometheusscrape.ReadUnitBag(rel.UnitData(u.Name()))
		if !ok {
			t.Fatalf("%s has not published its scrape address: %v", u.Name(), rel.UnitData(u.Name()))
		}
		units = append(units, ub)
	}
	configs := prometheusscrape.ScrapeConfigs(meta, jobs, units)
	for i, c := range configs {
		if tc, ok := c["tls_config"].(map[string]any); ok {
			content, _ := tc["ca_file"].(string)
			if !strings.Contains(content, "-----BEGIN CERTIFICATE-----") {
				t.Fatalf("job %v: tls_config.ca_file is not PEM content: %q", c["job_name"], content)
			}
			if caOverride != "" {
				content = caOverride
			}
			caPath := filepath.Join(dir, fmt.Sprintf("job-%d-ca.pem", i))
			if err := os.WriteFile(caPath, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			// The per-unit jobs of one provider job share its tls_config: each gets its own copy.
			own := maps.Clone(tc)
			own["ca_file"] = caPath
			c["tls_config"] = own
		}
		c["honor_labels"] = true
		c["scrape_interval"] = "1s"
		c["scrape_timeout"] = "1s"
	}
	writeRules(t, filepath.Join(dir, "rules.yml"), *rules)
	cfg := map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{filepath.Join(dir, "rules.yml")},
		"scrape_configs": configs,
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return configs
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// prometheus runs the real Prometheus on loopback with dir/prometheus.yml and temporary storage.
type prometheus struct {
	base string
	cmd  *exec.Cmd
}

func startPrometheus(t *testing.T, dir string) *prometheus {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promBin(t, "prometheus"), "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--web.enable-lifecycle")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("prometheus log:\n%s", b)
		}
	})
	p := &prometheus{base: "http://" + addr, cmd: cmd}
	p.wait(t, 30*time.Second, "ready", func() (bool, string) {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

func (p *prometheus) wait(t *testing.T, d time.Duration, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		var done bool
		if done, last = ok(); done {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("prometheus: %s not reached in %v: %s", what, d, last)
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s vectorSample) value(t *testing.T) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s.Value[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (p *prometheus) get(t *testing.T, path string, out any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status != "success" {
		t.Fatalf("prometheus %s: %s %v", path, b, err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
}

func (p *prometheus) query(t *testing.T, q string) []vectorSample {
	t.Helper()
	var data struct {
		Result []vectorSample `json:"result"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
	return data.Result
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *prometheus) alerts(t *testing.T) []alert {
	t.Helper()
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", &data)
	return data.Alerts
}

func firing(as []alert, name string) []alert {
	var out []alert
	for _, a := range as {
		if a.Labels["alertname"] == name && a.State == "firing" {
			out = append(out, a)
		}
	}
	return out
}

// TestPrometheusScrapesEveryUnit runs the real Prometheus with the scrape configuration and rules a COS Prometheus
// builds from the charm's metrics-endpoint databags. Every unit's agent is up under its own job and juju_unit; the
// metrics say what the charm issued (counts, each requirer unit's earliest not-after, the CA's not-after, the CRL);
// no alert fires while the CA has 60 days left, and TLSAuthorityCAExpiringSoon fires once a rotation to a 20-day CA
// (root-ca-validity lowered) puts a CA expiring within 30 days in the bundle.
func TestPrometheusScrapesEveryUnit(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("cos")
	if err != nil {
		t.Fatal(err)
	}
	charm, err := artifacts.Charm()
	if err != nil {
		t.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		t.Fatal(err)
	}
	app, err := m.Deploy("tls-authority", charm, &sim.DeployOptions{Units: 2, Resources: map[string]string{"authority-image": image},
		Config: map[string]any{"root-ca-validity": "60d", "certificate-validity": "10d", "ca-key-algorithm": "ecdsa-p256"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Deploy("web", "../e2e/testdata/requirer", &sim.DeployOptions{Units: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Deploy("cos", consumerCharm(t), nil); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"tls-authority:certificates", "web"}, {"tls-authority:metrics-endpoint", "cos"}, {"tls-authority:grafana-dashboard", "cos"}} {
		if _, err := m.Integrate(pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	data, _ := json.Marshal(map[string]string{tlscertificates.KeyCSRs: tlscertificates.WriteRequests([]tlscertificates.CSRRequest{
		{CSR: newCSR(t, "web-0.example")}, {CSR: newCSR(t, "web-0-admin.example")}})})
	res, err := m.Unit("web/0").RunAction("publish", map[string]any{"data": string(data)})
	if err != nil || res.Status != "completed" {
		t.Fatalf("publish: %v %+v", err, res)
	}
	settle(t, s)

	// What the provider databag says was issued to web/0, to compare with the metrics.
	certRel := relationOf(t, m, "certificates")
	issued, _, _, problems := tlscertificates.ReadProviderBag(certRel.AppData("tls-authority"))
	if len(issued) != 2 || len(problems) > 0 {
		t.Fatalf("issued %d (%v)", len(issued), problems)
	}
	var firstExpiry time.Time
	for _, c := range issued {
		b, _ := pem.Decode([]byte(c.Certificate))
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if firstExpiry.IsZero() || cert.NotAfter.Before(firstExpiry) {
			firstExpiry = cert.NotAfter
		}
	}
	b, _ := pem.Decode([]byte(issued[0].CA))
	caCert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	// The dashboard as Grafana reads it: base64, xz, JSON with a uid.
	dash, err := grafanadashboard.ReadAppBag(relationOf(t, m, "grafana-dashboard").AppData("tls-authority"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := grafanadashboard.DecodeTemplate(dash.Templates["file:tls-authority"])
	if err != nil || len(d.UID) != 40 || d.Title == "" || d.Version < 1 {
		t.Fatalf("dashboard %+v: %v", d, err)
	}

	// A steady hook on a related unit makes no call for either relation.
	before := map[string]int{}
	for _, u := range app.Units() {
		before[u.Name()] = len(u.Hooks())
	}
	s.UpdateStatus()
	settle(t, s)
	for _, u := range app.Units() {
		for _, h := range u.Hooks()[before[u.Name()]:] {
			if h.Name == "update-status" && (h.ToolCalls["relation-ids"] > 0 || h.ToolCalls["relation-set"] > 0 || h.ToolCalls["relation-get"] > 1) {
				t.Errorf("update-status on %s: %v", u.Name(), h.ToolCalls)
			}
		}
	}

	dir := t.TempDir()
	configs := scrapeConfig(t, relationOf(t, m, "metrics-endpoint"), app, dir, "")
	if len(configs) != 2 {
		t.Fatalf("%d scrape jobs, want one per unit: %v", len(configs), configs)
	}
	p := startPrometheus(t, dir)

	// Every unit up, under its own juju_unit, at its own address.
	p.wait(t, 60*time.Second, "every unit up", func() (bool, string) {
		up := p.query(t, `up == 1`)
		return len(up) == 2, fmt.Sprint(up, p.targets(t))
	})
	// Every unit is scraped over https at its pod IP, port 8443, verified under the CA from the databag.
	for _, tg := range p.targets(t) {
		u := m.Unit(tg.Labels["juju_unit"])
		if u == nil || tg.ScrapeURL != "https://"+u.Address()+":8443/metrics" {
			t.Errorf("target %+v", tg)
		}
	}
	up := p.query(t, `up`)
	seen := map[string]bool{}
	for _, sm := range up {
		u := m.Unit(sm.Metric["juju_unit"])
		if u == nil || sm.Metric["juju_model"] != "cos" || sm.Metric["juju_model_uuid"] != m.UUID() ||
			sm.Metric["juju_application"] != "tls-authority" || sm.Metric["juju_charm"] != "tls-authority" ||
			sm.Metric["instance"] != "cos_"+m.UUID()+"_tls-authority_"+u.Name() ||
			!strings.HasPrefix(sm.Metric["job"], "juju_cos_"+m.UUID()[:8]+"_tls-authority_prometheus_scrape_agent-") {
			t.Errorf("up series %v", sm.Metric)
			continue
		}
		seen[u.Name()] = true
	}
	if len(seen) != 2 {
		t.Errorf("units scraped: %v", seen)
	}
	// Metric values, on every unit.
	checkEach := func(q string, want float64) {
		t.Helper()
		got := p.query(t, q)
		if len(got) != 2 {
			t.Errorf("%s: %d series, want one per unit: %v", q, len(got), got)
		}
		for _, sm := range got {
			if v := sm.value(t); v != want {
				t.Errorf("%s on %s = %v, want %v", q, sm.Metric["juju_unit"], v, want)
			}
		}
	}
	checkEach(`tls_authority_certificates_issued`, 2)
	checkEach(`tls_authority_certificates_revoked`, 0)
	checkEach(`tls_authority_requests_outstanding`, 0)
	checkEach(`tls_authority_certificate_expiry_timestamp_seconds{relation="certificates:`+strconv.Itoa(certRel.ID())+`",unit="web/0"}`, float64(firstExpiry.Unix()))
	checkEach(fmt.Sprintf(`tls_authority_ca_expiry_timestamp_seconds{serial=%q}`, caCert.SerialNumber.Text(16)), float64(caCert.NotAfter.Unix()))
	checkEach(`count(tls_authority_crl_next_update_timestamp_seconds > time()) by (juju_unit)`, 1)
	for _, sm := range p.query(t, `tls_authority_certificate_life_used_ratio`) {
		if v := sm.value(t); v < 0 || v > 0.01 {
			t.Errorf("life used by fresh certificates = %v on %s", v, sm.Metric["juju_unit"])
		}
	}
	if n := len(p.query(t, `process_resident_memory_bytes`)) + len(p.query(t, `go_goroutines`)); n != 4 {
		t.Errorf("process and Go metrics: %d series, want 2 each", n)
	}

	// Rules loaded from alert_rules, none firing with a CA 60 days from expiry.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"rules"`
		} `json:"groups"`
	}
	p.get(t, "/api/v1/rules", &rules)
	if len(rules.Groups) != 1 || len(rules.Groups[0].Rules) != 5 || rules.Groups[0].Rules[0].Labels["juju_model_uuid"] != m.UUID() {
		t.Fatalf("rules loaded: %+v", rules)
	}
	time.Sleep(3 * time.Second) // a few evaluations
	for _, a := range p.alerts(t) {
		if a.State == "firing" {
			t.Errorf("alert firing before the CA is made to expire soon: %v", a.Labels)
		}
	}

	// A rotation to a CA with 20 days of validity: the new CA is in the bundle at once (phase 1), and the alert fires
	// for it alone.
	if err := app.SetConfig(map[string]any{"root-ca-validity": "20d"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var fired []alert
	p.wait(t, 60*time.Second, "TLSAuthorityCAExpiringSoon firing", func() (bool, string) {
		fired = firing(p.alerts(t), "TLSAuthorityCAExpiringSoon")
		return len(fired) > 0, fmt.Sprint(p.alerts(t))
	})
	if len(fired) != 1 || fired[0].Labels["serial"] == caCert.SerialNumber.Text(16) || fired[0].Labels["severity"] != "warning" ||
		fired[0].Labels["juju_application"] != "tls-authority" || fired[0].Labels["juju_charm"] != "tls-authority" {
		t.Errorf("fired: %+v", fired)
	}
	left := p.query(t, fmt.Sprintf(`tls_authority_ca_expiry_timestamp_seconds{serial=%q} - time()`, fired[0].Labels["serial"]))
	for _, sm := range left {
		if d := time.Duration(sm.value(t) * float64(time.Second)); d < 19*24*time.Hour || d > 20*24*time.Hour {
			t.Errorf("the new CA expires in %v", d)
		}
	}
	if len(left) != 2 {
		t.Errorf("new CA on %d units", len(left))
	}

	// The negative check: a Prometheus given another CA than the databag's cannot verify any agent, and says so.
	other := newCA(t, "not the authority")
	wrongDir := t.TempDir()
	scrapeConfig(t, relationOf(t, m, "metrics-endpoint"), app, wrongDir, other)
	wrong := startPrometheus(t, wrongDir)
	var tgs []target
	wrong.wait(t, 30*time.Second, "every target down with a certificate error", func() (bool, string) {
		tgs = wrong.targets(t)
		bad := 0
		for _, tg := range tgs {
			if tg.Health == "down" && strings.Contains(tg.LastError, "x509: certificate signed by unknown authority") {
				bad++
			}
		}
		return len(tgs) == 2 && bad == 2, fmt.Sprint(tgs)
	})
	if up := wrong.query(t, `up == 1`); len(up) != 0 {
		t.Errorf("up under the wrong CA: %v", up)
	}
}

// target is an active target of /api/v1/targets.
type target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

func (p *prometheus) targets(t *testing.T) []target {
	t.Helper()
	var out struct {
		ActiveTargets []target `json:"activeTargets"`
	}
	p.get(t, "/api/v1/targets", &out)
	return out.ActiveTargets
}

// newCA is the PEM of a self-signed CA that has nothing to do with the authority.
func newCA(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
