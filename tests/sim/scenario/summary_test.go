package scenario_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

// newCert makes a certificate for cn, self-signed when parent is nil.
func newCert(t *testing.T, cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{cn}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestCertificateTable: certificate steps record what an action returns (certificate and chain, or ca-certificate
// and ca-chain); the summary names each one's issuer and root by the holders that recorded them and runs openssl
// verify on it, through an intermediate with -untrusted. A certificate under a root nobody recorded fails, as a
// certificate openssl does not verify would. Steps come from an included file, with paths relative to it; long
// transcript lines are cut.
func TestCertificateTable(t *testing.T) {
	dir := t.TempDir()
	root, rootKey, rootPEM := newCert(t, "root", true, nil, nil)
	inter, interKey, interPEM := newCert(t, "inter", true, root, rootKey)
	_, _, leafPEM := newCert(t, "leaf.example", false, inter, interKey)
	other, otherKey, _ := newCert(t, "other-root", true, nil, nil)
	_, _, strayPEM := newCert(t, "stray.example", false, other, otherKey)
	files := map[string]string{"root.pem": rootPEM, "inter.pem": interPEM, "inter-chain.pem": interPEM + rootPEM,
		"leaf.pem": leafPEM, "chain.pem": leafPEM + interPEM + rootPEM, "stray.pem": strayPEM}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set := func(keys ...string) string {
		var b strings.Builder
		b.WriteString("action-set")
		for i := 0; i < len(keys); i += 2 {
			b.WriteString(" " + keys[i] + "=\"$(cat " + filepath.Join(dir, keys[i+1]) + ")\"")
		}
		return b.String()
	}
	// The included file deploys the test charm by a path relative to itself.
	sub := filepath.Join(dir, "inc")
	os.MkdirAll(sub, 0o755)
	charmRel, err := filepath.Rel(sub, filepath.Join(scenariosDir(), "..", "testcharm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sub, "deploy.yaml"), []byte("steps:\n  - model: m\n  - deploy: {app: a, charm: "+charmRel+"}\n"), 0o644)
	scen := `name: table
containers: false
steps:
  - include: inc/deploy.yaml
  - certificate: {unit: a/0, action: run, params: {cmd: '` + set("ca-certificate", "root.pem") + `'}, holder: the-root, mode: CA}
  - certificate: {unit: a/0, action: run, params: {cmd: '` + set("ca-certificate", "inter.pem", "ca-chain", "inter-chain.pem") + `'}, holder: the-inter, mode: CA}
  - certificate: {unit: a/0, action: run, params: {cmd: '` + set("certificate", "leaf.pem", "chain", "chain.pem") + `'}, mode: unit}
  - certificate: {unit: a/0, action: run, params: {cmd: '` + set("certificate", "stray.pem") + `'}, holder: stray, mode: app}
  - action: {unit: a/0, name: echo, params: {message: '` + strings.Repeat("x", 500) + `'}, expect: {results-contain: {message: xxx}}}
`
	f := filepath.Join(dir, "s.yaml")
	os.WriteFile(f, []byte(scen), 0o644)
	sc, err := scenario.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := scenario.Run(context.Background(), sc, &scenario.Options{Dir: filepath.Join(dir, "w"), BinDir: binDir(), Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []scenario.CertificateRow{
		{Holder: "the-root", Mode: "CA", Names: "CN=root", Issuer: "the-root", Root: "the-root", Verified: "OK", OK: true},
		{Holder: "the-inter", Mode: "CA", Names: "CN=inter", Issuer: "the-root", Root: "the-root", Verified: "OK", OK: true},
		{Holder: "a/0", Mode: "unit", Names: "leaf.example", Issuer: "the-inter", Root: "the-root", Verified: "OK (-untrusted: 1)", OK: true},
	}
	if len(res.Certificates) != 4 {
		t.Fatalf("rows %+v, want 4", res.Certificates)
	}
	for i, w := range want {
		if res.Certificates[i] != w {
			t.Errorf("row %d = %+v, want %+v", i, res.Certificates[i], w)
		}
	}
	if s := res.Certificates[3]; s.OK || s.Root != "none" || s.Issuer != "CN=other-root" || !strings.Contains(s.Verified, "chains to no recorded root") {
		t.Errorf("stray row = %+v, want a failure: no recorded root", s)
	}
	if res.Failed != 1 {
		t.Errorf("%d failed, want 1 (the stray certificate): %v", res.Failed, res.Failures)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if len(l) > 260 {
			t.Errorf("transcript line of %d bytes: %.80s...", len(l), l)
		}
	}
	if !strings.Contains(out.String(), "HOLDER") || !strings.Contains(out.String(), "more bytes)") {
		t.Errorf("no table or no cut line in the transcript")
	}
}

// TestIncludeLoops: a file that includes itself is refused at load time.
func TestIncludeLoops(t *testing.T) {
	f := filepath.Join(t.TempDir(), "loop.yaml")
	os.WriteFile(f, []byte("steps:\n  - include: loop.yaml\n"), 0o644)
	if _, err := scenario.Load(f); err == nil || !strings.Contains(err.Error(), "nested includes") {
		t.Fatalf("err = %v, want nested includes", err)
	}
}

// TestActionHandshakes: an action step with a handshake label is a row of the handshake table (from the unit's
// charm container, trusting its trust store unless told), OK when it went as expected, a refusal when it was
// expected to fail; "{{address <model> <unit>}}" in its params becomes that unit's address, and an unknown unit
// there fails the step.
func TestActionHandshakes(t *testing.T) {
	dir := t.TempDir()
	charm := filepath.Join(scenariosDir(), "..", "testcharm")
	f := filepath.Join(dir, "s.yaml")
	os.WriteFile(f, []byte(`name: action-handshakes
containers: false
steps:
  - model: m
  - deploy: {app: a, charm: `+charm+`}
  - action: {unit: a/0, name: run, params: {cmd: 'action-set got="to {{address m a/0}}"'}, handshake: "a-0 from its charm", expect: {results-contain: {got: "to 127."}}}
  - action: {unit: a/0, name: run, params: {cmd: 'action-fail "tls: unknown authority"'}, handshake: "a-0 untrusted", trusting: nothing, expect: {status: failed}}
  - action: {unit: a/0, name: run, params: {cmd: 'action-set got=x'}, handshake: "a-0 wrong answer", expect: {results-contain: {got: "y"}}}
`), 0o644)
	sc, err := scenario.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := scenario.Run(context.Background(), sc, &scenario.Options{Dir: filepath.Join(dir, "w"), BinDir: binDir(), Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []scenario.HandshakeRow{
		{From: "a/0 (charm)", To: "a-0 from its charm", Trusting: "charm container's trust store", Result: "completed: to 127.", OK: true},
		{From: "a/0 (charm)", To: "a-0 untrusted", Trusting: "nothing", Result: "failed: tls: unknown authority", OK: true, ExpectFail: true},
		{From: "a/0 (charm)", To: "a-0 wrong answer", Trusting: "charm container's trust store", Result: "completed", OK: false},
	}
	if len(res.Handshakes) != len(want) {
		t.Fatalf("handshakes %+v, want %d", res.Handshakes, len(want))
	}
	for i, w := range want {
		if res.Handshakes[i] != w {
			t.Errorf("handshake %d = %+v, want %+v", i, res.Handshakes[i], w)
		}
	}
	if res.Failed != 1 {
		t.Errorf("%d failed, want 1 (the wrong answer): %v", res.Failed, res.Failures)
	}

	os.WriteFile(f, []byte(`name: unknown-unit
containers: false
steps:
  - model: m
  - deploy: {app: a, charm: `+charm+`}
  - action: {unit: a/0, name: run, params: {cmd: 'echo {{address m b/0}}'}}
`), 0o644)
	if sc, err = scenario.Load(f); err != nil {
		t.Fatal(err)
	}
	_, err = scenario.Run(context.Background(), sc, &scenario.Options{Dir: filepath.Join(dir, "w2"), BinDir: binDir(), Out: &out})
	if err == nil || !strings.Contains(err.Error(), `unit "b/0" not found`) {
		t.Errorf("err = %v, want the unknown unit named", err)
	}
}
