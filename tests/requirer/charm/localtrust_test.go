package charm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testCA(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestLocalTrust pins what the charm container's trust store holds: exactly the set, under the prefix, with
// update-ca-certificates run only on a change or a missing link, and the links of removed CAs removed.
func TestLocalTrust(t *testing.T) {
	dir, certs := t.TempDir(), t.TempDir()
	runs := filepath.Join(t.TempDir(), "runs")
	l := &localTrust{Prefix: TrustPrefix, Dir: dir, CertsDir: certs,
		Update: []string{"/bin/sh", "-c", "echo run >> " + runs}}
	ran := func() int {
		b, _ := os.ReadFile(runs)
		n := 0
		for _, c := range b {
			if c == '\n' {
				n++
			}
		}
		return n
	}
	other := filepath.Join(dir, "image-ca.crt")
	if err := os.WriteFile(other, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	ca := testCA(t, "local CA")
	for i, step := range []struct {
		cas        map[string]string
		link       bool // create the link update-ca-certificates would make before the step
		wantUpdate bool
		wantFiles  []string
	}{
		{cas: map[string]string{IssuerCAName: ca}, wantUpdate: true, wantFiles: []string{"tls-requirer-issuer-ca.crt"}},
		{cas: map[string]string{IssuerCAName: ca}, wantUpdate: true, wantFiles: []string{"tls-requirer-issuer-ca.crt"}}, // link still missing
		{cas: map[string]string{IssuerCAName: ca}, link: true, wantFiles: []string{"tls-requirer-issuer-ca.crt"}},
		{cas: map[string]string{"ext-ca-3-0": ca}, wantUpdate: true, wantFiles: []string{"tls-requirer-ext-ca-3-0.crt"}},
		{cas: nil, wantUpdate: true},
	} {
		if step.link {
			if err := os.Symlink("x", filepath.Join(certs, "tls-requirer-issuer-ca.pem")); err != nil {
				t.Fatal(err)
			}
		}
		before := ran()
		updated, err := l.Sync(step.cas)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if updated != step.wantUpdate || (ran() > before) != step.wantUpdate {
			t.Errorf("step %d: updated %v (ran %d times), want %v", i, updated, ran()-before, step.wantUpdate)
		}
		got, _ := filepath.Glob(filepath.Join(dir, TrustPrefix+"*"))
		if len(got) != len(step.wantFiles) {
			t.Errorf("step %d: files %v, want %v", i, got, step.wantFiles)
		}
		for _, f := range step.wantFiles {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("step %d: %v", i, err)
			}
		}
	}
	if links, _ := filepath.Glob(filepath.Join(certs, TrustPrefix+"*")); len(links) != 0 {
		t.Errorf("links of removed CAs left: %v", links)
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "not ours" {
		t.Errorf("a file not ours was touched: %q %v", b, err)
	}
	if _, err := l.Sync(map[string]string{"bad": "no certificate"}); err == nil {
		t.Error("a CA without a certificate was installed")
	}
}
