package requirer_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/requirer"
	"github.com/tls-authority/tls-authority/tests/sim"
)

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newSim(t testing.TB) *sim.Sim {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root for private mount namespaces")
	}
	if testing.Short() {
		t.Skip("deploys charms on the simulator")
	}
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: filepath.Join(os.TempDir(), "tls-authority-test-bin"),
		Log: testLog{t}, HookTimeout: time.Minute,
		// Retried like Juju does: a hook killed from outside (exit -1, seen when other
		// simulator runs share the machine) must not fail the test; a real bug fails
		// every retry.
		AutoRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func settle(t testing.TB, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		for _, m := range []string{"demo"} {
			if model := s.Model(m); model != nil {
				for _, a := range []string{"app-a", "ingress", "tls-authority"} {
					if app := model.App(a); app != nil {
						for _, u := range app.Units() {
							for _, h := range u.Hooks() {
								if h.ExitCode != 0 {
									t.Logf("%s %s: exit %d killed %v stderr %q stdout %q", u.Name(), h.Name, h.ExitCode, h.Killed, h.Stderr, h.Stdout)
								}
							}
						}
					}
				}
			}
		}
		t.Fatal(err)
	}
}

func deployRequirer(t testing.TB, m *sim.Model, name string, units int, cfg map[string]any) *sim.App {
	t.Helper()
	charm, image, err := requirer.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := m.Deploy(name, charm, &sim.DeployOptions{Units: units, Config: cfg,
		Resources: map[string]string{requirer.Resource: image}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func deployAuthority(t testing.TB, m *sim.Model, name string) *sim.App {
	t.Helper()
	charm, err := artifacts.Charm()
	if err != nil {
		t.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		t.Fatal(err)
	}
	app, err := m.Deploy(name, charm, &sim.DeployOptions{Units: 1,
		Resources: map[string]string{"authority-image": image}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func integrate(t testing.TB, m *sim.Model, a, b string) {
	t.Helper()
	if _, err := m.Integrate(a, b); err != nil {
		t.Fatal(err)
	}
}

func action(t testing.TB, u *sim.Unit, name string, params map[string]any) map[string]string {
	t.Helper()
	res, err := u.RunAction(name, params)
	if err != nil {
		t.Fatalf("%s on %s: %v", name, u.Name(), err)
	}
	if res.Status != "completed" {
		t.Fatalf("%s on %s: %s: %s", name, u.Name(), res.Status, res.Message)
	}
	out := map[string]string{}
	for k, v := range res.Results {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func pool(t testing.TB, pems ...string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	for _, s := range pems {
		if !p.AppendCertsFromPEM([]byte(s)) {
			t.Fatalf("not PEM: %q", s)
		}
	}
	return p
}

// handshake connects to the unit's server by FQDN (dialling the address the
// FQDN resolves to in the model) and verifies its certificate against roots.
func handshake(u *sim.Unit, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(u.Address(), "8443"),
		&tls.Config{RootCAs: roots, ServerName: u.FQDN()})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// handshakeEventually retries while the server starts and loads its files.
func handshakeEventually(t testing.TB, u *sim.Unit, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cert, err := handshake(u, roots)
		if err == nil {
			return cert
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake with %s (%s): %v", u.Name(), u.FQDN(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRequirerAgainstAuthority deploys tls-authority, app-a (3 units, UNIT
// mode, SAN = each unit's FQDN) and ingress (APP mode) and makes real TLS
// handshakes by FQDN: from the test process trusting the CA the requirer got,
// and from inside ingress's server container with curl verifying through the
// trust store update-ca-certificates built there from what receive-ca-cert
// delivered (when the authority publishes on send-ca-cert). A client trusting
// an unrelated CA fails.
func TestRequirerAgainstAuthority(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("demo")
	if err != nil {
		t.Fatal(err)
	}
	deployAuthority(t, m, "tls-authority")
	appA := deployRequirer(t, m, "app-a", 3, map[string]any{"mode": "unit", "sans": "{fqdn}"})
	ingress := deployRequirer(t, m, "ingress", 2, map[string]any{"mode": "app", "common-name": "ingress.demo.example"})
	integrate(t, m, "app-a:certificates", "tls-authority:certificates")
	integrate(t, m, "ingress:certificates", "tls-authority:certificates")
	integrate(t, m, "ingress:receive-ca-cert", "tls-authority:send-ca-cert")
	settle(t, s)

	for _, u := range append(appA.Units(), ingress.Units()...) {
		if st := u.Status(); st.Status != "active" {
			t.Errorf("%s: %s %q", u.Name(), st.Status, st.Message)
		}
	}
	a0 := appA.Units()[0]
	// On Kubernetes the service exposes only opened ports: the server's and the peers' mutual-TLS port.
	if ports := a0.OpenedPorts(); !slices.Equal(ports, []string{"8443/tcp", "9443/tcp"}) {
		t.Errorf("opened ports %v, want 8443/tcp and 9443/tcp", ports)
	}
	got := action(t, a0, "get-certificate", nil)
	caPEM := got["ca"]
	roots := pool(t, caPEM)

	// From the test process, by FQDN, trusting the issuing CA.
	serials := map[string]bool{}
	for _, u := range appA.Units() {
		leaf := handshakeEventually(t, u, roots)
		if leaf.Subject.CommonName != u.FQDN() || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != u.FQDN() {
			t.Errorf("%s serves %s %v", u.Name(), leaf.Subject.CommonName, leaf.DNSNames)
		}
		serials[leaf.SerialNumber.String()] = true
	}
	if len(serials) != 3 {
		t.Errorf("%d distinct certificates for 3 units", len(serials))
	}
	// The APP certificate is the same on every ingress unit.
	var appCert string
	for _, u := range ingress.Units() {
		c := action(t, u, "get-certificate", nil)
		if appCert == "" {
			appCert = c["certificate"]
		} else if c["certificate"] != appCert {
			t.Errorf("%s has another app certificate", u.Name())
		}
	}

	// A leader change keeps the app key and CSR: nothing is requested again.
	csrs := relationAppData(t, m, "tls-authority", "ingress")["certificate_signing_requests"]
	if csrs == "" {
		t.Fatal("no app CSR in ingress's databag")
	}
	if err := m.SetLeader("ingress/1"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if got := relationAppData(t, m, "tls-authority", "ingress")["certificate_signing_requests"]; got != csrs {
		t.Error("the new leader replaced the app CSR")
	}
	for _, u := range ingress.Units() {
		if c := action(t, u, "get-certificate", nil); c["certificate"] != appCert {
			t.Errorf("%s: another app certificate after the leader change", u.Name())
		}
	}

	// Both modes on one relation: a unit CSR in the unit databag, the app's
	// in the app databag, both issued.
	deployRequirer(t, m, "both", 1, map[string]any{"mode": "both"})
	integrate(t, m, "both:certificates", "tls-authority:certificates")
	settle(t, s)
	b0 := m.App("both").Units()[0]
	for _, scope := range []string{"unit", "app"} {
		c := action(t, b0, "get-certificate", map[string]any{"scope": scope})
		leaf, err := ca.ParseCertificate(c["certificate"])
		if err != nil {
			t.Fatalf("%s certificate: %v", scope, err)
		}
		want := b0.FQDN()
		if scope == "app" {
			want = "both.demo.svc.cluster.local"
		}
		if leaf.Subject.CommonName != want {
			t.Errorf("%s certificate for %s, want %s", scope, leaf.Subject.CommonName, want)
		}
	}
	handshakeEventually(t, b0, roots)

	// An unrelated CA does not verify.
	other := unrelatedCA(t)
	if _, err := handshake(a0, pool(t, other)); err == nil {
		t.Error("handshake verified against an unrelated CA")
	}

	// From inside every ingress server container, with the system trust store.
	trusted := action(t, ingress.Units()[0], "get-trusted-ca-certificates", nil)
	if trusted["count"] == "0" {
		t.Fatal("ingress trusts no CA received from tls-authority on send-ca-cert")
	}
	for _, iu := range ingress.Units() {
		c := iu.Container("server")
		for _, u := range appA.Units() {
			url := fmt.Sprintf("https://%s:8443/", u.FQDN())
			out, errOut, err := c.Exec(20*time.Second, "curl", "-sS", "--max-time", "5", url)
			if err != nil || !strings.Contains(out, "hello from "+u.Hostname()) {
				t.Errorf("curl %s from %s: %v %q %q", url, iu.Name(), err, out, errOut)
			}
		}
	}
}

// unrelatedCA is a self-signed CA nobody issued anything with.
func unrelatedCA(t testing.TB) string {
	t.Helper()
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, ca.Subject{CommonName: "unrelated"}, 24*time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return ca.EncodeCertificate(root)
}

// caSenderCharm is the simulator's shell test charm with a send-ca-cert
// endpoint: its hooks publish whatever bag.json the test put in the leader's
// charm dir on every send-ca-cert relation, as a v1 provider would.
func caSenderCharm(t testing.TB) string {
	t.Helper()
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ca-sender")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "tests", "testcharm"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "dispatch"), 0o755); err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "metadata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	meta = []byte(strings.Replace(string(meta), "provides:\n", "provides:\n  send-ca-cert:\n    interface: certificate_transfer\n", 1))
	if err := os.WriteFile(filepath.Join(dir, "metadata.yaml"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const caSenderScript = `if [ -f "$CHARM_DIR/bag.json" ]; then
	for rid in $(relation-ids send-ca-cert --format=json | tr -d '[]",'); do
		relation-set -r "$rid" --app --file "$CHARM_DIR/bag.json" || exit 1
	done
fi
`

// sendCAs makes the ca-sender publish cas (v1) and runs its hooks.
func sendCAs(t testing.TB, s *sim.Sim, sender *sim.Unit, cas ...string) {
	t.Helper()
	list, _ := json.Marshal(cas)
	bag, _ := json.Marshal(map[string]string{"version": "1", "certificates": string(list)})
	if err := os.WriteFile(filepath.Join(sender.CharmDir(), "bag.json"), bag, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sender.CharmDir(), "script.sh"), []byte(caSenderScript), 0o644); err != nil {
		t.Fatal(err)
	}
	s.UpdateStatus()
	settle(t, s)
}

// curl fetches url from inside a container, verifying with its system trust
// store (the one update-ca-certificates builds).
func curl(c interface {
	Exec(time.Duration, ...string) (string, string, error)
}, url string) (string, error) {
	out, errOut, err := c.Exec(20*time.Second, "curl", "-sS", "--max-time", "5", url)
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut))
	}
	return out, nil
}

// TestRequirerTrustsReceivedCAs: ingress receives the issuing CA over
// certificate_transfer from a scripted v1 provider, installs it with
// update-ca-certificates in its server container, and then curl in that
// container verifies every app-a unit by FQDN; it did not before. A steady
// round of hooks does not rebuild the trust store; a CA that leaves the set
// leaves the store.
func TestRequirerTrustsReceivedCAs(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("demo")
	if err != nil {
		t.Fatal(err)
	}
	deployAuthority(t, m, "tls-authority")
	appA := deployRequirer(t, m, "app-a", 3, map[string]any{"mode": "unit", "sans": "{fqdn}"})
	ingress := deployRequirer(t, m, "ingress", 2, map[string]any{"mode": "app"})
	if _, err := m.Deploy("ca-sender", caSenderCharm(t), &sim.DeployOptions{Units: 1}); err != nil {
		t.Fatal(err)
	}
	integrate(t, m, "app-a:certificates", "tls-authority:certificates")
	integrate(t, m, "ingress:certificates", "tls-authority:certificates")
	integrate(t, m, "ingress:receive-ca-cert", "ca-sender:send-ca-cert")
	settle(t, s)
	sender := m.App("ca-sender").Units()[0]
	if v := relationAppData(t, m, "ca-sender", "ingress")["version"]; v != "1" {
		t.Fatalf("ingress announced version %q", v)
	}

	caPEM := action(t, appA.Units()[0], "get-certificate", nil)["ca"]
	for _, u := range appA.Units() {
		handshakeEventually(t, u, pool(t, caPEM))
	}
	url := func(u *sim.Unit) string { return fmt.Sprintf("https://%s:8443/", u.FQDN()) }
	// Not trusted yet.
	if out, err := curl(ingress.Units()[0].Container("server"), url(appA.Units()[0])); err == nil {
		t.Fatalf("curl verified before the CA was received: %q", out)
	}

	sendCAs(t, s, sender, caPEM, unrelatedCA(t))
	if n := action(t, ingress.Units()[1], "get-trusted-ca-certificates", nil)["count"]; n != "2" {
		t.Fatalf("%s CAs received, want 2", n)
	}
	bundle := "/etc/ssl/certs/ca-certificates.crt"
	stamps := map[string]string{}
	for _, iu := range ingress.Units() {
		c := iu.Container("server")
		for _, u := range appA.Units() {
			out, err := curl(c, url(u))
			if err != nil || !strings.Contains(out, "hello from "+u.Hostname()) {
				t.Errorf("curl %s from %s: %v %q", url(u), iu.Name(), err, out)
			}
		}
		stamps[iu.Name()] = stat(t, c, bundle)
	}

	// A round of hooks with nothing new: the trust store is not rebuilt.
	s.UpdateStatus()
	settle(t, s)
	for _, iu := range ingress.Units() {
		if got := stat(t, iu.Container("server"), bundle); got != stamps[iu.Name()] {
			t.Errorf("%s: trust store rebuilt by a hook with nothing to do (%s -> %s)", iu.Name(), stamps[iu.Name()], got)
		}
		last := iu.Hooks()[len(iu.Hooks())-1]
		t.Logf("%s steady %s: %d hook-tool calls %v, %v", iu.Name(), last.Name, last.Calls(), last.ToolCalls, last.Duration)
	}
	for _, u := range appA.Units() {
		last := u.Hooks()[len(u.Hooks())-1]
		t.Logf("%s steady %s: %d hook-tool calls %v, %v", u.Name(), last.Name, last.Calls(), last.ToolCalls, last.Duration)
	}

	// The issuing CA leaves the set: it leaves the trust store too.
	sendCAs(t, s, sender, unrelatedCA(t))
	if out, err := curl(ingress.Units()[0].Container("server"), url(appA.Units()[0])); err == nil {
		t.Errorf("curl still verifies after the CA left: %q", out)
	}
}

// stat returns a file's modification time and size inside a container.
func stat(t testing.TB, c interface {
	Exec(time.Duration, ...string) (string, string, error)
}, path string) string {
	t.Helper()
	out, errOut, err := c.Exec(10*time.Second, "stat", "-c", "%y %s", path)
	if err != nil {
		t.Fatalf("stat %s: %v %s", path, err, errOut)
	}
	return strings.TrimSpace(out)
}

// relationAppData is the app databag of app in its relation with other.
func relationAppData(t testing.TB, m *sim.Model, other, app string) map[string]string {
	t.Helper()
	for _, r := range m.Relations() {
		eps := strings.Join(r.Endpoints(), " ")
		if strings.Contains(eps, other+":") && strings.Contains(eps, app+":") {
			return r.AppData(app)
		}
	}
	t.Fatalf("no relation between %s and %s", other, app)
	return nil
}

// prober makes handshakes with a set of units in a loop, by FQDN, verifying
// against the roots roots() returns at each round, and counts failures and
// the distinct certificates seen per unit.
type prober struct {
	units  []*sim.Unit
	roots  func() *x509.CertPool
	stop   chan struct{}
	done   chan struct{}
	rounds int
	fails  []string
	seen   map[string]map[string]bool // unit -> serials
	issuer map[string]bool            // issuer CNs seen
}

func startProber(units []*sim.Unit, roots func() *x509.CertPool) *prober {
	p := &prober{units: units, roots: roots, stop: make(chan struct{}), done: make(chan struct{}),
		seen: map[string]map[string]bool{}, issuer: map[string]bool{}}
	for _, u := range units {
		p.seen[u.Name()] = map[string]bool{}
	}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			pool := p.roots()
			for _, u := range p.units {
				leaf, err := handshake(u, pool)
				if err != nil {
					p.fails = append(p.fails, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), u.Name(), err))
					continue
				}
				p.seen[u.Name()][leaf.SerialNumber.String()] = true
				p.issuer[leaf.Issuer.CommonName] = true
			}
			p.rounds++
		}
	}()
	return p
}

func (p *prober) finish() {
	close(p.stop)
	<-p.done
}

// runHooks runs update-status rounds every interval for d, as Juju's
// update-status timer would (much faster).
func runHooks(t testing.TB, s *sim.Sim, d, interval time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(interval) {
		s.UpdateStatus()
		settle(t, s)
	}
}

// TestRequirerRenewsBeforeExpiry: with one-minute certificates (valid two
// minutes with the authority's one-minute back-dating) each unit renews at
// 90% of the validity, for the same key, and a client loop that verifies
// every unit by FQDN sees only successful handshakes across two renewals.
func TestRequirerRenewsBeforeExpiry(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("demo")
	if err != nil {
		t.Fatal(err)
	}
	auth := deployAuthority(t, m, "tls-authority")
	if err := auth.SetConfig(map[string]any{"certificate-validity": "1m"}); err != nil {
		t.Fatal(err)
	}
	appA := deployRequirer(t, m, "app-a", 2, map[string]any{"mode": "unit"})
	integrate(t, m, "app-a:certificates", "tls-authority:certificates")
	settle(t, s)
	caPEM := action(t, appA.Units()[0], "get-certificate", nil)["ca"]
	roots := pool(t, caPEM)
	first := map[string]*x509.Certificate{}
	for _, u := range appA.Units() {
		first[u.Name()] = handshakeEventually(t, u, roots)
	}

	p := startProber(appA.Units(), func() *x509.CertPool { return roots })
	start := time.Now()
	runHooks(t, s, 130*time.Second, 2*time.Second)
	p.finish()
	t.Logf("client loop: %d rounds of %d handshakes in %v, %d failures", p.rounds, len(appA.Units()), time.Since(start).Round(time.Second), len(p.fails))
	for _, f := range p.fails {
		t.Error(f)
	}
	for _, u := range appA.Units() {
		if n := len(p.seen[u.Name()]); n < 3 {
			t.Errorf("%s served %d certificates in 130 s, want at least 3 (two renewals)", u.Name(), n)
		}
		last, err := handshake(u, roots)
		if err != nil {
			t.Fatal(err)
		}
		if !last.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(first[u.Name()].PublicKey) {
			t.Errorf("%s: renewal changed the key", u.Name())
		}
	}
}

// agentBundle returns a function giving the trust bundle the authority's
// agent serves at /ca.pem, re-read at most every 500 ms, as a client that
// follows the bundle would; the last good bundle is kept on errors.
func agentBundle(t testing.TB, u *sim.Unit) func() *x509.CertPool {
	url := fmt.Sprintf("http://%s:8080/ca.pem", u.Address())
	var last *x509.CertPool
	var at time.Time
	client := &http.Client{Timeout: 2 * time.Second}
	return func() *x509.CertPool {
		if last != nil && time.Since(at) < 500*time.Millisecond {
			return last
		}
		resp, err := client.Get(url)
		if err != nil {
			return last
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return last
		}
		p := x509.NewCertPool()
		if p.AppendCertsFromPEM(body) {
			last, at = p, time.Now()
		}
		return last
	}
}

// TestRequirerThroughRotation: the authority's CA rotates (ca-common-name
// changed) while a client loop that trusts the agent's /ca.pem verifies every
// app-a unit by FQDN; every handshake succeeds and the units end up serving
// certificates of the new CA.
func TestRequirerThroughRotation(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("demo")
	if err != nil {
		t.Fatal(err)
	}
	auth := deployAuthority(t, m, "tls-authority")
	appA := deployRequirer(t, m, "app-a", 3, map[string]any{"mode": "unit"})
	integrate(t, m, "app-a:certificates", "tls-authority:certificates")
	settle(t, s)
	bundle := agentBundle(t, auth.Units()[0])
	for _, u := range appA.Units() {
		handshakeEventually(t, u, bundle())
	}

	p := startProber(appA.Units(), bundle)
	start := time.Now()
	if err := auth.SetConfig(map[string]any{"ca-common-name": "rotated-ca"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	runHooks(t, s, 20*time.Second, 2*time.Second)
	p.finish()
	t.Logf("client loop during rotation: %d rounds of %d handshakes in %v, %d failures; issuers seen %v",
		p.rounds, len(appA.Units()), time.Since(start).Round(time.Second), len(p.fails), p.issuer)
	for _, f := range p.fails {
		t.Error(f)
	}
	current := action(t, auth.Units()[0], "get-ca-certificate", nil)["ca-certificate"]
	if c, err := ca.ParseCertificate(current); err != nil || c.Subject.CommonName != "rotated-ca" {
		t.Fatalf("tls-authority did not rotate its CA (ca-certificate %v, %v)", subjectOf(current), err)
	}
	if len(p.issuer) != 2 {
		t.Errorf("the client loop saw issuers %v: it did not run across the rotation", p.issuer)
	}
	for _, u := range appA.Units() {
		leaf, err := handshake(u, bundle())
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Issuer.CommonName != "rotated-ca" {
			t.Errorf("%s still serves a certificate of %q", u.Name(), leaf.Issuer.CommonName)
		}
	}
}

func subjectOf(pemCert string) string {
	c, err := ca.ParseCertificate(pemCert)
	if err != nil {
		return "unparsable"
	}
	return c.Subject.CommonName
}
