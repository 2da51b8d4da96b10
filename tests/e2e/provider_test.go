package e2e

import (
	"crypto"
	"fmt"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// sent is one CSR a test published, and where.
type sent struct {
	rel  *sim.Relation
	csr  string
	isCA bool
	key  crypto.Signer
	from string
}

// checkAll checks every published CSR has its one certificate, each relation's certificates value has the
// Python provider's shape with exactly one entry per CSR and no request_errors, and the status counts them all.
func checkAll(t *testing.T, authority *sim.App, rels []*sim.Relation, reqs []sent) map[string]tlscertificates.ProviderCertificate {
	t.Helper()
	caPEM := caOf(t, authority)
	caFile := writeTemp(t, "ca.pem", caPEM)
	entry := fixtureEntrySkeleton(t)
	byRel := map[*sim.Relation][]sent{}
	for _, r := range reqs {
		byRel[r.rel] = append(byRel[r.rel], r)
	}
	out := map[string]tlscertificates.ProviderCertificate{}
	total := 0
	for _, r := range rels {
		certs, errs, bag := issuedBag(t, r, authority.Name())
		if len(errs) != 0 {
			t.Fatalf("relation %v: request_errors %+v", r.Endpoints(), errs)
		}
		if strings.Contains(bag["certificates"], "revoked") {
			t.Fatalf("relation %v: a revoked key with nothing revoked", r.Endpoints())
		}
		want := byRel[r]
		if len(certs) != len(want) {
			t.Fatalf("relation %v: %d certificates, want %d", r.Endpoints(), len(certs), len(want))
		}
		checkShape(t, bag["certificates"], len(want), entry)
		for _, s := range want {
			out[s.csr] = checkIssued(t, certs, s.csr, s.isCA, caPEM, caFile)
		}
		total += len(want)
	}
	// The inventory the get-issued-certificates action reports is the same set.
	listed := listIssued(t, authority.Leader()) // in parts past 96 KiB (about 19 certificates)
	if len(listed) != total {
		t.Fatalf("get-issued-certificates lists %d certificates, want %d", len(listed), total)
	}
	for _, l := range listed {
		if e, ok := out[l.CSR]; !ok || e.Certificate != l.Certificate || l.Revoked {
			t.Fatalf("get-issued-certificates lists a certificate that is not in the databags (known CSR %v)", ok)
		}
	}
	if n := issuedCount(t, authority.Leader()); n != total {
		t.Fatalf("status counts %d issued, want %d (%s)", n, total, authority.Leader().Status().Message)
	}
	if n := outstandingCount(t, authority.Leader()); n != 0 {
		t.Fatalf("status counts %d outstanding, want 0", n)
	}
	noFailedHooks(t, authority)
	return out
}

// TestProviderModes is issue 4's main scenario: 3 requirer apps × 3 units in UNIT mode, one APP mode app, one
// app-and-unit app and one requirer in another model through an offer; then renewal, a departing unit and a
// removed relation.
func TestProviderModes(t *testing.T) {
	s := newSim(t)
	pki, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	edge, err := s.AddModel("edge")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, pki, "tls-authority", 1, map[string]any{"allow-ca-requests": true}) // unit-a/0 and app-mode ask for CAs
	var rels []*sim.Relation
	relOf := map[string]*sim.Relation{}
	for _, name := range []string{"unit-a", "unit-b", "unit-c"} {
		deployRequirer(t, pki, name, 3)
		relOf[name] = integrate(t, pki, name+":certificates", "tls-authority:certificates")
		rels = append(rels, relOf[name])
	}
	deployRequirer(t, pki, "app-mode", 2)
	relOf["app-mode"] = integrate(t, pki, "app-mode:certificates", "tls-authority:certificates")
	deployRequirer(t, pki, "both", 2)
	relOf["both"] = integrate(t, pki, "both:certificates", "tls-authority:certificates")
	if err := pki.Offer("tls-authority", "certificates", "pki-certs"); err != nil {
		t.Fatal(err)
	}
	if err := edge.Consume(pki, "pki-certs", "central"); err != nil {
		t.Fatal(err)
	}
	deployRequirer(t, edge, "remote", 2)
	relOf["remote"] = integrate(t, edge, "remote:certificates", "central:certificates")
	rels = append(rels, relOf["app-mode"], relOf["both"], relOf["remote"])
	settle(t, s)

	var reqs []sent
	keys := map[string]crypto.Signer{}
	add := func(u *sim.Unit, app bool, rel *sim.Relation, rs ...sent) {
		t.Helper()
		var wire []tlscertificates.CSRRequest
		for _, r := range rs {
			wire = append(wire, req(r.csr, r.isCA))
			r.rel = rel
			reqs = append(reqs, r)
		}
		publishCSRs(t, u, app, wire...)
	}
	csrFor := func(owner string, isCA bool, key crypto.Signer, cn string, sans ...string) sent {
		return sent{csr: newCSR(t, key, cn, sans...), isCA: isCA, key: key, from: owner}
	}
	// UNIT mode: every unit its own key; unit-a/0 also asks for a CA certificate (ECDSA key), unit-b's units ask
	// for an IP SAN as well.
	for _, name := range []string{"unit-a", "unit-b", "unit-c"} {
		for _, u := range pki.App(name).Units() {
			k := rsaKey(t)
			keys[u.Name()] = k
			fq := u.FQDN()
			rs := []sent{csrFor(u.Name(), false, k, fq, fq, u.Hostname())}
			if name == "unit-b" {
				rs[0] = csrFor(u.Name(), false, k, fq, fq, u.Address())
			}
			if u.Name() == "unit-a/0" {
				rs = append(rs, csrFor(u.Name(), true, ecKey(t), "intermediate."+fq))
			}
			add(u, false, relOf[name], rs...)
		}
	}
	// APP mode: the leader writes the app databag, one ordinary and one CA request.
	ak := rsaKey(t)
	add(pki.App("app-mode").Leader(), true, relOf["app-mode"],
		csrFor("app-mode", false, ak, "app-mode.example.com", "app-mode.example.com"),
		csrFor("app-mode", true, ecKey(t), "app-mode CA"))
	// app-and-unit: one app CSR and one per unit on the same relation.
	add(pki.App("both").Leader(), true, relOf["both"], csrFor("both", false, rsaKey(t), "both.example.com", "both.example.com"))
	for _, u := range pki.App("both").Units() {
		add(u, false, relOf["both"], csrFor(u.Name(), false, ecKey(t), u.FQDN(), u.FQDN()))
	}
	// Across models.
	for _, u := range edge.App("remote").Units() {
		k := rsaKey(t)
		keys[u.Name()] = k
		add(u, false, relOf["remote"], csrFor(u.Name(), false, k, u.FQDN(), u.FQDN()))
	}
	settle(t, s)
	checkAll(t, authority, rels, reqs)
	if len(reqs) != 9+1+2+3+2 {
		t.Fatalf("%d requests sent", len(reqs))
	}

	// Renewal: unit-c/1 replaces its CSR with a new one for the same key; the new one is issued, the old entry goes.
	renewer := pki.Unit("unit-c/1")
	var old sent
	for i, r := range reqs {
		if r.from == renewer.Name() {
			old = r
			reqs[i] = csrFor(renewer.Name(), false, keys[renewer.Name()], renewer.FQDN(), renewer.FQDN(), "renewed.example.com")
			reqs[i].rel = r.rel
			publishCSRs(t, renewer, false, req(reqs[i].csr, false))
		}
	}
	if old.csr == "" {
		t.Fatal("no request of unit-c/1")
	}
	settle(t, s)
	issued := checkAll(t, authority, rels, reqs)
	certs, _, _ := issuedBag(t, relOf["unit-c"], authority.Name())
	for _, c := range certs {
		if c.CSR == old.csr {
			t.Fatal("the replaced CSR's entry is still there")
		}
	}
	if !strings.Contains(strings.Join(parseCert(t, findCSR(t, issued, renewer.Name(), reqs).Certificate).DNSNames, ","), "renewed.example.com") {
		t.Fatal("the renewed certificate lacks the new SAN")
	}

	// A unit departs (scale down): its entries go.
	if err := pki.App("unit-b").Scale(2); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	reqs = dropFrom(reqs, "unit-b/2")
	checkAll(t, authority, rels, reqs)

	// A relation is removed: its certificates leave the inventory and the status count.
	if err := pki.RemoveRelation(relOf["unit-a"]); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var keep []sent
	for _, r := range reqs {
		if r.rel != relOf["unit-a"] {
			keep = append(keep, r)
		}
	}
	reqs = keep
	rels = rels[1:]
	checkAll(t, authority, rels, reqs)
}

func findCSR(t *testing.T, issued map[string]tlscertificates.ProviderCertificate, from string, reqs []sent) tlscertificates.ProviderCertificate {
	t.Helper()
	for _, r := range reqs {
		if r.from == from {
			return issued[r.csr]
		}
	}
	t.Fatalf("no request from %s", from)
	return tlscertificates.ProviderCertificate{}
}

func dropFrom(reqs []sent, from string) []sent {
	var out []sent
	for _, r := range reqs {
		if r.from != from {
			out = append(out, r)
		}
	}
	return out
}

// TestProviderCertificateLimit: with certificate-limit 2 and 5 outstanding CSRs on one relation, one hook signs
// 2 and the following hooks the rest.
func TestProviderCertificateLimit(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, map[string]any{"certificate-limit": 2})
	deployRequirer(t, m, "many", 1)
	rel := integrate(t, m, "many:certificates", "tls-authority:certificates")
	settle(t, s)
	u := m.Unit("many/0")
	var rs []tlscertificates.CSRRequest
	for i := range 5 {
		rs = append(rs, req(newCSR(t, ecKey(t), fmt.Sprintf("host%d.example.com", i), fmt.Sprintf("host%d.example.com", i)), false))
	}
	leader := authority.Leader()
	before := len(leader.Hooks())
	publishCSRs(t, u, false, rs...)
	settle(t, s)
	var changed int
	for _, h := range leader.Hooks()[before:] {
		if h.Name == "certificates-relation-changed" {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("%d certificates-relation-changed hooks on the leader, want 1", changed)
	}
	count := func() int {
		certs, _, _ := issuedBag(t, rel, authority.Name())
		return len(certs)
	}
	if n := count(); n != 2 {
		t.Fatalf("after one hook: %d certificates, want 2", n)
	}
	if n, o := issuedCount(t, leader), outstandingCount(t, leader); n != 2 || o != 3 {
		t.Fatalf("status after one hook: %s", leader.Status().Message)
	}
	s.UpdateStatus()
	settle(t, s)
	if n := count(); n != 4 {
		t.Fatalf("after the second hook: %d certificates, want 4", n)
	}
	s.UpdateStatus()
	settle(t, s)
	var sentReqs []sent
	for _, r := range rs {
		sentReqs = append(sentReqs, sent{rel: rel, csr: r.CSR})
	}
	checkAll(t, authority, []*sim.Relation{rel}, sentReqs)
}

// TestProviderRequestsWhileBlocked: requests that arrive while the config is invalid are signed once the config is
// fixed (back to what it was before), without the requirer writing again.
func TestProviderRequestsWhileBlocked(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, nil)
	deployRequirer(t, m, "late", 1)
	rel := integrate(t, m, "late:certificates", "tls-authority:certificates")
	settle(t, s)
	if err := authority.SetConfig(map[string]any{"certificate-validity": "x"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	csr := newCSR(t, ecKey(t), "late.example.com", "late.example.com")
	publishCSRs(t, m.Unit("late/0"), false, req(csr, false))
	settle(t, s)
	if st := authority.Leader().Status(); st.Status != "blocked" {
		t.Fatalf("invalid config: status %v", st)
	}
	if certs, _, _ := issuedBag(t, rel, authority.Name()); len(certs) != 0 {
		t.Fatalf("%d certificates issued under an invalid config", len(certs))
	}
	if err := authority.SetConfig(map[string]any{"certificate-validity": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	checkAll(t, authority, []*sim.Relation{rel}, []sent{{rel: rel, csr: csr}})
}
