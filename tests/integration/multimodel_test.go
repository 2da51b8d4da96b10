package integration

import (
	"strings"
	"testing"
	"time"
)

// TestMultiModelReferenceArchitecture is SPEC §1's reference architecture with one root, as
// tests/scenarios/multimodel-intermediate.yaml runs it on the simulator: a pki model whose authority offers
// certificates and send-ca-cert; model-a with its own authority (an intermediate of pki) issuing UNIT certificates
// to app-a, and the proxy (Traefik's role) with an APP certificate from pki in front of app-a's units; model-b with
// its authority (an intermediate of pki) issuing app-b's cluster certificates, and app-b serving an APP certificate
// from pki. A client that trusts only the pki root reaches the proxy (and through it app-a's units), app-b's units,
// and app-a's units directly.
func TestMultiModelReferenceArchitecture(t *testing.T) {
	s := setup(t, 60*time.Minute)
	pki, ma, mb := s.model("pki"), s.model("model-a"), s.model("model-b")

	// pki signs CA certificates only when told to (allow-ca-requests is off by default): its model authorities'.
	s.authority(pki, "pki-ca", 1, map[string]string{"allow-ca-requests": "true"})
	certsURL, err := pki.Offer(s.ctx, "pki-ca", "certificates", "certificates")
	if err != nil {
		t.Fatal(err)
	}
	caURL, err := pki.Offer(s.ctx, "pki-ca", "send-ca-cert", "send-ca-cert")
	if err != nil {
		t.Fatal(err)
	}

	s.authority(ma, "authority-a", 1, nil)
	s.requirer(ma, "app-a", 3, "unit", nil)
	s.requirer(ma, "proxy", 1, "proxy", nil)
	for url, alias := range map[string]string{certsURL: "pki-certificates", caURL: "pki-ca-cert"} {
		if err := ma.Consume(s.ctx, url, alias); err != nil {
			t.Fatal(err)
		}
	}
	s.integrate(ma, "app-a:certificates", "authority-a:certificates")
	s.integrate(ma, "app-a:receive-ca-cert", "pki-ca-cert")
	s.integrate(ma, "proxy:certificates", "pki-certificates")
	s.integrate(ma, "proxy:receive-ca-cert", "authority-a:send-ca-cert")
	s.integrate(ma, "proxy:ingress-per-unit", "app-a:ingress")
	s.integrate(ma, "authority-a:issuer", "pki-certificates")

	s.authority(mb, "authority-b", 1, nil)
	s.requirer(mb, "app-b", 2, "app", nil)
	if err := mb.Consume(s.ctx, certsURL, "pki-certificates"); err != nil {
		t.Fatal(err)
	}
	s.integrate(mb, "app-b:certificates", "pki-certificates")
	s.integrate(mb, "app-b:cluster-certificates", "authority-b:certificates")
	s.integrate(mb, "authority-b:issuer", "pki-certificates")
	s.settle(pki, ma, mb)

	root := s.ca(pki, "pki-ca")
	if served := s.agentCA(pki, "pki-ca/0"); !contains(served, root) {
		t.Errorf("pki-ca/0's agent /ca.pem lacks the root get-ca-certificate answers")
	}
	// The model authorities are intermediates: each one's CA verifies against the pki root alone. Their
	// certificates come after the intermediate's delivery (an update-status or two on the simulator): wait for it.
	for _, a := range []struct {
		m   *Model
		app string
	}{{ma, "authority-a"}, {mb, "authority-b"}} {
		s.waitChainsTo(a.m, a.app, root)
	}

	// The client that trusts only the pki root, over HTTPS.
	get := func(m *Model, unit, serverName, want string) {
		t.Helper()
		var body string
		var err error
		for range 30 { // the proxy and app-a re-issue under the intermediate asynchronously
			if body, err = s.tlsGet(s.address(m, unit)+":8443", serverName, root); err == nil && strings.Contains(body, want) {
				return
			}
			time.Sleep(10 * time.Second)
		}
		t.Errorf("https://%s/ at %s, trusting only the pki root: %v, body %q, want %q", serverName, unit, err, body, want)
	}
	for range 3 { // the proxy forwards to the next app-a unit each time
		get(ma, "proxy/0", appFQDN("proxy", ma.Name), "hello from app-a-")
	}
	for _, u := range s.units(ma, "app-a") {
		get(ma, u, unitFQDN(u, ma.Name), "hello from app-a-"+strings.TrimPrefix(u, "app-a/"))
	}
	for _, u := range s.units(mb, "app-b") {
		get(mb, u, appFQDN("app-b", mb.Name), "hello from app-b-"+strings.TrimPrefix(u, "app-b/"))
	}
	// And with openssl verify, every certificate up to the root.
	s.verify(root, s.certificate(ma, "proxy/0", "app", root), appFQDN("proxy", ma.Name))
	s.verify(root, s.certificate(mb, "app-b/0", "app", root), appFQDN("app-b", mb.Name))
}

// waitChainsTo waits until app's get-ca-certificate gives a CA whose chain ends at root.
func (s *suite) waitChainsTo(m *Model, app, root string) {
	s.t.Helper()
	for {
		out, err := m.RunAction(s.ctx, s.leaderOf(m, app), "get-ca-certificate", nil)
		if err == nil {
			chain, _ := out["ca-chain"].(string)
			if cs := certs(chain); len(cs) > 0 && cs[len(cs)-1] == strings.TrimSpace(root) {
				ca, _ := out["ca-certificate"].(string)
				s.verify(root, issued{cert: strings.TrimSpace(ca), chain: strings.Join(cs[:len(cs)-1], "\n"), ca: root}, "")
				return
			}
		}
		select {
		case <-s.ctx.Done():
			s.t.Fatalf("%s's CA never chained to the pki root: %v %v", app, err, out)
		case <-time.After(10 * time.Second):
		}
	}
}
