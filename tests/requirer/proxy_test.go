package requirer_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// proxyGet fetches / from the proxy's unit by the application's FQDN (its APP certificate's name), trusting
// roots, retrying while the server starts.
func proxyGet(t testing.TB, u *sim.Unit, model, app string, rootsPEM string) (int, string, http.Header) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(t, rootsPEM), ServerName: fmt.Sprintf("%s.%s.svc.cluster.local", app, model)},
	}}
	url := "https://" + net.JoinHostPort(u.Address(), "8443") + "/"
	var last error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := cl.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body), resp.Header
	}
	t.Fatalf("GET %s: %v", url, last)
	return 0, "", nil
}

// serviceLog is the server service's log in a unit's container, as `pebble logs server` shows it.
func serviceLog(t testing.TB, u *sim.Unit) string {
	t.Helper()
	c, err := u.Container("server").Client()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = c.Logs(&client.LogsOptions{Services: []string{"server"}, N: -1, WriteLog: func(e client.LogEntry) error {
		b.WriteString(e.Message)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestProxyRefusesUntrustedBackend: the proxy (mode proxy) serves its APP certificate from ca-a and forwards to
// backend's unit, whose certificate ca-b issued. Until the proxy's container trusts ca-b, it refuses the backend:
// 502 with the reason, logged in its service log, and never the backend's answer. Once ca-b arrives over
// receive-ca-cert (installed by update-ca-certificates), the same request reaches the backend.
func TestProxyRefusesUntrustedBackend(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("edge")
	if err != nil {
		t.Fatal(err)
	}
	deployAuthority(t, m, "ca-a")
	deployAuthority(t, m, "ca-b")
	proxy := deployRequirer(t, m, "proxy", 1, map[string]any{"mode": "proxy"})
	backend := deployRequirer(t, m, "backend", 1, map[string]any{"mode": "unit"})
	integrate(t, m, "proxy:certificates", "ca-a:certificates")
	integrate(t, m, "backend:certificates", "ca-b:certificates")
	integrate(t, m, "proxy:ingress-per-unit", "backend:ingress")
	settle(t, s)
	p0 := proxy.Units()[0]
	if st := p0.Status(); st.Status != "active" || !strings.Contains(st.Message, "proxying to 1 backends") {
		t.Fatalf("proxy/0: %s %q", st.Status, st.Message)
	}
	caA := action(t, p0, "get-certificate", nil)["ca"]
	// The backend serves a certificate ca-b verifies before the proxy is asked: a settled model has started its
	// server, not necessarily loaded it, and a backend still starting would be refused for another reason.
	b0 := backend.Units()[0]
	handshakeEventually(t, b0, pool(t, action(t, b0, "get-certificate", nil)["ca"]))

	code, body, _ := proxyGet(t, p0, "edge", "proxy", caA)
	if code != http.StatusBadGateway || !strings.Contains(body, "backend/0") || !strings.Contains(body, "unknown authority") || strings.Contains(body, "hello from") {
		t.Fatalf("untrusted backend: %d %q, want 502 naming backend/0 and the unknown authority", code, body)
	}
	// Pebble copies the service's output into its log as it reads it, so the line may land a moment after the
	// answer that followed it.
	const refused = "refused backend backend/0 (https://backend-0.backend-endpoints.edge.svc.cluster.local:8443)"
	var log string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		log = serviceLog(t, p0)
		if strings.Contains(log, refused) && strings.Contains(log, "certificate signed by unknown authority") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy's log does not say why it refused the backend:\n%s", log)
		}
	}

	integrate(t, m, "proxy:receive-ca-cert", "ca-b:send-ca-cert")
	settle(t, s)
	code, body, hdr := proxyGet(t, p0, "edge", "proxy", caA)
	if code != http.StatusOK || body != "hello from backend-0\n" || hdr.Get("X-Backend") != "backend/0" {
		t.Fatalf("trusted backend: %d %q (X-Backend %q), want 200 from backend-0", code, body, hdr.Get("X-Backend"))
	}
}
