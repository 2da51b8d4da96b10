package charm

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// secretRunner answers secret-get from one CA secret and juju-log, counting calls by tool.
type secretRunner struct {
	content map[string]string
	calls   map[string]int
	args    [][]string
}

func (f *secretRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	f.calls[tool]++
	f.args = append(f.args, append([]string{tool}, args...))
	switch tool {
	case "secret-get":
		return json.Marshal(f.content)
	case "juju-log":
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

// testCASecret is a self-signed CA as the CA secret holds it, and as the peer databag publishes it.
func testCASecret(t testing.TB, cn string, now time.Time) (map[string]string, *published) {
	t.Helper()
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.NewRoot(key, ca.Subject{CommonName: cn}, 365*24*time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := ca.EncodeCertificate(cert)
	return map[string]string{"private-key": keyPEM, "certificate": p}, &published{CA: p, Bundle: []string{p}, cert: cert}
}

// TestServingCert: a non-leader issues its serving certificate from the CA secret it reads by the peer databag's
// URI, with its FQDN and pod IP; keeps it (no call) while it is current; and issues a new one, with a new key, at two
// thirds of its life, when another CA signs, and when its address changes. The key stays in the charm directory
// (0600), and the CA key goes nowhere.
func TestServingCert(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	content, pub := testCASecret(t, "CA one", now)
	run := &secretRunner{content: content}
	charmDir := t.TempDir()
	// The pod's /etc/hosts is not this machine's: the test names the pod IP through podIPOf.
	ip := net.ParseIP("10.1.2.3")
	podIPOf = func(string) net.IP { return ip }
	t.Cleanup(func() { podIPOf = podIP })
	revoked := "" // the peer databag's revoked list
	hook := func() (crt, key string, calls map[string]int) {
		t.Helper()
		run.calls = map[string]int{}
		env := hooktool.Env{UnitName: "tls-authority/1", ModelName: "cos", CharmDir: charmDir}
		r := &reconciler{hc: hooktool.New(env, run), o: &Options{Now: func() time.Time { return now }},
			peer: map[string]string{peerCASecret: "secret://abc/ca", peerRevoked: revoked}}
		crt, key, err := r.servingCert(pub)
		if err != nil {
			t.Fatal(err)
		}
		return crt, key, run.calls
	}
	leafOf := func(crt string) *x509.Certificate {
		t.Helper()
		certs, err := ca.ParseCertificates(crt)
		if err != nil || len(certs) != 2 {
			t.Fatalf("tls.crt: %d certificates, %v", len(certs), err)
		}
		if err := certs[0].CheckSignatureFrom(pub.cert); err != nil || !certs[1].Equal(pub.cert) {
			t.Fatalf("tls.crt is not the leaf under the CA, then the CA: %v", err)
		}
		return certs[0]
	}

	crt, key, calls := hook()
	leaf := leafOf(crt)
	if calls["secret-get"] != 1 || run.args[0][1] != "secret://abc/ca" {
		t.Errorf("first hook: %v %v, want one secret-get by the peer databag's URI", calls, run.args)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "tls-authority-1.tls-authority-endpoints.cos.svc.cluster.local" ||
		len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip) {
		t.Errorf("SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if _, err := ca.ParsePrivateKey(key); err != nil || strings.Contains(crt+key, content["private-key"]) {
		t.Errorf("key: %v, or the CA key went out", err)
	}
	if st, err := os.Stat(filepath.Join(charmDir, servingCache)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kept key: %v %v", st, err)
	}

	renewed := func(why string, want bool) {
		t.Helper()
		crt2, key2, calls := hook()
		if got := crt2 != crt; got != want {
			t.Fatalf("%s: renewed %v, want %v (calls %v)", why, got, want, calls)
		}
		if want && (key2 == key || calls["secret-get"] != 1) || !want && len(calls) != 0 {
			t.Fatalf("%s: calls %v, new key %v", why, calls, key2 != key)
		}
		crt, key = crt2, key2
	}
	renewed("the same hook again", false)
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	now = leaf.NotBefore.Add(life*2/3 - time.Hour)
	renewed("just before two thirds of its life", false)
	now = leaf.NotBefore.Add(life*2/3 + time.Hour)
	renewed("past two thirds of its life", true)
	ip = net.ParseIP("10.9.9.9")
	renewed("a new pod IP", true)
	if got := leafOf(crt).IPAddresses; len(got) != 1 || !got[0].Equal(ip) {
		t.Errorf("IP SAN after the address change: %v", got)
	}
	content2, pub2 := testCASecret(t, "CA two", now)
	pub = pub2
	// The peer databag names the new CA before the secret shows it: nothing is issued under the old one.
	if crt2, _, _ := hook(); crt2 != crt {
		t.Fatal("issued while the secret held another CA than the published one")
	}
	run.content = content2
	renewed("another signing CA", true)
	leafOf(crt)
	renewed("steady under the new CA", false)
	// Revoked (revoke-certificate finds it in the ledger): replaced at once, naming its CA's CRL.
	revoked = mustJSON([]revocation{{Serial: "ab12"}, {Serial: serialHex(leafOf(crt)), RevokedAt: now}})
	renewed("revoked", true)
	if cdp := leafOf(crt).CRLDistributionPoints; len(cdp) != 1 || !strings.HasSuffix(cdp[0], "/crl/"+crlKeyID(pub.cert)) {
		t.Fatalf("CRL distribution point %v", cdp)
	}
	renewed("steady again", false)
}
