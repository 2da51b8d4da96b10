package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// binDir is shared by every test process so jujuc, pebble and nsexec are built once.
func binDir() string { return filepath.Join(os.TempDir(), "tls-authority-test-bin") }

func newSim(t testing.TB) *sim.Sim {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root for private mount namespaces")
	}
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, HookTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// deployAuthority deploys the packed tls-authority charm with its image.
func deployAuthority(t testing.TB, m *sim.Model, name string, units int, cfg map[string]any) *sim.App {
	t.Helper()
	charm, err := artifacts.Charm()
	if err != nil {
		t.Fatal(err)
	}
	image, err := artifacts.Image()
	if err != nil {
		t.Fatal(err)
	}
	app, err := m.Deploy(name, charm, &sim.DeployOptions{Units: units, Config: cfg, Resources: map[string]string{"authority-image": image}})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func settle(t testing.TB, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
}

func action(t testing.TB, u *sim.Unit, name string, params map[string]any) *sim.ActionResult {
	t.Helper()
	res, err := u.RunAction(name, params)
	if err != nil {
		t.Fatalf("%s on %s: %v", name, u.Name(), err)
	}
	if res.Status != "completed" {
		t.Fatalf("%s on %s: %s: %s", name, u.Name(), res.Status, res.Message)
	}
	return res
}

// httpGet fetches a URL from the agent, retrying while it starts.
func httpGet(t testing.TB, url string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return body
			}
			err = rerr
			if err == nil {
				err = &statusError{resp.StatusCode, string(body)}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return http.StatusText(e.code) + ": " + e.body }

func parseCert(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", s)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// openssl runs openssl with args, stdin in, and fails the test on error.
func openssl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
