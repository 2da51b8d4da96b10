package ca

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
)

// Limits of RFC 1035 §2.3.4 (and RFC 5280, which takes DNS names from it)
// and of RFC 5280's ub-common-name.
const (
	maxDNSName    = 253 // characters, without the trailing root dot
	maxDNSLabel   = 63
	maxCommonName = 64
)

// hostName is a DNS name that passed checkHostName.
type hostName struct {
	name     string // lower case, no trailing dot
	wildcard bool   // its leftmost label is "*"
}

// checkHostName holds name (a DNS SAN, a common name that looks like a host
// name, a URI's host, an email's domain) to the RFC 1035/5280 preferred name
// syntax: labels of 1 to 63 letters, digits and hyphens, not starting or
// ending with a hyphen, at most 253 characters in all; one trailing dot (the
// root) is dropped. A "*" is allowed only as the whole leftmost label: any
// other form ("f*.example.com", "*.*.example.com") is refused with 103,
// whatever allow-wildcards says, because verifiers disagree on what it
// matches (OpenSSL matches "f*" to "foo").
//
// Underscores are refused: RFC 5280 §4.2.1.6 wants host names in the
// preferred name syntax, the CA/Browser Forum forbids them in dNSName since
// 2019, and no Kubernetes or Juju name (pod, service, namespace, unit) has
// one, so a name with one is either a mistake or a name no resolver gives.
//
// field names the name in the refusal ("DNS SAN", "common name").
func checkHostName(field, name string) (hostName, *Refusal) {
	n := strings.ToLower(name)
	n = strings.TrimSuffix(n, ".")
	bad := func(why string, args ...any) (hostName, *Refusal) {
		return hostName{}, other("%s %s is not a valid DNS name: %s", field, quoteShort(name), fmt.Sprintf(why, args...))
	}
	if n == "" {
		return bad("it is empty")
	}
	if len(n) > maxDNSName {
		return bad("%d characters, more than %d", len(n), maxDNSName)
	}
	if _, err := netip.ParseAddr(n); err == nil {
		// A client asked for https://10.0.0.1 may compare the address with
		// DNS names: it would pass the IP policy by the back door.
		return bad("it is an IP address (send it as an IP SAN)")
	}
	labels := strings.Split(n, ".")
	h := hostName{name: n}
	for i, l := range labels {
		if strings.Contains(l, "*") {
			if l == "*" && i == 0 {
				h.wildcard = true
				continue
			}
			return hostName{}, &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed",
				Message: fmt.Sprintf("%s %s: this wildcard form is not allowed (a \"*\" may only be the whole leftmost label, as in *.example.com)", field, quoteShort(name))}
		}
		if l == "" {
			return bad("empty label")
		}
		if len(l) > maxDNSLabel {
			return bad("a label of %d characters, more than %d", len(l), maxDNSLabel)
		}
		for j := 0; j < len(l); j++ {
			if c := l[j]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("label %s holds %q (letters, digits and hyphens only)", quoteShort(l), rune(c))
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("label %s starts or ends with a hyphen", quoteShort(l))
		}
	}
	if h.wildcard && len(labels) == 1 {
		return hostName{}, &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed",
			Message: fmt.Sprintf("%s %s: a wildcard must stand over a domain (as in *.example.com)", field, quoteShort(name))}
	}
	return h, nil
}

// looksLikeHostname reports whether a common name is one that a TLS client
// falling back to the common name could take for a host name: dotted, or
// holding a "*", and made only of the characters of host names (and the
// ones a host name is mistyped with: "_", "*"). Such a CN is held to the DNS
// rules; a plain label ("myapp") or free text ("My Service") is not a name
// anyone resolves and is left alone.
func looksLikeHostname(s string) bool {
	if !strings.ContainsAny(s, ".*") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}

// checkAddrSpec holds an email address (an email SAN, a subject
// emailAddress) to RFC 5322 addr-spec, local@domain, nothing around it (no
// display name, no comment, no angle brackets), with a domain that is a host
// name. It returns the domain.
func checkAddrSpec(field, s string) (hostName, *Refusal) {
	// net/mail takes RFC 6532 UTF-8 local parts; a certificate's
	// rfc822Name is IA5 (ASCII), and x509 cannot encode anything else.
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return hostName{}, other("%s %s is not an email address (ASCII local-part@domain)", field, quoteShort(s))
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return hostName{}, other("%s %s is not an email address (local-part@domain)", field, quoteShort(s))
	}
	at := strings.LastIndexByte(s, '@')
	h, r := checkHostName(field+" domain", s[at+1:])
	if r != nil {
		return hostName{}, r
	}
	if h.wildcard {
		return hostName{}, &Refusal{Code: CodeWildcardNotAllowed, Name: "wildcard_not_allowed",
			Message: fmt.Sprintf("%s %s: an email domain cannot be a wildcard", field, quoteShort(s))}
	}
	return h, nil
}

// canonicalName is a distinguished name in a form two encodings of the same
// name share: attribute by attribute in order (the RDN grouping dropped), each
// value with its ASN.1 string type dropped, case folded and white space
// collapsed, as RFC 5280 §7.1 (and OpenSSL's X509_NAME_cmp) compare names.
func canonicalName(atvs []pkix.AttributeTypeAndValue) string {
	var b strings.Builder
	for _, atv := range atvs {
		b.WriteString(atv.Type.String())
		b.WriteByte('=')
		v, ok := atv.Value.(string)
		if !ok {
			v = fmt.Sprintf("%T:%v", atv.Value, atv.Value)
		}
		b.WriteString(strconv.Quote(strings.Join(strings.Fields(strings.ToLower(v)), " ")))
		b.WriteByte(';')
	}
	return b.String()
}

// rawNameAttributes reads a DER distinguished name into its attributes, in
// order; ok is false when it is not one.
func rawNameAttributes(der []byte) (atvs []pkix.AttributeTypeAndValue, ok bool) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err != nil || len(rest) != 0 {
		return nil, false
	}
	for _, rdn := range rdns {
		atvs = append(atvs, rdn...)
	}
	return atvs, true
}
