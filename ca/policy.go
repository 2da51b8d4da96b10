package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/netip"
	"strings"
)

// Refusal codes, as tls-certificates' request_errors spells them.
const (
	CodeIPNotAllowed       = 101
	CodeDomainNotAllowed   = 102
	CodeWildcardNotAllowed = 103
	CodeServerNotAvailable = 201
	CodeOther              = 999
)

// Refusal is why a well-formed CSR is not signed. It becomes a request_errors
// entry, so the requirer learns why instead of waiting forever.
type Refusal struct {
	Code    int
	Name    string
	Message string
}

// Error implements error.
func (r *Refusal) Error() string {
	return fmt.Sprintf("cannot issue certificate: %s (%d): %s", r.Name, r.Code, r.Message)
}

// MinRSABits is the smallest RSA key a CSR may carry.
const MinRSABits = 2048

// Policy is what the authority agrees to sign, from its config.
type Policy struct {
	// AllowedDomains are DNS suffixes: "example.com" allows "example.com"
	// and "a.example.com", not "badexample.com". Empty allows any name.
	AllowedDomains  []string
	AllowIPSANs     bool
	AllowWildcards  bool
	AllowCARequests bool
	// AllowedIPRanges bound the IP SANs (and an IP common name) when
	// AllowIPSANs is true: each must fall in one. Empty allows any address.
	AllowedIPRanges []netip.Prefix
	// CAMaxPathLen is the pathLenConstraint of a CA certificate signed for a
	// requirer (0: it signs leaves only). The root leaves room for it
	// (NewRoot with CAMaxPathLen+1).
	CAMaxPathLen int
	// CASubjects are the RawSubject of this authority's own CA certificates
	// (current, next, previous): a request for one of these names would make
	// a certificate whose issuer and subject read the same. Not part of the
	// policy's identity (a rotation changes it), so left out of its JSON.
	CASubjects [][]byte `json:"-"`
}

// Check returns why csr may not be signed under p, or nil. isCA is the
// requirer's "ca" flag, which is how tls-certificates asks for a CA (the CSR
// itself usually carries no BasicConstraints). Key checks come first: a weak
// key is refused whatever the names. Then names holding a control character
// (the NUL-prefix attack: "bank.example\x00.evil.org" shown as the bank's name
// by software that stops at the NUL), whatever the other rules allow.
func (p Policy) Check(csr *x509.CertificateRequest, isCA bool) *Refusal {
	if r := checkKey(csr.PublicKey, csr.RawSubjectPublicKeyInfo); r != nil {
		return r
	}
	if r := checkNames(csr.Subject.Names, csr.Extensions); r != nil {
		return r
	}
	if isCA && !p.AllowCARequests {
		return &Refusal{Code: CodeOther, Name: "other", Message: "CA certificate requests are not allowed (allow-ca-requests is false)"}
	}
	ips := len(csr.IPAddresses)
	dns := append([]string(nil), csr.DNSNames...)
	// TLS clients that still fall back to the common name would trust it as
	// a host name, so a CN that looks like one is held to the same rules as
	// a SAN. A CN that is a plain label ("myapp") or free text is not a name
	// anyone resolves, so it is left alone.
	if cn := csr.Subject.CommonName; cn != "" {
		if _, err := netip.ParseAddr(cn); err == nil {
			ips++
		} else if looksLikeHostname(cn) {
			dns = append(dns, cn)
		}
	}
	if ips > 0 && !p.AllowIPSANs {
		return &Refusal{Code: CodeIPNotAllowed, Name: "ip_not_allowed", Message: "IP addresses are not allowed in certificates (allow-ip-sans is false)"}
	}
	for _, name := range dns {
		n := normalizeDomain(name)
		if strings.HasPrefix(n, "*.") && !p.AllowWildcards {
			return &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed", Message: fmt.Sprintf("wildcard name %q is not allowed (allow-wildcards is false)", name)}
		}
	}
	if len(p.AllowedDomains) > 0 {
		for _, name := range dns {
			if !p.domainAllowed(name) {
				return &Refusal{Code: CodeDomainNotAllowed, Name: "domain_not_allowed", Message: fmt.Sprintf("name %q is not in the allowed domains (%s)", name, strings.Join(p.AllowedDomains, ", "))}
			}
		}
	}
	return nil
}

// domainAllowed reports whether name is one of the allowed domains or below
// one. A wildcard "*.d" is judged by "d": it can only match names below d.
func (p Policy) domainAllowed(name string) bool {
	n := strings.TrimPrefix(normalizeDomain(name), "*.")
	for _, d := range p.AllowedDomains {
		d = strings.TrimPrefix(strings.TrimPrefix(normalizeDomain(d), "*."), ".")
		if d == "" {
			continue
		}
		if n == d || strings.HasSuffix(n, "."+d) {
			return true
		}
	}
	return false
}

// normalizeDomain lower-cases a DNS name and drops a trailing root dot, the
// two ways one name gets spelled differently.
func normalizeDomain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// looksLikeHostname reports whether s is a dotted DNS name, optionally with a
// leading wildcard label.
func looksLikeHostname(s string) bool {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func other(msg string, args ...any) *Refusal {
	return &Refusal{Code: CodeOther, Name: "other", Message: fmt.Sprintf(msg, args...)}
}

// checkKey refuses a key that is weak or of a type the authority does not
// sign for. spki is the key as encoded in the CSR: the message names its type
// and size even when x509 could not make a key of it (Ed448, DSA).
func checkKey(pub any, spki []byte) *Refusal {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return other("RSA key of %d bits is too weak (minimum %d)", k.N.BitLen(), MinRSABits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return other("ECDSA key on curve %s (%d bits) is not allowed (P-256, P-384 or P-521)", k.Curve.Params().Name, k.Curve.Params().BitSize)
		}
	case ed25519.PublicKey:
	default:
		if len(spki) == 0 {
			return other("key type %T is not allowed (RSA, ECDSA or Ed25519)", pub)
		}
		return other("%s is not allowed (RSA of at least %d bits, ECDSA on P-256, P-384 or P-521, or Ed25519)", describeKey(spki), MinRSABits)
	}
	return nil
}

// checkNames refuses a subject attribute or a subject alternative name that
// holds a control character: no real name does, and software that stops at a
// NUL or splits at a newline would read another name than the one signed.
func checkNames(subject []pkix.AttributeTypeAndValue, exts []pkix.Extension) *Refusal {
	if n := nameWithControl(subject, exts); n != "" {
		return other("%s contains a control character", n)
	}
	return nil
}
