package e2e

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/certtransfer"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestCertificateTransfer covers the authority on both sides of certificate_transfer: it receives another
// authority's CA on receive-ca-cert and installs it in its container's trust store (removed with the relation),
// forwards it on send-ca-cert only with forward-received-cas, and falls back to v0 unit databags for a requirer
// that announced no version.
func TestCertificateTransfer(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	central := deployAuthority(t, m, "central", 1, map[string]any{"ca-common-name": "central-root"})
	local := deployAuthority(t, m, "local", 2, map[string]any{"ca-common-name": "local-ca"})
	_, file, _, _ := runtime.Caller(0)
	_, err = m.Deploy("legacy", filepath.Join(filepath.Dir(file), "testdata", "ct-v0-requirer"), &sim.DeployOptions{Units: 1})
	if err != nil {
		t.Fatal(err)
	}
	recv := integrate(t, m, "local:receive-ca-cert", "central:send-ca-cert")
	sendV0 := integrate(t, m, "legacy:receive-ca-cert", "local:send-ca-cert")
	settle(t, s)
	centralCA, localCA := caOf(t, central), caOf(t, local)

	// The received CA is in every local unit's container trust store, built by update-ca-certificates.
	for _, u := range local.Units() {
		if bundle := readContainerFile(t, u, "/etc/ssl/certs/ca-certificates.crt"); !strings.Contains(bundle, pemLine(centralCA)) {
			t.Fatalf("%s does not trust the received CA", u.Name())
		}
	}
	// v1 on the central side: local announced version 1 and got the set in central's app databag.
	if got := recv.AppData("local")["version"]; got != "1" {
		t.Fatalf("local announced version %q, want 1", got)
	}
	// v0 fallback: every local unit writes its own databag for the versionless requirer; the app databag stays empty.
	for _, u := range local.Units() {
		bag := sendV0.UnitData(u.Name())
		cas, err := certtransfer.ReadV0(bag)
		if err != nil || bag["version"] != "0" {
			t.Fatalf("%s v0 data = %v (%v)", u.Name(), bag, err)
		}
		var ca string
		if err := json.Unmarshal([]byte(bag["ca"]), &ca); err != nil || ca != localCA {
			t.Fatalf("%s v0 ca is not the local CA (a v0 requirer trusts only ca)", u.Name())
		}
		if strings.Contains(strings.Join(cas, ""), pemLine(centralCA)) {
			t.Fatalf("%s forwards the received CA without forward-received-cas", u.Name())
		}
	}
	if bag := sendV0.AppData("local"); bag["certificates"] != "" {
		t.Fatalf("v1 data written for a v0 requirer: %v", bag)
	}

	// forward-received-cas adds the received CA to the bundle sent.
	if err := local.SetConfig(map[string]any{"forward-received-cas": true}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, u := range local.Units() {
		cas, _ := certtransfer.ReadV0(sendV0.UnitData(u.Name()))
		if joined := strings.Join(cas, ""); !strings.Contains(joined, pemLine(centralCA)) || !strings.Contains(joined, pemLine(localCA)) {
			t.Fatalf("%s does not forward the received CA with forward-received-cas", u.Name())
		}
	}

	// Removing the relation takes the received CA out of the trust stores and out of the forwarded bundle.
	if err := m.RemoveRelation(recv); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, u := range local.Units() {
		if bundle := readContainerFile(t, u, "/etc/ssl/certs/ca-certificates.crt"); strings.Contains(bundle, pemLine(centralCA)) {
			t.Fatalf("%s still trusts the CA of a removed relation", u.Name())
		}
		cas, _ := certtransfer.ReadV0(sendV0.UnitData(u.Name()))
		if strings.Contains(strings.Join(cas, ""), pemLine(centralCA)) {
			t.Fatalf("%s still forwards the CA of a removed relation", u.Name())
		}
	}
}

// pemLine is a line from the middle of a PEM: enough to find it in a bundle, whatever the line ends.
func pemLine(pem string) string { return strings.Split(pem, "\n")[2] }
