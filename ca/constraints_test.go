package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

func newECKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// attackerSign is what a requirer holding a CA certificate does with it:
// sign whatever it likes with crypto/x509 directly, no policy in between.
// A CA it makes has no path length and no name constraints of its own (the
// issue's reproduction: MaxPathLen -1, no permitted names).
func attackerSign(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, pub crypto.PublicKey, tmpl *x509.Certificate, now time.Time) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Minute), now.Add(time.Hour)
	tmpl.BasicConstraintsValid = true
	if tmpl.IsCA {
		tmpl.MaxPathLen = -1
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyBoth verifies leaf against root through intermediates (nearest the
// leaf first) with Go's x509 and with the openssl binary. It returns each
// verifier's error text, "" for accepted.
func verifyBoth(t *testing.T, root *x509.Certificate, inters []*x509.Certificate, leaf *x509.Certificate, now time.Time) (goErr, sslErr string) {
	t.Helper()
	roots, pool := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range inters {
		pool.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		goErr = err.Error()
	}
	rootFile := writeTemp(t, "root.pem", ca.EncodeCertificate(root))
	leafFile := writeTemp(t, "leaf.pem", ca.EncodeCertificate(leaf))
	args := []string{"verify", "-CAfile", rootFile}
	if len(inters) > 0 {
		args = append(args, "-untrusted", writeTemp(t, "chain.pem", ca.EncodeCertificates(inters)))
	}
	out, err := openssl(t, append(args, leafFile)...)
	if err != nil {
		sslErr = strings.TrimSpace(out)
		if sslErr == "" {
			sslErr = err.Error()
		}
	}
	return goErr, sslErr
}

// TestConstrainedCA is the issue's reproduction and its neighbours: a
// requirer holds a CA certificate this authority signed under a policy, and
// signs what it likes with it. Both Go's x509 and OpenSSL must refuse every
// certificate the policy would have refused (path length, DNS, URI, email
// and IP name constraints) and accept what it allows.
func TestConstrainedCA(t *testing.T) {
	now := time.Now()
	domains := ca.Policy{AllowedDomains: []string{"Example.COM."}, AllowIPSANs: true, AllowCARequests: true}
	noIPs := ca.Policy{AllowedDomains: []string{"example.com"}, AllowCARequests: true}
	ranges := ca.Policy{AllowIPSANs: true, AllowedIPRanges: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, AllowCARequests: true}
	deeper := domains
	deeper.CAMaxPathLen = 1
	type leafSpec struct {
		dns    []string
		ips    []string
		uris   []string
		emails []string
	}
	tests := []struct {
		name        string
		policy      ca.Policy
		rootPathLen int
		subSub      bool // the leaf is signed by a CA the requirer's CA signed
		leaf        leafSpec
		goErr       string // "" accepted
		sslErr      string // "" accepted
	}{
		// The issue: allowed-domains=example.com, the requirer's CA signs
		// a CA, which signs login.bank.com.
		{"sub-sub-CA signs login.bank.com", domains, 1, true, leafSpec{dns: []string{"login.bank.com"}}, "too many intermediates", "path length constraint exceeded"},
		// Path length alone, under a root that would allow more: the
		// requirer CA's own pathLen 0 refuses a CA below it.
		{"sub-sub-CA signs an allowed name", domains, 5, true, leafSpec{dns: []string{"a.example.com"}}, "too many intermediates", "path length constraint exceeded"},
		{"sub-CA signs login.bank.com", domains, 1, false, leafSpec{dns: []string{"login.bank.com"}}, "not permitted", "permitted subtree violation"},
		{"sub-CA signs a.example.com", domains, 1, false, leafSpec{dns: []string{"a.example.com", "example.com"}}, "", ""},
		// Name constraints have no wildcard form (see NameConstraints).
		{"sub-CA signs a wildcard inside", domains, 1, false, leafSpec{dns: []string{"*.a.example.com"}}, "", ""},
		{"sub-CA signs bankexample.com", domains, 1, false, leafSpec{dns: []string{"bankexample.com"}}, "not permitted", "permitted subtree violation"},
		{"sub-CA signs a SPIFFE ID outside", domains, 1, false, leafSpec{dns: []string{"a.example.com"}, uris: []string{"spiffe://bank.com/ns/prod/sa/admin"}}, "not permitted", "permitted subtree violation"},
		{"sub-CA signs a SPIFFE ID inside", domains, 1, false, leafSpec{uris: []string{"spiffe://example.com/ns/a/sa/b", "https://api.example.com/x"}}, "", ""},
		{"sub-CA signs an email outside", domains, 1, false, leafSpec{emails: []string{"ceo@bank.com"}}, "not permitted", "permitted subtree violation"},
		{"sub-CA signs an email inside", domains, 1, false, leafSpec{emails: []string{"ops@example.com", "ops@mail.example.com"}}, "", ""},
		{"IPv4 under allow-ip-sans=false", noIPs, 1, false, leafSpec{dns: []string{"a.example.com"}, ips: []string{"169.254.169.254"}}, "excluded", "excluded subtree violation"},
		{"IPv6 under allow-ip-sans=false", noIPs, 1, false, leafSpec{ips: []string{"::1"}}, "excluded", "excluded subtree violation"},
		{"IP inside the allowed ranges", ranges, 1, false, leafSpec{dns: []string{"anything.org"}, ips: []string{"10.1.2.3"}}, "", ""},
		{"IP outside the allowed ranges", ranges, 1, false, leafSpec{ips: []string{"192.168.1.1"}}, "not permitted", "permitted subtree violation"},
		{"IPv6 outside IPv4 ranges", ranges, 1, false, leafSpec{ips: []string{"fd00::1"}}, "not permitted", "permitted subtree violation"},
		// ca-request-max-path-length=1, root one deeper: a CA below the
		// requirer's is allowed, and still held to the names.
		{"path length 1: sub-sub-CA allowed", deeper, 2, true, leafSpec{dns: []string{"a.example.com"}}, "", ""},
		{"path length 1: names still bound", deeper, 2, true, leafSpec{dns: []string{"login.bank.com"}}, "not permitted", "permitted subtree violation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootKey := newECKey(t)
			root, err := ca.NewRoot(rootKey, ca.Subject{CommonName: "authority"}, 24*time.Hour, now, tt.rootPathLen)
			if err != nil {
				t.Fatal(err)
			}
			subKey := newECKey(t)
			csr, err := ca.NewCACSR(subKey, ca.Subject{CommonName: "requirer CA"})
			if err != nil {
				t.Fatal(err)
			}
			if r := tt.policy.Check(csr, true); r != nil {
				t.Fatalf("policy refuses the CA request: %v", r)
			}
			p := tt.policy
			sub, err := (&ca.Authority{Certificate: root, Key: rootKey}).Issue(csr, ca.IssueOptions{Validity: time.Hour, IsCA: true, Policy: &p, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if sub.MaxPathLen != tt.policy.CAMaxPathLen || sub.MaxPathLenZero != (tt.policy.CAMaxPathLen == 0) {
				t.Fatalf("sub-CA path length %d (zero %v), want %d", sub.MaxPathLen, sub.MaxPathLenZero, tt.policy.CAMaxPathLen)
			}
			signer, signerKey, inters := sub, subKey, []*x509.Certificate{sub}
			if tt.subSub {
				k := newECKey(t)
				c := attackerSign(t, sub, subKey, k.Public(), &x509.Certificate{Subject: pkix.Name{CommonName: "sub-sub-CA"}, IsCA: true}, now)
				signer, signerKey, inters = c, k, []*x509.Certificate{c, sub}
			}
			tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "leaf"}, DNSNames: tt.leaf.dns, EmailAddresses: tt.leaf.emails}
			for _, ip := range tt.leaf.ips {
				tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
			}
			for _, u := range tt.leaf.uris {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				tmpl.URIs = append(tmpl.URIs, pu)
			}
			leaf := attackerSign(t, signer, signerKey, newECKey(t).Public(), tmpl, now)
			goErr, sslErr := verifyBoth(t, root, inters, leaf, now)
			if (tt.goErr == "") != (goErr == "") || !strings.Contains(goErr, tt.goErr) {
				t.Errorf("x509.Verify: %q, want %q", goErr, tt.goErr)
			}
			if (tt.sslErr == "") != (sslErr == "") || !strings.Contains(sslErr, tt.sslErr) {
				t.Errorf("openssl verify: %q, want %q", sslErr, tt.sslErr)
			}
		})
	}
}

// TestNameConstraintsExtension: the extension is critical when the policy
// constrains anything, absent when it constrains nothing (an empty one is
// invalid); a CA is never issued without a policy.
func TestNameConstraintsExtension(t *testing.T) {
	now := time.Now()
	rootKey := testKey(t, ca.ECDSAP256)
	root, err := ca.NewRoot(rootKey, testSubject, time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: root, Key: rootKey}
	csr, err := ca.NewCACSR(testKey(t, ca.Ed25519), ca.Subject{CommonName: "requirer CA"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		policy   ca.Policy
		critical bool // the extension is there, critical
	}{
		{"open policy", ca.Policy{AllowIPSANs: true, AllowWildcards: true}, false},
		{"open policy, empty domain", ca.Policy{AllowIPSANs: true, AllowedDomains: []string{"", "."}}, false},
		{"allowed domains", ca.Policy{AllowIPSANs: true, AllowedDomains: []string{"example.com"}}, true},
		{"no IP SANs", ca.Policy{}, true},
		{"IP ranges", ca.Policy{AllowIPSANs: true, AllowedIPRanges: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, IsCA: true, Policy: &tt.policy, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var found, critical bool
			for _, e := range cert.Extensions {
				if e.Id.Equal(oidNameConstraints) {
					found, critical = true, e.Critical
				}
			}
			if found != tt.critical || critical != tt.critical {
				t.Errorf("nameConstraints present %v critical %v, want %v", found, critical, tt.critical)
			}
			if tt.policy.NameConstraints().Empty() == tt.critical {
				t.Errorf("NameConstraints().Empty() = %v", !tt.critical)
			}
			if !cert.MaxPathLenZero || cert.MaxPathLen != 0 {
				t.Errorf("path length %d, want 0", cert.MaxPathLen)
			}
		})
	}
	got := ca.Policy{AllowedDomains: []string{"*.Example.com.", ".internal.test", "example.com"}, AllowIPSANs: true,
		AllowedIPRanges: []netip.Prefix{netip.MustParsePrefix("::ffff:10.1.0.0/112"), netip.MustParsePrefix("fd00::1/8")}}.NameConstraints()
	if strings.Join(got.PermittedDNSDomains, " ") != "example.com internal.test" ||
		strings.Join(got.PermittedURIDomains, " ") != "example.com .example.com internal.test .internal.test" ||
		strings.Join(got.PermittedEmailAddresses, " ") != "example.com .example.com internal.test .internal.test" ||
		len(got.PermittedIPRanges) != 2 || got.PermittedIPRanges[0].String() != "10.1.0.0/16" || got.PermittedIPRanges[1].String() != "fd00::/8" {
		t.Errorf("NameConstraints = %+v", got)
	}
	if _, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, IsCA: true, Now: now}); err == nil || err.Error() != "cannot issue a CA certificate without a policy" {
		t.Errorf("CA without a policy: %v", err)
	}
	if _, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, IsCA: true, Policy: &ca.Policy{CAMaxPathLen: -1}, Now: now}); err == nil {
		t.Errorf("CA with a negative path length issued")
	}
	// A leaf needs no policy.
	if _, err := auth.Issue(csr, ca.IssueOptions{Validity: time.Hour, Now: now}); err != nil {
		t.Errorf("leaf without a policy: %v", err)
	}
}
