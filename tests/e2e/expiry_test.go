package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestNearExpiryRotation: a CA with less than one leaf validity left rotates by itself. With a 2-minute root and
// 1-minute leaves, once under a minute remains an update-status starts the rotation (the new CA trusted beside
// the old in the agent's bundle, the old one still signing); the next update-status makes the new CA sign and
// re-issues the requirer's certificate under it, in place.
func TestNearExpiryRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a CA to near its expiry (about a minute)")
	}
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	auth := deployAuthority(t, m, "tls-authority", 1, map[string]any{"root-ca-validity": "2m", "certificate-validity": "1m"})
	requirer := deployRequirer(t, m, "req", 1)
	rel := integrate(t, m, "req:certificates", "tls-authority:certificates")
	settle(t, s)
	rels := map[string]*sim.Relation{"req": rel}
	csr := newCSR(t, rsaKey(t), "req-0.example.com", "req-0.example.com")
	publishCSRs(t, requirer.Units()[0], false, req(csr, false))
	settle(t, s)

	ca1 := caOf(t, auth)
	certs, _, _ := issuedBag(t, rel, "tls-authority")
	checkIssued(t, certs, csr, false, ca1, writeTemp(t, "ca1.pem", ca1))
	verifySigned(t, "before", auth, rels)
	agent := fmt.Sprintf("http://%s:8080/ca.pem", auth.Units()[0].Address())

	// Nothing happens while more than a leaf validity is left.
	s.UpdateStatus()
	settle(t, s)
	verifySigned(t, "far from expiry", auth, rels)
	if got := caOf(t, auth); got != ca1 {
		t.Fatal("the CA rotated with more than one leaf validity left")
	}
	if n := strings.Count(string(httpGet(t, agent)), "BEGIN CERTIFICATE"); n != 1 {
		t.Fatalf("the agent's bundle holds %d CAs before the rotation", n)
	}

	wait := time.Until(parseCert(t, ca1).NotAfter.Add(-time.Minute)) + 2*time.Second
	t.Logf("waiting %v for the CA to have less than one leaf validity left", wait.Round(time.Second))
	time.Sleep(wait)

	s.UpdateStatus() // phase 1
	settle(t, s)
	verifySigned(t, "phase 1", auth, rels)
	bundle := string(httpGet(t, agent))
	if n := strings.Count(bundle, "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("after phase 1 the agent's bundle holds %d CAs, want the old and the new", n)
	}
	if got := caOf(t, auth); got != ca1 {
		t.Fatal("the new CA signs before requirers could trust it")
	}
	// The entry is still the old CA's (its 1-minute leaf may have expired meanwhile: renewing is the requirer's job).
	certs, _, _ = issuedBag(t, rel, "tls-authority")
	if len(certs) != 1 || certs[0].CA != ca1 {
		t.Fatalf("after phase 1 the entry is not the old CA's (%d entries)", len(certs))
	}

	s.UpdateStatus() // phase 2
	settle(t, s)
	verifySigned(t, "phase 2", auth, rels)
	ca2 := caOf(t, auth)
	if ca2 == ca1 {
		t.Fatal("the CA did not rotate near its expiry")
	}
	if !parseCert(t, ca2).NotAfter.After(parseCert(t, ca1).NotAfter) {
		t.Fatal("the new CA does not outlive the old one")
	}
	certs, _, _ = issuedBag(t, rel, "tls-authority")
	checkIssued(t, certs, csr, false, ca2, writeTemp(t, "ca2.pem", ca2))
	bundle = string(httpGet(t, agent))
	if !strings.Contains(bundle, strings.Split(ca1, "\n")[1]) || !strings.Contains(bundle, strings.Split(ca2, "\n")[1]) {
		t.Fatal("during the overlap the agent's bundle must hold both CAs")
	}
}
