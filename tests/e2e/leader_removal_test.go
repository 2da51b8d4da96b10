package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/charm"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// The application's CA as the model holds it: what must not move when a unit, the leader included, leaves.
type authorityState struct {
	ca       string            // get-ca-certificate on the leader
	peer     map[string]string // the CA keys of the peer application databag
	secret   map[string]string // the CA secret's latest content
	provider map[string]string // the certificates relation's provider databag: every issued certificate
	caPEM    map[string]string // /ca.pem on each live unit
}

// peerCAKeys are the peer databag's keys that define the CA, its chain, its secret and a rotation.
var peerCAKeys = []string{"ca", "ca-params", "bundle", "parents", "issuer", "ca-secret", "next-ca", "rotation-start", "previous-ca", "previous-secret"}

func peerRelationOf(t testing.TB, m *sim.Model, app string) *sim.Relation {
	t.Helper()
	for _, r := range m.Relations() {
		if eps := r.Endpoints(); len(eps) == 1 && eps[0] == app+":"+charm.PeerEndpoint {
			return r
		}
	}
	t.Fatalf("no peer relation for %s", app)
	return nil
}

func snapshotAuthority(t testing.TB, s *sim.Sim, m *sim.Model, app *sim.App, certs *sim.Relation) authorityState {
	t.Helper()
	bag := peerRelationOf(t, m, app.Name()).AppData(app.Name())
	st := authorityState{ca: caOf(t, app), peer: map[string]string{}, provider: certs.AppData(app.Name()), caPEM: map[string]string{}}
	for _, k := range peerCAKeys {
		st.peer[k] = bag[k]
	}
	content, err := s.SecretContentForTest(bag["ca-secret"], 0)
	if err != nil {
		t.Fatalf("the CA secret: %v", err)
	}
	st.secret = content
	for _, u := range app.Units() {
		st.caPEM[u.Name()] = string(httpGet(t, fmt.Sprintf("http://%s:%d/ca.pem", u.Address(), charm.AgentPort)))
	}
	return st
}

// sameAuthority fails unless after holds the CA before did, with every issued certificate, and every live unit
// serves the same /ca.pem as before.
func sameAuthority(t testing.TB, step string, before, after authorityState) {
	t.Helper()
	if after.ca != before.ca {
		t.Errorf("%s: the CA changed", step)
	}
	for _, k := range peerCAKeys {
		if after.peer[k] != before.peer[k] {
			t.Errorf("%s: peer %q changed:\n was %.200q\n now %.200q", step, k, before.peer[k], after.peer[k])
		}
	}
	if !maps.Equal(after.secret, before.secret) {
		t.Errorf("%s: the CA secret changed: keys %v, were %v", step, slices.Sorted(maps.Keys(after.secret)), slices.Sorted(maps.Keys(before.secret)))
	}
	for _, k := range slices.Sorted(maps.Keys(before.provider)) {
		if after.provider[k] != before.provider[k] {
			t.Errorf("%s: the provider databag's %q changed:\n was %.300q\n now %.300q", step, k, before.provider[k], after.provider[k])
		}
	}
	for k := range after.provider {
		if _, ok := before.provider[k]; !ok {
			t.Errorf("%s: the provider databag has a new key %q", step, k)
		}
	}
	served := ""
	for _, v := range before.caPEM {
		served = v
	}
	if len(after.caPEM) == 0 {
		t.Errorf("%s: no unit left to serve /ca.pem", step)
	}
	for u, v := range after.caPEM {
		if v != served {
			t.Errorf("%s: %s serves another /ca.pem", step, u)
		}
	}
}

// A unit's leaving, the leader's included, changes nothing that belongs to the application. On Juju the dying
// leader keeps leadership through its own relation-departed and relation-broken hooks: before the fix its
// issuer-relation-broken went back to a root (leaveIssuer stripped the intermediate's key and started a rotation),
// and its certificates-relation hooks could withdraw what it had issued. After each removal the CA, its secret,
// the peer data, /ca.pem and every issued certificate are as before, and the new leader signs a new request
// under the same CA.
func TestLeaderRemovalKeepsTheAuthority(t *testing.T) {
	for _, tc := range []struct {
		name         string
		intermediate bool
		units        int
		steps        []int // the scales to go through, the leader being the highest unit
	}{
		{"intermediate, the leader of three leaves", true, 3, []int{2}},
		{"intermediate, one to none and back", true, 1, []int{0, 1}},
		{"root, the leader of two leaves", false, 2, []int{1}},
		{"root, one to none and back", false, 1, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			edge, err := s.AddModel("model-a")
			if err != nil {
				t.Fatal(err)
			}
			if tc.intermediate {
				pki, err := s.AddModel("pki")
				if err != nil {
					t.Fatal(err)
				}
				deployAuthority(t, pki, "pki", 1, map[string]any{"ca-common-name": "pki-root", "allow-ca-requests": true})
				if err := pki.Offer("pki", "certificates", "pki-certs"); err != nil {
					t.Fatal(err)
				}
				if err := edge.Consume(pki, "pki-certs", "central"); err != nil {
					t.Fatal(err)
				}
			}
			auth := deployAuthority(t, edge, "authority", tc.units, map[string]any{"ca-common-name": "model-a-ca"})
			app := deployRequirer(t, edge, "app", 2)
			if tc.intermediate {
				integrate(t, edge, "authority:issuer", "central:certificates")
			}
			certs := integrate(t, edge, "app:certificates", "authority:certificates")
			settle(t, s)
			for i, u := range app.Units() {
				publishCSRs(t, u, false, req(newCSR(t, rsaKey(t), fmt.Sprintf("app-%d.example.com", i), fmt.Sprintf("app-%d.example.com", i)), false))
			}
			settle(t, s)
			units := auth.Units()
			last := units[len(units)-1]
			if err := edge.SetLeader(last.Name()); err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			wantStatus(t, "before", auth, "active", "issued 2")
			before := snapshotAuthority(t, s, edge, auth, certs)
			if tc.intermediate && (before.peer["parents"] == "" || before.secret["issuer-key"] == "") {
				t.Fatalf("not an intermediate: parents %q, secret keys %v", before.peer["parents"], slices.Sorted(maps.Keys(before.secret)))
			}
			ran := len(last.Hooks())
			for _, n := range tc.steps {
				if err := auth.Scale(n); err != nil {
					t.Fatal(err)
				}
				settle(t, s)
			}
			if l := auth.Leader(); l == nil || l == last {
				t.Fatalf("leader after the removal: %v", l)
			}
			noFailedHooks(t, auth)
			for _, h := range last.Hooks()[ran:] {
				for _, l := range h.Logs {
					if strings.Contains(l, "issuer removed") || strings.Contains(l, "rotation started") || strings.Contains(l, "created CA") {
						t.Errorf("the leaving leader logged in %s: %s", h.Name, l)
					}
				}
			}
			after := snapshotAuthority(t, s, edge, auth, certs)
			sameAuthority(t, "after the leader left", before, after)

			// The new leader carries on signing under the same CA.
			csr := newCSR(t, rsaKey(t), "late.example.com", "late.example.com")
			publishCSRs(t, app.Units()[0], false, req(csr, false))
			settle(t, s)
			e, ok := findEntry(certs.AppData("authority"), csr)
			if !ok {
				t.Fatal("the new leader did not sign a new request")
			}
			if strings.TrimSpace(e.CA) != strings.TrimSpace(before.ca) {
				t.Error("the new leader signed under another CA")
			}
			noFailedHooks(t, auth)
		})
	}
}

// juju suspend-relation on the issuer (a cross-model relation): the authority goes back to a self-signed root, as
// when the issuer is removed; juju resume-relation: it asks again and becomes the issuer's intermediate. Juju keeps
// the application databags across the suspension, so the authority's old CSR (for the intermediate key it dropped)
// is still in its databag on resume: before the fix the requirer library kept it, the issuer answered it, and the
// authority waited for ever on "its CA certificate is unusable".
func TestIssuerSuspendAndResume(t *testing.T) {
	s := newSim(t)
	edge, err := s.AddModel("model-a")
	if err != nil {
		t.Fatal(err)
	}
	pki, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	parent := deployAuthority(t, pki, "pki", 1, map[string]any{"ca-common-name": "pki-root", "allow-ca-requests": true})
	if err := pki.Offer("pki", "certificates", "pki-certs"); err != nil {
		t.Fatal(err)
	}
	if err := edge.Consume(pki, "pki-certs", "central"); err != nil {
		t.Fatal(err)
	}
	auth := deployAuthority(t, edge, "authority", 2, map[string]any{"ca-common-name": "model-a-ca"})
	issuer := integrate(t, edge, "authority:issuer", "central:certificates")
	settle(t, s)
	issuedBy := func() string {
		t.Helper()
		c := parseCert(t, caOf(t, auth))
		return c.Issuer.CommonName
	}
	if got := issuedBy(); got != "pki-root" {
		t.Fatalf("related: the CA is issued by %q", got)
	}
	if err := pki.SuspendRelation(issuer); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the rotation back to a root signs after an update-status
		settle(t, s)
		s.UpdateStatus()
	}
	settle(t, s)
	if got := issuedBy(); got != "model-a-ca" {
		t.Fatalf("suspended: the CA is issued by %q, want a self-signed root", got)
	}
	if err := pki.ResumeRelation(issuer); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		settle(t, s)
		s.UpdateStatus()
	}
	settle(t, s)
	wantStatus(t, "resumed", auth, "active", "")
	if got := issuedBy(); got != "pki-root" {
		t.Fatalf("resumed: the CA is issued by %q, want pki-root", got)
	}
	noFailedHooks(t, auth)
	noFailedHooks(t, parent)
}
