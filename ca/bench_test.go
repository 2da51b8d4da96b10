package ca_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
)

// BenchmarkVet is what one waiting CSR costs the leader in every hook, by
// key: parse, policy, signature. An RSA key over MaxRSABits is refused by
// size before its signature is checked; "rsa-16384 signature" is what
// checking it would cost without the cap.
//
//	go test -run '^$' -bench BenchmarkVet -benchmem ./ca
func BenchmarkVet(b *testing.B) {
	open := ca.Policy{AllowIPSANs: true, AllowWildcards: true}
	_, rsa2048 := makeCSR(b, testKey(b, ca.RSA2048), csrSpec{cn: "a.example.com", dns: []string{"a.example.com"}})
	_, p256 := makeCSR(b, testKey(b, ca.ECDSAP256), csrSpec{cn: "a.example.com", dns: []string{"a.example.com"}})
	cases := []struct {
		name    string
		csr     string
		refused bool
	}{
		{"ecdsa-p256", p256, false},
		{"rsa-2048", rsa2048, false},
		{"rsa-8192", fixtureCSR(b, "rsa8192"), false},
		{"rsa-16384 refused", fixtureCSR(b, "rsa16384"), true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				v, r, err := open.Vet(c.csr, false)
				if err != nil || (r != nil) != c.refused || (v != nil) == c.refused {
					b.Fatalf("Vet = %v, %v, %v", v != nil, r, err)
				}
			}
		})
	}
	b.Run("rsa-16384 signature", func(b *testing.B) {
		block, _ := pem.Decode([]byte(fixtureCSR(b, "rsa16384")))
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := csr.CheckSignature(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCheck is the name policy's own cost, with every option set, for a
// CSR at the SAN cap (MaxCSRSANs): DNS, IP, URI and email names, all allowed,
// so that every check runs to the end.
//
//	go test -run '^$' -bench BenchmarkCheck -benchmem ./ca
func BenchmarkCheck(b *testing.B) {
	policy := fuzzPolicies(b)[1]
	var s csrSpec
	s.cn = "svc.example.com"
	for i := 0; len(s.dns)+len(s.ips)+len(s.uris)+len(s.emails) < ca.MaxCSRSANs; i++ {
		s.dns = append(s.dns, fmt.Sprintf("a%d.svc.example.com", i), fmt.Sprintf("*.b%d.internal", i))
		s.ips = append(s.ips, fmt.Sprintf("10.0.%d.1", i))
		s.uris = append(s.uris, fmt.Sprintf("spiffe://example.com/ns/m/sa/a%d", i))
		s.emails = append(s.emails, fmt.Sprintf("ops%d@example.com", i))
	}
	csr, _ := makeCSR(b, testKey(b, ca.ECDSAP256), s)
	for b.Loop() {
		if r := policy.Check(csr, false); r != nil {
			b.Fatal(r)
		}
	}
}
