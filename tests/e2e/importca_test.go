package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// testCA is a CA made in a test: the operator's root, an intermediate, or a bad one.
type testCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	pem    string
	keyPEM string
}

// makeCA signs a CA certificate for a fresh P-256 key (RSA 2048 when rsaKey), by parent (self-signed when nil);
// edit changes the template before it is signed.
func makeCA(t testing.TB, cn string, parent *testCA, rsaKey bool, edit func(*x509.Certificate)) *testCA {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Example Org"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if edit != nil {
		edit(tmpl)
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key,
		pem:    strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		keyPEM: strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})))}
}

// servingRequirers deploys the authority (cfg) and two requirer apps of two units each, every unit with a key it
// keeps and a CSR for its FQDN, and returns them with the keys by CSR.
func servingRequirers(t *testing.T, cfg map[string]any) (*sim.Sim, *sim.Model, *sim.App, map[string]*sim.Relation, map[string]crypto.Signer) {
	t.Helper()
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, cfg)
	rels := map[string]*sim.Relation{}
	keys := map[string]crypto.Signer{}
	for _, name := range []string{"web", "db"} {
		deployRequirer(t, m, name, 2)
		rels[name] = integrate(t, m, name+":certificates", "tls-authority:certificates")
	}
	settle(t, s)
	for _, name := range []string{"web", "db"} {
		for _, u := range m.App(name).Units() {
			k := ecKey(t)
			csr := newCSR(t, k, u.FQDN(), u.FQDN())
			keys[csr] = k
			publishCSRs(t, u, false, req(csr, false))
		}
	}
	settle(t, s)
	return s, m, authority, rels, keys
}

// trustOf is what a client of the authority trusts now: every certificate the agents serve in /ca.pem.
func trustOf(t *testing.T, authority *sim.App) []string {
	t.Helper()
	var out []string
	for _, u := range authority.Units() {
		for _, c := range bundleOf(t, u) {
			out = appendNewPEM(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
		}
	}
	return out
}

func appendNewPEM(set []string, c string) []string {
	for _, x := range set {
		if x == c {
			return set
		}
	}
	return append(set, c)
}

// handshakeAll serves every issued certificate (its chain, its key) to a client that trusts trust, and counts the
// handshakes and failures.
func handshakeAll(t *testing.T, step string, authority *sim.App, rels map[string]*sim.Relation, keys map[string]crypto.Signer, trust []string) (ok, failed int) {
	t.Helper()
	for name, r := range rels {
		certs, _, _ := issuedBag(t, r, authority.Name())
		if len(certs) == 0 {
			t.Fatalf("%s: %s holds no certificate", step, name)
		}
		for _, e := range certs {
			if keys[e.CSR] == nil {
				t.Fatalf("%s: %s holds a certificate for a CSR no unit sent", step, name)
			}
			if err := handshake(e.Chain, keys[e.CSR], trust); err != nil {
				failed++
				t.Errorf("%s: %s: %v", step, name, err)
				continue
			}
			ok++
		}
	}
	return ok, failed
}

// rotateTo settles and runs update-status until every issued certificate chains to want, checking at every step
// that every certificate verifies (verifySigned: x509.Verify and openssl verify) and that a client holding the trust
// bundle of the step before completes a handshake with every requirer. It returns the handshakes made and failed.
func rotateTo(t *testing.T, what string, s *sim.Sim, authority *sim.App, rels map[string]*sim.Relation, keys map[string]crypto.Signer, want *x509.Certificate) (ok, failed int) {
	t.Helper()
	trust := trustOf(t, authority)
	for step := 0; step < 8; step++ {
		settle(t, s)
		name := fmt.Sprintf("%s, step %d", what, step)
		verifySigned(t, name, authority, rels)
		o, f := handshakeAll(t, name+" (trust of the step before)", authority, rels, keys, trust)
		ok, failed = ok+o, failed+f
		trust = trustOf(t, authority)
		o, f = handshakeAll(t, name, authority, rels, keys, trust)
		ok, failed = ok+o, failed+f
		done := parseCert(t, caOf(t, authority)).Equal(want)
		for _, r := range rels {
			certs, _, _ := issuedBag(t, r, authority.Name())
			for _, e := range certs {
				done = done && parseCert(t, e.CA).Equal(want)
			}
		}
		if done {
			return ok, failed
		}
		s.UpdateStatus()
	}
	t.Fatalf("%s: the certificates never moved to CA %q", what, want.Subject.CommonName)
	return
}

// noKeyMaterial fails if the body of keyPEM (any line of its base64) shows in the model's state (databags, statuses,
// action results, secret metadata) or in any hook's logs.
func noKeyMaterial(t *testing.T, s *sim.Sim, keyPEM string) {
	t.Helper()
	st, _ := json.Marshal(s.State())
	var logs strings.Builder
	for _, h := range s.Records() {
		logs.WriteString(strings.Join(h.Logs, "\n"))
		logs.WriteString(h.Stderr)
	}
	for _, line := range strings.Split(keyPEM, "\n")[1:] {
		if len(line) < 40 {
			continue
		}
		if strings.Contains(string(st), line) || strings.Contains(strings.ReplaceAll(string(st), `\n`, "\n"), line) {
			t.Fatalf("a line of the imported key is in the model state")
		}
		if strings.Contains(logs.String(), line) {
			t.Fatalf("a line of the imported key is in a hook's logs")
		}
	}
}

// TestImportCA: an operator's intermediate (with its root) in a Juju user secret, granted and set as ca-secret,
// replaces the authority's own CA through the rotation: at every step every certificate verifies (Go and openssl)
// and every requirer completes a handshake with a client holding the bundle of the step before; at the end every
// certificate chains leaf, intermediate, root. The key is only in the charm's CA secret. Unsetting ca-secret rotates
// back to a CA of the charm's own, the same way.
func TestImportCA(t *testing.T) {
	s, m, authority, rels, keys := servingRequirers(t, nil)
	own := parseCert(t, caOf(t, authority))
	root := makeCA(t, "Example Root CA", nil, true, nil)
	inter := makeCA(t, "Example Issuing CA", root, false, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	uri, err := m.AddSecret("org-ca", map[string]string{"certificate": inter.pem, "private-key": inter.keyPEM, "chain": root.pem}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.GrantSecret("org-ca", "tls-authority"); err != nil {
		t.Fatal(err)
	}
	if err := authority.SetConfig(map[string]any{"ca-secret": uri}); err != nil {
		t.Fatal(err)
	}
	ok, failed := rotateTo(t, "import", s, authority, rels, keys, inter.cert)
	for name, r := range rels {
		if certs, _, _ := issuedBag(t, r, authority.Name()); len(certs) != 2 {
			t.Fatalf("%s holds %d certificates, want 2", name, len(certs))
		}
	}
	for name, r := range rels {
		certs, _, _ := issuedBag(t, r, authority.Name())
		for _, e := range certs {
			if len(e.Chain) != 3 || e.Chain[1] != inter.pem || e.Chain[2] != root.pem {
				t.Fatalf("%s: chain of %d, want leaf, the intermediate, the root", name, len(e.Chain))
			}
			rootFile := writeTemp(t, "root.pem", root.pem)
			if out := openssl(t, e.Certificate, "verify", "-CAfile", rootFile, "-untrusted", writeTemp(t, "inter.pem", inter.pem)); !strings.Contains(out, ": OK") {
				t.Fatalf("%s: openssl verify to the operator's root: %s", name, out)
			}
		}
	}
	// The charm's own CA secret holds the key now, and nothing else shows it.
	var caURI string
	for _, sc := range s.State().Secrets {
		if sc.Label == "tls-authority-ca" {
			caURI = sc.URI
		}
	}
	content, err := s.SecretContentForTest(caURI, 0)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := parsePKCS8(content["private-key"]); err != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(inter.key.Public()) {
		t.Fatalf("the charm's CA secret does not hold the imported key (%v)", err)
	}
	noKeyMaterial(t, s, inter.keyPEM)
	noPrivateKeyBlock(t, s)
	if st := authority.Leader().Status(); st.Status != "active" {
		t.Fatalf("status %v", st)
	}
	res, err := authority.Leader().RunAction("rotate-private-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || !strings.Contains(res.Message, "imported CA") {
		t.Fatalf("rotate-private-key with ca-secret set: %s %q", res.Status, res.Message)
	}

	// Unset: back to a CA of its own (a new one: the first was replaced).
	if err := authority.SetConfig(map[string]any{"ca-secret": ""}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var next *x509.Certificate
	for _, c := range bundleOf(t, authority.Leader()) {
		if c.Subject.CommonName == own.Subject.CommonName && !c.Equal(own) {
			next = c
		}
	}
	if next == nil {
		t.Fatal("unsetting ca-secret started no rotation to a CA of the charm's own")
	}
	o, f := rotateTo(t, "unset", s, authority, rels, keys, next)
	ok, failed = ok+o, failed+f
	noFailedHooks(t, authority)
	t.Logf("handshakes across import and unset: %d, failed %d", ok, failed)
	if failed != 0 {
		t.Fatalf("%d failed handshakes", failed)
	}
}

// noPrivateKeyBlock fails if a PEM private key shows in the model's state or in any hook's logs or stderr: the
// offline root's key is made by the leader and never leaves the CA secret, so there is no known PEM to look for.
func noPrivateKeyBlock(t *testing.T, s *sim.Sim) {
	t.Helper()
	st, _ := json.Marshal(s.State())
	if strings.Contains(string(st), "PRIVATE KEY") {
		t.Fatal("a private key is in the model state")
	}
	for _, h := range s.Records() {
		if strings.Contains(strings.Join(h.Logs, "\n")+h.Stderr, "PRIVATE KEY") {
			t.Fatalf("a private key is in the logs of %s %s", h.Unit, h.Name)
		}
	}
}

func parsePKCS8(s string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, fmt.Errorf("no PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

// TestImportCAFromTheStart: ca-secret set and granted before the authority's first hook: the first CA is the
// imported intermediate (no root of the charm's own ever made or trusted), and the first certificates chain leaf,
// intermediate, root.
func TestImportCAFromTheStart(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	root := makeCA(t, "Example Root CA", nil, false, nil)
	inter := makeCA(t, "Example Issuing CA", root, false, nil)
	uri, err := m.AddSecret("org-ca", map[string]string{"certificate": inter.pem, "private-key": inter.keyPEM, "chain": root.pem}, "")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 2, map[string]any{"ca-secret": uri}) // no hook runs before settle
	if err := m.GrantSecret("org-ca", "tls-authority"); err != nil {
		t.Fatal(err)
	}
	deployRequirer(t, m, "web", 1)
	r := integrate(t, m, "web:certificates", "tls-authority:certificates")
	settle(t, s)
	if ca := parseCert(t, caOf(t, authority)); !ca.Equal(inter.cert) {
		t.Fatalf("the first CA is %q, want the imported one", ca.Subject.CommonName)
	}
	for _, u := range authority.Units() {
		for _, c := range bundleOf(t, u) {
			if !c.Equal(inter.cert) && !c.Equal(root.cert) {
				t.Fatalf("%s trusts %q, which is not the imported CA nor its root", u.Name(), c.Subject.CommonName)
			}
		}
		if st := u.Status(); st.Status != "active" {
			t.Fatalf("%s: %v", u.Name(), st)
		}
	}
	u := m.App("web").Units()[0]
	k := ecKey(t)
	csr := newCSR(t, k, u.FQDN(), u.FQDN())
	publishCSRs(t, u, false, req(csr, false))
	settle(t, s)
	e := entryFor(t, r, "tls-authority", csr)
	if len(e.Chain) != 3 || e.Chain[1] != inter.pem || e.Chain[2] != root.pem {
		t.Fatalf("chain of %d, want leaf, intermediate, root", len(e.Chain))
	}
	verifySigned(t, "from the start", authority, map[string]*sim.Relation{"web": r})
	if err := handshake(e.Chain, k, []string{root.pem}); err != nil {
		t.Fatal(err)
	}
	noFailedHooks(t, authority)
}
