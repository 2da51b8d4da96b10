package charm

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

func TestForeignClusterNames(t *testing.T) {
	const model = "pki"
	remote := "remote-0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		from  string
		cn    string
		sans  []string
		ips   []string
		owner []string // owners of the foreign names, in order; none when every name is from's
	}{
		{name: "own FQDN, unit mode", from: "a/0", sans: []string{"a-0.a-endpoints.pki.svc.cluster.local"}},
		{name: "own FQDN as CN, trailing dot, upper case", from: "a/0", cn: "A-0.a-endpoints.PKI.svc.cluster.local."},
		{name: "own service, unit mode", from: "a/1", sans: []string{"a.pki.svc.cluster.local", "a.pki.svc", "a-endpoints.pki.svc"}},
		{name: "own charm-made service", from: "a/1", sans: []string{"a-primary.pki.svc.cluster.local"}},
		{name: "sibling's FQDN, unit mode", from: "a/1", sans: []string{"a-0.a-endpoints.pki.svc.cluster.local"}, owner: []string{"unit a/0"}},
		{name: "wildcard over the units, unit mode", from: "a/0", sans: []string{"*.a-endpoints.pki.svc.cluster.local"}, owner: []string{"application a"}},
		{name: "units' FQDNs and wildcard, app mode", from: "a", sans: []string{"a-0.a-endpoints.pki.svc.cluster.local", "a-7.a-endpoints.pki.svc", "*.a-endpoints.pki.svc.cluster.local", "a.pki.svc"}},
		{name: "other unit's FQDN", from: "a/0", sans: []string{"b-0.b-endpoints.pki.svc.cluster.local"}, owner: []string{"unit b/0"}},
		{name: "other unit's FQDN, app mode", from: "a", sans: []string{"b-3.b-endpoints.pki.svc"}, owner: []string{"unit b/3"}},
		{name: "other app's service", from: "a/0", sans: []string{"b.pki.svc.cluster.local"}, owner: []string{"the application of service b"}},
		{name: "other app's headless service", from: "a/0", sans: []string{"b-endpoints.pki.svc.cluster.local"}, owner: []string{"application b"}},
		{name: "other app's service as CN", from: "a/0", cn: "b.pki.svc", owner: []string{"the application of service b"}},
		{name: "the authority's own service", from: "a", sans: []string{"tls-authority.pki.svc.cluster.local"}, owner: []string{"the application of service tls-authority"}},
		{name: "ab is not a's", from: "a/0", sans: []string{"ab.pki.svc.cluster.local"}, owner: []string{"the application of service ab"}},
		{name: "outside the model", from: "a/0", sans: []string{"b.other.svc.cluster.local", "b-0.b-endpoints.other.svc", "b.other", "example.com", "pki.svc.cluster.local", "x.y.b.pki", "b-0.b-endpoints.svc"}},
		// Short names: the resolver's search path makes them this model's names (issue 18).
		{name: "other app's service, namespace-relative", from: "a/0", sans: []string{"b.pki"}, owner: []string{"the application of service b"}},
		{name: "other unit's pod name, namespace-relative", from: "a/0", sans: []string{"b-0.b-endpoints.pki"}, owner: []string{"unit b/0"}},
		{name: "other unit's pod name, search path", from: "a/0", sans: []string{"victim-0.victim-endpoints"}, owner: []string{"unit victim/0"}},
		{name: "other app's service, bare", from: "a/0", sans: []string{"victim"}, owner: []string{"the application of service victim"}},
		{name: "wildcard over another app's pods, short", from: "a", sans: []string{"*.b-endpoints", "*.b-endpoints.pki"}, owner: []string{"application b", "application b"}},
		{name: "sibling's short pod name, unit mode", from: "a/1", sans: []string{"a-0.a-endpoints"}, owner: []string{"unit a/0"}},
		{name: "own short names", from: "a/0", sans: []string{"a", "a.pki", "a-0.a-endpoints", "a-0.a-endpoints.pki", "a-primary", "localhost"}},
		{name: "own short names, app mode", from: "a", sans: []string{"a-3.a-endpoints", "*.a-endpoints.pki", "a.pki"}},
		{name: "bare CN is a client name, not bound", from: "a/0", cn: "admin"},
		{name: "two labels that are not a pod name", from: "a/0", sans: []string{"example.com", "b-0.b"}},
		{name: "cross-model requirer owns no short name", from: remote + "/0", sans: []string{"a", "a-0.a-endpoints"}, owner: []string{"the application of service a", "unit a/0"}},
		// Pod addresses: an address of a unit in a certificates relation is that unit's.
		{name: "own pod address", from: "a/0", ips: []string{"10.1.0.10"}},
		{name: "own pod address as CN", from: "a/0", cn: "10.1.0.10"},
		{name: "own units' addresses, app mode", from: "a", ips: []string{"10.1.0.10", "10.1.0.11"}},
		{name: "sibling's pod address, unit mode", from: "a/0", ips: []string{"10.1.0.11"}, owner: []string{"unit a/1"}},
		{name: "other app's pod address", from: "a/0", ips: []string{"10.1.0.20"}, owner: []string{"unit b/0"}},
		{name: "other app's pod address as CN, app mode", from: "a", cn: "10.1.0.20", owner: []string{"unit b/0"}},
		{name: "other relation's unit, private-address", from: "a/0", ips: []string{"10.1.0.30"}, owner: []string{"unit c/0"}},
		{name: "IPv4-mapped form of another's address", from: "a/0", ips: []string{"::ffff:10.1.0.20"}, owner: []string{"unit b/0"}},
		{name: "address of no known unit", from: "a/0", ips: []string{"192.0.2.1", "169.254.169.254"}},
		{name: "cross-model requirer's own address", from: remote + "/0", ips: []string{"203.0.113.5"}},
		{name: "model name as a label elsewhere", from: "a/0", sans: []string{"b.pki.svc.example.com", "b.xpki.svc.cluster.local"}},
		{name: "cross-model requirer owns nothing here", from: remote + "/0", sans: []string{remote + ".pki.svc.cluster.local", "a.pki.svc"}, owner: []string{"the application of service " + remote, "the application of service a"}},
		{name: "cross-model requirer's own model", from: remote, sans: []string{"c-0.c-endpoints.theirs.svc.cluster.local"}},
		{name: "each name once", from: "a/0", cn: "b.pki.svc", sans: []string{"b.pki.svc", "B.pki.svc."}, owner: []string{"the application of service b"}},
		{name: "IP CN is no name", from: "a/0", cn: "10.0.0.1"},
	}
	// The request cache as the leader keeps it: a and b on one relation each, c on another, a cross-model unit.
	cache, err := openRequestCache(hooktool.Env{}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*relationBags{
		{Relation: "certificates:1", App: "a", Units: map[string]map[string]string{
			"a/0": {"ingress-address": "10.1.0.10", "private-address": "10.1.0.10"},
			"a/1": {"ingress-address": "10.1.0.11", "private-address": "10.1.0.11"}}},
		{Relation: "certificates:2", App: "b", Units: map[string]map[string]string{"b/0": {"ingress-address": "10.1.0.20"}}},
		{Relation: "certificates:3", App: "c", Units: map[string]map[string]string{"c/0": {"private-address": "10.1.0.30", "ingress-address": "bogus"}}},
		{Relation: "certificates:4", App: remote, Units: map[string]map[string]string{remote + "/0": {"ingress-address": "203.0.113.5"}}},
	} {
		if err := cache.store(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := &x509.CertificateRequest{Subject: pkix.Name{CommonName: tt.cn}, DNSNames: tt.sans}
			for _, ip := range tt.ips {
				csr.IPAddresses = append(csr.IPAddresses, net.ParseIP(ip))
			}
			got := foreignClusterNames(csr, model, tt.from, cache.unitAddresses)
			var owners []string
			for _, f := range got {
				owners = append(owners, f.Owner)
			}
			if strings.Join(owners, "|") != strings.Join(tt.owner, "|") {
				t.Errorf("owners = %q, want %q (%s)", owners, tt.owner, describeForeign(got))
			}
		})
	}
}

// TestUnitAddressesFromCacheFiles: the addresses come from the cache directory too, so a hook that read only its
// own relation still knows the other relations' units (no hook tool runs for them).
func TestUnitAddressesFromCacheFiles(t *testing.T) {
	env := hooktool.Env{CharmDir: t.TempDir(), HookName: "certificates-relation-changed"}
	first, err := openRequestCache(env, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.store(&relationBags{Relation: "certificates:7", App: "b", Units: map[string]map[string]string{"b/0": {"ingress-address": "10.1.0.20"}}}); err != nil {
		t.Fatal(err)
	}
	next, err := openRequestCache(env, true) // the next hook: nothing in memory
	if err != nil {
		t.Fatal(err)
	}
	csr := &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.1.0.20")}}
	got := foreignClusterNames(csr, "pki", "a/0", next.unitAddresses)
	if len(got) != 1 || got[0].Owner != "unit b/0" {
		t.Fatalf("foreign = %+v, want 10.1.0.20 owned by unit b/0", got)
	}
	if units := next.unitAddresses()[mustAddr(t, "10.1.0.20")]; !slices.Equal(units, []string{"b/0"}) {
		t.Fatalf("units of 10.1.0.20 = %v", units)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// BenchmarkUnitAddresses is the cost of checking one request's IP SANs against every related unit: 10 relations of
// 100 units, read from the cache directory by the first request of a hook (cold) and from memory after (warm).
func BenchmarkUnitAddresses(b *testing.B) {
	env := hooktool.Env{CharmDir: b.TempDir(), HookName: "certificates-relation-changed"}
	c, err := openRequestCache(env, true)
	if err != nil {
		b.Fatal(err)
	}
	for r := range 10 {
		bags := &relationBags{Relation: fmt.Sprintf("certificates:%d", r), App: fmt.Sprintf("app%d", r), Units: map[string]map[string]string{}}
		for u := range 100 {
			ip := fmt.Sprintf("10.1.%d.%d", r, u)
			bags.Units[fmt.Sprintf("app%d/%d", r, u)] = map[string]string{"ingress-address": ip, "private-address": ip, "egress-subnets": ip + "/32"}
		}
		if err := c.store(bags); err != nil {
			b.Fatal(err)
		}
	}
	csr := &x509.CertificateRequest{IPAddresses: []net.IP{net.ParseIP("10.1.3.7")}}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			fresh, _ := openRequestCache(env, true)
			if len(foreignClusterNames(csr, "pki", "a/0", fresh.unitAddresses)) != 1 {
				b.Fatal("not bound")
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		for b.Loop() {
			if len(foreignClusterNames(csr, "pki", "a/0", c.unitAddresses)) != 1 {
				b.Fatal("not bound")
			}
		}
	})
}
