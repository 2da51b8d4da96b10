package ca_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// fuzzPolicies are the policies the fuzz targets judge with: one that
// constrains only syntax, and one with every option set.
func fuzzPolicies(t testing.TB) []ca.Policy {
	own, err := ca.NewRoot(testKey(t, ca.ECDSAP256), testSubject, time.Hour, time.Now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return []ca.Policy{
		{AllowIPSANs: true, AllowWildcards: true, AllowCARequests: true},
		{AllowedDomains: []string{"example.com", "internal"}, AllowIPSANs: true, AllowWildcards: true,
			AllowedIPRanges: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, CASubjects: [][]byte{own.RawSubject}},
	}
}

// FuzzVet feeds arbitrary PEM (or DER, wrapped in PEM) to Vet under each fuzz policy: it never
// panics, gives exactly one of a CSR to sign, a refusal and an error, a
// refusal has a known code, its name, and a short message, and what it
// passes is what Check passes. Seeded with every row of the policy table.
//
//	go test -run '^$' -fuzz FuzzVet -fuzztime 60s ./ca
func FuzzVet(f *testing.F) {
	for _, c := range policyCases(f) {
		f.Add([]byte(c.csr))
		if b, _ := pem.Decode([]byte(c.csr)); b != nil {
			f.Add(b.Bytes)
		}
	}
	policies := fuzzPolicies(f)
	names := map[int]string{101: "ip_not_allowed", 102: "domain_not_allowed", 103: "wildcard_not_allowed", 999: "other"}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Input that is not PEM is taken as the DER of a CSR and wrapped:
		// mutations then reach x509's parser and the policy, not only the
		// PEM decoder.
		s := string(b)
		if !bytes.HasPrefix(b, []byte("-----BEGIN")) {
			s = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: b}))
		}
		for _, p := range policies {
			for _, isCA := range []bool{false, true} {
				v, r, err := p.Vet(s, isCA)
				if n := btoi(v != nil) + btoi(r != nil) + btoi(err != nil); n != 1 {
					t.Fatalf("Vet gave %d of csr, refusal, error", n)
				}
				if r != nil && (names[r.Code] != r.Name || r.Message == "" || len(r.Message) > 400) {
					t.Fatalf("refusal %d %q %q", r.Code, r.Name, r.Message)
				}
				if v != nil && p.Check(v.CSR(), isCA) != nil {
					t.Fatalf("Vet passed what Check refuses")
				}
			}
		}
	})
}

// FuzzNames feeds arbitrary strings to the name checks, as a DNS SAN, a
// common name, an email SAN and a URI SAN. They never panic; a DNS name the
// open policy accepts is one Go's x509 puts in a certificate that
// VerifyHostname matches (the name itself, or a name under a wildcard
// written without a trailing dot); a
// name the constrained policy accepts is one a leaf signed by a requirer CA
// issued under that policy carries and still verifies: the policy refuses
// nothing the name constraints would let through, and the two agree on what
// they let through. Seeded with the names of the policy table.
//
//	go test -run '^$' -fuzz FuzzNames -fuzztime 60s ./ca
func FuzzNames(f *testing.F) {
	for _, s := range []string{
		"a.example.com", "a.example.com.", "a b.example.com", strings.Repeat("x", 300) + ".example.com", "a..example.com", "",
		"-a.example.com", "_acme.example.com", "169.254.169.254", "f*.example.com", "*foo.example.com", "a.*.example.com",
		"*.*.example.com", "*", "*.example.com", "*.com", "*.internal", "login.bank.com", "xn--bcher-kva.example.com",
		"spiffe://example.com/ns/a/sa/b", "spiffe://bank.com/ns/prod/sa/admin", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
		"https://admin:hunter2@example.com/", "//example.com/path", "https://10.0.0.1/", "https://[fd00::1]:8443/",
		"ops@example.com", "ceo@bank.com", "not an email", "CEO <ceo@example.com>", `"a b"@example.com`, "a@b@example.com",
		"a.bank.com ", "My Service v1.2", "jö@example.com", `"a\"b"@example.com`, "a@[10.0.0.1]", "bank.example.com\x00.evil.org", "ÉXAMPLE.com", "a.EXAMPLE.com",
	} {
		f.Add(s)
	}
	policies := fuzzPolicies(f)
	open, bound := policies[0], policies[1]
	now := time.Now()
	rootKey := testKey(f, ca.ECDSAP384)
	root, err := ca.NewRoot(rootKey, ca.Subject{CommonName: "fuzz root"}, time.Hour, now, 1)
	if err != nil {
		f.Fatal(err)
	}
	subKey := testKey(f, ca.ECDSAP256)
	subCSR, err := ca.NewCACSR(subKey, ca.Subject{CommonName: "requirer CA"})
	if err != nil {
		f.Fatal(err)
	}
	sub, err := (&ca.Authority{Certificate: root, Key: rootKey}).Issue(subCSR, ca.IssueOptions{Validity: time.Hour, IsCA: true, Policy: &bound, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(sub)
	leafKey := testKey(f, ca.Ed25519)
	pub := leafKey.Public().(ed25519.PublicKey)
	sign := func(t *testing.T, tmpl *x509.Certificate, parent *x509.Certificate, key any) *x509.Certificate {
		tmpl.SerialNumber = big.NewInt(2)
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Minute), now.Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
		if err != nil {
			t.Fatalf("x509 cannot put an accepted name in a certificate: %v", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("x509 cannot parse a certificate with an accepted name: %v", err)
		}
		return c
	}
	// underSub signs a leaf as the requirer CA would and verifies it.
	underSub := func(t *testing.T, what string, tmpl *x509.Certificate) {
		leaf := sign(t, tmpl, sub, subKey)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("%s accepted by the policy, refused under its name constraints: %v", what, err)
		}
	}
	req := func(r x509.CertificateRequest) *x509.CertificateRequest {
		r.PublicKey = pub
		return &r
	}
	f.Fuzz(func(t *testing.T, s string) {
		if open.Check(req(x509.CertificateRequest{DNSNames: []string{s}}), false) == nil {
			c := sign(t, &x509.Certificate{DNSNames: []string{s}}, root, rootKey)
			host := s
			if strings.HasPrefix(s, "*.") {
				host = "x" + s[1:]
			}
			// Go does not read a SAN with a trailing root dot as a wildcard
			// pattern, only as a name to match exactly: such a certificate
			// fails closed.
			if err := c.VerifyHostname(host); err != nil && !(host != s && strings.HasSuffix(s, ".")) {
				t.Fatalf("DNS name %q accepted, VerifyHostname(%q): %v", s, host, err)
			}
		}
		if bound.Check(req(x509.CertificateRequest{DNSNames: []string{s}}), false) == nil {
			// Go reads a trailing root dot in a SAN as unparsable under name
			// constraints; the policy judges the name without it.
			underSub(t, "DNS name "+s, &x509.Certificate{DNSNames: []string{strings.TrimSuffix(s, ".")}})
		}
		for _, p := range policies {
			_ = p.Check(req(x509.CertificateRequest{Subject: pkix.Name{CommonName: s}}), false)
		}
		_ = open.Check(req(x509.CertificateRequest{EmailAddresses: []string{s}}), false)
		if bound.Check(req(x509.CertificateRequest{EmailAddresses: []string{s}}), false) == nil {
			underSub(t, "email "+s, &x509.Certificate{EmailAddresses: []string{s}})
		}
		if u, err := url.Parse(s); err == nil {
			_ = open.Check(req(x509.CertificateRequest{URIs: []*url.URL{u}}), false)
			if bound.Check(req(x509.CertificateRequest{URIs: []*url.URL{u}}), false) == nil {
				underSub(t, "URI "+s, &x509.Certificate{URIs: []*url.URL{u}})
			}
		}
	})
}
