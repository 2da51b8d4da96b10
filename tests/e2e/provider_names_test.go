package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// TestProviderClusterNames is issue 10's defect 4: requirer a's unit asks for b's unit FQDN and b's service
// name. With bind-cluster-names off (the default) it is signed, and the leader logs one WARNING naming the
// relation, the unit and the names; with it on, the request is refused with domain_not_allowed (102) naming the
// owner, while b's unit still gets its own FQDN signed.
func TestProviderClusterNames(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, nil)
	deployRequirer(t, m, "a", 1)
	deployRequirer(t, m, "b", 1)
	aRel := integrate(t, m, "a:certificates", "tls-authority:certificates")
	bRel := integrate(t, m, "b:certificates", "tls-authority:certificates")
	settle(t, s)
	caPEM := caOf(t, authority)
	caFile := writeTemp(t, "ca.pem", caPEM)
	a0, b0 := m.Unit("a/0"), m.Unit("b/0")
	aID := fmt.Sprintf("certificates:%d", aRel.ID())
	bFQDN := "b-0.b-endpoints.pki.svc.cluster.local"
	bService := "b.pki.svc.cluster.local"

	// leaderLogs gives the authority leader's juju-log lines from hook run `from` on.
	leaderLogs := func(from int) []string {
		var logs []string
		for _, h := range authority.Leader().Hooks()[from:] {
			logs = append(logs, h.Logs...)
		}
		return logs
	}
	matching := func(logs []string, re *regexp.Regexp) []string {
		var hits []string
		for _, l := range logs {
			if re.MatchString(l) {
				hits = append(hits, l)
			}
		}
		return hits
	}

	t.Run("off: signed and logged", func(t *testing.T) {
		before := len(authority.Leader().Hooks())
		own := newCSR(t, ecKey(t), "a-0.a-endpoints.pki.svc.cluster.local", "a-0.a-endpoints.pki.svc.cluster.local", "a.pki.svc")
		foreign := newCSR(t, ecKey(t), "steal", bFQDN, bService)
		publishCSRs(t, a0, false, req(own, false), req(foreign, false))
		settle(t, s)
		certs, errs, _ := issuedBag(t, aRel, authority.Name())
		if len(errs) != 0 || len(certs) != 2 {
			t.Fatalf("a: %d certificates, %d request errors; want 2, 0", len(certs), len(errs))
		}
		checkIssued(t, certs, foreign, false, caPEM, caFile)
		logs := leaderLogs(before)
		hits := matching(logs, regexp.MustCompile(`^WARNING .*signing names it does not own`))
		if len(hits) != 1 {
			t.Fatalf("%d WARNING lines for the foreign request, want 1; logs:\n%s", len(hits), strings.Join(logs, "\n"))
		}
		for _, want := range []string{aID, "a/0", bFQDN, "unit b/0", bService} {
			if !strings.Contains(hits[0], want) {
				t.Errorf("log line does not name %q: %s", want, hits[0])
			}
		}
		if strings.Contains(strings.Join(logs, "\n"), "a-0.a-endpoints") {
			t.Errorf("a's own names were logged:\n%s", strings.Join(logs, "\n"))
		}
		// Logged once: a later hook of the relation with nothing new does not log it again.
		before = len(authority.Leader().Hooks())
		publish(t, a0, "", false, map[string]string{"unrelated": "x"})
		settle(t, s)
		if again := matching(leaderLogs(before), regexp.MustCompile(`does not own`)); len(again) != 0 {
			t.Errorf("logged again: %v", again)
		}
		publish(t, a0, "", false, map[string]string{tlscertificates.KeyCSRs: "", "unrelated": ""})
		settle(t, s)
	})

	t.Run("on: refused with 102, b still served", func(t *testing.T) {
		if err := authority.SetConfig(map[string]any{"bind-cluster-names": true}); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		before := len(authority.Leader().Hooks())
		foreign := newCSR(t, ecKey(t), "steal", bFQDN)
		ownB := newCSR(t, ecKey(t), bFQDN, bFQDN, bService, "b.pki.svc")
		publishCSRs(t, a0, false, req(foreign, false))
		publishCSRs(t, b0, false, req(ownB, false))
		settle(t, s)
		certs, errs, _ := issuedBag(t, aRel, authority.Name())
		if len(certs) != 0 || len(errs) != 1 {
			t.Fatalf("a: %d certificates, %d request errors; want 0, 1", len(certs), len(errs))
		}
		e := errs[0]
		if e.CSR != foreign || e.Error.Code != ca.CodeDomainNotAllowed || e.Error.Name != "domain_not_allowed" ||
			!strings.Contains(e.Error.Message, "unit b/0") || !strings.Contains(e.Error.Message, bFQDN) {
			t.Errorf("request error = %+v, want 102 domain_not_allowed naming %s and unit b/0", e, bFQDN)
		}
		bCerts, bErrs, _ := issuedBag(t, bRel, authority.Name())
		if len(bErrs) != 0 || len(bCerts) != 1 {
			t.Fatalf("b: %d certificates, %d request errors; want 1, 0", len(bCerts), len(bErrs))
		}
		checkIssued(t, bCerts, ownB, false, caPEM, caFile)
		logs := leaderLogs(before)
		hits := matching(logs, regexp.MustCompile(`^WARNING .*refusing a request for names it does not own`))
		if len(hits) != 1 || !strings.Contains(hits[0], aID) || !strings.Contains(hits[0], "a/0") || !strings.Contains(hits[0], bFQDN) {
			t.Errorf("want one WARNING naming %s, a/0 and %s; logs:\n%s", aID, bFQDN, strings.Join(logs, "\n"))
		}
		// Turned off again, the refused request is signed.
		if err := authority.SetConfig(map[string]any{"bind-cluster-names": false}); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		certs, errs, _ = issuedBag(t, aRel, authority.Name())
		if len(certs) != 1 || len(errs) != 0 {
			t.Fatalf("a after the option is off: %d certificates, %d request errors; want 1, 0", len(certs), len(errs))
		}
	})

	// Short names reach the same pods through the resolver's search path, and an address Juju gives a unit in its
	// databag is that unit's: a may have its own, not b/0's (issue 18). On Kubernetes that address is the
	// application's service address (the pod IP is in no databag: allow-ip-sans governs it).
	t.Run("on: short names and pod addresses", func(t *testing.T) {
		if err := authority.SetConfig(map[string]any{"bind-cluster-names": true}); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		bAddr := b0.App().ServiceAddress()
		own := newCSR(t, ecKey(t), "a-0", "a-0.a-endpoints", "a", "a.pki", a0.App().ServiceAddress())
		short := newCSR(t, ecKey(t), "steal", "b-0.b-endpoints", "b.pki")
		podIP := newCSR(t, ecKey(t), "steal", bAddr)
		publishCSRs(t, a0, false, req(own, false), req(short, false), req(podIP, false))
		settle(t, s)
		certs, errs, _ := issuedBag(t, aRel, authority.Name())
		if len(certs) != 1 || len(errs) != 2 {
			t.Fatalf("a: %d certificates, %d request errors; want 1, 2", len(certs), len(errs))
		}
		checkIssued(t, certs, own, false, caPEM, caFile)
		for _, e := range errs {
			want := map[string][]string{short: {"b-0.b-endpoints", "unit b/0", "b.pki"}, podIP: {bAddr, "unit b/0"}}[e.CSR]
			if want == nil || e.Error.Code != ca.CodeDomainNotAllowed {
				t.Fatalf("request error = %+v, want 102 for the short names or b/0's address", e)
			}
			for _, w := range want {
				if !strings.Contains(e.Error.Message, w) {
					t.Errorf("request error %q does not name %q", e.Error.Message, w)
				}
			}
		}
	})

	// A cross-model requirer (remote-<hex> on this side) owns its own model's names, which are not this model's
	// to bind, and none of this model's.
	t.Run("on: cross-model requirer", func(t *testing.T) {
		edge, err := s.AddModel("edge")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Offer("tls-authority", "certificates", "pki-certs"); err != nil {
			t.Fatal(err)
		}
		if err := edge.Consume(m, "pki-certs", "central"); err != nil {
			t.Fatal(err)
		}
		deployRequirer(t, edge, "c", 1)
		cRel := integrate(t, edge, "c:certificates", "central:certificates")
		if err := authority.SetConfig(map[string]any{"bind-cluster-names": true}); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		c0 := edge.Unit("c/0")
		ownC := newCSR(t, ecKey(t), c0.FQDN(), c0.FQDN(), "c.edge.svc")
		intoPKI := newCSR(t, ecKey(t), "c", "c.pki.svc.cluster.local")
		publishCSRs(t, c0, false, req(ownC, false), req(intoPKI, false))
		settle(t, s)
		certs, errs, _ := issuedBag(t, cRel, authority.Name())
		if len(certs) != 1 || len(errs) != 1 {
			t.Fatalf("c: %d certificates, %d request errors; want 1, 1", len(certs), len(errs))
		}
		checkIssued(t, certs, ownC, false, caPEM, caFile)
		if errs[0].CSR != intoPKI || errs[0].Error.Code != ca.CodeDomainNotAllowed {
			t.Errorf("request error = %+v, want 102 for c.pki.svc.cluster.local", errs[0])
		}
	})
	noFailedHooks(t, authority)
}
