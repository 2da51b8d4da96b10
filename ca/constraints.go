package ca

import (
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
)

// NameConstraints are the RFC 5280 name constraints a CA certificate signed
// for a requirer carries, derived from the policy: whatever that CA signs is
// held by every verifier (Go's x509, OpenSSL) to the names this authority
// would sign itself. They are marked critical, so a verifier that does not
// understand them refuses the chain rather than ignore them.
//
// Name constraints have no wildcard form: a requirer CA inside the allowed
// domains can sign "*.a.example.com" although allow-wildcards is false. Its
// path length (Policy.CAMaxPathLen, 0 by default) keeps it from delegating.
type NameConstraints struct {
	// PermittedDNSDomains are the allowed domains: each permits itself and
	// every name below it, for Go and OpenSSL alike.
	PermittedDNSDomains []string
	// PermittedURIDomains and PermittedEmailAddresses hold each allowed
	// domain twice, "d" and ".d": RFC 5280 (and OpenSSL) read "d" as that
	// host or mailbox domain exactly and ".d" as anything below it.
	PermittedURIDomains     []string
	PermittedEmailAddresses []string
	// PermittedIPRanges are the allowed IP ranges; ExcludedIPRanges are
	// 0.0.0.0/0 and ::/0 when IP SANs are not allowed at all.
	PermittedIPRanges []netip.Prefix
	ExcludedIPRanges  []netip.Prefix
}

// NameConstraints returns the name constraints of a CA certificate signed
// under p: DNS, URI and email domains permitted from AllowedDomains, IP
// addresses excluded when !AllowIPSANs, else limited to AllowedIPRanges.
// A policy that constrains nothing gives an empty value (see Empty).
func (p Policy) NameConstraints() NameConstraints {
	var c NameConstraints
	seen := map[string]bool{}
	for _, d := range p.AllowedDomains {
		d = constraintDomain(d)
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		c.PermittedDNSDomains = append(c.PermittedDNSDomains, d)
		c.PermittedURIDomains = append(c.PermittedURIDomains, d, "."+d)
		c.PermittedEmailAddresses = append(c.PermittedEmailAddresses, d, "."+d)
	}
	switch {
	case !p.AllowIPSANs:
		c.ExcludedIPRanges = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	case len(p.AllowedIPRanges) > 0:
		for _, r := range p.AllowedIPRanges {
			if r.IsValid() {
				c.PermittedIPRanges = append(c.PermittedIPRanges, normalizePrefix(r))
			}
		}
	}
	return c
}

// Empty reports whether c constrains nothing. A certificate must then carry
// no nameConstraints extension: RFC 5280 forbids an empty one.
func (c NameConstraints) Empty() bool {
	return len(c.PermittedDNSDomains) == 0 && len(c.PermittedURIDomains) == 0 && len(c.PermittedEmailAddresses) == 0 &&
		len(c.PermittedIPRanges) == 0 && len(c.ExcludedIPRanges) == 0
}

// apply sets c on a certificate template, critical.
func (c NameConstraints) apply(t *x509.Certificate) {
	if c.Empty() {
		return
	}
	// Go marks the whole nameConstraints extension critical with this
	// field, whatever name types it holds.
	t.PermittedDNSDomainsCritical = true
	t.PermittedDNSDomains = c.PermittedDNSDomains
	t.PermittedURIDomains = c.PermittedURIDomains
	t.PermittedEmailAddresses = c.PermittedEmailAddresses
	t.PermittedIPRanges = ipNets(c.PermittedIPRanges)
	t.ExcludedIPRanges = ipNets(c.ExcludedIPRanges)
}

func ipNets(ps []netip.Prefix) []*net.IPNet {
	var out []*net.IPNet
	for _, p := range ps {
		// An IPv4 range is 4 bytes of address and 4 of mask, as a
		// certificate's IPv4 SAN is 4 bytes: a verifier matches like with
		// like only.
		out = append(out, &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	return out
}

// normalizePrefix masks p and writes an IPv4-mapped IPv6 range
// (::ffff:10.0.0.0/104) as the IPv4 range it is (10.0.0.0/8).
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// constraintDomain is an allowed domain as a name constraint: lower case,
// no trailing dot, a leading "*." or "." dropped (a constraint "d" already
// covers every name below d).
func constraintDomain(d string) string {
	d = normalizeDomain(d)
	d = strings.TrimPrefix(d, "*.")
	return strings.TrimPrefix(d, ".")
}
