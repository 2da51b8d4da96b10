package ca_test

import (
	"crypto/x509"
	"encoding/pem"
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
