package e2e

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// TestRevocationSurvivesRotation: a certificate revoked under a CA stays listed on that CA's CRL after a rotation,
// for as long as the CA is in the trust bundle (issue #10, defect 1). Two requirers; one certificate is revoked,
// then rotate-private-key and update-status switch to a new CA. During the overlap, every agent serves, at the
// distribution point each certificate names, the CRL of the CA that issued it: openssl verify -crl_check against
// the published bundle rejects the revoked old-CA certificate and accepts the other old-CA certificate and its
// re-issue under the new CA.
func TestRevocationSurvivesRotation(t *testing.T) {
	s, _, authority, rels, csrs := pkiWithRequirers(t, 2, nil, []string{"web", "db"}, 1)
	oldCA := caOf(t, authority)
	oldCert := parseCert(t, oldCA)
	victim := entryFor(t, rels["web"], authority.Name(), csrs["web/0"])
	kept := entryFor(t, rels["db"], authority.Name(), csrs["db/0"]) // old-CA issued, not revoked
	vc := parseCert(t, victim.Certificate)
	action(t, authority.Leader(), "revoke-certificate", map[string]any{"serial": fmt.Sprintf("%x", vc.SerialNumber)})
	settle(t, s)

	action(t, authority.Leader(), "rotate-private-key", nil)
	settle(t, s)
	s.UpdateStatus() // phase 2: the new CA signs, the old one stays trusted for the overlap
	settle(t, s)
	noFailedHooks(t, authority)
	newCA := caOf(t, authority)
	if newCA == oldCA {
		t.Fatal("the rotation did not switch to the new CA")
	}
	newCert := parseCert(t, newCA)
	reissued := entryFor(t, rels["db"], authority.Name(), csrs["db/0"])
	if reissued.Certificate == kept.Certificate || reissued.CA != newCA {
		t.Fatal("the db certificate was not re-issued under the new CA")
	}
	if e := entryFor(t, rels["web"], authority.Name(), csrs["web/0"]); !e.Revoked || e.Certificate != victim.Certificate {
		t.Fatal("the rotation undid the revocation")
	}

	for _, u := range authority.Units() {
		hasOld := false
		for _, c := range bundleOf(t, u) {
			hasOld = hasOld || c.Equal(oldCert)
		}
		if !hasOld {
			t.Fatalf("%s: the old CA left the bundle before the overlap ended", u.Name())
		}
		bundleFile := writeTemp(t, "bundle.pem", string(httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address()))))

		// crlOf fetches the CRL a certificate names, from this agent, and checks who signed it.
		crlOf := func(what, certPEM string, issuer *x509.Certificate) (*x509.RevocationList, string) {
			t.Helper()
			cert := parseCert(t, certPEM)
			if len(cert.CRLDistributionPoints) != 1 {
				t.Fatalf("%s: CRL distribution points %v", what, cert.CRLDistributionPoints)
			}
			cdp, err := url.Parse(cert.CRLDistributionPoints[0])
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("/crl/%x", issuer.SubjectKeyId)
			if cdp.Path != want {
				t.Fatalf("%s: distribution point %s, want the path %s of its issuer's CRL", what, cdp, want)
			}
			der := httpGet(t, fmt.Sprintf("http://%s:8080%s", u.Address(), cdp.Path))
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", what, u.Name(), cdp.Path, err)
			}
			if err := crl.CheckSignatureFrom(issuer); err != nil {
				t.Fatalf("%s: %s %s is not signed by the issuer: %v", what, u.Name(), cdp.Path, err)
			}
			pemCRL := httpGet(t, fmt.Sprintf("http://%s:8080%s.pem", u.Address(), cdp.Path))
			return crl, writeTemp(t, "crl.pem", string(pemCRL))
		}
		oldCRL, oldCRLFile := crlOf("revoked old-CA certificate", victim.Certificate, oldCert)
		listed := false
		for _, e := range oldCRL.RevokedCertificateEntries {
			listed = listed || e.SerialNumber.Cmp(vc.SerialNumber) == 0
		}
		if !listed {
			t.Fatalf("%s: the old CA's CRL does not list the serial revoked before the rotation", u.Name())
		}
		keptCRL, _ := crlOf("kept old-CA certificate", kept.Certificate, oldCert)
		for _, e := range keptCRL.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(parseCert(t, kept.Certificate).SerialNumber) == 0 {
				t.Fatalf("%s: the old CA's CRL lists a certificate that was not revoked", u.Name())
			}
		}
		_, newCRLFile := crlOf("re-issued certificate", reissued.Certificate, newCert)

		// openssl, as a relying party holding the bundle and the CRL the certificate names.
		cmd := exec.Command("openssl", "verify", "-crl_check", "-CAfile", bundleFile, "-CRLfile", oldCRLFile)
		cmd.Stdin = strings.NewReader(victim.Certificate)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "revoked") {
			t.Fatalf("%s: openssl verify -crl_check accepted the revoked old-CA certificate during the overlap (err %v):\n%s", u.Name(), err, out)
		}
		if out := opensslOut(t, kept.Certificate, "verify", "-crl_check", "-CAfile", bundleFile, "-CRLfile", oldCRLFile); !strings.Contains(out, ": OK") {
			t.Fatalf("%s: openssl verify of the kept old-CA certificate: %s", u.Name(), out)
		}
		if out := opensslOut(t, reissued.Certificate, "verify", "-crl_check", "-CAfile", bundleFile, "-CRLfile", newCRLFile); !strings.Contains(out, ": OK") {
			t.Fatalf("%s: openssl verify of the re-issued certificate: %s", u.Name(), out)
		}
		// /crl is the current CA's CRL, as before.
		cur, err := x509.ParseRevocationList(httpGet(t, fmt.Sprintf("http://%s:8080/crl", u.Address())))
		if err != nil || cur.CheckSignatureFrom(newCert) != nil {
			t.Fatalf("%s: /crl is not the new CA's CRL: %v", u.Name(), err)
		}
	}
}
