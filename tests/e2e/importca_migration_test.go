package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// sscCA is a CA made as self-signed-certificates makes it (src/charm.py _generate_root_certificate with the
// charmlibs tls_certificates library: generate_private_key, then generate_ca, i.e. Certificate.generate_self_signed_ca
// with CertificateRequestAttributes(is_ca=True)): an RSA 2048 key (public exponent 65537) in PKCS #1 PEM
// ("TraditionalOpenSSL"), stripped; the subject CN, x500UniqueIdentifier (a UUID4), O, OU, emailAddress, C, ST, L,
// each its own RDN, the unset ones left out, UTF8String but C (PrintableString) and emailAddress (IA5String):
// cryptography's _NAMEOID_DEFAULT_TYPE; issuer the same; a random serial (x509.random_serial_number: 159 bits);
// valid from now to now + root-ca-validity; SubjectKeyIdentifier (not critical), BasicConstraints CA:TRUE with no
// path length (critical), KeyUsage digitalSignature, keyEncipherment, keyCertSign (critical: no cRLSign), a SAN
// with the email address when there is one; SHA-256 with RSA.
type sscCA struct {
	cert   *x509.Certificate
	key    *rsa.PrivateKey
	pem    string // str(Certificate): PEM, stripped
	keyPEM string // str(PrivateKey): PKCS #1 PEM, stripped
}

func utf8(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(v)}}
}

func makeSSCCA(t *testing.T, cn, org string, validity time.Duration) *sscCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	uid := make([]byte, 16)
	_, _ = rand.Read(uid)
	uid[6], uid[8] = uid[6]&0x0f|0x40, uid[8]&0x3f|0x80
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", uid[0:4], uid[4:6], uid[6:8], uid[8:10], uid[10:])
	rdns := pkix.RDNSequence{
		{utf8(asn1.ObjectIdentifier{2, 5, 4, 3}, cn)},
		{utf8(asn1.ObjectIdentifier{2, 5, 4, 45}, uuid)},
		{utf8(asn1.ObjectIdentifier{2, 5, 4, 10}, org)},
	}
	subject, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	_, _ = asn1.Unmarshal(spki, &info)
	ski := sha1.Sum(info.PublicKey.Bytes) // cryptography's SubjectKeyIdentifier.from_public_key: SHA-1 of the key bits
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	now := time.Now().UTC()
	tmpl := &x509.Certificate{
		SerialNumber: serial, RawSubject: subject, NotBefore: now, NotAfter: now.Add(validity),
		SubjectKeyId: ski[:], BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	tmpl.RawIssuer = subject
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &sscCA{cert: cert, key: key,
		pem:    strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))),
		keyPEM: strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))}
}

// sign is self-signed-certificates' _generate_certificate (generate_certificate, i.e. Certificate.generate with
// is_ca false): the CSR's subject, issuer the CA's subject, a random serial, valid from now for validity, the
// extensions of _generate_certificate_request_extensions (AuthorityKeyIdentifier from the CA's SKI, SKI of the
// CSR's key, BasicConstraints CA:FALSE critical, the CSR's SANs), SHA-256.
func (c *sscCA) sign(t *testing.T, csrPEM string, validity time.Duration) string {
	t.Helper()
	csr := parseCSR(t, csrPEM)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	now := time.Now().UTC()
	spki, _ := x509.MarshalPKIXPublicKey(csr.PublicKey)
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	_, _ = asn1.Unmarshal(spki, &info)
	ski := sha1.Sum(info.PublicKey.Bytes)
	tmpl := &x509.Certificate{
		SerialNumber: serial, RawSubject: csr.RawSubject, NotBefore: now, NotAfter: now.Add(validity),
		AuthorityKeyId: c.cert.SubjectKeyId, SubjectKeyId: ski[:], BasicConstraintsValid: true, IsCA: false,
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses, EmailAddresses: csr.EmailAddresses, URIs: csr.URIs,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

// TestMigrateFromSelfSignedCertificates follows the how-to's move with no outage. A model has self-signed-certificates
// (a stand-in holding a CA made as it makes it, in its secret as it keeps it) and two requirer applications of two
// units holding certificates it signed and serving TLS. The operator reads its secret (juju show-secret --reveal),
// imports the CA into tls-authority (ca-secret), then moves each relation (remove-relation, integrate) and removes
// self-signed-certificates. Throughout, every unit serves the newest certificate it holds to clients that trust only
// self-signed-certificates' CA (what the peers held before the move): 0 failed handshakes; every new certificate
// chains to the same CA (openssl verify against the CA self-signed-certificates made).
func TestMigrateFromSelfSignedCertificates(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	ssc, err := m.Deploy("self-signed-certificates", "testdata/ssc-standin", &sim.DeployOptions{Units: 1})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	root := makeSSCCA(t, "self-signed-certificates-operator", "Example Org", 365*24*time.Hour)
	// The secret's expiry is the CA's renewal threshold (_ca_certificate_renewal_threshold); its value does not matter here.
	action(t, ssc.Leader(), "add-ca-secret", map[string]any{"ca-certificate": root.pem, "private-key": root.keyPEM,
		"expire": time.Now().Add(275 * 24 * time.Hour).UTC().Format(time.RFC3339)})

	type holder struct {
		key   crypto.Signer
		csr   string
		chain []string
	}
	held := map[string]*holder{} // unit -> what it holds and serves
	rels := map[string]*sim.Relation{}
	apps := []string{"web", "db"}
	for _, name := range apps {
		deployRequirer(t, m, name, 2)
		rels[name] = integrate(t, m, name+":certificates", "self-signed-certificates:certificates")
	}
	settle(t, s)
	for _, name := range apps {
		var entries []map[string]any
		for _, u := range m.App(name).Units() {
			k := ecKey(t)
			h := &holder{key: k, csr: newCSR(t, k, u.FQDN(), u.FQDN())}
			held[u.Name()] = h
			publishCSRs(t, u, false, req(h.csr, false))
			leaf := root.sign(t, h.csr, 90*24*time.Hour)
			h.chain = []string{leaf, root.pem}
			entries = append(entries, map[string]any{"ca": root.pem, "certificate_signing_request": h.csr, "certificate": leaf, "chain": h.chain})
		}
		settle(t, s)
		b, _ := json.Marshal(entries)
		data, _ := json.Marshal(map[string]string{"certificates": string(b)})
		action(t, ssc.Leader(), "publish", map[string]any{"relation": fmt.Sprintf("certificates:%d", rels[name].IDIn(m)), "data": string(data)})
	}
	settle(t, s)
	for _, name := range apps {
		certs, _, _ := issuedBag(t, rels[name], "self-signed-certificates")
		if len(certs) != 2 {
			t.Fatalf("%s holds %d certificates from self-signed-certificates", name, len(certs))
		}
	}

	var ok, failed int
	peersTrust := []string{root.pem}
	serveAll := func(step string) {
		t.Helper()
		for unit, h := range held {
			if err := handshake(h.chain, h.key, peersTrust); err != nil {
				failed++
				t.Errorf("%s: %s: %v", step, unit, err)
				continue
			}
			ok++
		}
	}
	serveAll("before")

	// 1. The CA of self-signed-certificates, as juju show-secret --reveal shows it to the operator.
	var sscURI string
	for _, sc := range s.State().Secrets {
		if sc.Label == "active-ca-certificates" && sc.Owner == "application-self-signed-certificates" {
			sscURI = sc.URI
		}
	}
	content, err := s.SecretContentForTest(sscURI, 0)
	if err != nil {
		t.Fatal(err)
	}
	if content["ca-certificate"] != root.pem || content["private-key"] != root.keyPEM {
		t.Fatal("the stand-in's secret does not hold the CA as self-signed-certificates keeps it")
	}
	// 2. tls-authority with that CA (jq -r adds a newline to each file).
	authority := deployAuthority(t, m, "tls-authority", 1, nil)
	settle(t, s)
	serveAll("tls-authority deployed")
	uri, err := m.AddSecret("ssc-ca", map[string]string{"certificate": content["ca-certificate"] + "\n", "private-key": content["private-key"] + "\n"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.GrantSecret("ssc-ca", "tls-authority"); err != nil {
		t.Fatal(err)
	}
	if err := authority.SetConfig(map[string]any{"ca-secret": uri}); err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 6 && !parseCert(t, caOf(t, authority)).Equal(root.cert); step++ {
		settle(t, s)
		serveAll(fmt.Sprintf("import, step %d", step))
		s.UpdateStatus()
	}
	if !parseCert(t, caOf(t, authority)).Equal(root.cert) {
		t.Fatal("tls-authority did not take self-signed-certificates' CA")
	}
	if st := authority.Leader().Status(); st.Status != "active" {
		t.Fatalf("tls-authority: %v", st)
	}

	// 3. Each requirer, one at a time.
	rootFile := writeTemp(t, "ssc-ca.pem", root.pem)
	for _, name := range apps {
		if err := m.RemoveRelation(rels[name]); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		serveAll(name + " removed from self-signed-certificates")
		r := integrate(t, m, name+":certificates", "tls-authority:certificates")
		settle(t, s)
		serveAll(name + " related to tls-authority")
		for _, u := range m.App(name).Units() {
			publishCSRs(t, u, false, req(held[u.Name()].csr, false))
		}
		settle(t, s)
		for _, u := range m.App(name).Units() {
			e := entryFor(t, r, "tls-authority", held[u.Name()].csr)
			if !parseCert(t, e.CA).Equal(root.cert) || !parseCert(t, e.Chain[len(e.Chain)-1]).Equal(root.cert) {
				t.Fatalf("%s: the new certificate does not chain to self-signed-certificates' CA", u.Name())
			}
			if out := openssl(t, e.Certificate, "verify", "-CAfile", rootFile); !strings.Contains(out, ": OK") {
				t.Fatalf("%s: openssl verify against self-signed-certificates' CA: %s", u.Name(), out)
			}
			held[u.Name()].chain = e.Chain
		}
		serveAll(name + " holds certificates from tls-authority")
		rels[name] = r
	}
	// 4. self-signed-certificates goes.
	if err := m.RemoveApp("self-signed-certificates"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	serveAll("self-signed-certificates removed")
	noFailedHooks(t, authority)
	noKeyMaterial(t, s, root.keyPEM)
	t.Logf("handshakes: %d, failed %d", ok, failed)
	if failed != 0 {
		t.Fatalf("%d failed handshakes", failed)
	}
}
