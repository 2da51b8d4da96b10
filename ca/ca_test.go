package ca_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"go.step.sm/crypto/keyutil"

	"github.com/tls-authority/tls-authority/ca"
)

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in      string
		want    ca.Algorithm
		wantErr bool
	}{
		{"rsa-2048", ca.RSA2048, false},
		{"rsa-3072", ca.RSA3072, false},
		{"rsa-4096", ca.RSA4096, false},
		{"ecdsa-p256", ca.ECDSAP256, false},
		{"ecdsa-p384", ca.ECDSAP384, false},
		{"ed25519", ca.Ed25519, false},
		{" ECDSA-P256 ", ca.ECDSAP256, false},
		{"rsa-1024", "", true},
		{"ecdsa-p521", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ca.ParseAlgorithm(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseValidity(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"365d", 365 * day, false},
		{"90d", 90 * day, false},
		{"90", 90 * day, false},
		{"2w", 14 * day, false},
		{"12h", 12 * time.Hour, false},
		{"30m", 30 * time.Minute, false},
		{" 7d ", 7 * day, false},
		{"0", 0, true},
		{"0d", 0, true},
		{"-5d", 0, true},
		{"+5d", 0, true},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"", 0, true},
		{"5y", 0, true},
		{"5s", 0, true},
		{"99999999999999999w", 0, true},
	}
	for _, tt := range tests {
		got, err := ca.ParseValidity(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseValidity(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

var testSubject = ca.Subject{
	CommonName:         "tls-authority test CA",
	Organization:       "Example Org",
	OrganizationalUnit: "Platform",
	EmailAddress:       "pki@example.com",
	Country:            "GB",
	Province:           "London",
	Locality:           "London",
}

func TestNewRootEveryAlgorithm(t *testing.T) {
	now := time.Now()
	leafKey := testKey(t, ca.ECDSAP256)
	for _, alg := range ca.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			key := testKey(t, alg)
			root, err := ca.NewRoot(key, testSubject, 365*24*time.Hour, now, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !root.IsCA || !root.BasicConstraintsValid {
				t.Errorf("root is not a CA")
			}
			if root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
				t.Errorf("KeyUsage = %v", root.KeyUsage)
			}
			if len(root.SubjectKeyId) == 0 {
				t.Errorf("no SKI")
			}
			if n := root.SerialNumber.BitLen(); n == 0 || n > 128 {
				t.Errorf("serial has %d bits", n)
			}
			if !root.NotBefore.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
				t.Errorf("NotBefore = %v, want now-1m", root.NotBefore)
			}
			if root.Subject.CommonName != testSubject.CommonName || root.Subject.Organization[0] != "Example Org" {
				t.Errorf("subject = %v", root.Subject)
			}
			if !keyutil.Equal(root.PublicKey, key.Public()) {
				t.Errorf("root public key is not the key's")
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			if _, err := root.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("root does not verify as a root: %v", err)
			}

			// The private key survives its PEM round trip.
			keyPEM, err := ca.EncodePrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(keyPEM, "-----BEGIN PRIVATE KEY-----\n") {
				t.Errorf("key PEM is not PKCS #8: %.40q", keyPEM)
			}
			back, err := ca.ParsePrivateKey(keyPEM)
			if err != nil || !keyutil.Equal(back, key) {
				t.Errorf("ParsePrivateKey round trip: %v", err)
			}

			rootPEM := ca.EncodeCertificate(root)
			rootFile := writeTemp(t, "root.pem", rootPEM)
			if out, err := openssl(t, "x509", "-noout", "-text", "-in", rootFile); err != nil {
				t.Fatalf("openssl x509: %v\n%s", err, out)
			}
			auth := &ca.Authority{Certificate: root, Key: key}
			csr, _ := makeCSR(t, leafKey, csrSpec{cn: "leaf.example.com", dns: []string{"leaf.example.com"}})
			leaf, err := auth.Issue(csr, ca.IssueOptions{Validity: 24 * time.Hour, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "leaf.example.com"}); err != nil {
				t.Errorf("leaf does not verify: %v", err)
			}
			leafFile := writeTemp(t, "leaf.pem", ca.EncodeCertificate(leaf))
			if out, err := openssl(t, "verify", "-CAfile", rootFile, leafFile); err != nil {
				t.Errorf("openssl verify: %v\n%s", err, out)
			}
		})
	}
}

func TestNewRootErrors(t *testing.T) {
	key := testKey(t, ca.ECDSAP256)
	if _, err := ca.NewRoot(key, ca.Subject{}, time.Hour, time.Now(), 1); err == nil {
		t.Errorf("empty common name accepted")
	}
	if _, err := ca.NewRoot(key, testSubject, 0, time.Now(), 1); err == nil {
		t.Errorf("zero validity accepted")
	}
	if _, err := ca.NewRoot(nil, testSubject, time.Hour, time.Now(), 1); err == nil {
		t.Errorf("nil key accepted")
	}
}

// oidUniqueIdentifier is x500UniqueIdentifier, which the Python libraries put
// in every CSR subject; pkix.Name cannot round-trip it, so it shows whether
// the subject is copied byte for byte.
var oidUniqueIdentifier = asn1.ObjectIdentifier{2, 5, 4, 45}

func TestIssue(t *testing.T) {
	now := time.Now()
	caKey := testKey(t, ca.RSA2048)
	caValidity := 30 * 24 * time.Hour
	root, err := ca.NewRoot(caKey, testSubject, caValidity, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: root, Key: caKey}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	rootFile := writeTemp(t, "root.pem", ca.EncodeCertificate(root))

	tests := []struct {
		name     string
		alg      ca.Algorithm
		isCA     bool
		validity time.Duration
		crlDP    string
	}{
		{"rsa-2048 leaf", ca.RSA2048, false, 24 * time.Hour, ""},
		{"ecdsa-p256 leaf", ca.ECDSAP256, false, 24 * time.Hour, "http://authority-0.example:8080/crl"},
		{"ed25519 leaf", ca.Ed25519, false, 24 * time.Hour, ""},
		{"rsa-2048 CA", ca.RSA2048, true, 24 * time.Hour, ""},
		{"ecdsa-p256 CA", ca.ECDSAP256, true, 24 * time.Hour, ""},
		{"ed25519 CA", ca.Ed25519, true, 24 * time.Hour, ""},
		{"clipped to CA", ca.ECDSAP256, false, 90 * 24 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey(t, tt.alg)
			csr, _ := makeCSR(t, key, csrSpec{
				cn:     "app-0.app-endpoints.model.svc.cluster.local",
				dns:    []string{"app-0.app-endpoints.model.svc.cluster.local", "app.example.com"},
				ips:    []string{"10.1.2.3", "::1"},
				uris:   []string{"spiffe://cluster.local/ns/model/sa/app"},
				emails: []string{"ops@example.com"},
				extra:  []pkix.AttributeTypeAndValue{{Type: oidUniqueIdentifier, Value: "5b4b4a8e-0f2c-4d7e-9bb1-0cf4d1d3a111"}},
			})
			// A policy that constrains nothing: the SANs above all pass.
			cert, err := auth.Issue(csr, ca.IssueOptions{Validity: tt.validity, IsCA: tt.isCA, Policy: &ca.Policy{AllowIPSANs: true}, CRLDistributionPoint: tt.crlDP, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !keyutil.Equal(cert.PublicKey, key.Public()) {
				t.Errorf("public key is not the CSR's")
			}
			if !cert.BasicConstraintsValid || cert.IsCA != tt.isCA {
				t.Errorf("IsCA = %v (valid %v), want %v", cert.IsCA, cert.BasicConstraintsValid, tt.isCA)
			}
			if !bytes.Equal(cert.RawSubject, csr.RawSubject) {
				t.Errorf("subject %v not copied byte for byte from %v", cert.Subject, csr.Subject)
			}
			if !bytes.Equal(cert.RawIssuer, root.RawSubject) {
				t.Errorf("issuer = %v, want %v", cert.Issuer, root.Subject)
			}
			if strings.Join(cert.DNSNames, ",") != strings.Join(csr.DNSNames, ",") ||
				len(cert.IPAddresses) != 2 || !cert.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) || !cert.IPAddresses[1].Equal(net.IPv6loopback) ||
				len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://cluster.local/ns/model/sa/app" ||
				strings.Join(cert.EmailAddresses, ",") != "ops@example.com" {
				t.Errorf("SANs not copied: %v %v %v %v", cert.DNSNames, cert.IPAddresses, cert.URIs, cert.EmailAddresses)
			}
			if !bytes.Equal(cert.AuthorityKeyId, root.SubjectKeyId) || len(cert.SubjectKeyId) == 0 {
				t.Errorf("AKI %x, SKI %x; CA SKI %x", cert.AuthorityKeyId, cert.SubjectKeyId, root.SubjectKeyId)
			}
			if n := cert.SerialNumber.BitLen(); n == 0 || n > 128 {
				t.Errorf("serial has %d bits", n)
			}
			if !cert.NotBefore.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
				t.Errorf("NotBefore = %v, want now-1m", cert.NotBefore)
			}
			wantNotAfter := now.Add(tt.validity)
			if wantNotAfter.After(root.NotAfter) {
				wantNotAfter = root.NotAfter
			}
			if !cert.NotAfter.Equal(wantNotAfter.Truncate(time.Second)) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, wantNotAfter)
			}
			if cert.NotAfter.After(root.NotAfter) {
				t.Errorf("NotAfter %v beyond the CA's %v", cert.NotAfter, root.NotAfter)
			}
			if tt.isCA {
				if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(cert.ExtKeyUsage) != 0 {
					t.Errorf("CA KeyUsage %v, EKU %v", cert.KeyUsage, cert.ExtKeyUsage)
				}
				if cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
					t.Errorf("CA path length %d (zero %v), want 0", cert.MaxPathLen, cert.MaxPathLenZero)
				}
			} else {
				want := x509.KeyUsageDigitalSignature
				if tt.alg == ca.RSA2048 {
					want |= x509.KeyUsageKeyEncipherment
				}
				if cert.KeyUsage != want {
					t.Errorf("KeyUsage = %v, want %v", cert.KeyUsage, want)
				}
				if len(cert.ExtKeyUsage) != 2 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || cert.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
					t.Errorf("ExtKeyUsage = %v", cert.ExtKeyUsage)
				}
			}
			if tt.crlDP != "" && (len(cert.CRLDistributionPoints) != 1 || cert.CRLDistributionPoints[0] != tt.crlDP) {
				t.Errorf("CRL DP = %v", cert.CRLDistributionPoints)
			}
			if tt.crlDP == "" && len(cert.CRLDistributionPoints) != 0 {
				t.Errorf("unexpected CRL DP %v", cert.CRLDistributionPoints)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("x509.Verify: %v", err)
			}
			certFile := writeTemp(t, "cert.pem", ca.EncodeCertificate(cert))
			if out, err := openssl(t, "verify", "-CAfile", rootFile, certFile); err != nil {
				t.Errorf("openssl verify: %v\n%s", err, out)
			}
		})
	}
}

// TestIntermediate issues a CA from NewCACSR and a leaf from that
// intermediate: the chain intermediate mode will serve.
func TestIntermediate(t *testing.T) {
	now := time.Now()
	rootKey := testKey(t, ca.ECDSAP384)
	root, err := ca.NewRoot(rootKey, ca.Subject{CommonName: "central root"}, 365*24*time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	interKey := testKey(t, ca.RSA2048)
	csr, err := ca.NewCACSR(interKey, ca.Subject{CommonName: "model authority", Organization: "Example"})
	if err != nil {
		t.Fatal(err)
	}
	// What goes over the wire parses back.
	if _, err := ca.ParseCSR(ca.EncodeCertificateRequest(csr)); err != nil {
		t.Fatalf("ParseCSR(NewCACSR): %v", err)
	}
	inter, err := (&ca.Authority{Certificate: root, Key: rootKey}).Issue(csr, ca.IssueOptions{Validity: 90 * 24 * time.Hour, IsCA: true, Policy: &ca.Policy{AllowedDomains: []string{"example.com"}}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: inter, Key: interKey, Chain: []*x509.Certificate{root}}
	leafCSR, _ := makeCSR(t, testKey(t, ca.Ed25519), csrSpec{cn: "svc.example.com", dns: []string{"svc.example.com"}})
	leaf, err := auth.Issue(leafCSR, ca.IssueOptions{Validity: 24 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	chain := auth.ChainPEMs(leaf)
	if len(chain) != 3 || chain[0] != ca.EncodeCertificate(leaf) || chain[1] != ca.EncodeCertificate(inter) || chain[2] != ca.EncodeCertificate(root) {
		t.Errorf("ChainPEMs is not [leaf, intermediate, root]")
	}
	if auth.Root() != root {
		t.Errorf("Root() is not the chain's root")
	}
	if r := (&ca.Authority{Certificate: root}); r.Root() != root || len(r.ChainPEMs(leaf)) != 2 {
		t.Errorf("a root authority's Root or ChainPEMs")
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: "svc.example.com"}); err != nil {
		t.Errorf("x509.Verify through the intermediate: %v", err)
	}
	rootFile := writeTemp(t, "root.pem", ca.EncodeCertificate(root))
	interFile := writeTemp(t, "inter.pem", ca.EncodeCertificates([]*x509.Certificate{inter}))
	leafFile := writeTemp(t, "leaf.pem", ca.EncodeCertificate(leaf))
	if out, err := openssl(t, "verify", "-CAfile", rootFile, "-untrusted", interFile, leafFile); err != nil {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
}

func TestIssueErrors(t *testing.T) {
	now := time.Now()
	key := testKey(t, ca.ECDSAP256)
	root, err := ca.NewRoot(key, testSubject, time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: root, Key: key}
	csr, _ := makeCSR(t, key, csrSpec{cn: "x.example.com"})
	if _, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, Now: now.Add(2 * time.Hour)}); err == nil {
		t.Errorf("expired CA issued")
	}
	if _, err := auth.Issue(csr, ca.IssueOptions{Validity: 0, Now: now}); err == nil {
		t.Errorf("zero validity issued")
	}
	if _, err := (&ca.Authority{}).Issue(csr, ca.IssueOptions{Validity: time.Hour, Now: now}); err == nil {
		t.Errorf("empty authority issued")
	}
	bad := *csr
	bad.Signature = append([]byte(nil), csr.Signature...)
	bad.Signature[len(bad.Signature)-1] ^= 0xff
	if _, err := auth.Issue(&bad, ca.IssueOptions{Validity: time.Hour, Now: now}); err == nil {
		t.Errorf("CSR with a bad signature issued")
	}
}

func TestPolicyCheck(t *testing.T) {
	ec := testKey(t, ca.ECDSAP256)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	open := ca.Policy{AllowIPSANs: true, AllowWildcards: true, AllowCARequests: true}
	strict := ca.Policy{AllowedDomains: []string{"example.com", ".internal.test"}, AllowCARequests: false}
	tests := []struct {
		name   string
		policy ca.Policy
		csr    *x509.CertificateRequest
		isCA   bool
		want   int // 0: accepted
	}{
		{"open accepts anything", open, mk(t, ec, csrSpec{cn: "x", dns: []string{"*.a.org", "b.net"}, ips: []string{"10.0.0.1"}}), true, 0},
		{"P-521 accepted", open, mk(t, p521, csrSpec{cn: "x"}), false, 0},
		{"ed25519 accepted", strict, mk(t, testKey(t, ca.Ed25519), csrSpec{cn: "myapp"}), false, 0},
		{"rsa-2048 accepted", strict, mk(t, testKey(t, ca.RSA2048), csrSpec{cn: "myapp"}), false, 0},
		{"exact domain", strict, mk(t, ec, csrSpec{dns: []string{"example.com"}}), false, 0},
		{"subdomain", strict, mk(t, ec, csrSpec{dns: []string{"a.example.com", "b.c.EXAMPLE.com."}}), false, 0},
		{"second allowed domain", strict, mk(t, ec, csrSpec{dns: []string{"db.internal.test"}}), false, 0},
		{"suffix without dot", strict, mk(t, ec, csrSpec{dns: []string{"badexample.com"}}), false, ca.CodeDomainNotAllowed},
		{"outside", strict, mk(t, ec, csrSpec{dns: []string{"a.example.com", "evil.org"}}), false, ca.CodeDomainNotAllowed},
		{"parent of allowed", strict, mk(t, ec, csrSpec{dns: []string{"com"}}), false, ca.CodeDomainNotAllowed},
		{"hostname CN checked", strict, mk(t, ec, csrSpec{cn: "evil.org"}), false, ca.CodeDomainNotAllowed},
		{"plain CN not a domain", strict, mk(t, ec, csrSpec{cn: "prometheus-k8s"}), false, 0},
		{"IP SAN refused", strict, mk(t, ec, csrSpec{dns: []string{"example.com"}, ips: []string{"10.0.0.1"}}), false, ca.CodeIPNotAllowed},
		{"IP CN refused", strict, mk(t, ec, csrSpec{cn: "10.0.0.1"}), false, ca.CodeIPNotAllowed},
		{"IP SAN allowed", ca.Policy{AllowIPSANs: true}, mk(t, ec, csrSpec{ips: []string{"::1"}}), false, 0},
		{"wildcard refused", strict, mk(t, ec, csrSpec{dns: []string{"*.example.com"}}), false, ca.CodeWildcardNotAllowed},
		{"wildcard CN refused", strict, mk(t, ec, csrSpec{cn: "*.example.com"}), false, ca.CodeWildcardNotAllowed},
		{"wildcard allowed in domain", ca.Policy{AllowWildcards: true, AllowedDomains: []string{"example.com"}}, mk(t, ec, csrSpec{dns: []string{"*.example.com"}}), false, 0},
		{"wildcard outside domain", ca.Policy{AllowWildcards: true, AllowedDomains: []string{"example.com"}}, mk(t, ec, csrSpec{dns: []string{"*.com"}}), false, ca.CodeDomainNotAllowed},
		{"RSA-1024 refused", open, mk(t, rsa1024, csrSpec{cn: "x"}), false, ca.CodeOther},
		{"P-224 refused", open, mk(t, p224, csrSpec{cn: "x"}), false, ca.CodeOther},
		{"weak key before names", strict, mk(t, rsa1024, csrSpec{dns: []string{"evil.org"}}), false, ca.CodeOther},
		{"CA refused", strict, mk(t, ec, csrSpec{cn: "myca"}), true, ca.CodeOther},
		{"CA allowed", open, mk(t, ec, csrSpec{cn: "myca"}), true, 0},
		{"unknown key type", open, &x509.CertificateRequest{PublicKey: "not a key"}, false, ca.CodeOther},
		{"ed25519 value key", open, &x509.CertificateRequest{PublicKey: ed25519.PublicKey(make([]byte, 32))}, false, 0},
	}
	for _, tt := range tests {
		r := tt.policy.Check(tt.csr, tt.isCA)
		got := 0
		if r != nil {
			got = r.Code
			if r.Name == "" || r.Message == "" || !strings.Contains(r.Error(), r.Name) {
				t.Errorf("%s: incomplete refusal %+v", tt.name, r)
			}
			var err error = r
			var target *ca.Refusal
			if !errors.As(err, &target) {
				t.Errorf("%s: errors.As failed", tt.name)
			}
		}
		if got != tt.want {
			t.Errorf("%s: Check = %+v, want code %d", tt.name, r, tt.want)
		}
	}
	names := map[int]string{ca.CodeIPNotAllowed: "ip_not_allowed", ca.CodeDomainNotAllowed: "domain_not_allowed", ca.CodeWildcardNotAllowed: "wildcard_not_allowed", ca.CodeOther: "other"}
	for _, tt := range tests {
		if r := tt.policy.Check(tt.csr, tt.isCA); r != nil && names[r.Code] != r.Name {
			t.Errorf("%s: code %d named %q", tt.name, r.Code, r.Name)
		}
	}
}

func mk(t *testing.T, key crypto.Signer, s csrSpec) *x509.CertificateRequest {
	t.Helper()
	csr, _ := makeCSR(t, key, s)
	return csr
}

func encPEM(typ string, der []byte) string {
	return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})), "\n")
}

func TestParseCSR(t *testing.T) {
	key := testKey(t, ca.ECDSAP256)
	csr, good := makeCSR(t, key, csrSpec{cn: "ok.example.com", dns: []string{"ok.example.com"}})
	root, err := ca.NewRoot(key, testSubject, time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := *csr
	corrupt.Raw = append([]byte(nil), csr.Raw...)
	corrupt.Raw[len(corrupt.Raw)-1] ^= 0x01
	var manyNames []string
	for i := range 5000 {
		manyNames = append(manyNames, strings.Repeat("h", 10)+big.NewInt(int64(i)).String()+".example.com")
	}
	_, huge := makeCSR(t, key, csrSpec{cn: "x", dns: manyNames})
	var some []string
	for i := range 150 {
		some = append(some, "h"+big.NewInt(int64(i)).String()+".e")
	}
	_, tooMany := makeCSR(t, key, csrSpec{cn: "x", dns: some})
	if len(tooMany) > ca.MaxCSRSize {
		t.Fatalf("150-SAN CSR is %d bytes, test wants it under the size limit", len(tooMany))
	}
	mib := "-----BEGIN CERTIFICATE REQUEST-----\n" + strings.Repeat("QUFB", 1<<18) + "\n-----END CERTIFICATE REQUEST-----"

	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"good", good, false},
		{"good with whitespace", "\n  " + good + "\n\n", false},
		{"junk before", "x" + good, true},
		{"not PEM", "hello", true},
		{"empty", "", true},
		{"base64 DER without armour", strings.Join(strings.Split(good, "\n")[1:len(strings.Split(good, "\n"))-1], ""), true},
		{"certificate", ca.EncodeCertificate(root), true},
		{"corrupted signature", encPEM("CERTIFICATE REQUEST", corrupt.Raw), true},
		{"truncated DER", encPEM("CERTIFICATE REQUEST", csr.Raw[:len(csr.Raw)/2]), true},
		{"two CSRs", good + "\n" + good, true},
		{"5000 SANs", huge, true},
		{"150 SANs", tooMany, true},
		{"1 MiB", mib, true},
	}
	for _, tt := range tests {
		got, err := ca.ParseCSR(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tt.name)
			} else if !errors.Is(err, ca.ErrMalformedCSR) || !strings.HasPrefix(err.Error(), "cannot parse CSR") {
				t.Errorf("%s: error %q does not wrap ErrMalformedCSR", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		} else if !bytes.Equal(got.Raw, csr.Raw) {
			t.Errorf("%s: parsed a different CSR", tt.name)
		}
	}
}

func TestPEMEncoding(t *testing.T) {
	key := testKey(t, ca.RSA4096)
	root, err := ca.NewRoot(key, testSubject, time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.NewRoot(testKey(t, ca.ECDSAP256), testSubject, time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := ca.EncodeCertificates([]*x509.Certificate{root, other})
	for name, s := range map[string]string{"cert": ca.EncodeCertificate(root), "key": keyPEM, "bundle": bundle} {
		if strings.HasSuffix(s, "\n") || strings.Contains(s, "\r") {
			t.Errorf("%s: trailing newline or CR", name)
		}
		for _, line := range strings.Split(s, "\n") {
			if len(line) > 64 && !strings.HasPrefix(line, "-----") {
				t.Errorf("%s: line of %d columns", name, len(line))
			}
		}
	}
	if !strings.Contains(bundle, "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----") {
		t.Errorf("bundle blocks not separated by one newline")
	}
	certs, err := ca.ParseCertificates(bundle)
	if err != nil || len(certs) != 2 || !certs[0].Equal(root) || !certs[1].Equal(other) {
		t.Errorf("ParseCertificates(bundle) = %d, %v", len(certs), err)
	}
	if _, err := ca.ParseCertificate(bundle); err == nil {
		t.Errorf("ParseCertificate took a bundle of two")
	}
	if c, err := ca.ParseCertificate(ca.EncodeCertificate(root) + "\n"); err != nil || !c.Equal(root) {
		t.Errorf("ParseCertificate: %v", err)
	}
	for _, bad := range []string{"", "junk", keyPEM, ca.EncodeCertificate(root) + "\njunk", encPEM("CERTIFICATE", []byte("nope")),
		ca.EncodeCertificate(root) + "\njunk\n" + ca.EncodeCertificate(other), "junk\n" + ca.EncodeCertificate(root),
		ca.EncodeCertificate(root) + "\n" + keyPEM} {
		if _, err := ca.ParseCertificates(bad); err == nil {
			t.Errorf("ParseCertificates(%.30q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "junk", ca.EncodeCertificate(root), keyPEM + "\n" + keyPEM, encPEM("PRIVATE KEY", []byte("nope"))} {
		if _, err := ca.ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%.30q) accepted", bad)
		}
	}
}

func TestCRL(t *testing.T) {
	now := time.Now()
	key := testKey(t, ca.RSA2048)
	root, err := ca.NewRoot(key, testSubject, 365*24*time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: root, Key: key}
	issue := func(cn string) *x509.Certificate {
		csr, _ := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: cn, dns: []string{cn}})
		c, err := auth.Issue(csr, ca.IssueOptions{Validity: 24 * time.Hour, Now: now, CRLDistributionPoint: "http://127.0.0.1:8080/crl"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	revoked, kept := issue("revoked.example.com"), issue("kept.example.com")
	revokedAt := now.Add(-time.Hour).Truncate(time.Second)
	der, err := auth.NewCRL([]ca.Revoked{{Serial: revoked.SerialNumber, RevokedAt: revokedAt}}, 7, 7*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(root); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if crl.Number.Int64() != 7 {
		t.Errorf("number = %v", crl.Number)
	}
	if !crl.NextUpdate.Equal(now.Add(7 * 24 * time.Hour).Truncate(time.Second)) {
		t.Errorf("NextUpdate = %v", crl.NextUpdate)
	}
	if !bytes.Equal(crl.AuthorityKeyId, root.SubjectKeyId) {
		t.Errorf("CRL AKI %x, CA SKI %x", crl.AuthorityKeyId, root.SubjectKeyId)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.SerialNumber) != 0 ||
		!crl.RevokedCertificateEntries[0].RevocationTime.Equal(revokedAt) {
		t.Errorf("entries = %+v", crl.RevokedCertificateEntries)
	}
	crlPEM := ca.EncodeCRL(der)
	if !strings.HasPrefix(crlPEM, "-----BEGIN X509 CRL-----\n") || strings.HasSuffix(crlPEM, "\n") {
		t.Errorf("CRL PEM: %.40q", crlPEM)
	}
	crlFile := writeTemp(t, "crl.pem", crlPEM)
	caFile := writeTemp(t, "ca.pem", ca.EncodeCertificate(root))
	if out, err := openssl(t, "crl", "-noout", "-text", "-in", crlFile); err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	out, err := openssl(t, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, writeTemp(t, "revoked.pem", ca.EncodeCertificate(revoked)))
	if err == nil || !strings.Contains(out, "revoked") {
		t.Errorf("openssl verify accepted a revoked certificate: %v\n%s", err, out)
	}
	if out, err := openssl(t, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, writeTemp(t, "kept.pem", ca.EncodeCertificate(kept))); err != nil {
		t.Errorf("openssl verify rejected a live certificate: %v\n%s", err, out)
	}

	empty, err := auth.NewCRL(nil, 8, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := x509.ParseRevocationList(empty); err != nil || len(c.RevokedCertificateEntries) != 0 || c.Number.Int64() != 8 {
		t.Errorf("empty CRL: %v", err)
	}
	if _, err := auth.NewCRL(nil, 1, 0, now); err == nil {
		t.Errorf("zero validity accepted")
	}
	if _, err := auth.NewCRL([]ca.Revoked{{}}, 1, time.Hour, now); err == nil {
		t.Errorf("entry without serial accepted")
	}
}

func FuzzParseCSR(f *testing.F) {
	key := testKey(f, ca.ECDSAP256)
	_, good := makeCSR(f, key, csrSpec{cn: "a.example.com", dns: []string{"a.example.com"}, ips: []string{"10.0.0.1"}})
	f.Add(good)
	f.Add("")
	f.Add("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----")
	f.Add(good[:len(good)/2])
	for _, name := range []string{"rsa512", "dsa2048", "ed448", "secp256k1"} {
		f.Add(fixtureCSR(f, name))
	}
	policy := ca.Policy{AllowedDomains: []string{"example.com"}}
	f.Fuzz(func(t *testing.T, s string) {
		csr, err := ca.ParseCSR(s)
		if err == nil {
			_ = policy.Check(csr, false)
		}
		// Vet never both refuses and signs, and a CSR it passes is one
		// ParseCSR accepts (signature checked) and the policy allows.
		vcsr, r, verr := policy.Vet(s, false)
		if n := btoi(vcsr != nil) + btoi(r != nil) + btoi(verr != nil); n != 1 {
			t.Fatalf("Vet gave %d of csr, refusal, error", n)
		}
		if vcsr != nil && (err != nil || policy.Check(vcsr.CSR(), false) != nil) {
			t.Fatalf("Vet passed a CSR that ParseCSR (%v) or the policy refuses", err)
		}
		if verr != nil && !errors.Is(verr, ca.ErrMalformedCSR) {
			t.Fatalf("Vet error %v does not wrap ErrMalformedCSR", verr)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
