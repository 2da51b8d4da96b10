package e2e

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// workedExample is the shell block of docs/how-to/bring-your-own-ca.md after the offline-root-example marker, cut
// at its juju commands: the parts an operator runs on the offline machine, in order, and the juju commands between.
func workedExample(t *testing.T) (parts []string, juju []string) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "docs", "how-to", "bring-your-own-ca.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- offline-root-example -->\n```bash\n")
	if !ok {
		t.Fatal("the how-to has no offline-root-example block")
	}
	block, _, _ := strings.Cut(after, "\n```\n")
	var cur strings.Builder
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "juju ") {
			parts = append(parts, cur.String())
			juju = append(juju, line)
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	return append(parts, cur.String()), juju
}

func runPart(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s\n--- script:\n%s", err, out, script)
	}
}

// TestOfflineRootWorkedExample runs the how-to's worked example exactly: its openssl commands as the offline root,
// its get-ca-csr and set-ca-certificate as the actions the juju commands run (the CSR written and the params file
// read as the commands' shell does). The intermediate then signs through the rotation, with handshakes at every
// step against the trust of the step before, and every certificate chains leaf, intermediate, offline root (openssl
// verify). Renewal: get-ca-csr gives a fresh CSR for the same key; a certificate signed for it with less than two
// certificate-validities left installs, and the status and one log line a day say by when to renew it.
func TestOfflineRootWorkedExample(t *testing.T) {
	parts, juju := workedExample(t)
	if len(juju) != 2 || !strings.Contains(juju[0], "get-ca-csr") || !strings.Contains(juju[1], "set-ca-certificate --params params.yaml") {
		t.Fatalf("the worked example's juju commands changed: %q", juju)
	}
	s, _, authority, rels, keys := servingRequirers(t, map[string]any{"ca-common-name": "Example Issuing CA", "ca-organization": "Example Org"})
	leader := authority.Leader()
	dir := t.TempDir()

	runPart(t, dir, parts[0])
	csr := action(t, leader, "get-ca-csr", nil).Results["csr"].(string)
	if err := os.WriteFile(filepath.Join(dir, "intermediate.csr"), []byte(csr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runPart(t, dir, parts[1])
	setFromParams := func(path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var params map[string]any
		if err := yaml.Unmarshal(b, &params); err != nil {
			t.Fatal(err)
		}
		res := action(t, leader, "set-ca-certificate", params)
		t.Logf("set-ca-certificate: %s", res.Results["message"])
	}
	setFromParams(filepath.Join(dir, "params.yaml"))
	runPart(t, dir, parts[2])

	inter := parseCert(t, readFileT(t, filepath.Join(dir, "intermediate.pem")))
	rootPEM := readFileT(t, filepath.Join(dir, "root.pem"))
	ok, failed := rotateTo(t, "offline root", s, authority, rels, keys, inter)
	for name, r := range rels {
		certs, _, _ := issuedBag(t, r, authority.Name())
		for _, e := range certs {
			if len(e.Chain) != 3 || e.Chain[2] != rootPEM || !parseCert(t, e.Chain[1]).Equal(inter) {
				t.Fatalf("%s: the chain is not leaf, intermediate, offline root", name)
			}
			if out := openssl(t, e.Certificate, "verify", "-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", filepath.Join(dir, "intermediate.pem")); !strings.Contains(out, ": OK") {
				t.Fatalf("%s: %s", name, out)
			}
		}
	}
	noPrivateKeyBlock(t, s)
	if st := leader.Status(); st.Status != "active" || strings.Contains(st.Message, "renew") {
		t.Fatalf("status %v", st)
	}

	// A refused certificate: the root itself (not for the key) fails the action and changes nothing.
	res, err := leader.RunAction("set-ca-certificate", map[string]any{"certificate": rootPEM, "chain": rootPEM})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || !strings.Contains(res.Message, "the private key does not match the certificate") {
		t.Fatalf("set-ca-certificate with the root's certificate: %s %q", res.Status, res.Message)
	}

	// A chain too long for a secret of Juju 3.6 before 3.6.9 (64 KiB; the chain is kept a certificate a value, each
	// under the 8 KiB of a value): refused in the charm's words, before Juju's secret-set would fail the action with
	// its own, and nothing changes.
	before := action(t, leader, "get-ca-certificate", nil).Results["ca-certificate"]
	longCert, longChain := longOfflineChain(t, parseCSR(t, csr), 14)
	res, err = leader.RunAction("set-ca-certificate", map[string]any{"certificate": longCert, "chain": longChain})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "failed" || !strings.Contains(res.Message, "the CA secret would hold") || !strings.Contains(res.Message, "the current CA keeps signing") {
		t.Fatalf("set-ca-certificate with a %d-byte chain: %s %q", len(longChain), res.Status, res.Message)
	}
	if after := action(t, leader, "get-ca-certificate", nil).Results["ca-certificate"]; after != before {
		t.Fatal("a refused set-ca-certificate changed the CA")
	}

	// Renewal: the same key, a certificate with 150 days left (certificate-validity 90d: warn from 180d).
	again := action(t, leader, "get-ca-csr", nil).Results["csr"].(string)
	// (An RSA PKCS #1 v1.5 signature is deterministic: the same key and subject give the same CSR bytes.)
	if !publicKeyEqual(parseCSR(t, again).PublicKey, parseCSR(t, csr).PublicKey) {
		t.Fatal("get-ca-csr gave a CSR for another key")
	}
	if err := os.WriteFile(filepath.Join(dir, "intermediate.csr"), []byte(again+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runPart(t, dir, "openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -CAcreateserial -days 150 -sha256 -extfile intermediate.ext -out renewed.pem\n"+
		`printf 'certificate: |\n%s\nchain: |\n%s\n' "$(sed 's/^/  /' renewed.pem)" "$(sed 's/^/  /' root.pem)" >renewed.yaml`)
	n := len(leader.Hooks())
	setFromParams(filepath.Join(dir, "renewed.yaml"))
	renewed := parseCert(t, readFileT(t, filepath.Join(dir, "renewed.pem")))
	o, f := rotateTo(t, "renewal", s, authority, rels, keys, renewed)
	ok, failed = ok+o, failed+f
	by := renewed.NotAfter.Add(-90 * 24 * time.Hour).UTC().Format("2006-01-02")
	if st := leader.Status(); st.Status != "active" || !strings.Contains(st.Message, "renew the CA before "+by+" (get-ca-csr, sign it with the offline root, set-ca-certificate)") {
		t.Fatalf("status %v: no renewal warning", st)
	}
	var warned []string
	for _, h := range leader.Hooks()[n:] {
		for _, l := range h.Logs {
			if strings.Contains(l, "this charm cannot renew it") {
				warned = append(warned, l)
			}
		}
	}
	if len(warned) != 1 {
		t.Fatalf("want one renewal log line today, got %q", warned)
	}
	noFailedHooks(t, authority)
	t.Logf("handshakes: %d, failed %d", ok, failed)
	if failed != 0 {
		t.Fatalf("%d failed handshakes", failed)
	}
}

// longOfflineChain signs csr's key as a CA under a root and n intermediates (ECDSA, with twenty long
// organizational units in each name: about 4 KiB of PEM a certificate, 5.4 KiB base64), and returns its
// certificate and the chain up to the root.
func longOfflineChain(t *testing.T, csr *x509.CertificateRequest, n int) (certPEM, chainPEM string) {
	t.Helper()
	var units []string
	for i := range 20 {
		units = append(units, fmt.Sprintf("Unit %02d %s", i, strings.Repeat("u", 52)))
	}
	long := func(c *x509.Certificate) { c.Subject.OrganizationalUnit = units }
	parent := makeCA(t, "Long Chain Root", nil, false, long)
	chain := []string{parent.pem}
	for i := range n {
		parent = makeCA(t, fmt.Sprintf("Long Chain Intermediate %d", i+1), parent, false, long)
		chain = append([]string{parent.pem}, chain...)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: csr.Subject.CommonName, OrganizationalUnit: units},
		NotBefore: parent.cert.NotBefore, NotAfter: parent.cert.NotAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.cert, csr.PublicKey, parent.key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))), strings.Join(chain, "\n")
}
