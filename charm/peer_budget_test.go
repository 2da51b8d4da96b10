package charm

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// mongoDocLimit is the size of a relation settings document on Juju 3.6: MongoDB's BSON limit.
const mongoDocLimit = 16 << 20

// TestRelationDocumentFigures measures what one certificate adds to each document (an RSA-2048 CA, RSA-2048 and
// ECDSA requests with a Kubernetes service name, and one with 100 SANs): to the relation's provider databag its
// entry (CSR, certificate, CA, chain as JSON), to the peer databag its inventory and ledger entries. It checks that
// the charm's estimates bound them (peerEntrySize, newEntrySize) and logs how many certificates 16 MiB holds and
// what the charm's caps allow: the provider databag stops at maxCertBytes, the peer databag at maxPeerBagBytes.
func TestRelationDocumentFigures(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caKey, err := ca.GenerateKey(ca.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := ca.NewRoot(caKey, ca.Subject{CommonName: "tls-authority"}, 365*24*time.Hour, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth := &ca.Authority{Certificate: caCert, Key: caKey}
	caPEM := ca.EncodeCertificate(caCert)
	name := "app-12.app-endpoints.model-a.svc.cluster.local"
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("host-%03d.%s", i, name))
	}
	for _, tc := range []struct {
		what string
		alg  ca.Algorithm
		sans []string
	}{
		{"rsa-2048", ca.RSA2048, []string{name}},
		{"ecdsa-p256", ca.ECDSAP256, []string{name}},
		{"ecdsa-p256, 100 SANs", ca.ECDSAP256, many},
	} {
		key, err := ca.GenerateKey(tc.alg)
		if err != nil {
			t.Fatal(err)
		}
		csrPEM := testCSR(t, key, name, tc.sans...)
		block, err := ca.ParseCSR(csrPEM)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := auth.Issue(block, ca.IssueOptions{Validity: 90 * 24 * time.Hour, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		leaf := ca.EncodeCertificate(cert)
		entry := tlscertificates.ProviderCertificate{CA: caPEM, CSR: csrPEM, Certificate: leaf, Chain: []string{leaf, caPEM}}
		provider := jsonLen(t, entry) + 1
		inv := describe(cert, "certificates:7", "app/12", csrHash(csrPEM))
		led := ledgerEntry{Serial: serialHex(cert), CA: ledgerCA(fmt.Sprintf("%x", cert.AuthorityKeyId)), NotAfter: cert.NotAfter.Unix(),
			Holder: "certificates:7/app/12", CN: cert.Subject.CommonName}
		peer := jsonLen(t, inv) + 1 + jsonLen(t, led) + 1
		if est := newEntrySize(csrPEM, caPEM, nil); est < provider {
			t.Errorf("%s: provider entry %d bytes, estimated %d", tc.what, provider, est)
		}
		if est := peerEntrySize(block); est < peer || est > 2*peer {
			t.Errorf("%s: peer entries %d bytes, estimated %d", tc.what, peer, est)
		}
		t.Logf("%s: provider entry %d bytes: 16 MiB holds %d, the charm's %d MiB of certificates %d; peer entries %d bytes (estimated %d): 16 MiB holds %d, the charm's %d MiB budget %d",
			tc.what, provider, mongoDocLimit/provider, maxCertBytes>>20, maxCertBytes/provider,
			peer, peerEntrySize(block), mongoDocLimit/peer, maxPeerBagBytes>>20, maxPeerBagBytes/peerEntrySize(block))
	}
}

func jsonLen(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// TestPeerBudgetRefusesPastIt: new certificates share the peer databag's budget across relations; past it a
// request is refused with a capacity refusal, and room given back (a refused take) is not lost.
func TestPeerBudgetRefusesPastIt(t *testing.T) {
	p := &provider{}
	csr := 900
	p.peerRoom.Store(int64(2*csr + 10))
	for i := range 2 {
		if !p.takePeerRoom(csr) {
			t.Fatalf("room for certificate %d refused", i+1)
		}
	}
	if p.takePeerRoom(csr) {
		t.Fatal("a third taken past the budget")
	}
	if got := p.peerRoom.Load(); got != 10 {
		t.Fatalf("room left %d, want 10", got)
	}
	if n := peerBagBytes(map[string]string{"ca": "abc"}); n != 12 {
		t.Fatalf("peerBagBytes %d", n)
	}
}
