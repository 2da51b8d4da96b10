package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// verifySigned is the check every rotation test makes after each step: every issued certificate in every
// certificates provider databag verifies, with Go's x509.Verify and with openssl verify, against the ca of its own
// entry and against its chain; and every agent's CRL (/crl) is signed by the CA that agent serves first in /ca.pem
// (the one signing now), checked by Go and by openssl crl. A charm that signs with another key than the published
// CA's (say, a key read back from a secret it has just replaced, which Juju answers with the old revision) fails it.
func verifySigned(t testing.TB, step string, authority *sim.App, rels map[string]*sim.Relation) {
	t.Helper()
	now := time.Now()
	for name, r := range rels {
		certs, _, _ := issuedBag(t, r, authority.Name())
		for i, e := range certs {
			if e.Revoked {
				continue
			}
			what := fmt.Sprintf("%s: %s entry %d", step, name, i)
			leaf := parseCert(t, e.Certificate)
			// A short-lived leaf may have expired between steps (renewing is the requirer's job): check the
			// signatures at a time it was valid.
			at := now
			if at.After(leaf.NotAfter) {
				at = leaf.NotAfter.Add(-time.Second)
			}
			ca := parseCert(t, e.CA)
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			opts := x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Fatalf("%s: x509.Verify against the entry's ca %q: %v", what, ca.Subject.CommonName, err)
			}
			attime := "-attime=" + strconv.FormatInt(at.Unix(), 10)
			caFile := writeTemp(t, "entry-ca.pem", e.CA)
			args := []string{"verify", attime, "-CAfile", caFile}
			if ca.CheckSignatureFrom(ca) != nil {
				// An intermediate (an imported one) is the anchor here: openssl wants a self-signed one unless told.
				args = append(args, "-partial_chain")
			}
			if out := opensslOut(t, e.Certificate, args...); !strings.Contains(out, ": OK") {
				t.Fatalf("%s: openssl verify against the entry's ca: %s", what, out)
			}
			// The chain: leaf, the CA, then its issuers up to a root.
			if len(e.Chain) < 2 || e.Chain[0] != e.Certificate || e.Chain[1] != e.CA {
				t.Fatalf("%s: chain is not [leaf, ca, ...] (%d elements)", what, len(e.Chain))
			}
			last := e.Chain[len(e.Chain)-1]
			chainRoots, mid := x509.NewCertPool(), x509.NewCertPool()
			chainRoots.AddCert(parseCert(t, last))
			for _, c := range e.Chain[1 : len(e.Chain)-1] {
				mid.AddCert(parseCert(t, c))
			}
			opts = x509.VerifyOptions{Roots: chainRoots, Intermediates: mid, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
			if _, err := leaf.Verify(opts); err != nil {
				t.Fatalf("%s: x509.Verify along the chain: %v", what, err)
			}
			args = []string{"verify", attime, "-CAfile", writeTemp(t, "chain-root.pem", last)}
			if len(e.Chain) > 2 {
				args = append(args, "-untrusted", writeTemp(t, "chain-mid.pem", strings.Join(e.Chain[1:len(e.Chain)-1], "\n")+"\n"))
			}
			if out := opensslOut(t, e.Certificate, args...); !strings.Contains(out, ": OK") {
				t.Fatalf("%s: openssl verify along the chain: %s", what, out)
			}
		}
	}
	for _, u := range authority.Units() {
		served := httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address()))
		block, _ := pem.Decode(served)
		if block == nil {
			t.Fatalf("%s: %s serves no CA", step, u.Name())
		}
		current := parseCert(t, string(pem.EncodeToMemory(block)))
		der := httpGet(t, fmt.Sprintf("http://%s:8080/crl", u.Address()))
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatalf("%s: %s /crl: %v", step, u.Name(), err)
		}
		if err := crl.CheckSignatureFrom(current); err != nil {
			t.Fatalf("%s: %s CRL (issuer %q) is not signed by the CA it serves (%q): %v", step, u.Name(), crl.Issuer.CommonName, current.Subject.CommonName, err)
		}
		caFile := writeTemp(t, "served-ca.pem", string(pem.EncodeToMemory(block)))
		if out := opensslOut(t, string(der), "crl", "-inform", "DER", "-noout", "-CAfile", caFile); !strings.Contains(out, "verify OK") {
			t.Fatalf("%s: openssl crl on %s's CRL against the CA it serves: %s", step, u.Name(), out)
		}
	}
}

// opensslOut runs openssl and returns its output, failure or not: the caller judges it.
func opensslOut(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}
