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
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// scenarioFile is the simulator scenario whose topology and status expectations the deployment test repeats on a
// real controller: the same applications, units, config and relations, and the same statuses once settled.
const scenarioFile = "../scenarios/demo-tls.yaml"

// scenario is the part of a scenario file (tests/sim/scenario) this suite reads: deploy and integrate steps, and the
// first expect step's statuses.
type scenario struct {
	Steps []struct {
		Deploy *struct {
			App       string            `yaml:"app"`
			Charm     string            `yaml:"charm"`
			Units     int               `yaml:"units"`
			Config    map[string]any    `yaml:"config"`
			Resources map[string]string `yaml:"resources"`
		} `yaml:"deploy"`
		Integrate *struct{ A, B string } `yaml:"integrate"`
		Expect    *struct {
			Status map[string]string `yaml:"status"`
		} `yaml:"expect"`
	} `yaml:"steps"`
}

func setup(t *testing.T) (*Env, *Controller) {
	t.Helper()
	env, missing := EnvFromOS()
	if len(missing) > 0 {
		t.Skip(SkipMessage(missing))
	}
	for _, tool := range []string{"openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("cannot find %s: %v", tool, err)
		}
	}
	ctrl, err := Dial(env.Controller)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctrl.Close() })
	return env, ctrl
}

func addModel(t *testing.T, env *Env, ctrl *Controller, name string) *Model {
	t.Helper()
	m, err := ctrl.AddModel(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if env.KeepModels {
			t.Logf("keeping model %s (TLS_AUTHORITY_KEEP_MODELS)", name)
			return
		}
		if err := m.Destroy(10 * time.Minute); err != nil {
			t.Error(err)
		}
	})
	return m
}

// unitFQDN is the name Juju's Kubernetes provider gives unit <app>/<n>'s pod: pod <app>-<n> of the headless service
// <app>-endpoints in namespace <model>.
func unitFQDN(unit, model string) string {
	app, n, _ := strings.Cut(unit, "/")
	return fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, model)
}

// appFQDN is the name of application <app>'s service.
func appFQDN(app, model string) string { return fmt.Sprintf("%s.%s.svc.cluster.local", app, model) }

// requirer is one requirer application whose certificates the test checks.
type requirer struct {
	model *Model
	app   string
	scope string // what it serves: "unit" or "app"
}

// TestDeployment deploys demo-tls.yaml's topology on a real controller, plus a consumer of the authority in a second
// model through a cross-model offer, then checks statuses, chains, handshakes and a CA rotation.
func TestDeployment(t *testing.T) {
	env, ctrl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	b, err := os.ReadFile(scenarioFile)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := yaml.Unmarshal(b, &sc); err != nil {
		t.Fatalf("cannot parse %s: %v", scenarioFile, err)
	}
	prov := addModel(t, env, ctrl, env.ModelPrefix)
	remote := addModel(t, env, ctrl, env.ModelPrefix+"-remote")

	var wantStatus map[string]string
	var requirers []requirer
	for _, s := range sc.Steps {
		switch {
		case s.Deploy != nil:
			d := s.Deploy
			charmPath, res := env.Charm, map[string]string{"authority-image": env.Image}
			if strings.Contains(filepath.Base(d.Charm), "requirer") {
				charmPath, res = env.RequirerCharm, map[string]string{"server-image": env.RequirerImage}
				scope := fmt.Sprint(d.Config["mode"])
				if scope != "unit" && scope != "app" {
					t.Fatalf("%s deploys %s in mode %q: this test checks unit and app mode", scenarioFile, d.App, scope)
				}
				requirers = append(requirers, requirer{prov, d.App, scope})
			}
			cfg := map[string]string{}
			for k, v := range d.Config {
				cfg[k] = fmt.Sprint(v)
			}
			if err := prov.Deploy(d.App, charmPath, d.Units, cfg, res); err != nil {
				t.Fatal(err)
			}
		case s.Integrate != nil:
			if err := prov.Integrate(s.Integrate.A, s.Integrate.B); err != nil {
				t.Fatal(err)
			}
		case s.Expect != nil && wantStatus == nil:
			wantStatus = s.Expect.Status
		}
	}
	if len(requirers) == 0 || wantStatus == nil {
		t.Fatalf("%s deploys no requirer or expects no status", scenarioFile)
	}
	if err := prov.WaitActiveIdle(ctx); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, prov, wantStatus)

	// The cross-model consumer: unit mode, in its own model and namespace.
	url, err := prov.Offer("tls-authority", "certificates", "tls-authority-certificates")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Deploy("remote-a", env.RequirerCharm, 1, map[string]string{"mode": "unit"}, map[string]string{"server-image": env.RequirerImage}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Consume(url, "tls-authority"); err != nil {
		t.Fatal(err)
	}
	if err := remote.Integrate("remote-a:certificates", "tls-authority:certificates"); err != nil {
		t.Fatal(err)
	}
	requirers = append(requirers, requirer{remote, "remote-a", "unit"})
	for _, m := range []*Model{remote, prov} {
		if err := m.WaitActiveIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}

	ca := caCertificate(ctx, t, prov)
	checkAgent(t, prov, ca)
	checkRequirers(ctx, t, requirers, ca)
	checkInContainerHandshakes(ctx, t, prov, requirers)

	// Rotation: a new CA, every certificate re-issued under it, the handshakes trusting it alone.
	leader := leaderOf(t, prov, "tls-authority")
	if _, err := prov.RunAction(ctx, leader, "rotate-private-key", nil); err != nil {
		t.Fatal(err)
	}
	var rotated string
	for rotated == "" || rotated == ca {
		if ctx.Err() != nil {
			t.Fatal("the CA did not change after rotate-private-key")
		}
		time.Sleep(5 * time.Second)
		rotated = caCertificate(ctx, t, prov)
	}
	for _, m := range []*Model{prov, remote} {
		if err := m.WaitActiveIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checkAgent(t, prov, rotated)
	checkRequirers(ctx, t, requirers, rotated)
	checkInContainerHandshakes(ctx, t, prov, requirers)
}

// checkStatus holds the model to a scenario's status expectations: "status" or "status: message prefix".
func checkStatus(t *testing.T, m *Model, want map[string]string) {
	t.Helper()
	st, err := m.Status()
	if err != nil {
		t.Fatal(err)
	}
	for unit, w := range want {
		app, _, _ := strings.Cut(unit, "/")
		us, ok := st.Applications[app].Units[unit]
		if !ok {
			t.Errorf("no unit %s in model %s", unit, m.Name)
			continue
		}
		status, msg, hasMsg := strings.Cut(w, ":")
		if us.WorkloadStatus.Status != strings.TrimSpace(status) ||
			(hasMsg && !strings.HasPrefix(us.WorkloadStatus.Info, strings.TrimSpace(msg))) {
			t.Errorf("%s is %s: %s, want %s", unit, us.WorkloadStatus.Status, us.WorkloadStatus.Info, w)
		}
	}
}

func leaderOf(t *testing.T, m *Model, app string) string {
	t.Helper()
	units, names, err := m.Units(app)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range names {
		if units[u].Leader {
			return u
		}
	}
	t.Fatalf("%s has no leader", app)
	return ""
}

func caCertificate(ctx context.Context, t *testing.T, m *Model) string {
	t.Helper()
	out, err := m.RunAction(ctx, leaderOf(t, m, "tls-authority"), "get-ca-certificate", nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := out["ca-certificate"].(string)
	if !strings.Contains(ca, "BEGIN CERTIFICATE") {
		t.Fatalf("get-ca-certificate returned %v", out)
	}
	return strings.TrimSpace(ca)
}

// checkAgent fetches the CA each authority unit's agent serves, from its pod address, as the scenario's http-get
// does from the simulator's host.
func checkAgent(t *testing.T, m *Model, ca string) {
	t.Helper()
	units, names, err := m.Units("tls-authority")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range names {
		resp, err := http.Get(fmt.Sprintf("http://%s/ca.pem", net.JoinHostPort(units[u].Address, "8080")))
		if err != nil {
			t.Errorf("%s agent: %v", u, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), ca) {
			t.Errorf("%s agent /ca.pem: %s, without the CA", u, resp.Status)
		}
	}
}

// checkRequirers gets each requirer unit's certificate, verifies its chain to ca with openssl, checks that it names
// the unit's (unit mode) or the application's (app mode) service, and makes a handshake with the unit's server
// trusting ca alone, with Go and with openssl s_client.
func checkRequirers(ctx context.Context, t *testing.T, reqs []requirer, ca string) {
	t.Helper()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(ca+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca)) {
		t.Fatal("cannot parse the CA")
	}
	for _, r := range reqs {
		units, names, err := r.model.Units(r.app)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range names {
			// A rotation re-issues asynchronously: wait for the certificate under ca.
			var out map[string]any
			deadline := time.Now().Add(10 * time.Minute)
			for {
				out, err = r.model.RunAction(ctx, u, "get-certificate", map[string]any{"scope": r.scope})
				if err == nil && strings.TrimSpace(fmt.Sprint(out["ca"])) == ca {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s has no certificate under the current CA: %v %v", u, err, out)
				}
				time.Sleep(10 * time.Second)
			}
			name := unitFQDN(u, r.model.Name)
			if r.scope == "app" {
				name = appFQDN(r.app, r.model.Name)
			}
			certFile := filepath.Join(dir, strings.ReplaceAll(u, "/", "-")+".pem")
			chainFile := filepath.Join(dir, strings.ReplaceAll(u, "/", "-")+"-chain.pem")
			os.WriteFile(certFile, []byte(fmt.Sprint(out["certificate"])+"\n"), 0o644)
			os.WriteFile(chainFile, []byte(fmt.Sprint(out["chain"])+"\n"), 0o644)
			openssl(t, "verify", "-CAfile", caFile, "-untrusted", chainFile, certFile)
			openssl(t, "x509", "-in", certFile, "-noout", "-checkhost", name)

			addr := net.JoinHostPort(units[u].Address, "8443")
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: name})
			if err != nil {
				t.Errorf("handshake with %s (%s as %s): %v", u, addr, name, err)
			} else {
				conn.Close()
			}
			cmd := exec.Command("openssl", "s_client", "-verify_return_error", "-CAfile", caFile, "-servername", name, "-connect", addr)
			cmd.Stdin = strings.NewReader("")
			if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "Verify return code: 0 (ok)") {
				t.Errorf("openssl s_client to %s as %s: %v\n%s", u, name, err, b)
			}
		}
	}
}

// checkInContainerHandshakes makes, from each unit of a requirer that receives the CA over certificate_transfer,
// inside its server container, a handshake with every unit-mode server of the same model, trusting only the
// container's trust store (which the charm built with update-ca-certificates), as demo-tls.yaml's exec steps do.
func checkInContainerHandshakes(ctx context.Context, t *testing.T, m *Model, reqs []requirer) {
	t.Helper()
	st, err := m.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range reqs {
		if client.model != m || client.scope != "app" {
			continue
		}
		_, clientUnits, err := m.Units(client.app)
		if err != nil {
			t.Fatal(err)
		}
		for _, server := range reqs {
			if server.model != m || server.scope != "unit" {
				continue
			}
			for su := range st.Applications[server.app].Units {
				for _, cu := range clientUnits {
					url := fmt.Sprintf("https://%s:8443/", unitFQDN(su, m.Name))
					code, stdout, stderr, err := m.Exec(ctx, cu, "server", "curl -sS --fail "+url, time.Minute)
					if err != nil || code != 0 {
						t.Errorf("curl %s in %s: exit %d %v\n%s%s", url, cu, code, err, stdout, stderr)
					}
				}
			}
		}
	}
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// TestSkipsWithoutController pins the skip line: without the variables every test says which to set.
func TestSkipsWithoutController(t *testing.T) {
	msg := SkipMessage([]string{"TLS_AUTHORITY_CONTROLLER"})
	for _, v := range envVars {
		if !strings.Contains(msg, v) {
			t.Errorf("skip line %q does not name %s", msg, v)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("skip line %q is more than one line", msg)
	}
}
