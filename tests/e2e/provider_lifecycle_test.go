package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// pkiWithRequirers deploys the authority (units) and one UNIT-mode requirer app per name (n units each), each
// unit with one CSR, settled and issued.
func pkiWithRequirers(t *testing.T, units int, cfg map[string]any, names []string, n int) (*sim.Sim, *sim.Model, *sim.App, map[string]*sim.Relation, map[string]string) {
	t.Helper()
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", units, cfg)
	rels := map[string]*sim.Relation{}
	for _, name := range names {
		deployRequirer(t, m, name, n)
		rels[name] = integrate(t, m, name+":certificates", "tls-authority:certificates")
	}
	settle(t, s)
	csrs := map[string]string{} // unit -> CSR
	for _, name := range names {
		for _, u := range m.App(name).Units() {
			csrs[u.Name()] = newCSR(t, ecKey(t), u.FQDN(), u.FQDN())
			publishCSRs(t, u, false, req(csrs[u.Name()], false))
		}
	}
	settle(t, s)
	return s, m, authority, rels, csrs
}

func entryFor(t *testing.T, r *sim.Relation, authority, csr string) tlscertificates.ProviderCertificate {
	t.Helper()
	certs, _, _ := issuedBag(t, r, authority)
	for _, c := range certs {
		if c.CSR == csr {
			return c
		}
	}
	t.Fatalf("no entry for the CSR on %v", r.Endpoints())
	return tlscertificates.ProviderCertificate{}
}

// TestProviderRevocation: revoke-certificate by serial marks the entry revoked (the v4 provider's revoked shape),
// the agent serves a CRL (DER at /crl, PEM at /crl.pem) signed by the CA holding the serial, openssl parses it and
// rejects the revoked certificate with -crl_check while the others still verify.
func TestProviderRevocation(t *testing.T) {
	s, m, authority, rels, csrs := pkiWithRequirers(t, 2, nil, []string{"web"}, 2)
	rel := rels["web"]
	caPEM := caOf(t, authority)
	caCert := parseCert(t, caPEM)
	caFile := writeTemp(t, "ca.pem", caPEM)
	victim := entryFor(t, rel, authority.Name(), csrs["web/0"])
	other := entryFor(t, rel, authority.Name(), csrs["web/1"])
	vc := parseCert(t, victim.Certificate)
	// The distribution point is the issuing CA's own CRL (/crl/<its SKI>), which outlives a rotation.
	if len(vc.CRLDistributionPoints) != 1 || !strings.HasSuffix(vc.CRLDistributionPoints[0], fmt.Sprintf(":8080/crl/%x", caCert.SubjectKeyId)) {
		t.Fatalf("CRL distribution points %v", vc.CRLDistributionPoints)
	}
	serial := fmt.Sprintf("%X", vc.SerialNumber)
	var colons []string
	for i := 0; i < len(serial); i += 2 {
		colons = append(colons, serial[i:min(i+2, len(serial))])
	}

	// Not on a non-leader; a serial that matches nothing fails.
	var nonLeader *sim.Unit
	for _, u := range authority.Units() {
		if u != authority.Leader() {
			nonLeader = u
		}
	}
	if res, err := nonLeader.RunAction("revoke-certificate", map[string]any{"serial": serial}); err != nil || res.Status != "failed" {
		t.Fatalf("revoke on a non-leader: %v %+v", err, res)
	}
	if res, err := authority.Leader().RunAction("revoke-certificate", map[string]any{"serial": "abcdef"}); err != nil || res.Status != "failed" {
		t.Fatalf("revoke of an unknown serial: %v %+v", err, res)
	}

	res := action(t, authority.Leader(), "revoke-certificate", map[string]any{"serial": strings.Join(colons, ":")})
	if !strings.Contains(fmt.Sprint(res.Results["revoked"]), strings.ToLower(fmt.Sprintf("%x", vc.SerialNumber))) {
		t.Fatalf("revoke results %v", res.Results)
	}
	settle(t, s)

	// The entry: revoked true, same bytes otherwise; the other entry untouched.
	certs, _, bag := issuedBag(t, rel, authority.Name())
	if len(certs) != 2 {
		t.Fatalf("%d entries after the revocation, want 2", len(certs))
	}
	for _, c := range certs {
		switch c.CSR {
		case victim.CSR:
			if !c.Revoked || c.Certificate != victim.Certificate {
				t.Fatalf("revoked entry: revoked %v, same certificate %v", c.Revoked, c.Certificate == victim.Certificate)
			}
		case other.CSR:
			if c.Revoked || c.Certificate != other.Certificate {
				t.Fatalf("the other entry changed: revoked %v, same certificate %v", c.Revoked, c.Certificate == other.Certificate)
			}
		}
	}
	entry := fixtureEntrySkeleton(t)
	revokedEntry := strings.TrimSuffix(entry, "}") + `, "revoked": true}`
	wantRevokedShape(t, bag["certificates"], []string{entry, revokedEntry})

	// get-issued-certificates reports it.
	var listed []struct {
		Certificate string `json:"certificate"`
		Revoked     bool   `json:"revoked"`
	}
	out := action(t, authority.Leader(), "get-issued-certificates", nil).Results["certificates"].(string)
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatal(err)
	}
	nRevoked := 0
	for _, l := range listed {
		if l.Revoked {
			nRevoked++
			if l.Certificate != victim.Certificate {
				t.Fatal("get-issued-certificates marks another certificate revoked")
			}
		}
	}
	if len(listed) != 2 || nRevoked != 1 {
		t.Fatalf("get-issued-certificates: %d entries, %d revoked", len(listed), nRevoked)
	}

	// The CRL from every unit's agent.
	for _, u := range authority.Units() {
		der := httpGet(t, fmt.Sprintf("http://%s:8080/crl", u.Address()))
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("%s /crl: %v", u.Name(), err)
		}
		if err := crl.CheckSignatureFrom(caCert); err != nil {
			t.Fatalf("%s CRL not signed by the CA: %v", u.Name(), err)
		}
		found := false
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(vc.SerialNumber) == 0 {
				found = true
			}
			if e.SerialNumber.Cmp(parseCert(t, other.Certificate).SerialNumber) == 0 {
				t.Fatalf("%s CRL holds the serial of a certificate that was not revoked", u.Name())
			}
		}
		if !found {
			t.Fatalf("%s CRL lacks the revoked serial", u.Name())
		}
		if !crl.NextUpdate.After(crl.ThisUpdate) {
			t.Fatalf("CRL next update %v not after this update %v", crl.NextUpdate, crl.ThisUpdate)
		}
		if txt := openssl(t, string(der), "crl", "-inform", "DER", "-noout", "-text"); !strings.Contains(txt, fmt.Sprintf("%X", vc.SerialNumber)) {
			t.Fatalf("openssl crl does not list the serial:\n%s", txt)
		}
		crlPEM := httpGet(t, fmt.Sprintf("http://%s:8080/crl.pem", u.Address()))
		if b, _ := pem.Decode(crlPEM); b == nil || b.Type != "X509 CRL" || string(b.Bytes) != string(der) {
			t.Fatalf("%s /crl.pem is not the PEM of /crl", u.Name())
		}
	}
	crlPEM := action(t, authority.Leader(), "get-crl", nil).Results["crl"].(string)
	crlFile := writeTemp(t, "crl.pem", crlPEM)
	if b, _ := pem.Decode([]byte(crlPEM)); b == nil || b.Type != "X509 CRL" {
		t.Fatalf("get-crl: %q", crlPEM)
	}
	// openssl with the CRL: the revoked certificate is rejected, the other one still verifies.
	cmd := exec.Command("openssl", "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
	cmd.Stdin = strings.NewReader(victim.Certificate)
	outb, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(outb), "revoked") {
		t.Fatalf("openssl verify -crl_check accepted the revoked certificate (err %v):\n%s", err, outb)
	}
	if out := openssl(t, other.Certificate, "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify of the other certificate: %s", out)
	}

	// The revoked entry stays revoked in later hooks: the same CSR is not signed again.
	s.UpdateStatus()
	settle(t, s)
	if e := entryFor(t, rel, authority.Name(), victim.CSR); !e.Revoked || e.Certificate != victim.Certificate {
		t.Fatal("a later hook undid the revocation")
	}
	// A new CSR from the revoked unit is served.
	fresh := newCSR(t, ecKey(t), "web-0-new", "web-0.example.com")
	publishCSRs(t, m.Unit("web/0"), false, req(fresh, false))
	settle(t, s)
	checkIssued(t, mustCerts(t, rel, authority.Name()), fresh, false, caPEM, caFile)
	noFailedHooks(t, authority)
}

func mustCerts(t *testing.T, r *sim.Relation, authority string) []tlscertificates.ProviderCertificate {
	t.Helper()
	certs, _, _ := issuedBag(t, r, authority)
	return certs
}

// wantRevokedShape checks the value is a list of entries, each of one of the given skeletons.
func wantRevokedShape(t *testing.T, value string, shapes []string) {
	t.Helper()
	sk := skeleton(value)
	inner := strings.TrimSuffix(strings.TrimPrefix(sk, "["), "]")
	for inner != "" {
		ok := false
		for _, sh := range shapes {
			if rest, found := strings.CutPrefix(inner, sh); found {
				inner = strings.TrimPrefix(rest, ", ")
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("certificates shape %s: entry not in %v", sk, shapes)
		}
	}
	if !strings.HasPrefix(sk, "[") || !strings.HasSuffix(sk, "]") {
		t.Fatalf("certificates shape %s", sk)
	}
}

// bundleOf returns the CA bundle the unit's agent serves.
func bundleOf(t *testing.T, u *sim.Unit) []*x509.Certificate {
	t.Helper()
	rest := httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address()))
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s serves an empty CA bundle", u.Name())
	}
	return out
}

// chainsToBundle checks every requirer entry on rels verifies against every agent's bundle, and returns how many
// entries each CA signed (by key id).
func chainsToBundle(t *testing.T, step string, authority *sim.App, rels map[string]*sim.Relation) map[string]int {
	t.Helper()
	issuers := map[string]int{}
	for _, u := range authority.Units() {
		pool := x509.NewCertPool()
		for _, c := range bundleOf(t, u) {
			pool.AddCert(c)
		}
		for name, r := range rels {
			certs, _, _ := issuedBag(t, r, authority.Name())
			for _, e := range certs {
				c := parseCert(t, e.Certificate)
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					t.Fatalf("%s: a certificate of %s (issuer %s) does not chain to %s's bundle: %v", step, name, c.Issuer, u.Name(), err)
				}
				if e.CA != e.Chain[len(e.Chain)-1] || parseCert(t, e.CA).Subject.String() != c.Issuer.String() {
					t.Fatalf("%s: entry ca/chain is not the certificate's issuer", step)
				}
				if u == authority.Leader() {
					issuers[fmt.Sprintf("%x", c.AuthorityKeyId)]++
				}
			}
		}
	}
	return issuers
}

// TestProviderRotation: a ca-common-name change, then rotate-private-key. At every settle step every requirer's
// certificate chains to a CA in the agents' bundles; at the end every entry holds a certificate under the new CA
// and the old CA is still in the bundle for the overlap.
func TestProviderRotation(t *testing.T) {
	s, _, authority, rels, csrs := pkiWithRequirers(t, 2, nil, []string{"web", "db"}, 2)
	total := len(csrs)
	oldCA := caOf(t, authority)
	oldCert := parseCert(t, oldCA)
	if got := chainsToBundle(t, "before", authority, rels); got[fmt.Sprintf("%x", oldCert.SubjectKeyId)] != total {
		t.Fatalf("before: issuers %v", got)
	}

	rotate := func(what string, change func(), newCN string) {
		t.Helper()
		prevCA := caOf(t, authority)
		prev := parseCert(t, prevCA)
		change()
		for step := 0; step < 6; step++ {
			settle(t, s)
			verifySigned(t, fmt.Sprintf("%s, step %d", what, step), authority, rels)
			issuers := chainsToBundle(t, fmt.Sprintf("%s, step %d", what, step), authority, rels)
			t.Logf("%s, step %d: certificates by CA key id %v", what, step, issuers)
			if cur := caOf(t, authority); cur != prevCA && issuers[fmt.Sprintf("%x", parseCert(t, cur).SubjectKeyId)] == total {
				break
			}
			s.UpdateStatus()
		}
		newCA := caOf(t, authority)
		nc := parseCert(t, newCA)
		if newCA == prevCA || nc.Subject.CommonName != newCN || publicKeyEqual(nc.PublicKey, prev.PublicKey) {
			t.Fatalf("%s: the CA did not change to a new key with CN %q (got %q)", what, newCN, nc.Subject.CommonName)
		}
		caFile := writeTemp(t, "new-ca.pem", newCA)
		for name, r := range rels {
			certs, _, _ := issuedBag(t, r, authority.Name())
			if len(certs) != 2 {
				t.Fatalf("%s: %s has %d entries, want 2", what, name, len(certs))
			}
		}
		for unit, csr := range csrs {
			app := strings.Split(unit, "/")[0]
			checkIssued(t, mustCerts(t, rels[app], authority.Name()), csr, false, newCA, caFile)
		}
		// The old CA stays in every agent's bundle for the overlap, beside the new one.
		for _, u := range authority.Units() {
			var hasOld, hasNew bool
			for _, c := range bundleOf(t, u) {
				hasOld = hasOld || c.Equal(prev)
				hasNew = hasNew || c.Equal(nc)
			}
			if !hasOld || !hasNew {
				t.Fatalf("%s: %s bundle has old CA %v, new CA %v", what, u.Name(), hasOld, hasNew)
			}
		}
		if n := issuedCount(t, authority.Leader()); n != total {
			t.Fatalf("%s: status counts %d issued, want %d", what, n, total)
		}
		noFailedHooks(t, authority)
	}
	rotate("ca-common-name change", func() {
		if err := authority.SetConfig(map[string]any{"ca-common-name": "rotated-ca"}); err != nil {
			t.Fatal(err)
		}
	}, "rotated-ca")
	rotate("rotate-private-key", func() {
		action(t, authority.Leader(), "rotate-private-key", nil)
	}, "rotated-ca")
	// Every revision of the CA secrets holds a private key: the ones Juju reported obsolete (secret-remove) are gone.
	settle(t, s)
	seen := 0
	for _, sec := range s.State().Secrets {
		if sec.Label != "tls-authority-ca" && sec.Label != "tls-authority-ca-previous" {
			continue
		}
		seen++
		if len(sec.Revisions) != 1 || sec.Revisions[0] != sec.Revision {
			t.Errorf("secret %s keeps revisions %v beside the latest %d", sec.Label, sec.Revisions, sec.Revision)
		}
	}
	if seen != 2 {
		t.Errorf("found %d CA secrets, want the current and the previous one", seen)
	}
}
