package charm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
)

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

// peerJuju is a small Juju for the peer relation "authority:1" of tls-authority: its databags, the CA secret (by
// label), relation-list and juju-log. It counts each hook's calls by tool and keeps every call's arguments.
type peerJuju struct {
	mu     sync.Mutex
	unit   string // whose hook runs now: the writer of relation-set
	bags   map[string]map[string]string
	units  []string // relation-list
	secret map[string]string
	calls  map[string]int
	args   [][]string
	logs   []string
}

func (f *peerJuju) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[tool]++
	f.args = append(f.args, append([]string{f.unit, tool}, args...))
	switch tool {
	case "relation-get":
		return json.Marshal(f.bags[args[len(args)-2]]) // ... - <name> --format=json
	case "relation-set":
		data, err := hooktooltest.RelationSetData(args, stdin)
		if err != nil {
			return nil, err
		}
		name := f.unit
		if slices.Contains(args, "--app") {
			name = "tls-authority"
		}
		setBag(f.bags, name, data)
		return nil, nil
	case "relation-list":
		return json.Marshal(f.units)
	case "secret-get":
		if f.unit != "tls-authority/0" {
			return nil, fmt.Errorf("%s is not the leader: permission denied", f.unit)
		}
		return json.Marshal(f.secret)
	case "juju-log":
		f.logs = append(f.logs, strings.Join(args, " "))
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

// hook runs what a hook of unit does for serving certificates, in reconcile's order: the leader signs the others'
// CSRs, the peer application databag is written once, then the unit's own certificate. tls-authority/0 leads.
func (f *peerJuju) hook(t *testing.T, unit, hook, remote string, pub *published, now time.Time) (crt, key string, calls map[string]int) {
	t.Helper()
	f.mu.Lock()
	f.unit, f.calls = unit, map[string]int{}
	dir := filepath.Join(charmDirs, strings.ReplaceAll(unit, "/", "-"))
	app := maps.Clone(f.bags["tls-authority"])
	f.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := hooktool.Env{UnitName: unit, ModelName: "cos", CharmDir: dir, HookName: hook}
	if remote != "" {
		env.RelationName, env.RelationID, env.RemoteUnit = PeerEndpoint, "authority:1", remote
	}
	if app == nil {
		app = map[string]string{}
	}
	r := &reconciler{hc: hooktool.New(env, f), o: &Options{Now: func() time.Time { return now }},
		leader: unit == "tls-authority/0", peerID: "authority:1", peer: app}
	if r.leader {
		if err := r.signPeerServing(pub); err != nil {
			t.Fatal(err)
		}
		if err := r.flushPeer(); err != nil {
			t.Fatal(err)
		}
	}
	crt, key, err := r.servingCert(pub)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return crt, key, maps.Clone(f.calls)
}

// charmDirs is where the test units keep their charm directories (set by each test).
var charmDirs string

// checkServed verifies what a unit's agent would serve: the leaf then the chain, the leaf for the key, under the CA
// (x509.Verify) for exactly the unit's FQDN and IP.
func checkServed(t *testing.T, crt, key string, pub *published, fqdn string, ip net.IP) *x509.Certificate {
	t.Helper()
	certs, err := ca.ParseCertificates(crt)
	if err != nil || len(certs) != 2 || !certs[1].Equal(pub.cert) {
		t.Fatalf("tls.crt: %d certificates, %v, want the leaf then the CA", len(certs), err)
	}
	k, err := ca.ParsePrivateKey(key)
	if err != nil || !publicKeyEqual(certs[0].PublicKey, k.Public()) {
		t.Fatalf("tls.key is not the leaf's key: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pub.cert)
	for _, name := range []string{fqdn, ip.String()} {
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: certs[0].NotBefore.Add(time.Hour)}); err != nil {
			t.Fatalf("leaf for %s: %v", name, err)
		}
	}
	if !slices.Equal(certs[0].DNSNames, []string{fqdn}) || len(certs[0].IPAddresses) != 1 || !certs[0].IPAddresses[0].Equal(ip) {
		t.Fatalf("SANs %v %v, want %s %s", certs[0].DNSNames, certs[0].IPAddresses, fqdn, ip)
	}
	return certs[0]
}

// TestServingCert: the leader signs every unit's serving certificate, and no other unit ever runs secret-get. A
// non-leader puts a CSR for its FQDN and pod IP in its peer databag and keeps serving what it has; the leader, in the
// relation-changed that brings the CSR, signs it (one secret-get, one relation-set) and signs its own directly; the
// unit installs the published certificate for its key; steady hooks make no call on either side; a new CSR, with a
// new key, goes out at two thirds of the certificate's life, on a new pod IP and under a new signing CA, each
// answered by the leader. The CA key goes nowhere but the leader's memory.
func TestServingCert(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	content, pub := testCASecret(t, "CA one", now)
	charmDirs = t.TempDir()
	ips := map[string]net.IP{"tls-authority-0": net.ParseIP("10.1.2.2"), "tls-authority-1": net.ParseIP("10.1.2.3")}
	podIPOf = func(host string) net.IP { return ips[host] }
	t.Cleanup(func() { podIPOf = podIP })
	f := &peerJuju{secret: content, units: []string{"tls-authority/1"}, bags: map[string]map[string]string{
		// On Kubernetes a unit's ingress-address is the application's service address, the same for every unit
		// (seen on Juju 4.1-beta2): the pod IP comes from the unit itself, beside its CSR.
		"tls-authority/0": {"ingress-address": "10.152.183.7"}, "tls-authority/1": {"ingress-address": "10.152.183.7"}}}
	fqdn1 := "tls-authority-1.tls-authority-endpoints.cos.svc.cluster.local"
	fqdn0 := "tls-authority-0.tls-authority-endpoints.cos.svc.cluster.local"

	// The non-leader asks, and serves nothing yet.
	crt, _, calls := f.hook(t, "tls-authority/1", "update-status", "", pub, now)
	if crt != "" || calls["secret-get"] != 0 || calls["relation-set"] != 1 || f.bags["tls-authority/1"][peerServingCSR] == "" {
		t.Fatalf("first hook: served %v, calls %v, CSR %q", crt != "", calls, f.bags["tls-authority/1"][peerServingCSR])
	}
	csr1 := f.bags["tls-authority/1"][peerServingCSR]
	if _, _, calls = f.hook(t, "tls-authority/1", "update-status", "", pub, now); calls["relation-set"] != 0 || f.bags["tls-authority/1"][peerServingCSR] != csr1 {
		t.Fatalf("waiting hook: %v, or a new CSR", calls)
	}
	if st, err := os.Stat(filepath.Join(charmDirs, "tls-authority-1", servingCache)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kept key: %v %v", st, err)
	}

	// The leader signs it in the hook that brings it, and its own directly.
	crt0, key0, calls := f.hook(t, "tls-authority/0", "authority-relation-changed", "tls-authority/1", pub, now)
	if calls["secret-get"] != 1 || calls["relation-set"] != 1 || calls["relation-get"] != 1 || f.bags["tls-authority"][servingKeyOf("tls-authority/1")] == "" {
		t.Fatalf("leader relation-changed: %v, app bag %v", calls, slices.Collect(maps.Keys(f.bags["tls-authority"])))
	}
	checkServed(t, crt0, key0, pub, fqdn0, ips["tls-authority-0"])
	if _, _, calls = f.hook(t, "tls-authority/0", "authority-relation-changed", "tls-authority/1", pub, now); calls["secret-get"] != 0 || calls["relation-set"] != 0 {
		t.Fatalf("the same relation-changed again signed: %v", calls)
	}
	// The unit installs it; then steady hooks make no call on either side.
	crt, key, calls := f.hook(t, "tls-authority/1", "authority-relation-changed", "", pub, now)
	leaf := checkServed(t, crt, key, pub, fqdn1, ips["tls-authority-1"])
	if calls["secret-get"] != 0 || calls["relation-set"] != 0 || calls["relation-get"] != 0 {
		t.Fatalf("install: %v", calls)
	}
	for _, u := range []string{"tls-authority/0", "tls-authority/1"} {
		if _, _, calls := f.hook(t, u, "update-status", "", pub, now); len(calls) != 0 {
			t.Errorf("steady update-status on %s: %v", u, calls)
		}
	}

	// renew runs the round trip on tls-authority/1: its hook, the leader's relation-changed, its hook again.
	renew := func(why string, want bool) {
		t.Helper()
		crt2, key2, calls := f.hook(t, "tls-authority/1", "update-status", "", pub, now)
		if crt2 != crt || key2 != key {
			t.Fatalf("%s: the agent's certificate changed before the leader signed", why)
		}
		if asked := calls["relation-set"] == 1; asked != want {
			t.Fatalf("%s: asked %v, want %v (%v)", why, asked, want, calls)
		}
		if !want {
			return
		}
		f.hook(t, "tls-authority/0", "authority-relation-changed", "tls-authority/1", pub, now)
		crt2, key2, _ = f.hook(t, "tls-authority/1", "authority-relation-changed", "", pub, now)
		if crt2 == crt || key2 == key {
			t.Fatalf("%s: no new certificate and key", why)
		}
		leaf = checkServed(t, crt2, key2, pub, fqdn1, ips["tls-authority-1"])
		crt, key = crt2, key2
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	now = leaf.NotBefore.Add(life*2/3 - time.Hour)
	renew("just before two thirds of its life", false)
	now = leaf.NotBefore.Add(life*2/3 + time.Hour)
	renew("past two thirds of its life", true)
	ips["tls-authority-1"] = net.ParseIP("10.9.9.9")
	renew("a new pod IP", true)

	content2, pub2 := testCASecret(t, "CA two", now)
	pub = pub2
	// The peer databag names the new CA before the secret shows it: the unit asks, the leader signs nothing under
	// the old one, and the agent keeps its certificate.
	if crt2, _, calls := f.hook(t, "tls-authority/1", "update-status", "", pub, now); crt2 != crt || calls["relation-set"] != 1 {
		t.Fatalf("a new signing CA: %v", calls)
	}
	if _, _, calls := f.hook(t, "tls-authority/0", "authority-relation-changed", "tls-authority/1", pub, now); calls["relation-set"] != 0 {
		t.Fatalf("the leader signed while the secret held another CA: %v", calls)
	}
	if crt2, _, _ := f.hook(t, "tls-authority/1", "authority-relation-changed", "", pub, now); crt2 != crt {
		t.Fatal("the agent's certificate changed while the leader could not sign")
	}
	f.secret = content2
	f.hook(t, "tls-authority/0", "authority-relation-changed", "tls-authority/1", pub, now)
	crt2, key2, _ := f.hook(t, "tls-authority/1", "authority-relation-changed", "", pub, now)
	checkServed(t, crt2, key2, pub, fqdn1, ips["tls-authority-1"])
	crt, key = crt2, key2
	renew("steady under the new CA", false)

	// A leader's full scan renews a certificate past two thirds of its life before the unit asks: the unit installs
	// it for the key it has, and asks nothing.
	leaf = checkServed(t, crt, key, pub, fqdn1, ips["tls-authority-1"])
	now = leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore)*2/3 + time.Hour)
	if _, _, calls := f.hook(t, "tls-authority/0", "leader-elected", "", pub, now); calls["relation-set"] != 1 {
		t.Fatalf("leader-elected past two thirds: %v", calls)
	}
	crt2, key2, calls = f.hook(t, "tls-authority/1", "update-status", "", pub, now)
	if crt2 == crt || key2 != key || calls["relation-set"] != 0 {
		t.Fatalf("after the leader's renewal: new certificate %v, same key %v, calls %v", crt2 != crt, key2 == key, calls)
	}
	leaf = checkServed(t, crt2, key2, pub, fqdn1, ips["tls-authority-1"])
	crt, key = crt2, key2

	// Revoked (revoke-certificate finds it in the ledger): the unit asks again at once, and its new certificate
	// names its CA's CRL, as every serving certificate does.
	if cdp := leaf.CRLDistributionPoints; len(cdp) != 1 || !strings.HasSuffix(cdp[0], "/crl/"+crlKeyID(pub.cert)) {
		t.Fatalf("CRL distribution point %v", cdp)
	}
	f.bags["tls-authority"][peerRevoked] = mustJSON([]revocation{{Serial: "ab12"}, {Serial: serialHex(leaf), RevokedAt: now}})
	renew("revoked", true)
	renew("steady after the revocation", false)

	for _, a := range f.args {
		if a[1] == "secret-get" && a[0] != "tls-authority/0" {
			t.Errorf("%s ran secret-get", a[0])
		}
	}
	for name, bag := range f.bags {
		for k, v := range bag {
			if strings.Contains(v, content["private-key"]) || strings.Contains(v, content2["private-key"]) || strings.Contains(v, "PRIVATE KEY") {
				t.Errorf("a private key in %s's %s", name, k)
			}
		}
	}
}

// TestSignPeerServingHooks: the leader reads peer databags only in the hooks that need them. A scan hook
// (leader-elected, upgrade-charm) lists the units, signs what has no current certificate and drops the certificates
// of units gone; relation-departed drops the departed unit's; an unrelated hook (config-changed among them) makes no
// call.
func TestSignPeerServingHooks(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	content, pub := testCASecret(t, "CA one", now)
	charmDirs = t.TempDir()
	podIPOf = func(host string) net.IP { return net.ParseIP("10.1.2." + host[len(host)-1:]) }
	t.Cleanup(func() { podIPOf = podIP })
	f := &peerJuju{secret: content, units: []string{"tls-authority/1", "tls-authority/2"}, bags: map[string]map[string]string{
		"tls-authority":   {servingKeyOf("tls-authority/7"): "a departed unit's"},
		"tls-authority/1": {"ingress-address": "10.152.183.7"}, "tls-authority/2": {"ingress-address": "10.152.183.7"}}}
	f.hook(t, "tls-authority/1", "update-status", "", pub, now) // asks; tls-authority/2 has not asked yet
	_, _, calls := f.hook(t, "tls-authority/0", "leader-elected", "", pub, now)
	if calls["relation-list"] != 1 || calls["relation-get"] != 2 || calls["relation-set"] != 1 {
		t.Fatalf("leader-elected: %v", calls)
	}
	app := f.bags["tls-authority"]
	if app[servingKeyOf("tls-authority/1")] == "" || app[servingKeyOf("tls-authority/2")] != "" || app[servingKeyOf("tls-authority/7")] != "" {
		t.Fatalf("after leader-elected the app bag has %v", slices.Sorted(maps.Keys(app)))
	}
	if _, _, calls = f.hook(t, "tls-authority/0", "leader-elected", "", pub, now); calls["relation-set"] != 0 || calls["secret-get"] != 0 {
		t.Fatalf("leader-elected again: %v", calls)
	}
	for _, h := range []string{"certificates-relation-changed", "config-changed", "update-status"} {
		if _, _, calls = f.hook(t, "tls-authority/0", h, "", pub, now); len(calls) != 0 {
			t.Fatalf("%s: %v", h, calls)
		}
	}
	f.mu.Lock()
	f.units = []string{"tls-authority/2"}
	f.mu.Unlock()
	if _, _, calls = f.hook(t, "tls-authority/0", "authority-relation-departed", "tls-authority/1", pub, now); calls["relation-set"] != 1 || calls["relation-get"] != 0 {
		t.Fatalf("relation-departed: %v", calls)
	}
	if app := f.bags["tls-authority"]; app[servingKeyOf("tls-authority/1")] != "" {
		t.Fatal("the departed unit's certificate stayed")
	}
}

// TestCheckServingCSR: the leader signs a peer's CSR only for exactly that unit's FQDN and published pod IP, with a
// valid self-signature by a P-256 key; every other CSR is refused with a reason.
func TestCheckServingCSR(t *testing.T) {
	fqdn := "tls-authority-1.tls-authority-endpoints.cos.svc.cluster.local"
	ip := net.ParseIP("10.1.2.3")
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(edit func(*x509.CertificateRequest) any) string {
		t.Helper()
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: fqdn}, DNSNames: []string{fqdn}, IPAddresses: []net.IP{ip}}
		var key any = p256
		if edit != nil {
			if k := edit(tmpl); k != nil {
				key = k
			}
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	good := mk(nil)
	block, _ := pem.Decode([]byte(good))
	tampered := append([]byte{}, block.Bytes...)
	tampered[len(tampered)-5] ^= 0xff // the signature's last bytes
	spiffe, _ := url.Parse("spiffe://cos/sa/admin")
	for _, tc := range []struct {
		name, csr, want string
		ip              net.IP
	}{
		{"exactly its names", good, "", ip},
		{"no IP when its pod has none published", mk(func(c *x509.CertificateRequest) any { c.IPAddresses = nil; return nil }), "", nil},
		{"no IP in the CSR", mk(func(c *x509.CertificateRequest) any { c.IPAddresses = nil; return nil }), "", ip},
		{"not PEM", "garbage", "not a PEM certificate request", ip},
		{"bad signature", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered})), "signature", ip},
		{"RSA key", mk(func(*x509.CertificateRequest) any { return rsaKey }), "not ECDSA P-256", ip},
		{"P-384 key", mk(func(*x509.CertificateRequest) any { return p384 }), "not ECDSA P-256", ip},
		{"another unit's FQDN", mk(func(c *x509.CertificateRequest) any {
			c.Subject.CommonName = "tls-authority-2.tls-authority-endpoints.cos.svc.cluster.local"
			c.DNSNames = []string{c.Subject.CommonName}
			return nil
		}), "subject", ip},
		{"an extra DNS name", mk(func(c *x509.CertificateRequest) any { c.DNSNames = append(c.DNSNames, "login.bank.com"); return nil }), "not exactly", ip},
		{"the DNS SAN of another name", mk(func(c *x509.CertificateRequest) any { c.DNSNames = []string{"login.bank.com"}; return nil }), "not exactly", ip},
		{"another pod's IP", mk(func(c *x509.CertificateRequest) any { c.IPAddresses = []net.IP{net.ParseIP("10.1.2.4")}; return nil }), "not exactly", ip},
		{"an IP when none is published", good, "not exactly", nil},
		{"a metadata IP too", mk(func(c *x509.CertificateRequest) any {
			c.IPAddresses = append(c.IPAddresses, net.ParseIP("169.254.169.254"))
			return nil
		}), "not exactly", ip},
		{"a URI", mk(func(c *x509.CertificateRequest) any { c.URIs = []*url.URL{spiffe}; return nil }), "not exactly", ip},
		{"an email", mk(func(c *x509.CertificateRequest) any { c.EmailAddresses = []string{"ceo@bank.com"}; return nil }), "not exactly", ip},
		{"an extra subject attribute", mk(func(c *x509.CertificateRequest) any { c.Subject.Organization = []string{"Bank"}; return nil }), "subject", ip},
		{"a CN with a trailing space", mk(func(c *x509.CertificateRequest) any { c.Subject.CommonName = fqdn + " "; return nil }), "subject", ip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkServingCSR(tc.csr, fqdn, tc.ip)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
