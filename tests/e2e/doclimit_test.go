package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// mongoDocLimit is a relation settings document's limit on Juju 3.6 (MongoDB's 16 MiB), which the simulator
// enforces on every commit by default.
const mongoDocLimit = 16 << 20

// TestProviderDocumentLimit: a relation's provider databag is one settings document. One requirer asks for 1,000
// certificates at once in its application databag (ECDSA keys, service names); the authority, with no per-hook
// limit, signs until the relation's databag holds its cap of certificates (3 MiB), refuses the rest with
// request_errors (each logged), and no hook fails: the databag stays far under the 16 MiB the simulator enforces.
// The test measures an entry's size and says how many 16 MiB would hold.
func TestProviderDocumentLimit(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, map[string]any{"certificate-limit": -1})
	deployRequirer(t, m, "bulk", 1)
	rel := integrate(t, m, "bulk:certificates", "tls-authority:certificates")
	settle(t, s)
	const asked = 1000
	var reqs []tlscertificates.CSRRequest
	for i := range asked {
		name := fmt.Sprintf("host-%04d.bulk-endpoints.pki.svc.cluster.local", i)
		reqs = append(reqs, req(newCSR(t, ecKey(t), name, name), false))
	}
	publishCSRs(t, m.Unit("bulk/0"), true, reqs...)
	settle(t, s)
	noFailedHooks(t, authority)
	certs, errs, bag := issuedBag(t, rel, authority.Name())
	size := 0
	for k, v := range bag {
		size += len(k) + len(v)
	}
	certBytes := len(bag[tlscertificates.KeyCertificates])
	if len(certs) < 500 || len(certs) >= asked || len(certs)+len(errs) != asked {
		t.Fatalf("%d certificates and %d refusals for %d requests", len(certs), len(errs), asked)
	}
	for _, e := range errs {
		if !strings.Contains(e.Error.Message, "over this authority's limit: the relation's databag holds at most 3 MiB of certificates") {
			t.Fatalf("refusal %q", e.Error.Message)
		}
	}
	if size > 4<<20 {
		t.Fatalf("the provider databag is %d bytes, over the charm's 4 MiB", size)
	}
	logged := false
	for _, h := range authority.Leader().Hooks() {
		for _, l := range h.Logs {
			logged = logged || strings.Contains(l, "refused certificate request") && strings.Contains(l, "3 MiB of certificates")
		}
	}
	if !logged {
		t.Error("the refusals were not logged")
	}
	per := certBytes / len(certs)
	t.Logf("%d certificates signed, %d refused; the databag is %d bytes (certificates %d, %d bytes each): 16 MiB would hold about %d",
		len(certs), len(errs), size, certBytes, per, mongoDocLimit/per)
}
