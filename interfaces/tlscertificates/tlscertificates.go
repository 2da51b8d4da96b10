// Package tlscertificates holds the wire types of the tls-certificates
// interface as the Python libraries (tls_certificates v4 and
// charmlibs.interfaces.tls_certificates) write them, and pure functions that
// read and write the databags. Nothing here runs hook tools: the charm reads
// a databag, passes the map in, and writes the map it gets back, so every
// function is fuzzable and fixture-testable.
//
// Reading is lenient (any spacing and key order, unknown keys ignored, one
// bad entry skipped and reported, never the whole databag); writing is exact,
// byte for byte what the Python libraries write, because Python requirers
// compare strings.
package tlscertificates

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Databag keys.
const (
	// KeyCSRs is the requirer's key, in its unit databag (UNIT mode) or its
	// app databag (APP mode); app-and-unit mode uses both.
	KeyCSRs = "certificate_signing_requests"
	// KeyCertificates, KeyRequestErrors and KeyCapabilities are the
	// provider's keys, in its app databag.
	KeyCertificates  = "certificates"
	KeyRequestErrors = "request_errors"
	KeyCapabilities  = "capabilities"
)

// ProviderKeys lists every key WriteProviderBag may write. A key absent from
// its result must be deleted from the databag (set to "" with relation-set).
var ProviderKeys = []string{KeyCertificates, KeyRequestErrors, KeyCapabilities}

// CSRRequest is one entry of a requirer's certificate_signing_requests.
type CSRRequest struct {
	// CSR is the PEM CSR as the requirer wrote it, minus surrounding
	// whitespace. It is echoed back verbatim in ProviderCertificate.CSR:
	// older requirers match certificates to requests by string equality.
	CSR string `json:"certificate_signing_request"`
	// CA is whether the requirer asks for a CA certificate. The CSR itself
	// usually carries no BasicConstraints; this flag is the request.
	CA bool `json:"ca"`
}

// ProviderCertificate is one entry of the provider's certificates list.
type ProviderCertificate struct {
	CA          string   `json:"ca"`
	CSR         string   `json:"certificate_signing_request"`
	Certificate string   `json:"certificate"`
	Chain       []string `json:"chain"`
	// Revoked is written only when true, as the Python provider does.
	Revoked bool `json:"revoked,omitempty"`
}

// Validate checks what Python requirers rely on before an entry is written:
// every PEM well framed, a non-empty chain starting with the certificate.
// One bad PEM makes a Python requirer fail its hook, so a provider should
// never publish an entry that does not pass.
func (c ProviderCertificate) Validate() error {
	if err := checkPEM(c.CSR, "CERTIFICATE REQUEST"); err != nil {
		return fmt.Errorf("invalid provider certificate: CSR: %w", err)
	}
	if err := checkPEM(c.Certificate, "CERTIFICATE"); err != nil {
		return fmt.Errorf("invalid provider certificate: certificate: %w", err)
	}
	if err := checkPEM(c.CA, "CERTIFICATE"); err != nil {
		return fmt.Errorf("invalid provider certificate: CA: %w", err)
	}
	if len(c.Chain) == 0 {
		return errors.New("invalid provider certificate: empty chain")
	}
	for i, p := range c.Chain {
		if err := checkPEM(p, "CERTIFICATE"); err != nil {
			return fmt.Errorf("invalid provider certificate: chain[%d]: %w", i, err)
		}
	}
	if strings.TrimSpace(c.Chain[0]) != strings.TrimSpace(c.Certificate) {
		return errors.New("invalid provider certificate: chain does not start with the certificate")
	}
	return nil
}

// RequestError is one entry of the provider's request_errors: a CSR refused
// by policy. The key is "csr" (what charmlibs writes and reads), not the
// interface schema's "certificate_signing_request".
type RequestError struct {
	CSR   string      `json:"csr"`
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says why a CSR was refused. Codes: 101 ip_not_allowed, 102
// domain_not_allowed, 103 wildcard_not_allowed, 201 server_not_available,
// 999 other.
type ErrorDetail struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
	// Reason is optional and left out when empty.
	Reason string `json:"reason,omitempty"`
}

// Capabilities is what the provider tells requirers it will sign. Only
// non-nil fields are written; the field order is charmlibs' model order.
type Capabilities struct {
	SupportsIPSANs         *bool    `json:"supports_ip_sans,omitempty"`
	SupportsWildcardDNS    *bool    `json:"supports_wildcard_dns,omitempty"`
	SupportsSubdomain      *bool    `json:"supports_subdomain,omitempty"`
	SupportsCACertificates *bool    `json:"supports_ca_certificates,omitempty"`
	AllowedDomains         []string `json:"allowed_domains,omitempty"`
	ProviderType           string   `json:"provider_type,omitempty"`
}

// Bool returns a pointer to b, for Capabilities fields.
func Bool(b bool) *bool { return &b }

// checkPEM reports whether s (surrounding whitespace aside) is exactly one
// PEM block of type typ. It checks framing only; whether the DER inside is a
// valid CSR or certificate is the ca package's business.
func checkPEM(s, typ string) error {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return errors.New("not PEM")
	}
	if block.Type != typ {
		return fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return errors.New("data after the PEM block")
	}
	return nil
}
