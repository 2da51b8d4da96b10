package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
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
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse CSR: %w: %w", err, ErrMalformedCSR)
	}
	if n := len(csr.DNSNames) + len(csr.IPAddresses) + len(csr.URIs) + len(csr.EmailAddresses); n > MaxCSRSANs {
		return nil, fmt.Errorf("cannot parse CSR: %d subject alternative names, more than %d: %w", n, MaxCSRSANs, ErrMalformedCSR)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("cannot parse CSR: signature does not verify: %w: %w", err, ErrMalformedCSR)
	}
	return csr, nil
}
