package ca_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net/netip"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
)

// policyCase is one row of the name-policy table: a CSR as a requirer sends
// it, and the request_errors entry (code and message) it reads back, or
// none when the CSR is signed.
type policyCase struct {
	name    string
	policy  ca.Policy
	csr     string // PEM
	code    int    // 0: signed
	message string // the whole refusal message
}

// rawName encodes a distinguished name attribute by attribute with the ASN.1
// string tag given, as a requirer can (Go itself picks PrintableString).
func rawName(t testing.TB, tag int, atvs ...[2]string) []byte {
	t.Helper()
	var rdns []pkix.RelativeDistinguishedNameSET
	oids := map[string]asn1.ObjectIdentifier{"CN": {2, 5, 4, 3}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11}}
	for _, a := range atvs {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oids[a[0]], Value: asn1.RawValue{Tag: tag, Bytes: []byte(a[1])}}})
	}
	der, err := asn1.Marshal(pkix.RDNSequence(rdns))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// withKeyOf returns the CSR csr with the public key of the CSR keyOf, and so
// a signature that does not verify: what a requirer can send to make the
// authority check a key it chose.
func withKeyOf(t testing.TB, csr, keyOf string) string {
	t.Helper()
	type info struct {
		Version    int
		Subject    asn1.RawValue
		SPKI       asn1.RawValue
		Attributes asn1.RawValue `asn1:"optional"`
	}
	type req struct {
		Info      info
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	var dst, src req
	for _, x := range []struct {
		pem string
		r   *req
	}{{csr, &dst}, {keyOf, &src}} {
		b, _ := pem.Decode([]byte(x.pem))
		if b == nil {
			t.Fatal("not PEM")
			return ""
		}
		if _, err := asn1.Unmarshal(b.Bytes, x.r); err != nil {
			t.Fatal(err)
		}
	}
	dst.Info.SPKI = src.Info.SPKI
	dst.Algorithm = src.Algorithm
	der, err := asn1.Marshal(dst)
	if err != nil {
		t.Fatal(err)
	}
	return encPEM("CERTIFICATE REQUEST", der)
}

func policyCases(t testing.TB) []policyCase {
	ec := testKey(t, ca.ECDSAP256)
	csr := func(s csrSpec) string { _, p := makeCSR(t, ec, s); return p }
	dns := func(names ...string) string { return csr(csrSpec{cn: "x", dns: names}) }
	open := ca.Policy{AllowIPSANs: true, AllowWildcards: true}
	domains := ca.Policy{AllowedDomains: []string{"example.com"}, AllowIPSANs: true, AllowWildcards: true}
	noWildcards := ca.Policy{AllowIPSANs: true}
	noIPs := ca.Policy{AllowWildcards: true}
	ranges := ca.Policy{AllowIPSANs: true, AllowedIPRanges: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}
	internal := ca.Policy{AllowedDomains: []string{"internal"}, AllowWildcards: true}
	// The authority's own subject, as NewRoot encodes it.
	own := ca.Subject{CommonName: "Test CA", Organization: "Example"}
	ownRaw, err := asn1.Marshal(own.Name().ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	self := ca.Policy{CASubjects: [][]byte{[]byte("garbage"), ownRaw}}
	subject := func(raw []byte) string {
		return csrWith(t, &x509.CertificateRequest{RawSubject: raw})
	}
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	l63 := long('a', 63)
	name253 := strings.Join([]string{l63, l63, l63, long('b', 61)}, ".")
	const utf8String, printable = 12, 19
	return []policyCase{
		// DNS syntax (RFC 1035/5280).
		{"valid name", domains, dns("a.example.com", "b-1.c.example.com", "xn--bcher-kva.example.com"), 0, ""},
		{"trailing dot normalized", domains, dns("a.example.com."), 0, ""},
		{"space", open, dns("a b.example.com"), 999, `DNS SAN "a b.example.com" is not a valid DNS name: label "a b" holds ' ' (letters, digits and hyphens only)`},
		{"300-character label", open, dns(long('x', 300) + ".example.com"), 999, `DNS SAN "` + long('x', 100) + `"... is not a valid DNS name: 312 characters, more than 253`},
		{"64-character label", open, dns(long('x', 64) + ".example.com"), 999, `DNS SAN "` + long('x', 64) + `.example.com" is not a valid DNS name: a label of 64 characters, more than 63`},
		{"63-character labels, 253 characters", open, dns(name253), 0, ""},
		{"254 characters", open, dns(name253 + "b"), 999, `DNS SAN "` + name253[:100] + `"... is not a valid DNS name: 254 characters, more than 253`},
		{"empty label", open, dns("a..example.com"), 999, `DNS SAN "a..example.com" is not a valid DNS name: empty label`},
		{"leading dot", open, dns(".example.com"), 999, `DNS SAN ".example.com" is not a valid DNS name: empty label`},
		{"empty name", open, dns(""), 999, `DNS SAN "" is not a valid DNS name: it is empty`},
		{"leading hyphen", open, dns("-a.example.com"), 999, `DNS SAN "-a.example.com" is not a valid DNS name: label "-a" starts or ends with a hyphen`},
		{"trailing hyphen", open, dns("a-.example.com"), 999, `DNS SAN "a-.example.com" is not a valid DNS name: label "a-" starts or ends with a hyphen`},
		{"underscore", open, dns("_acme.example.com"), 999, `DNS SAN "_acme.example.com" is not a valid DNS name: label "_acme" holds '_' (letters, digits and hyphens only)`},
		{"IP address as a DNS name", noIPs, dns("169.254.169.254"), 999, `DNS SAN "169.254.169.254" is not a valid DNS name: it is an IP address (send it as an IP SAN)`},
		{"syntax before domain", domains, dns("evil.org", "a b.example.com"), 999, `DNS SAN "a b.example.com" is not a valid DNS name: label "a b" holds ' ' (letters, digits and hyphens only)`},
		{"outside the domains", domains, dns("a.example.com", "login.bank.com"), 102, `name "login.bank.com" is not in the allowed domains (example.com)`},
		// Wildcards: "*" only as the whole leftmost label.
		{"partial wildcard", open, dns("f*.example.com"), 103, `DNS SAN "f*.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		{"wildcard prefix", open, dns("*foo.example.com"), 103, `DNS SAN "*foo.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		{"inner wildcard", open, dns("a.*.example.com"), 103, `DNS SAN "a.*.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		{"two wildcards", open, dns("*.*.example.com"), 103, `DNS SAN "*.*.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		{"partial wildcard, wildcards off", noWildcards, dns("f*.example.com"), 103, `DNS SAN "f*.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		{"bare star", open, dns("*"), 103, `DNS SAN "*": a wildcard must stand over a domain (as in *.example.com)`},
		{"wildcard allowed", open, dns("*.example.com"), 0, ""},
		{"wildcard, wildcards off", noWildcards, dns("*.example.com"), 103, `wildcard name "*.example.com" is not allowed (allow-wildcards is false)`},
		{"wildcard over a TLD", open, dns("*.com"), 103, `DNS SAN "*.com": a wildcard over a top-level domain is not allowed`},
		{"wildcard over an allowed single label", internal, dns("*.internal"), 0, ""},
		{"wildcard outside the domains", domains, dns("*.com"), 102, `name "*.com" is not in the allowed domains (example.com)`},
		{"partial wildcard CN", open, csr(csrSpec{cn: "f*.example.com"}), 103, `common name "f*.example.com": this wildcard form is not allowed (a "*" may only be the whole leftmost label, as in *.example.com)`},
		// URI SANs.
		{"URI inside the domains", domains, csr(csrSpec{uris: []string{"spiffe://example.com/ns/a/sa/b", "https://api.example.com:8443/x"}}), 0, ""},
		{"URI outside the domains", domains, csr(csrSpec{uris: []string{"spiffe://bank.com/ns/prod/sa/admin"}}), 102, `URI SAN "spiffe://bank.com/ns/prod/sa/admin" is not in the allowed domains (example.com)`},
		{"URI without host under domains", domains, csr(csrSpec{uris: []string{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}}), 102, `URI SAN "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66" has no host to hold to the allowed domains (example.com)`},
		{"URI without host, no domains", open, csr(csrSpec{uris: []string{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"}}), 0, ""},
		{"URI with user information", open, csr(csrSpec{uris: []string{"https://admin:hunter2@example.com/"}}), 999, `URI SAN "https://admin:xxxxx@example.com/" carries user information`},
		{"relative URI", open, csr(csrSpec{uris: []string{"//example.com/path"}}), 999, `URI SAN "//example.com/path" is not an absolute URI (scheme:...)`},
		{"URI with an IP host under domains", domains, csr(csrSpec{uris: []string{"https://10.0.0.1/"}}), 102, `URI SAN "https://10.0.0.1/" has an IP address for host, not a name in the allowed domains (example.com)`},
		{"URI with an IP host, no IPs", noIPs, csr(csrSpec{uris: []string{"https://10.0.0.1/"}}), 101, `IP addresses are not allowed in certificates (allow-ip-sans is false)`},
		{"URI with a bad host", open, csr(csrSpec{uris: []string{"https://a_b.example.com/"}}), 999, `URI SAN host "a_b.example.com" is not a valid DNS name: label "a_b" holds '_' (letters, digits and hyphens only)`},
		{"URI with a wildcard host", open, csr(csrSpec{uris: []string{"https://*.example.com/"}}), 103, `URI SAN "https://*.example.com/": a URI's host cannot be a wildcard`},
		// Email SANs and the subject's emailAddress.
		{"email inside the domains", domains, csr(csrSpec{emails: []string{"ops@example.com", "a.b+c@mail.example.com"}}), 0, ""},
		{"email outside the domains", domains, csr(csrSpec{emails: []string{"ceo@bank.com"}}), 102, `email SAN "ceo@bank.com" is not in the allowed domains (example.com)`},
		{"not an email", open, csr(csrSpec{emails: []string{"not an email"}}), 999, `email SAN "not an email" is not an email address (local-part@domain)`},
		{"email with a display name", open, csr(csrSpec{emails: []string{"CEO <ceo@example.com>"}}), 999, `email SAN "CEO <ceo@example.com>" is not an email address (local-part@domain)`},
		{"email with a bad domain", open, csr(csrSpec{emails: []string{"a@b_c.example.com"}}), 999, `email SAN domain "b_c.example.com" is not a valid DNS name: label "b_c" holds '_' (letters, digits and hyphens only)`},
		{"subject emailAddress outside", domains, csr(csrSpec{cn: "x", extra: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "ceo@bank.com"}}}), 102, `subject emailAddress "ceo@bank.com" is not in the allowed domains (example.com)`},
		// IP SANs and an IP common name.
		{"IP inside the ranges", ranges, csr(csrSpec{ips: []string{"10.1.2.3", "fd00::1"}}), 0, ""},
		{"IP outside the ranges", ranges, csr(csrSpec{ips: []string{"10.1.2.3", "169.254.169.254"}}), 101, `IP address 169.254.169.254 is outside the allowed IP ranges (10.0.0.0/8, fd00::/8)`},
		{"IPv6 outside the ranges", ranges, csr(csrSpec{ips: []string{"::1"}}), 101, `IP address ::1 is outside the allowed IP ranges (10.0.0.0/8, fd00::/8)`},
		{"IP CN outside the ranges", ranges, csr(csrSpec{cn: "169.254.169.254"}), 101, `IP address 169.254.169.254 is outside the allowed IP ranges (10.0.0.0/8, fd00::/8)`},
		{"IP, allow-ip-sans false", noIPs, csr(csrSpec{ips: []string{"10.1.2.3"}}), 101, `IP addresses are not allowed in certificates (allow-ip-sans is false)`},
		// Common name.
		{"64-character CN", open, csr(csrSpec{cn: long('c', 64)}), 0, ""},
		{"65-character CN", open, csr(csrSpec{cn: long('c', 65)}), 999, `common name of 65 characters is longer than 64 (RFC 5280 ub-common-name)`},
		{"5000-character CN", open, csr(csrSpec{cn: long('c', 5000)}), 999, `common name of 5000 characters is longer than 64 (RFC 5280 ub-common-name)`},
		{"CN with a trailing space", domains, csr(csrSpec{cn: "a.bank.com "}), 999, `common name "a.bank.com " has leading or trailing white space`},
		{"CN with a leading space", open, csr(csrSpec{cn: " myapp"}), 999, `common name " myapp" has leading or trailing white space`},
		{"host-name CN outside the domains", domains, csr(csrSpec{cn: "login.bank.com"}), 102, `common name "login.bank.com" is not in the allowed domains (example.com)`},
		{"host-name CN with bad syntax", open, csr(csrSpec{cn: "a_b.example.com"}), 999, `common name "a_b.example.com" is not a valid DNS name: label "a_b" holds '_' (letters, digits and hyphens only)`},
		{"free-text CN", domains, csr(csrSpec{cn: "My Service v1.2"}), 0, ""},
		// The authority's own subject.
		{"own subject", self, subject(ownRaw), 999, `the subject is this authority's own CA name ("CN=Test CA,O=Example")`},
		{"own subject re-encoded", self, subject(rawName(t, utf8String, [2]string{"O", "Example"}, [2]string{"CN", "Test CA"})), 999, `the subject is this authority's own CA name ("CN=Test CA,O=Example")`},
		{"own subject, case and spaces", self, subject(rawName(t, printable, [2]string{"O", "EXAMPLE"}, [2]string{"CN", "test  CA"})), 999, `the subject is this authority's own CA name ("CN=test  CA,O=EXAMPLE")`},
		{"another subject", self, subject(rawName(t, utf8String, [2]string{"O", "Example"}, [2]string{"CN", "Test CA 2"})), 0, ""},
		{"own subject in another order", self, subject(rawName(t, utf8String, [2]string{"CN", "Test CA"}, [2]string{"O", "Example"})), 0, ""},
		// Key size: the cap comes before the signature check.
		{"RSA-8192", open, fixtureCSR(t, "rsa8192"), 0, ""},
		{"RSA-16384", open, fixtureCSR(t, "rsa16384"), 999, `RSA key of 16384 bits is larger than the maximum of 8192 bits`},
		{"RSA-16384, bad signature", open, flipSignature(t, fixtureCSR(t, "rsa16384")), 999, `RSA key of 16384 bits is larger than the maximum of 8192 bits`},
		// x509 cannot parse this one (a newline in a URI): judged from the DER, key first.
		{"RSA-16384, unparsable name", open, withKeyOf(t, csrWith(t, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{rawSANs(t, san(6, "spiffe://example.com/a\nb"))}}), fixtureCSR(t, "rsa16384")), 999, `RSA key of 16384 bits is larger than the maximum of 8192 bits`},
	}
}

// TestPolicyNames is the bad-input table of the name policy: each row is a
// CSR a requirer sends and the request_errors entry it reads back (code,
// name and message), through Vet, which the charm calls for every request.
func TestPolicyNames(t *testing.T) {
	names := map[int]string{101: "ip_not_allowed", 102: "domain_not_allowed", 103: "wildcard_not_allowed", 999: "other"}
	for _, tt := range policyCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			v, r, err := tt.policy.Vet(tt.csr, false)
			if err != nil {
				t.Fatalf("Vet: %v", err)
			}
			if tt.code == 0 {
				if r != nil || v == nil {
					t.Fatalf("refused: %d %s", r.Code, r.Message)
				}
				return
			}
			if r == nil {
				t.Fatalf("signed, want %d %q", tt.code, tt.message)
			}
			if r.Code != tt.code || r.Name != names[tt.code] || r.Message != tt.message {
				t.Errorf("refusal %d %s %q\nwant      %d %s %q", r.Code, r.Name, r.Message, tt.code, names[tt.code], tt.message)
			}
		})
	}
}
