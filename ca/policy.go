package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
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
	// CARequest marks the refusal of a CA request under a policy that allows none, which the operator can lift
	// (the charm names the command in the message): the wire's code is only "other" for it.
	CARequest bool
}

// Error implements error.
func (r *Refusal) Error() string {
	return fmt.Sprintf("cannot issue certificate: %s (%d): %s", r.Name, r.Code, r.Message)
}

// MinRSABits is the smallest RSA key a CSR may carry; MaxRSABits the
// largest. The cap bounds what one requirer costs the authority: a CSR is
// parsed and its signature checked in every hook until it is signed, and the
// cost of an RSA verification grows with the square of the modulus (an
// RSA-16384 signature takes milliseconds to check). 8192 is the largest size
// any TLS stack in use generates, and the largest Go's TLS accepts.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

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
// or oversized key is refused whatever the names. Then names holding a
// control character (the NUL-prefix attack: "bank.example\x00.evil.org"
// shown as the bank's name by software that stops at the NUL), whatever the
// other rules allow. Then the subject, the IP addresses, the DNS names (syntax
// and wildcards, then domains), the URIs and the email addresses: every name
// a verifier could match is held to the policy.
func (p Policy) Check(csr *x509.CertificateRequest, isCA bool) *Refusal {
	if r := checkKey(csr.PublicKey, csr.RawSubjectPublicKeyInfo); r != nil {
		return r
	}
	if r := checkNames(csr.Subject.Names, csr.Extensions); r != nil {
		return r
	}
	if isCA && !p.AllowCARequests {
		return &Refusal{Code: CodeOther, Name: "other", Message: "CA certificate requests are not allowed (allow-ca-requests is false)", CARequest: true}
	}
	if r := p.checkSubject(csr); r != nil {
		return r
	}
	ips := append([]net.IP(nil), csr.IPAddresses...)
	dns := append([]string(nil), csr.DNSNames...)
	fields := make([]string, len(dns), len(dns)+1)
	for i := range fields {
		fields[i] = "DNS SAN"
	}
	// TLS clients that still fall back to the common name would trust it as
	// a host name, so a CN that looks like one is held to the same rules as
	// a SAN.
	if cn := csr.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			ips = append(ips, net.IP(a.AsSlice()))
		} else if looksLikeHostname(cn) {
			dns = append(dns, cn)
			fields = append(fields, "common name")
		}
	}
	for _, ip := range ips {
		if r := p.checkIP(ip); r != nil {
			return r
		}
	}
	hosts := make([]hostName, len(dns))
	for i, name := range dns {
		h, r := checkHostName(fields[i], name)
		if r != nil {
			return r
		}
		if r := p.checkWildcard(fields[i], name, h); r != nil {
			return r
		}
		hosts[i] = h
	}
	for i, h := range hosts {
		field := fields[i]
		if field == "DNS SAN" {
			field = "name" // today's wording, which operators and tests read
		}
		if r := p.checkDomain(field, dns[i], h); r != nil {
			return r
		}
	}
	for _, u := range csr.URIs {
		if r := p.checkURI(u); r != nil {
			return r
		}
	}
	for _, e := range csr.EmailAddresses {
		if r := p.checkEmail("email SAN", e); r != nil {
			return r
		}
	}
	for _, atv := range csr.Subject.Names {
		// PKCS #9 emailAddress in the subject: S/MIME clients and OpenSSL's
		// name constraints read it as a mailbox.
		if e, ok := atv.Value.(string); ok && atv.Type.Equal(oidEmailAddress) {
			if r := p.checkEmail("subject emailAddress", e); r != nil {
				return r
			}
		}
	}
	return nil
}

// checkSubject holds the common name to RFC 5280's length and refuses a
// subject that reads as one of the authority's own.
func (p Policy) checkSubject(csr *x509.CertificateRequest) *Refusal {
	cn := csr.Subject.CommonName
	if n := utf8.RuneCountInString(cn); n > maxCommonName {
		return other("common name of %d characters is longer than %d (RFC 5280 ub-common-name)", n, maxCommonName)
	}
	if strings.TrimSpace(cn) != cn {
		// "a.bank.com " is not a host name to this check, but a client that
		// trims it is asked for a.bank.com.
		return other("common name %s has leading or trailing white space", quoteShort(cn))
	}
	if len(p.CASubjects) > 0 && len(csr.RawSubject) > 0 {
		// Compared canonically too: a requirer can encode the same name
		// with other string types, cases or spaces, and OpenSSL would still
		// take the certificate's subject for its issuer's.
		mine := canonicalName(csr.Subject.Names)
		for _, s := range p.CASubjects {
			if len(s) == 0 {
				continue
			}
			theirs, ok := rawNameAttributes(s)
			if bytes.Equal(s, csr.RawSubject) || ok && canonicalName(theirs) == mine {
				return other("the subject is this authority's own CA name (%s)", quoteShort(csr.Subject.String()))
			}
		}
	}
	return nil
}

// checkIP holds one IP address (a SAN, a common name, a URI's host) to
// allow-ip-sans and allowed-ip-ranges.
func (p Policy) checkIP(ip net.IP) *Refusal {
	if !p.AllowIPSANs {
		return &Refusal{Code: CodeIPNotAllowed, Name: "ip_not_allowed", Message: "IP addresses are not allowed in certificates (allow-ip-sans is false)"}
	}
	if len(p.AllowedIPRanges) == 0 {
		return nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if ok {
		// ::ffff:10.0.0.1 is 10.0.0.1 to a verifier (net.IP.Equal).
		a = a.Unmap()
		for _, r := range p.AllowedIPRanges {
			if normalizePrefix(r).Contains(a) {
				return nil
			}
		}
	}
	ranges := make([]string, len(p.AllowedIPRanges))
	for i, r := range p.AllowedIPRanges {
		ranges[i] = r.String()
	}
	return &Refusal{Code: CodeIPNotAllowed, Name: "ip_not_allowed", Message: fmt.Sprintf("IP address %s is outside the allowed IP ranges (%s)", ip, strings.Join(ranges, ", "))}
}

// checkWildcard refuses a wildcard name when wildcards are off, and one over
// a single label ("*.com", which would match every host of a top-level
// domain) when no allowed domain bounds it. Under allowed-domains, a wildcard
// directly over an allowed domain ("*.internal" with "internal" allowed) is
// the operator's choice. There is no public suffix list here: "*.co.uk" is
// two labels and passes when allowed-domains is empty.
func (p Policy) checkWildcard(field, name string, h hostName) *Refusal {
	if !h.wildcard {
		return nil
	}
	if !p.AllowWildcards {
		return &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed", Message: fmt.Sprintf("wildcard name %s is not allowed (allow-wildcards is false)", quoteShort(name))}
	}
	if len(p.AllowedDomains) == 0 && !strings.Contains(h.name[2:], ".") {
		return &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed", Message: fmt.Sprintf("%s %s: a wildcard over a top-level domain is not allowed", field, quoteShort(name))}
	}
	return nil
}

// checkDomain refuses a name outside the allowed domains.
func (p Policy) checkDomain(field, name string, h hostName) *Refusal {
	if len(p.AllowedDomains) == 0 || p.domainAllowed(h.name) {
		return nil
	}
	return &Refusal{Code: CodeDomainNotAllowed, Name: "domain_not_allowed", Message: fmt.Sprintf("%s %s is not in the allowed domains (%s)", field, quoteShort(name), strings.Join(p.AllowedDomains, ", "))}
}

// checkURI holds a URI SAN to the policy: an absolute URI without user
// information, whose host (under allowed-domains, which a URI without host
// cannot be held to) is an allowed DNS name or an allowed IP address.
func (p Policy) checkURI(u *url.URL) *Refusal {
	// Redacted: a password in the URI goes no further, not into a log line
	// or request_errors.
	s := u.Redacted()
	if u.User != nil {
		return other("URI SAN %s carries user information", quoteShort(s))
	}
	if !u.IsAbs() {
		return other("URI SAN %s is not an absolute URI (scheme:...)", quoteShort(s))
	}
	host := u.Hostname()
	if host == "" {
		if len(p.AllowedDomains) > 0 {
			return &Refusal{Code: CodeDomainNotAllowed, Name: "domain_not_allowed", Message: fmt.Sprintf("URI SAN %s has no host to hold to the allowed domains (%s)", quoteShort(s), strings.Join(p.AllowedDomains, ", "))}
		}
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if r := p.checkIP(net.IP(a.AsSlice())); r != nil {
			return r
		}
		if len(p.AllowedDomains) > 0 {
			return &Refusal{Code: CodeDomainNotAllowed, Name: "domain_not_allowed", Message: fmt.Sprintf("URI SAN %s has an IP address for host, not a name in the allowed domains (%s)", quoteShort(s), strings.Join(p.AllowedDomains, ", "))}
		}
		return nil
	}
	h, r := checkHostName("URI SAN host", host)
	if r != nil {
		return r
	}
	if h.wildcard {
		return &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed", Message: fmt.Sprintf("URI SAN %s: a URI's host cannot be a wildcard", quoteShort(s))}
	}
	return p.checkDomain("URI SAN", s, h)
}

// checkEmail holds an email address to addr-spec syntax and its domain to
// the allowed domains.
func (p Policy) checkEmail(field, s string) *Refusal {
	h, r := checkAddrSpec(field, s)
	if r != nil {
		return r
	}
	return p.checkDomain(field, s, h)
}

// domainAllowed reports whether name is one of the allowed domains or below
// one. A wildcard "*.d" is judged by "d": it can only match names below d.
func (p Policy) domainAllowed(name string) bool {
	n := strings.TrimPrefix(normalizeDomain(name), "*.")
	for _, d := range p.AllowedDomains {
		d = constraintDomain(d)
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
		if k.N.BitLen() > MaxRSABits {
			return other("RSA key of %d bits is larger than the maximum of %d bits", k.N.BitLen(), MaxRSABits)
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
