package charm

import (
	"crypto"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// TestDelivered: what an issuer assigns is used only when it is a CA certificate for the intermediate's key that
// verifies along the chain given with it; the parents are the chain after the certificate, or the entry's ca.
func TestDelivered(t *testing.T) {
	now := time.Now()
	rootContent, root := testCA(t, "root", now)
	rootKey, err := ca.ParsePrivateKey(rootContent["private-key"])
	if err != nil {
		t.Fatal(err)
	}
	parent := &ca.Authority{Certificate: root, Key: rootKey}
	_, other := testCA(t, "other", now)
	key := mustKey(t)
	issue := func(k crypto.Signer, isCA bool) string {
		t.Helper()
		csr, err := ca.NewCACSR(k, ca.Subject{CommonName: "inter"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := parent.Issue(csr, ca.IssueOptions{Validity: time.Hour, IsCA: isCA, Policy: &ca.Policy{}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return ca.EncodeCertificate(c)
	}
	good, rootPEM := issue(key, true), ca.EncodeCertificate(root)
	for _, tc := range []struct {
		name    string
		a       tlscertificates.AssignedCertificate
		parents []string
		err     string
	}{
		{"chain leaf first", tlscertificates.AssignedCertificate{Certificate: good, CA: rootPEM, Chain: []string{good, rootPEM}}, []string{rootPEM}, ""},
		{"chain without the leaf", tlscertificates.AssignedCertificate{Certificate: good, CA: rootPEM, Chain: []string{rootPEM}}, []string{rootPEM}, ""},
		{"no chain: the ca", tlscertificates.AssignedCertificate{Certificate: good, CA: rootPEM}, []string{rootPEM}, ""},
		{"not a CA", tlscertificates.AssignedCertificate{Certificate: issue(key, false), CA: rootPEM, Chain: []string{rootPEM}}, nil, "not a CA certificate"},
		{"another key", tlscertificates.AssignedCertificate{Certificate: issue(mustKey(t), true), CA: rootPEM}, nil, "not a CA certificate for this authority's key"},
		{"chain to another root", tlscertificates.AssignedCertificate{Certificate: good, CA: rootPEM, Chain: []string{good, ca.EncodeCertificate(other)}}, nil, "does not verify"},
		{"no issuer at all", tlscertificates.AssignedCertificate{Certificate: good, Chain: []string{good}}, nil, "no issuer certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, parents, err := delivered(tc.a, key, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || cert != good || strings.Join(parents, "|") != strings.Join(tc.parents, "|") {
				t.Fatalf("got %d parents, err %v", len(parents), err)
			}
		})
	}
}

func mustKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTrustHoldsEveryChain: what a client is given to trust (send-ca-cert, /ca.pem) is the bundle's CAs and the
// issuers of the current, next and previous CAs, each once.
func TestTrustHoldsEveryChain(t *testing.T) {
	p := &published{CA: "int2", Bundle: []string{"int2", "int1"}, Parents: []string{"root2"}, Others: []string{"root1", "root2"}}
	if got := strings.Join(p.Trust(), ","); got != "int2,int1,root2,root1" {
		t.Fatalf("Trust() = %s", got)
	}
	if got := strings.Join(p.Chain(), ","); got != "int2,root2" {
		t.Fatalf("Chain() = %s", got)
	}
}
