package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// requirerCharm is the scripted tls-certificates requirer (tests/e2e/testdata/requirer): its publish action
// relation-sets what a test gives it, byte for byte.
const requirerCharm = "testdata/requirer"

func deployRequirer(t testing.TB, m *sim.Model, name string, units int) *sim.App {
	t.Helper()
	app, err := m.Deploy(name, requirerCharm, &sim.DeployOptions{Units: units})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func integrate(t testing.TB, m *sim.Model, a, b string) *sim.Relation {
	t.Helper()
	r, err := m.Integrate(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// publish writes data (key -> value; "" deletes) into u's unit databag, or its app databag when app is set, on
// relation rel ("" = the unit's first certificates relation).
func publish(t testing.TB, u *sim.Unit, rel string, app bool, data map[string]string) {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{"data": string(b), "app": app}
	if rel != "" {
		params["relation"] = rel
	}
	action(t, u, "publish", params)
}

// publishCSRs writes reqs as certificate_signing_requests the way the Python requirer does.
func publishCSRs(t testing.TB, u *sim.Unit, app bool, reqs ...tlscertificates.CSRRequest) {
	t.Helper()
	publish(t, u, "", app, map[string]string{tlscertificates.KeyCSRs: tlscertificates.WriteRequests(reqs)})
}

func rsaKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCSR returns a PEM CSR as the Python cryptography library prints it (no trailing newline). Names that parse
// as IP addresses become IP SANs, the others DNS SANs.
func newCSR(t testing.TB, key crypto.Signer, cn string, sans ...string) string {
	t.Helper()
	tpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
		} else {
			tpl.DNSNames = append(tpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "\n")
}

func req(csr string, isCA bool) tlscertificates.CSRRequest {
	return tlscertificates.CSRRequest{CSR: csr, CA: isCA}
}

// issuedBag reads the authority's app databag on r and fails on anything a Python requirer could not read.
func issuedBag(t testing.TB, r *sim.Relation, authority string) ([]tlscertificates.ProviderCertificate, []tlscertificates.RequestError, map[string]string) {
	t.Helper()
	bag := r.AppData(authority)
	certs, errs, _, problems := tlscertificates.ReadProviderBag(bag)
	if len(problems) > 0 {
		t.Fatalf("relation %v: the authority's databag has problems: %v", r.Endpoints(), problems)
	}
	return certs, errs, bag
}

// caOf returns the CA certificate PEM the authority publishes through get-ca-certificate.
func caOf(t testing.TB, app *sim.App) string {
	t.Helper()
	return action(t, app.Leader(), "get-ca-certificate", nil).Results["ca-certificate"].(string)
}

// checkIssued checks the one entry for csr: the certificate's key is the CSR's, cA is as requested, Go and
// openssl verify it against caPEM, and the chain is leaf first and ends with the CA.
func checkIssued(t testing.TB, certs []tlscertificates.ProviderCertificate, csr string, isCA bool, caPEM, caFile string) tlscertificates.ProviderCertificate {
	t.Helper()
	var found []tlscertificates.ProviderCertificate
	for _, c := range certs {
		if c.CSR == strings.TrimSpace(csr) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d entries for the CSR of %q, want 1", len(found), csrSubject(t, csr))
	}
	e := found[0]
	if e.Revoked {
		t.Fatalf("entry for %q is revoked", csrSubject(t, csr))
	}
	cert := parseCert(t, e.Certificate)
	cr := parseCSR(t, csr)
	if !publicKeyEqual(cert.PublicKey, cr.PublicKey) {
		t.Fatalf("certificate for %q has another public key than its CSR", cr.Subject)
	}
	if cert.IsCA != isCA || !cert.BasicConstraintsValid {
		t.Fatalf("certificate for %q: IsCA %v (BasicConstraintsValid %v), requested ca %v", cr.Subject, cert.IsCA, cert.BasicConstraintsValid, isCA)
	}
	if cert.Subject.CommonName != cr.Subject.CommonName {
		t.Fatalf("certificate CN %q, CSR CN %q", cert.Subject.CommonName, cr.Subject.CommonName)
	}
	if e.CA != caPEM {
		t.Fatalf("entry ca is not the published CA:\n%s\nwant\n%s", e.CA, caPEM)
	}
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, caPEM))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("x509.Verify of the certificate for %q: %v", cr.Subject, err)
	}
	if out := openssl(t, e.Certificate, "verify", "-CAfile", caFile); !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
	if len(e.Chain) < 2 || e.Chain[0] != e.Certificate || e.Chain[len(e.Chain)-1] != caPEM {
		t.Fatalf("chain of %q is not [leaf, ..., CA]: %d elements, leaf first %v, CA last %v", cr.Subject, len(e.Chain),
			len(e.Chain) > 0 && e.Chain[0] == e.Certificate, len(e.Chain) > 0 && e.Chain[len(e.Chain)-1] == caPEM)
	}
	for _, p := range append([]string{e.CA, e.Certificate}, e.Chain...) {
		if strings.HasSuffix(p, "\n") {
			t.Fatalf("a PEM in the entry for %q ends with a newline (Python's do not)", cr.Subject)
		}
	}
	return e
}

func parseCSR(t testing.TB, s string) *x509.CertificateRequest {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %.80q", s)
		return nil // Fatalf does not return; staticcheck cannot see it through testing.TB
	}
	c, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func csrSubject(t testing.TB, s string) string { return parseCSR(t, s).Subject.String() }

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var jsonString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"(\s*:)?`)

// skeleton replaces every JSON string value by "S", keeping keys, separators and spacing: the shape of a
// databag value, byte for byte.
func skeleton(s string) string {
	return jsonString.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasSuffix(m, ":") {
			return m
		}
		return `"S"`
	})
}

// fixtureEntrySkeleton is the skeleton of one certificates entry written by the Python v4 provider (fixture
// tls-v4p30-provider-issued.json, two entries of the same shape).
func fixtureEntrySkeleton(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("/work/shared/fixtures/tls-v4p30-provider-issued.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Databags struct {
			App  map[string]string `json:"app"`
			Unit map[string]string `json:"unit"`
		} `json:"databags"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	sk := skeleton(f.Databags.App["certificates"])
	inner := strings.TrimSuffix(strings.TrimPrefix(sk, "["), "]")
	half := (len(inner) - len(", ")) / 2
	e := inner[:half]
	if inner != e+", "+e {
		t.Fatalf("fixture skeleton is not two equal entries: %s", sk)
	}
	if e != `{"ca": "S", "certificate_signing_request": "S", "certificate": "S", "chain": ["S", "S"]}` {
		t.Fatalf("unexpected fixture entry shape %s", e)
	}
	return e
}

// checkShape checks the certificates value is, byte for byte apart from string contents, what the Python
// provider writes for n entries.
func checkShape(t testing.TB, value string, n int, entry string) {
	t.Helper()
	want := "[" + strings.TrimSuffix(strings.Repeat(entry+", ", n), ", ") + "]"
	if n == 0 {
		want = ""
	}
	if got := skeleton(value); got != want {
		t.Fatalf("certificates shape:\n got %s\nwant %s", got, want)
	}
}

// issuedCount parses "issued N" from an Active status.
func issuedCount(t testing.TB, u *sim.Unit) int {
	t.Helper()
	st := u.Status()
	m := regexp.MustCompile(`^issued (\d+), outstanding (\d+), CA expires `).FindStringSubmatch(st.Message)
	if st.Status != "active" || m == nil {
		t.Fatalf("%s status = %v, want active with the issued summary", u.Name(), st)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func outstandingCount(t testing.TB, u *sim.Unit) int {
	t.Helper()
	st := u.Status()
	m := regexp.MustCompile(`^issued (\d+), outstanding (\d+), CA expires `).FindStringSubmatch(st.Message)
	if st.Status != "active" || m == nil {
		t.Fatalf("%s status = %v, want active with the issued summary", u.Name(), st)
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

// noFailedHooks fails when any hook or action of app's units ended in error.
func noFailedHooks(t testing.TB, app *sim.App) {
	t.Helper()
	for _, u := range app.Units() {
		for _, h := range u.Hooks() {
			if h.ExitCode != 0 || h.Killed {
				t.Errorf("%s: %s %s exited %d (killed %v): %s", u.Name(), h.Kind, h.Name, h.ExitCode, h.Killed, h.Stderr)
			}
		}
		if st := u.AgentStatus(); st.Status == "error" {
			t.Errorf("%s agent status %v", u.Name(), st)
		}
	}
}
