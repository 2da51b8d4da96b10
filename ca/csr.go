package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Limits on what ParseCSR accepts. CSRs come from remote units; these bound
// the work (and memory) one bad requirer can make the leader spend. Real CSRs
// are a few KiB with a handful of SANs.
const (
	MaxCSRSize = 64 << 10
	MaxCSRSANs = 100
)

// ErrMalformedCSR is wrapped by every error ParseCSR returns: the request is
// not something to sign, and the caller logs and skips it rather than answer
// with a request error.
var ErrMalformedCSR = errors.New("malformed certificate signing request")

// ParseCSR parses one PEM certificate signing request and checks its
// signature. Surrounding whitespace is allowed, anything else around the one
// block is not.
func ParseCSR(s string) (*x509.CertificateRequest, error) {
	der, err := decodeCSR(s)
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(der)
	if err != nil {
		return nil, err
	}
	if err := checkSignature(csr); err != nil {
		return nil, err
	}
	return csr, nil
}

// Vet decides on one requested CSR, in the order that tells the requirer of
// every refusal it can act on: parse, then policy, then signature. A key
// x509 cannot verify a signature with (RSA under 1024 bits, DSA, Ed448) or
// not even parse (secp256k1), or a name x509 rejects (a URI with a control
// character), is refused by policy and answered, not skipped.
//
// It returns the request to sign (Vetted); or a refusal, for request_errors; or an
// error wrapping ErrMalformedCSR for input that is not a request (it
// cannot be parsed, or its signature does not verify), to log and skip.
func (p Policy) Vet(s string, isCA bool) (*Vetted, *Refusal, error) {
	der, err := decodeCSR(s)
	if err != nil {
		return nil, nil, err
	}
	csr, err := parseCSR(der)
	if err != nil {
		if r := refuseRaw(der); r != nil {
			return nil, r, nil
		}
		return nil, nil, err
	}
	if r := p.Check(csr, isCA); r != nil {
		return nil, r, nil
	}
	if err := checkSignature(csr); err != nil {
		return nil, nil, err
	}
	return &Vetted{csr: csr}, nil, nil
}

// Vetted is a CSR that passed Policy.Vet: parsed, allowed, and its signature verified, so that
// Authority.IssueVetted need not verify it again (with a P-256 CA, the second check was a third of the signing
// hook's CPU). Only Vet makes one.
type Vetted struct{ csr *x509.CertificateRequest }

// CSR is the vetted request.
func (v *Vetted) CSR() *x509.CertificateRequest { return v.csr }

// refuseRaw gives the refusal for a CSR x509 could not parse, read from its
// DER: a key of a type the authority does not sign for, or a name with a
// control character. Anything else (nil) is malformed.
func refuseRaw(der []byte) *Refusal {
	spki, subject, exts, err := readRawCSR(der)
	if err != nil {
		return nil
	}
	var k spkiASN1
	if _, err := asn1.Unmarshal(spki, &k); err != nil {
		return nil
	}
	if k.Algorithm.Algorithm.Equal(oidRSA) {
		var pub struct{ N, E *big.Int }
		if _, err := asn1.Unmarshal(k.PublicKey.RightAlign(), &pub); err == nil && pub.N != nil && pub.N.BitLen() > MaxRSABits {
			return other("RSA key of %d bits is larger than the maximum of %d bits", pub.N.BitLen(), MaxRSABits)
		}
	}
	acceptable := k.Algorithm.Algorithm.Equal(oidRSA) || k.Algorithm.Algorithm.Equal(oidEd25519)
	if k.Algorithm.Algorithm.Equal(oidEC) {
		var curve asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(k.Algorithm.Parameters.FullBytes, &curve); err == nil {
			switch curveNames[curve.String()] {
			case "P-256", "P-384", "P-521":
				acceptable = true
			}
		}
	}
	if !acceptable {
		return other("%s is not allowed (RSA of at least %d bits, ECDSA on P-256, P-384 or P-521, or Ed25519)", describeKey(spki), MinRSABits)
	}
	return checkNames(subject, exts)
}

// decodeCSR returns the DER of one PEM CSR, within the size limit.
func decodeCSR(s string) ([]byte, error) {
	if len(s) > MaxCSRSize {
		return nil, fmt.Errorf("cannot parse CSR: %d bytes, more than %d: %w", len(s), MaxCSRSize, ErrMalformedCSR)
	}
	// pem.Decode wants the BEGIN line at the start of a line; requirers
	// differ on trailing newlines, so surrounding whitespace is dropped.
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, fmt.Errorf("cannot parse CSR: no PEM block: %w", ErrMalformedCSR)
	}
	// "NEW CERTIFICATE REQUEST" is what older OpenSSL and Netscape tools write.
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("cannot parse CSR: PEM block is %q: %w", block.Type, ErrMalformedCSR)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("cannot parse CSR: data after the PEM block: %w", ErrMalformedCSR)
	}
	return block.Bytes, nil
}

func parseCSR(der []byte) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse CSR: %w: %w", err, ErrMalformedCSR)
	}
	if n := len(csr.DNSNames) + len(csr.IPAddresses) + len(csr.URIs) + len(csr.EmailAddresses); n > MaxCSRSANs {
		return nil, fmt.Errorf("cannot parse CSR: %d subject alternative names, more than %d: %w", n, MaxCSRSANs, ErrMalformedCSR)
	}
	return csr, nil
}

func checkSignature(csr *x509.CertificateRequest) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("cannot parse CSR: signature does not verify: %w: %w", err, ErrMalformedCSR)
	}
	return nil
}
