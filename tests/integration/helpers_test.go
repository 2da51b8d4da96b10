package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// suite is what one test works with: its deadline, the variables and the controller.
type suite struct {
	t    *testing.T
	ctx  context.Context
	env  *Env
	ctrl *Controller
}

// requireVar, when set, turns the skip without a controller into a failure.
const requireVar = "TLS_AUTHORITY_REQUIRE_CONTROLLER"

// setup skips the test with one line when no controller is configured (fails it under TLS_AUTHORITY_REQUIRE_CONTROLLER), else connects to it; every test gets its
// own deadline, so that one stuck deployment fails its test and not the whole run.
func setup(t *testing.T, timeout time.Duration) *suite {
	t.Helper()
	env, missing, err := EnvFromOS()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		// .ci/run sets TLS_AUTHORITY_REQUIRE_CONTROLLER: there, a test that cannot reach the controller fails.
		if os.Getenv(requireVar) != "" {
			t.Fatal(SkipMessage(missing))
		}
		t.Skip(SkipMessage(missing))
	}
	// Each test has models of its own, and most of its time is Juju's: waiting for pods, hooks and status. Run
	// side by side (make test-integration sets -test.parallel), the suite takes about its longest test.
	t.Parallel()
	for _, tool := range []string{"openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("cannot find %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	ctrl, err := Dial(ctx, env.Controller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	t.Logf("controller %s, Juju %s", env.Controller, ctrl.ServerVersion())
	return &suite{t: t, ctx: ctx, env: env, ctrl: ctrl}
}

// model adds a model named <prefix>-<suffix>, destroyed when the test ends (unless TLS_AUTHORITY_KEEP_MODELS).
func (s *suite) model(suffix string) *Model {
	s.t.Helper()
	name := s.env.ModelPrefix + "-" + suffix
	m, err := s.ctrl.AddModel(s.ctx, name)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		if s.env.KeepModels {
			s.t.Logf("keeping model %s (TLS_AUTHORITY_KEEP_MODELS)", name)
			return
		}
		// The test's context may be spent: destroying gets its own.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := m.Destroy(ctx, 10*time.Minute); err != nil {
			s.t.Error(err)
		}
	})
	return m
}

// authority deploys tls-authority with its image.
func (s *suite) authority(m *Model, app string, units int, cfg map[string]string) {
	s.t.Helper()
	if err := m.Deploy(s.ctx, app, s.env.Charm, units, cfg, map[string]string{"authority-image": s.env.Image}); err != nil {
		s.t.Fatal(err)
	}
}

// requirer deploys the reference requirer in a mode ("unit", "app", "proxy").
func (s *suite) requirer(m *Model, app string, units int, mode string, cfg map[string]string) {
	s.t.Helper()
	c := map[string]string{"mode": mode}
	for k, v := range cfg {
		c[k] = v
	}
	if err := m.Deploy(s.ctx, app, s.env.RequirerCharm, units, c, map[string]string{"server-image": s.env.RequirerImage}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *suite) integrate(m *Model, a, b string) {
	s.t.Helper()
	if err := m.Integrate(s.ctx, a, b); err != nil {
		s.t.Fatal(err)
	}
}

func (s *suite) settle(models ...*Model) {
	s.t.Helper()
	for _, m := range models {
		if err := m.WaitActiveIdle(s.ctx); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *suite) leaderOf(m *Model, app string) string {
	s.t.Helper()
	units, unitNames, err := m.Units(s.ctx, app)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, u := range unitNames {
		if units[u].Leader {
			return u
		}
	}
	s.t.Fatalf("%s has no leader", app)
	return ""
}

func (s *suite) units(m *Model, app string) []string {
	s.t.Helper()
	_, unitNames, err := m.Units(s.ctx, app)
	if err != nil {
		s.t.Fatal(err)
	}
	return unitNames
}

func (s *suite) address(m *Model, unit string) string {
	s.t.Helper()
	app, _, _ := strings.Cut(unit, "/")
	units, _, err := m.Units(s.ctx, app)
	if err != nil {
		s.t.Fatal(err)
	}
	if units[unit].Address == "" {
		s.t.Fatalf("%s has no address", unit)
	}
	return units[unit].Address
}

// caOn is the CA certificate get-ca-certificate returns on a unit (any unit: it reads the peer databag).
func (s *suite) caOn(m *Model, unit string) string {
	s.t.Helper()
	out, err := m.RunAction(s.ctx, unit, "get-ca-certificate", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	ca, _ := out["ca-certificate"].(string)
	if !strings.Contains(ca, "BEGIN CERTIFICATE") {
		s.t.Fatalf("get-ca-certificate on %s returned %v", unit, out)
	}
	return strings.TrimSpace(ca)
}

// ca is the CA certificate on the application's leader.
func (s *suite) ca(m *Model, app string) string { return s.caOn(m, s.leaderOf(m, app)) }

// issued is a requirer unit's certificate, as its get-certificate action gives it.
type issued struct {
	cert, ca, chain string
}

// certificate waits until unit's certificate of scope is under ca (a rotation re-issues asynchronously).
func (s *suite) certificate(m *Model, unit, scope, ca string) issued {
	s.t.Helper()
	var last string
	for {
		out, err := m.RunAction(s.ctx, unit, "get-certificate", map[string]any{"scope": scope})
		if err == nil && strings.TrimSpace(fmt.Sprint(out["ca"])) == ca {
			return issued{cert: strings.TrimSpace(fmt.Sprint(out["certificate"])), ca: ca, chain: strings.TrimSpace(fmt.Sprint(out["chain"]))}
		}
		last = fmt.Sprintf("%v %v", err, out)
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("%s has no %s certificate under the expected CA: %s", unit, scope, last)
		case <-time.After(10 * time.Second):
		}
	}
}

// verify runs openssl verify on the certificate against root alone (the chain's certificates as untrusted
// intermediates), and checks that it names host (when given).
func (s *suite) verify(root string, c issued, host string) {
	s.t.Helper()
	dir := s.t.TempDir()
	write := func(name, pem string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pem+"\n"), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return p
	}
	rootFile, certFile := write("root.pem", root), write("cert.pem", c.cert)
	args := []string{"verify", "-CAfile", rootFile}
	if c.chain != "" {
		args = append(args, "-untrusted", write("chain.pem", c.chain+"\n"+c.ca))
	} else if c.ca != root {
		args = append(args, "-untrusted", write("chain.pem", c.ca))
	}
	openssl(s.t, append(args, certFile)...)
	if host != "" {
		openssl(s.t, "x509", "-in", certFile, "-noout", "-checkhost", host)
	}
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil || strings.Contains(string(b), "does NOT match") {
		t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// exec runs a shell command in a unit's workload container and fails the test unless it exits 0.
func (s *suite) exec(m *Model, unit, container, command string) string {
	s.t.Helper()
	code, stdout, stderr, err := m.Exec(s.ctx, unit, container, command, 2*time.Minute)
	if err != nil || code != 0 {
		s.t.Fatalf("exec in %s/%s: exit %d, %v\n%s\n%s\n%s", unit, container, code, err, command, stdout, stderr)
	}
	return stdout
}

// handshakeFromPod makes a TLS handshake from inside from's server container (another pod) with addr, naming
// serverName, trusting the CA file trust (written there first when pem is given), with openssl s_client: it fails
// on any verification error. It returns the subject of the certificate the server presented.
func (s *suite) handshakeFromPod(m *Model, from, addr, serverName, pem string) {
	s.t.Helper()
	trust := "-CApath /etc/ssl/certs"
	prefix := ""
	if pem != "" {
		prefix = fmt.Sprintf("printf '%%s\\n' %s > /tmp/it-trust.pem && ", shellQuote(pem))
		trust = "-CAfile /tmp/it-trust.pem"
	}
	cmd := fmt.Sprintf("%secho | timeout 30 openssl s_client -verify_return_error %s -servername %s -connect %s 2>&1",
		prefix, trust, serverName, net.JoinHostPort(addr, "8443"))
	out := s.exec(m, from, "server", cmd)
	if !strings.Contains(out, "Verify return code: 0 (ok)") {
		s.t.Errorf("handshake from %s with %s as %s: no verified chain\n%s", from, addr, serverName, out)
		return
	}
	subject := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "subject=") {
			subject = l
		}
	}
	s.t.Logf("handshake from %s's container with %s as %s: verified, %s", from, addr, serverName, subject)
}

// tlsGet makes an HTTPS request from the test to addr (a pod address: the test runs in the cluster's network
// namespace), naming serverName and trusting root alone, and returns the body.
func (s *suite) tlsGet(addr, serverName, root string) (string, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(root)) {
		return "", fmt.Errorf("cannot parse the root")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := client.Get("https://" + serverName + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}

// agentCA is what a tls-authority unit's agent serves at /ca.pem (port 8080, plain HTTP).
//
// A unit can be active and idle in status while its agent does not listen for a moment: status is the last hook's
// word, and a workload container that restarts (kubelet's liveness probe on Pebble, under load) serves nothing
// until the charm's pebble-ready hook replans. CI saw it once, a connection refused by the re-created leader's pod
// right after the model settled. So a refused or timed out connection is asked again, with the address status
// gives then, for up to two minutes, and each miss is logged; an answer other than 200, or no answer for two
// minutes, fails the test.
func (s *suite) agentCA(m *Model, unit string) string {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		url := fmt.Sprintf("http://%s/ca.pem", net.JoinHostPort(s.address(m, unit), "8080"))
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
		if err != nil {
			if time.Now().After(deadline) {
				s.t.Fatalf("%s agent: no answer for two minutes: %v", unit, err)
			}
			s.t.Logf("%s agent: %v; asking again", unit, err)
			time.Sleep(5 * time.Second)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			s.t.Fatalf("%s agent %s: %s", unit, url, resp.Status)
		}
		return string(b)
	}
}

var pemBlock = regexp.MustCompile(`(?s)-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----`)

// certs splits a PEM bundle into its certificates, trimmed.
func certs(bundle string) []string { return pemBlock.FindAllString(bundle, -1) }

func contains(bundle, cert string) bool {
	for _, c := range certs(bundle) {
		if c == strings.TrimSpace(cert) {
			return true
		}
	}
	return false
}

// unitFQDN is the name Juju's Kubernetes provider gives unit <app>/<n>'s pod: pod <app>-<n> of the headless service
// <app>-endpoints in namespace <model>.
func unitFQDN(unit, model string) string {
	app, n, _ := strings.Cut(unit, "/")
	return fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, model)
}

// appFQDN is the name of application <app>'s service.
func appFQDN(app, model string) string { return fmt.Sprintf("%s.%s.svc.cluster.local", app, model) }
