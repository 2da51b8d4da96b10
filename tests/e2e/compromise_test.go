package e2e

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestCompromiseRotation (issue #18, "no answer to a key compromise"): the serial ledger finds, for
// revoke-certificate, what the inventory no longer shows (a certificate a renewal replaced, one of a relation since
// removed, the leader agent's serving certificate, which is then replaced), each then listed on the CRL its distribution point names; and rotate-private-key
// compromised=true, in one action, takes the old CA out of the bundle every agent serves, lists everything it signed
// on its last CRL and re-issues the requirer's certificate under the new CA. A relying party holding the published
// bundle then refuses a server presenting the old CA's certificate (x509.Verify and a real TLS handshake) and
// accepts the re-issued one.
func TestCompromiseRotation(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 2, nil)
	web := deployRequirer(t, m, "web", 1)
	rel := integrate(t, m, "web:certificates", "tls-authority:certificates")
	gone := deployRequirer(t, m, "gone", 1)
	goneRel := integrate(t, m, "gone:certificates", "tls-authority:certificates")
	settle(t, s)
	g := gone.Units()[0]
	goneCSR := newCSR(t, ecKey(t), g.FQDN(), g.FQDN())
	publishCSRs(t, g, false, req(goneCSR, false))
	settle(t, s)
	removed := parseCert(t, entryFor(t, goneRel, authority.Name(), goneCSR).Certificate)
	if err := m.RemoveRelation(goneRel); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	u := web.Units()[0]
	key1 := ecKey(t)
	csr1 := newCSR(t, key1, u.FQDN(), u.FQDN())
	publishCSRs(t, u, false, req(csr1, false))
	settle(t, s)
	first := parseCert(t, entryFor(t, rel, authority.Name(), csr1).Certificate)
	// A renewal: a new key and CSR replace the first, whose certificate leaves the databag and the inventory.
	key2 := ecKey(t)
	csr2 := newCSR(t, key2, u.FQDN(), u.FQDN())
	publishCSRs(t, u, false, req(csr2, false))
	settle(t, s)
	current := entryFor(t, rel, authority.Name(), csr2)
	oldCA := parseCert(t, caOf(t, authority))
	leader := authority.Leader()

	crlAt := func(unit *sim.Unit, path string) *x509.RevocationList {
		t.Helper()
		crl, err := x509.ParseRevocationList(httpGet(t, fmt.Sprintf("http://%s:8080%s", unit.Address(), path)))
		if err != nil {
			t.Fatalf("%s %s: %v", unit.Name(), path, err)
		}
		return crl
	}
	lists := func(crl *x509.RevocationList, serial *big.Int) bool {
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(serial) == 0 {
				return true
			}
		}
		return false
	}
	revoke := func(what string, cert *x509.Certificate) {
		t.Helper()
		res := action(t, leader, "revoke-certificate", map[string]any{"serial": fmt.Sprintf("%x", cert.SerialNumber)})
		if res.Results["revoked-count"] != "1" {
			t.Fatalf("revoking the %s: %v", what, res.Results)
		}
		settle(t, s)
		if len(cert.CRLDistributionPoints) != 1 {
			t.Fatalf("the %s names CRL distribution points %v", what, cert.CRLDistributionPoints)
		}
		cdp, err := url.Parse(cert.CRLDistributionPoints[0])
		if err != nil || cdp.Path != fmt.Sprintf("/crl/%x", oldCA.SubjectKeyId) {
			t.Fatalf("the %s's distribution point %v is not its issuer's CRL (%v)", what, cdp, err)
		}
		for _, unit := range authority.Units() {
			crl := crlAt(unit, cdp.Path)
			if err := crl.CheckSignatureFrom(oldCA); err != nil || !lists(crl, cert.SerialNumber) {
				t.Fatalf("%s: the CRL at the %s's distribution point does not list it (signature: %v)", unit.Name(), what, err)
			}
		}
	}
	revoke("replaced certificate", first)
	revoke("certificate of a removed relation", removed)
	serving := servedCert(t, leader)
	revoke("leader agent's serving certificate", serving)
	if now := servedCert(t, leader); now.SerialNumber.Cmp(serving.SerialNumber) == 0 || now.CheckSignatureFrom(oldCA) != nil {
		t.Fatal("the leader's agent still presents its revoked serving certificate")
	}
	noFailedHooks(t, authority)

	res := action(t, leader, "rotate-private-key", map[string]any{"compromised": true})
	newCA := parseCert(t, res.Results["new-ca-certificate"].(string))
	if newCA.Equal(oldCA) {
		t.Fatal("the compromise rotation kept the CA")
	}
	// On the old CA's last CRL: the current requirer certificate, the three revoked before, the leader's new
	// serving certificate: at least the four this test knows.
	if n, _ := strconv.Atoi(fmt.Sprint(res.Results["revoked-count"])); n < 4 {
		t.Fatalf("revoked-count %v, want at least 4", res.Results)
	}
	if res.Results["reissued-count"] != "1" {
		t.Fatalf("reissued-count %v, want 1", res.Results)
	}
	// Re-issued in the action itself, before any other hook ran.
	reissued := entryFor(t, rel, authority.Name(), csr2)
	if reissued.CA != res.Results["new-ca-certificate"] {
		t.Fatal("the requirer's certificate was not re-issued under the new CA in the action")
	}
	settle(t, s)
	noFailedHooks(t, authority)

	oldLeaf := parseCert(t, current.Certificate)
	newLeaf := parseCert(t, reissued.Certificate)
	for _, unit := range authority.Units() {
		bundle := bundleOf(t, unit)
		roots := x509.NewCertPool()
		for _, c := range bundle {
			if c.Equal(oldCA) {
				t.Fatalf("%s: the old CA is still in the bundle its agent serves", unit.Name())
			}
			roots.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, DNSName: u.FQDN()}
		if _, err := oldLeaf.Verify(opts); err == nil {
			t.Fatalf("%s: the old CA's certificate verifies against the bundle published after the compromise", unit.Name())
		}
		if _, err := newLeaf.Verify(opts); err != nil {
			t.Fatalf("%s: the re-issued certificate does not verify against the bundle: %v", unit.Name(), err)
		}
		if err := tlsHandshake(roots, u.FQDN(), current.Certificate, key2); err == nil {
			t.Fatalf("%s: a TLS client trusting the published bundle accepted a server with the old CA's certificate", unit.Name())
		}
		if err := tlsHandshake(roots, u.FQDN(), reissued.Certificate, key2); err != nil {
			t.Fatalf("%s: TLS handshake with the re-issued certificate: %v", unit.Name(), err)
		}
		// The old CA's last CRL, at the distribution point its certificates name, signed with its key.
		crl := crlAt(unit, fmt.Sprintf("/crl/%x", oldCA.SubjectKeyId))
		if err := crl.CheckSignatureFrom(oldCA); err != nil {
			t.Fatalf("%s: the old CA's last CRL: %v", unit.Name(), err)
		}
		for what, c := range map[string]*x509.Certificate{"current": oldLeaf, "replaced": first, "removed relation's": removed, "serving": serving} {
			if !lists(crl, c.SerialNumber) {
				t.Fatalf("%s: the old CA's last CRL does not list the %s certificate", unit.Name(), what)
			}
		}
		if d := time.Until(crl.NextUpdate); d < time.Until(oldLeaf.NotAfter)-time.Minute {
			t.Fatalf("%s: the old CA's last CRL runs out at %v, before what it lists expires (%v)", unit.Name(), crl.NextUpdate, oldLeaf.NotAfter)
		}
		if err := crlAt(unit, "/crl").CheckSignatureFrom(newCA); err != nil {
			t.Fatalf("%s: /crl is not the new CA's: %v", unit.Name(), err)
		}
	}
	// The agents now serve certificates of the new CA, with its distribution point.
	sc := servedCert(t, leader)
	if err := sc.CheckSignatureFrom(newCA); err != nil || len(sc.CRLDistributionPoints) != 1 {
		t.Fatalf("the leader's agent does not serve a certificate of the new CA naming its CRL: %v %v", err, sc.CRLDistributionPoints)
	}
	if cdp, err := url.Parse(sc.CRLDistributionPoints[0]); err != nil || cdp.Path != fmt.Sprintf("/crl/%x", newCA.SubjectKeyId) {
		t.Fatalf("the new serving certificate's distribution point %v", sc.CRLDistributionPoints)
	}
}

// servedCert is the certificate a unit's agent presents on its TLS port.
func servedCert(t *testing.T, u *sim.Unit) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort(u.Address(), "8443"),
			&tls.Config{InsecureSkipVerify: true}) // the certificate is what is looked at
		if err == nil {
			certs := conn.ConnectionState().PeerCertificates
			conn.Close()
			return certs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:8443: %v", u.Name(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tlsHandshake runs a TLS handshake between a server presenting certPEM (its key) and a client trusting roots.
func tlsHandshake(roots *x509.CertPool, name, certPEM string, key crypto.Signer) error {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return fmt.Errorf("not a PEM certificate")
	}
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	server := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}})
	done := make(chan error, 1)
	go func() {
		done <- server.Handshake()
		server.Close()
	}()
	client := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: name})
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	err := client.Handshake()
	client.Close()
	<-done
	return err
}
