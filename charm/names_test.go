package charm

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func TestForeignClusterNames(t *testing.T) {
	const model = "pki"
	remote := "remote-0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		from  string
		cn    string
		sans  []string
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
		{name: "outside the model", from: "a/0", sans: []string{"b.other.svc.cluster.local", "b-0.b-endpoints.other.svc", "b.pki", "example.com", "pki.svc.cluster.local"}},
		{name: "model name as a label elsewhere", from: "a/0", sans: []string{"b.pki.svc.example.com", "b.xpki.svc.cluster.local"}},
		{name: "cross-model requirer owns nothing here", from: remote + "/0", sans: []string{remote + ".pki.svc.cluster.local", "a.pki.svc"}, owner: []string{"the application of service " + remote, "the application of service a"}},
		{name: "cross-model requirer's own model", from: remote, sans: []string{"c-0.c-endpoints.theirs.svc.cluster.local"}},
		{name: "each name once", from: "a/0", cn: "b.pki.svc", sans: []string{"b.pki.svc", "B.pki.svc."}, owner: []string{"the application of service b"}},
		{name: "IP CN is no name", from: "a/0", cn: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := &x509.CertificateRequest{Subject: pkix.Name{CommonName: tt.cn}, DNSNames: tt.sans}
			got := foreignClusterNames(csr, model, tt.from)
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
