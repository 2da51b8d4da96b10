package requirer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
		Log: testLog{t}, HookTimeout: time.Minute})
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

	// An unrelated CA does not verify.
	other := unrelatedCA(t)
	if _, err := handshake(a0, pool(t, other)); err == nil {
		t.Error("handshake verified against an unrelated CA")
	}

	// From inside every ingress server container, with the system trust store.
	trusted := action(t, ingress.Units()[0], "get-trusted-ca-certificates", nil)
	if trusted["count"] == "0" {
		t.Skip("tls-authority does not publish on send-ca-cert yet: in-container handshakes not checked")
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
	root, err := ca.NewRoot(key, ca.Subject{CommonName: "unrelated"}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca.EncodeCertificate(root)
}
