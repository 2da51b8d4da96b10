package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// servedChain dials a unit's agent on 8443 and returns the certificates it presents (leaf first), retrying while
// the agent starts or reloads.
func servedChain(t *testing.T, u *sim.Unit) []*x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", net.JoinHostPort(u.Address(), "8443"),
			&tls.Config{InsecureSkipVerify: true}) // verified below, against the CA, by Go and by openssl
		if err == nil {
			certs := conn.ConnectionState().PeerCertificates
			conn.Close()
			return certs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: TLS on 8443: %v", u.Name(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkAgentsServe checks that every unit's agent presents, on 8443, a certificate under caPEM for exactly its own
// FQDN and pod IP: x509.Verify for both names, openssl verify -verify_hostname and -verify_ip, and a TLS handshake
// that verifies the FQDN against the CA alone.
func checkAgentsServe(t *testing.T, app *sim.App, caPEM string) {
	t.Helper()
	ca := parseCert(t, caPEM)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	caFile := writeTemp(t, "ca.pem", caPEM)
	for _, u := range app.Units() {
		chain := servedChain(t, u)
		leaf := chain[0]
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			t.Fatalf("%s serves a certificate its CA did not sign (issuer %s): %v", u.Name(), leaf.Issuer, err)
		}
		for _, name := range []string{u.FQDN(), u.Address()} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
				t.Errorf("%s: x509.Verify for %s: %v", u.Name(), name, err)
			}
		}
		if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != u.FQDN() || len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != u.Address() {
			t.Errorf("%s: SANs %v %v, want exactly %s %s", u.Name(), leaf.DNSNames, leaf.IPAddresses, u.FQDN(), u.Address())
		}
		leafFile := writeTemp(t, "leaf.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))
		for _, check := range [][]string{{"-verify_hostname", u.FQDN()}, {"-verify_ip", u.Address()}} {
			args := append([]string{"verify", "-CAfile", caFile}, check...)
			if out := openssl(t, "", append(args, leafFile)...); !strings.Contains(out, "OK") {
				t.Errorf("%s: openssl verify %v: %s", u.Name(), check, out)
			}
		}
		conn, err := tls.Dial("tcp", net.JoinHostPort(u.Address(), "8443"), &tls.Config{RootCAs: roots, ServerName: u.FQDN()})
		if err != nil {
			t.Errorf("%s: TLS handshake for %s under the CA: %v", u.Name(), u.FQDN(), err)
		} else {
			conn.Close()
		}
	}
}

// noSecretGetByNonLeaders fails for any hook after seq that ran secret-get on a unit other than leader.
func noSecretGetByNonLeaders(t *testing.T, s *sim.Sim, app *sim.App, after, until int, leader string) (leaderReads int) {
	t.Helper()
	for _, r := range s.Records() {
		if r.Seq <= after || until > 0 && r.Seq > until || r.Kind != "hook" || !strings.HasPrefix(r.Unit, app.Name()+"/") {
			continue
		}
		if r.Unit != leader && r.ToolCalls["secret-get"] > 0 {
			t.Errorf("%s, not the leader, ran secret-get %d times in %s", r.Unit, r.ToolCalls["secret-get"], r.Name)
		}
		if r.Unit == leader {
			leaderReads += r.ToolCalls["secret-get"]
		}
	}
	return leaderReads
}

func lastSeq(s *sim.Sim) int {
	rs := s.Records()
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)-1].Seq
}

// TestServingCertsSignedByLeader (issue 18): only the leader reads the CA key. In a 3-unit deployment no non-leader
// runs secret-get in any hook, yet every unit's agent serves on 8443 a certificate under the CA for exactly its FQDN
// and pod IP (x509.Verify, openssl verify, a verified handshake); the same after a leader change, and after a
// rotation that the new leader runs, where every agent moves to a certificate under the new CA.
func TestServingCertsSignedByLeader(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	app := deployAuthority(t, m, "tls-authority", 3, nil)
	settle(t, s)
	noFailedHooks(t, app)
	first := app.Leader().Name()
	if n := noSecretGetByNonLeaders(t, s, app, 0, 0, first); n == 0 {
		t.Fatal("the leader never read the CA secret: the check above proves nothing")
	}
	caPEM := caOf(t, app)
	checkAgentsServe(t, app, caPEM)

	// A leader change: the new leader reads the key from now on, the old one no more.
	change := lastSeq(s)
	var next *sim.Unit
	for _, u := range app.Units() {
		if u.Name() != first {
			next = u
			break
		}
	}
	if err := m.SetLeader(next.Name()); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	checkAgentsServe(t, app, caPEM)

	// A rotation under the new leader: phase 1, then the switch; every agent then serves under the new CA.
	action(t, next, "rotate-private-key", nil)
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	noFailedHooks(t, app)
	newCA := caOf(t, app)
	if newCA == caPEM {
		t.Fatal("the rotation did not switch to the new CA")
	}
	checkAgentsServe(t, app, newCA)
	if n := noSecretGetByNonLeaders(t, s, app, change, 0, next.Name()); n == 0 {
		t.Fatal("the new leader never read the CA secret")
	}
}
