package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

// fixtureCSR reads a CSR made by testdata/csr/gen.sh.
func fixtureCSR(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "csr", name+".csr"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// flipSignature flips the last bit of a PEM CSR's signature.
func flipSignature(t testing.TB, s string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("not PEM")
		return ""
	}
	b.Bytes[len(b.Bytes)-1] ^= 1
	return strings.TrimSpace(string(pem.EncodeToMemory(b)))
}

// rawSANs is a subjectAltName extension with the given GeneralNames as they
// are, so that a test can send names x509 would refuse to encode or parse.
func rawSANs(t testing.TB, names ...asn1.RawValue) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: v}
}

func san(tag int, s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte(s)}
}

// csrWith signs a CSR from tmpl (ExtraExtensions and all) with an EC key.
func csrWith(t testing.TB, tmpl *x509.CertificateRequest) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
}

// TestVet pins the order parse, policy, signature: every key the authority
// does not sign for is answered with a refusal naming its type and size,
// even when x509 can neither verify its signature nor parse it; names with a
// control character are refused; only what is not a request, or a
// signature that does not verify on an acceptable key, is an error.
func TestVet(t *testing.T) {
	open := ca.Policy{AllowIPSANs: true, AllowWildcards: true, AllowCARequests: true}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, weakRSA := makeCSR(t, rsa1024, csrSpec{cn: "weak.example.com"})
	_, weakEC := makeCSR(t, p224, csrSpec{cn: "p224.example.com"})
	_, good := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "ok.example.com", dns: []string{"ok.example.com"}})
	_, goodEd := makeCSR(t, testKey(t, ca.Ed25519), csrSpec{cn: "ok.example.com"})
	_, emailNUL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "x", emails: []string{"admin@bank.example\x00.evil.org"}})
	_, dnsNUL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "x", dns: []string{"bank.example.com\x00.evil.org"}})
	_, dnsNL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "x", dns: []string{"a.example.com\nb.example.com"}})
	_, cnNUL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "bank.example.com\x00.evil.org"})
	_, cnNL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "myapp\ninjected"})
	_, orgNL := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: "myapp", extra: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "org\r\n"}}})
	uriNL := csrWith(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, ExtraExtensions: []pkix.Extension{rawSANs(t, san(6, "spiffe://example.com/a\nb"))}})
	dnsDEL := csrWith(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, ExtraExtensions: []pkix.Extension{rawSANs(t, san(2, "ok.example.com"), san(2, "a\x7f.example.com"))}})

	tests := []struct {
		name    string
		in      string
		code    int    // refusal code; 0 for none
		message string // what the refusal message must contain
		err     bool   // malformed: logged and skipped
	}{
		{name: "ECDSA P-256 signed", in: good},
		{name: "Ed25519 signed", in: goodEd},
		{name: "RSA-512", in: fixtureCSR(t, "rsa512"), code: 999, message: "RSA key of 512 bits is too weak"},
		{name: "RSA-1024", in: weakRSA, code: 999, message: "RSA key of 1024 bits is too weak"},
		{name: "DSA-2048", in: fixtureCSR(t, "dsa2048"), code: 999, message: "DSA key of 2048 bits is not allowed"},
		{name: "Ed448", in: fixtureCSR(t, "ed448"), code: 999, message: "Ed448 key (448 bits) is not allowed"},
		{name: "secp256k1", in: fixtureCSR(t, "secp256k1"), code: 999, message: "ECDSA key on curve secp256k1 (256 bits) is not allowed"},
		{name: "P-224", in: weakEC, code: 999, message: "ECDSA key on curve P-224 (224 bits) is not allowed"},
		// Policy before signature: the requirer hears about its key even when the signature is bad too.
		{name: "RSA-1024, bad signature", in: flipSignature(t, weakRSA), code: 999, message: "RSA key of 1024 bits"},
		{name: "secp256k1, bad signature", in: flipSignature(t, fixtureCSR(t, "secp256k1")), code: 999, message: "secp256k1"},
		{name: "good key, bad signature", in: flipSignature(t, good), err: true},
		{name: "not a CSR", in: "hello", err: true},
		{name: "truncated", in: good[:len(good)/2] + "\n-----END CERTIFICATE REQUEST-----", err: true},
		{name: "NUL in CN", in: cnNUL, code: 999, message: `common name "bank.example.com\x00.evil.org" contains a control character`},
		{name: "newline in CN", in: cnNL, code: 999, message: `common name "myapp\ninjected" contains a control character`},
		{name: "newline in O", in: orgNL, code: 999, message: `subject attribute 2.5.4.10 "org\r\n" contains a control character`},
		{name: "NUL in DNS SAN", in: dnsNUL, code: 999, message: `DNS SAN "bank.example.com\x00.evil.org" contains a control character`},
		{name: "newline in DNS SAN", in: dnsNL, code: 999, message: `DNS SAN "a.example.com\nb.example.com" contains a control character`},
		{name: "DEL in DNS SAN", in: dnsDEL, code: 999, message: `DNS SAN "a\x7f.example.com" contains`},
		{name: "NUL in email SAN", in: emailNUL, code: 999, message: `email SAN "admin@bank.example\x00.evil.org" contains`},
		// x509 cannot parse this one (url.Parse refuses it): read from the DER.
		{name: "newline in URI SAN", in: uriNL, code: 999, message: `URI SAN "spiffe://example.com/a\nb" contains a control character`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, r, err := open.Vet(tt.in, false)
			switch {
			case tt.err:
				if err == nil || !errors.Is(err, ca.ErrMalformedCSR) || r != nil || csr != nil {
					t.Fatalf("Vet = %v, %+v, %v; want a malformed-CSR error", csr != nil, r, err)
				}
			case tt.code != 0:
				if err != nil || r == nil || csr != nil {
					t.Fatalf("Vet = %v, %+v, %v; want a refusal", csr != nil, r, err)
				}
				if r.Code != tt.code || r.Name != "other" || !strings.Contains(r.Message, tt.message) {
					t.Fatalf("refusal %d %s %q, want %d other containing %q", r.Code, r.Name, r.Message, tt.code, tt.message)
				}
			default:
				if err != nil || r != nil || csr == nil {
					t.Fatalf("Vet = %v, %+v, %v; want a CSR to sign", csr != nil, r, err)
				}
			}
		})
	}
}

// TestVetShortMessage: a refusal quotes at most a bounded part of a name, so
// a long name cannot blow up a log line or request_errors.
func TestVetShortMessage(t *testing.T) {
	_, in := makeCSR(t, testKey(t, ca.ECDSAP256), csrSpec{cn: strings.Repeat("a", 20000) + "\x00"})
	_, r, err := ca.Policy{}.Vet(in, false)
	if err != nil || r == nil {
		t.Fatalf("Vet = %+v, %v; want a refusal", r, err)
	}
	if len(r.Message) > 300 {
		t.Fatalf("refusal message of %d bytes", len(r.Message))
	}
}

// TestIssueVetted: what Vet passes is signed without a second signature check, and verifies under the CA; there is
// no way to issue for an unvetted CSR but Issue, which checks the signature itself.
func TestIssueVetted(t *testing.T) {
	now := time.Now()
	key := testKey(t, ca.ECDSAP256)
	cert0, err := ca.NewRoot(key, testSubject, 24*time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	root := &ca.Authority{Certificate: cert0, Key: key}
	_, pemCSR := makeCSR(t, testKey(t, ca.Ed25519), csrSpec{cn: "a.example.com", dns: []string{"a.example.com"}})
	v, r, err := ca.Policy{}.Vet(pemCSR, false)
	if err != nil || r != nil {
		t.Fatalf("Vet: %+v, %v", r, err)
	}
	cert, err := root.IssueVetted(v, ca.IssueOptions{Validity: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Certificate)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "a.example.com", CurrentTime: now}); err != nil {
		t.Fatalf("the vetted CSR's certificate does not verify: %v", err)
	}
	if _, err := root.IssueVetted(nil, ca.IssueOptions{Validity: time.Hour, Now: now}); err == nil {
		t.Fatal("IssueVetted(nil) issued")
	}
	if _, err := root.IssueVetted(&ca.Vetted{}, ca.IssueOptions{Validity: time.Hour, Now: now}); err == nil {
		t.Fatal("IssueVetted of a zero Vetted issued")
	}
}
