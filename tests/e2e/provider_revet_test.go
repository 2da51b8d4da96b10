package e2e

import (
	"crypto/x509"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestProviderRevet: certificates issued under allowed-domains empty are checked again when allowed-domains
// becomes example.com. The bank.com certificate is revoked: revoked in its entry, listed on the CRL the agent
// serves at its distribution point (openssl verify -crl_check rejects it), and its requirer reads the refusal in
// request_errors; the example.com certificate is untouched and still verifies. The leader logs the revocation once,
// in one line for the relation, and no hook fails.
func TestProviderRevet(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, map[string]any{"allowed-domains": ""})
	deployRequirer(t, m, "web", 1)
	rel := integrate(t, m, "web:certificates", "tls-authority:certificates")
	settle(t, s)
	bank, ok := newCSR(t, ecKey(t), "login.bank.com", "login.bank.com"), newCSR(t, ecKey(t), "web.example.com", "web.example.com")
	publishCSRs(t, m.Unit("web/0"), false, req(bank, false), req(ok, false))
	settle(t, s)
	bankBefore := entryFor(t, rel, authority.Name(), bank)
	okBefore := entryFor(t, rel, authority.Name(), ok)
	bankCert := parseCert(t, bankBefore.Certificate)
	leader := authority.Leader()
	before := len(leader.Hooks())

	if err := authority.SetConfig(map[string]any{"allowed-domains": "example.com"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	noFailedHooks(t, authority)

	certs, errs, _ := issuedBag(t, rel, authority.Name())
	if len(certs) != 2 {
		t.Fatalf("%d entries, want 2", len(certs))
	}
	for _, c := range certs {
		switch c.CSR {
		case bank:
			if !c.Revoked || c.Certificate != bankBefore.Certificate {
				t.Fatalf("bank.com entry: revoked %v, same certificate %v", c.Revoked, c.Certificate == bankBefore.Certificate)
			}
		case ok:
			if c.Revoked || c.Certificate != okBefore.Certificate {
				t.Fatalf("example.com entry: revoked %v, same certificate %v", c.Revoked, c.Certificate == okBefore.Certificate)
			}
		}
	}
	if len(errs) != 1 || errs[0].CSR != bank || errs[0].Error.Code != 102 || errs[0].Error.Name != "domain_not_allowed" ||
		!strings.Contains(errs[0].Error.Message, "login.bank.com") {
		t.Fatalf("request_errors %+v, want one domain_not_allowed (102) for the bank.com CSR", errs)
	}

	// The CRL the bank.com certificate names lists it; openssl rejects it and still accepts the other.
	u := authority.Units()[0]
	if len(bankCert.CRLDistributionPoints) != 1 {
		t.Fatalf("CRL distribution points %v", bankCert.CRLDistributionPoints)
	}
	url := strings.Replace(bankCert.CRLDistributionPoints[0], "tls-authority.pki.svc.cluster.local", u.Address(), 1)
	der := httpGet(t, url)
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range crl.RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Cmp(bankCert.SerialNumber) == 0
	}
	if !listed || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("the CRL lists %d serials, the bank.com one %v", len(crl.RevokedCertificateEntries), listed)
	}
	caFile := writeTemp(t, "ca.pem", caOf(t, authority))
	crlFile := writeTemp(t, "crl.pem", string(httpGet(t, url+".pem")))
	cmd := exec.Command("openssl", "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile)
	cmd.Stdin = strings.NewReader(bankBefore.Certificate)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "revoked") {
		t.Fatalf("openssl verify -crl_check accepted the bank.com certificate (err %v):\n%s", err, out)
	}
	if out := opensslOut(t, okBefore.Certificate, "verify", "-crl_check", "-CAfile", caFile, "-CRLfile", crlFile); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl rejects the example.com certificate:\n%s", out)
	}

	// Logged once, in one line for the relation.
	serial := fmt.Sprintf("%x", bankCert.SerialNumber)
	s.UpdateStatus()
	settle(t, s)
	var lines []string
	for _, h := range leader.Hooks()[before:] {
		for _, l := range h.Logs {
			if strings.Contains(l, "the policy now refuses") || strings.Contains(l, "login.bank.com") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "revoked 1 certificates the policy now refuses: web/0 serial "+serial) {
		t.Fatalf("log lines about the revocation: %q", lines)
	}
}
