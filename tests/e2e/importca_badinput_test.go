package e2e

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// issuedSnapshot is every certificate the authority holds issued, by relation, to compare across a bad import.
func issuedSnapshot(t *testing.T, authority *sim.App, rels map[string]*sim.Relation) string {
	t.Helper()
	var b strings.Builder
	for _, name := range []string{"db", "web"} {
		certs, _, _ := issuedBag(t, rels[name], authority.Name())
		for _, e := range certs {
			fmt.Fprintf(&b, "%s %s %v\n", name, e.Certificate, e.Revoked)
		}
	}
	return b.String()
}

// importLogs are the leader's log lines about ca-secret since hook n.
func importLogs(authority *sim.App, n int) []string {
	var out []string
	for _, h := range authority.Leader().Hooks()[n:] {
		for _, l := range h.Logs {
			if strings.Contains(l, "ca-secret:") {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestImportCABadInput: every bad CA an operator can put in the secret ca-secret names, and every way the charm can
// be kept from reading it. Each is a Blocked status naming the problem and one log line (not repeated by the next
// hook), never a failed hook; the current CA stays and keeps signing; nothing issued changes; no key material in a
// status, a log or the model's state. Last, a renewal is signed by the current CA, and a grant revoked after a good
// import leaves the imported CA signing.
func TestImportCABadInput(t *testing.T) {
	s, m, authority, rels, keys := servingRequirers(t, nil)
	now := time.Now()
	good := makeCA(t, "Good CA", nil, false, nil)
	other := makeCA(t, "Other CA", nil, false, nil)
	leaf := makeCA(t, "a leaf", nil, false, func(c *x509.Certificate) {
		c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature
	})
	expired := makeCA(t, "Expired CA", nil, false, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = now.Add(-2*365*24*time.Hour), now.Add(-24*time.Hour)
	})
	short := makeCA(t, "Short CA", nil, false, func(c *x509.Certificate) { c.NotAfter = now.Add(30 * 24 * time.Hour) })
	rootA := makeCA(t, "Root A", nil, false, nil)
	rootB := makeCA(t, "Root B", nil, false, nil)
	interA := makeCA(t, "Issuing under A", rootA, false, nil)
	tight := makeCA(t, "Root pathlen 0", nil, false, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	underTight := makeCA(t, "Issuing under pathlen 0", tight, false, nil)
	noSign := makeCA(t, "No keyCertSign", nil, false, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCRLSign })
	weak := weakRSACA(t)
	encrypted := openssl(t, good.keyPEM, "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:operator")

	rows := []struct {
		name    string
		content map[string]string
		want    string
		keys    []string // key PEMs that must not show anywhere
	}{
		{"key does not match", map[string]string{"certificate": good.pem, "private-key": other.keyPEM}, "the private key does not match the certificate", []string{other.keyPEM}},
		{"a leaf instead of a CA", map[string]string{"certificate": leaf.pem, "private-key": leaf.keyPEM}, `"a leaf" is not a CA`, []string{leaf.keyPEM}},
		{"an expired CA", map[string]string{"certificate": expired.pem, "private-key": expired.keyPEM}, `"Expired CA" expired on`, []string{expired.keyPEM}},
		{"valid for less than one certificate-validity", map[string]string{"certificate": short.pem, "private-key": short.keyPEM}, "within one certificate-validity (90d)", []string{short.keyPEM}},
		{"a chain that does not verify", map[string]string{"certificate": interA.pem, "private-key": interA.keyPEM, "chain": rootB.pem}, "the chain does not verify", []string{interA.keyPEM}},
		{"the chain missing", map[string]string{"certificate": interA.pem, "private-key": interA.keyPEM}, `the chain up to the root is missing: "Issuing under A" is issued by "Root A"`, []string{interA.keyPEM}},
		{"a path length that leaves no room", map[string]string{"certificate": underTight.pem, "private-key": underTight.keyPEM, "chain": tight.pem}, `the path length 0 of "Root pathlen 0" leaves no room`, []string{underTight.keyPEM}},
		{"no keyCertSign", map[string]string{"certificate": noSign.pem, "private-key": noSign.keyPEM}, "lacks the keyCertSign key usage", []string{noSign.keyPEM}},
		{"a PEM with two keys", map[string]string{"certificate": good.pem, "private-key": good.keyPEM + "\n" + other.keyPEM}, "the private key holds 2 PEM private keys, want one", []string{good.keyPEM, other.keyPEM}},
		{"an encrypted key", map[string]string{"certificate": good.pem, "private-key": encrypted}, "the private key is encrypted", []string{encrypted}},
		{"a weak key", map[string]string{"certificate": weak.pem, "private-key": weak.keyPEM}, "the key is RSA of 1024 bits", []string{weak.keyPEM}},
		{"garbage", map[string]string{"certificate": "not a certificate", "private-key": "not a key either"}, "the private key is not a PEM private key", nil},
		{"keys missing", map[string]string{"cert": good.pem, "key": good.keyPEM}, "the secret needs the keys certificate and private-key", []string{good.keyPEM}},
	}
	before := caOf(t, authority)
	issued := issuedSnapshot(t, authority, rels)
	var uri string
	check := func(t *testing.T, n int, want string, keyPEMs []string) {
		t.Helper()
		st := authority.Leader().Status()
		if st.Status != "blocked" || !strings.Contains(st.Message, want) || !strings.Contains(st.Message, "still signing with the current CA") {
			t.Fatalf("status %s %q, want blocked naming %q", st.Status, st.Message, want)
		}
		t.Logf("status: %s", st.Message)
		logs := importLogs(authority, n)
		if len(logs) != 1 || !strings.Contains(logs[0], want) || !strings.HasPrefix(logs[0], "WARNING") {
			t.Fatalf("want one WARNING log line naming %q, got %q", want, logs)
		}
		m := len(authority.Leader().Hooks())
		s.UpdateStatus()
		settle(t, s)
		if again := importLogs(authority, m); len(again) != 0 {
			t.Fatalf("logged again by the next hook: %q", again)
		}
		if caOf(t, authority) != before {
			t.Fatal("the CA changed")
		}
		if issuedSnapshot(t, authority, rels) != issued {
			t.Fatal("what was issued changed")
		}
		for _, k := range keyPEMs {
			noKeyMaterial(t, s, k)
		}
		if st.Message != strings.TrimSpace(st.Message) || len(st.Message) > 400 {
			t.Fatalf("status message of %d bytes", len(st.Message))
		}
		noFailedHooks(t, authority)
	}
	for i, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			n := len(authority.Leader().Hooks())
			var err error
			if i == 0 {
				if uri, err = m.AddSecret("org-ca", row.content, ""); err == nil {
					if err = m.GrantSecret("org-ca", "tls-authority"); err == nil {
						err = authority.SetConfig(map[string]any{"ca-secret": uri})
					}
				}
			} else {
				err = m.UpdateSecret("org-ca", row.content)
			}
			if err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			check(t, n, row.want, row.keys)
		})
	}
	t.Run("a secret the charm was not granted", func(t *testing.T) {
		n := len(authority.Leader().Hooks())
		other, err := m.AddSecret("not-granted", map[string]string{"certificate": good.pem, "private-key": good.keyPEM}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := authority.SetConfig(map[string]any{"ca-secret": other}); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		check(t, n, "cannot read secret "+other+": permission denied (juju grant-secret <secret> tls-authority)", []string{good.keyPEM})
	})
	t.Run("still signing: a renewal is signed by the current CA", func(t *testing.T) {
		u := m.App("web").Units()[0]
		k := ecKey(t)
		csr := newCSR(t, k, u.FQDN(), u.FQDN())
		keys[csr] = k
		publishCSRs(t, u, false, req(csr, false))
		settle(t, s)
		e := entryFor(t, rels["web"], authority.Name(), csr)
		if e.CA != before {
			t.Fatal("the renewal was not signed by the current CA")
		}
		if ok, failed := handshakeAll(t, "renewal", authority, rels, keys, trustOf(t, authority)); failed != 0 || ok != 4 {
			t.Fatalf("handshakes %d, failed %d", ok, failed)
		}
		issued = issuedSnapshot(t, authority, rels)
	})
	t.Run("a revoked grant", func(t *testing.T) {
		if err := m.UpdateSecret("org-ca", map[string]string{"certificate": good.pem, "private-key": good.keyPEM}); err != nil {
			t.Fatal(err)
		}
		if err := authority.SetConfig(map[string]any{"ca-secret": uri}); err != nil {
			t.Fatal(err)
		}
		if _, failed := rotateTo(t, "good import", s, authority, rels, keys, good.cert); failed != 0 {
			t.Fatalf("%d failed handshakes", failed)
		}
		if st := authority.Leader().Status(); st.Status != "active" {
			t.Fatalf("after a good import: %v", st)
		}
		before, issued = caOf(t, authority), issuedSnapshot(t, authority, rels)
		n := len(authority.Leader().Hooks())
		if err := m.RevokeSecret("org-ca", "tls-authority"); err != nil {
			t.Fatal(err)
		}
		s.UpdateStatus() // Juju runs no hook on a revoke: the next update-status reads the secret
		settle(t, s)
		check(t, n, "cannot read secret "+uri+": permission denied", []string{good.keyPEM})
		// Granted again: the same CA, nothing rotates, the problem is gone.
		if err := m.GrantSecret("org-ca", "tls-authority"); err != nil {
			t.Fatal(err)
		}
		s.UpdateStatus()
		settle(t, s)
		if st := authority.Leader().Status(); st.Status != "active" || caOf(t, authority) != before || issuedSnapshot(t, authority, rels) != issued {
			t.Fatalf("granted again: %v, CA changed %v", st, caOf(t, authority) != before)
		}
	})
}

// weakRSACA is a self-signed CA on a 1024-bit RSA key, made with openssl (Go refuses to make such a key).
func weakRSACA(t *testing.T) *testCA {
	t.Helper()
	dir := t.TempDir()
	key, cert := dir+"/weak.key", dir+"/weak.pem"
	openssl(t, "", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", key, "-out", cert, "-days", "3650",
		"-subj", "/CN=Weak CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return &testCA{pem: readFileT(t, cert), keyPEM: readFileT(t, key)}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestImportCAWithIssuerRelated: an intermediate whose issuer relation gives it its CA refuses ca-secret (Blocked
// naming the relation, its CA untouched and signing); once the relation is removed the imported CA is installed
// through the rotation.
func TestImportCAWithIssuerRelated(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	deployAuthority(t, m, "parent", 1, map[string]any{"ca-common-name": "parent-root", "allow-ca-requests": true})
	child := deployAuthority(t, m, "child", 1, map[string]any{"ca-common-name": "child-ca"})
	issuer := integrate(t, m, "child:issuer", "parent:certificates")
	deployRequirer(t, m, "web", 1)
	r := integrate(t, m, "web:certificates", "child:certificates")
	settle(t, s)
	u := m.App("web").Units()[0]
	k := ecKey(t)
	csr := newCSR(t, k, u.FQDN(), u.FQDN())
	publishCSRs(t, u, false, req(csr, false))
	settle(t, s)
	before := caOf(t, child)
	if parseCert(t, before).Subject.CommonName != "child-ca" || parseCert(t, before).CheckSignatureFrom(parseCert(t, before)) == nil {
		t.Fatal("the child is not an intermediate of the parent")
	}
	good := makeCA(t, "Imported CA", nil, false, nil)
	uri, err := m.AddSecret("org-ca", map[string]string{"certificate": good.pem, "private-key": good.keyPEM}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.GrantSecret("org-ca", "child"); err != nil {
		t.Fatal(err)
	}
	if err := child.SetConfig(map[string]any{"ca-secret": uri}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	wantStatus(t, "issuer related", child, "blocked", "ca-secret: the issuer relation gives this authority its CA: remove it to use ca-secret; still signing with the current CA")
	if caOf(t, child) != before || entryFor(t, r, "child", csr).CA != before {
		t.Fatal("the CA changed while the issuer is related")
	}
	if err := m.RemoveRelation(issuer); err != nil {
		t.Fatal(err)
	}
	if _, failed := rotateTo(t, "issuer removed", s, child, map[string]*sim.Relation{"web": r}, map[string]crypto.Signer{csr: k}, good.cert); failed != 0 {
		t.Fatalf("%d failed handshakes", failed)
	}
	wantStatus(t, "imported", child, "active", "issued 1")
	noFailedHooks(t, child)
}
