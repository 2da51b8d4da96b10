package ca_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
)

// keys caches one key per algorithm for the whole test binary: RSA-4096
// generation alone takes seconds, and no test depends on a key being fresh.
var (
	keysMu sync.Mutex
	keys   = map[ca.Algorithm]crypto.Signer{}
)

func testKey(t testing.TB, a ca.Algorithm) crypto.Signer {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[a]; ok {
		return k
	}
	k, err := ca.GenerateKey(a)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", a, err)
	}
	keys[a] = k
	return k
}

type csrSpec struct {
	cn     string
	dns    []string
	ips    []string
	uris   []string
	emails []string
	extra  []pkix.AttributeTypeAndValue
}

func makeCSR(t testing.TB, key crypto.Signer, s csrSpec) (*x509.CertificateRequest, string) {
	t.Helper()
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: s.cn, ExtraNames: s.extra},
		DNSNames:       s.dns,
		EmailAddresses: s.emails,
	}
	for _, ip := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range s.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr, strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "\n")
}

// openssl runs the openssl binary; tests that need it are skipped where it
// is not installed rather than failing for the wrong reason.
func openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
