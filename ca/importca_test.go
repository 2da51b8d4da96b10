package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
)

func importCert(t *testing.T, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if edit != nil {
		edit(tmpl)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestCheckImport: what a CA brought by the operator is held to, each refusal an *ImportError naming the problem.
func TestCheckImport(t *testing.T) {
	now := time.Now()
	rootKey, interKey := testKey(t, ca.ECDSAP256), testKey(t, ca.Ed25519)
	root := importCert(t, "Root", rootKey, nil, nil, nil)
	inter := importCert(t, "Issuing", interKey, root, rootKey, nil)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rows := []struct {
		name         string
		cert         *x509.Certificate
		key          crypto.Signer
		chain        string
		want         string // "" accepted
		wantChainLen int
	}{
		{"a root", root, rootKey, "", "", 0},
		{"an Ed25519 intermediate with its root", inter, interKey, ca.EncodeCertificate(root), "", 1},
		{"a root repeated at the head of its chain", root, rootKey, ca.EncodeCertificate(root), "", 0},
		{"the intermediate with no chain", inter, interKey, "", `the chain up to the root is missing: "Issuing" is issued by "Root"`, 0},
		{"another key", root, interKey, "", "the private key does not match the certificate", 0},
		{"P-224", importCert(t, "P-224", p224, nil, nil, nil), p224, "", "the key is ECDSA on P-224", 0},
		{"not yet valid", importCert(t, "Later", rootKey, nil, nil, func(c *x509.Certificate) { c.NotBefore = now.Add(time.Hour) }), rootKey, "", `"Later" is not valid before`, 0},
		{"a chain with junk", inter, interKey, ca.EncodeCertificate(root) + "\njunk", "the chain is not PEM certificates only", 0},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			im, err := ca.CheckImport(ca.EncodeCertificate(row.cert), row.key, row.chain, ca.ImportOptions{Now: now, MinValidity: 90 * 24 * time.Hour})
			if row.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(im.Chain) != row.wantChainLen {
					t.Fatalf("chain of %d, want %d", len(im.Chain), row.wantChainLen)
				}
				return
			}
			var ie *ca.ImportError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), row.want) {
				t.Fatalf("got %v, want an ImportError with %q", err, row.want)
			}
		})
	}
}

// TestParseImportKey: one unencrypted PEM private key of a supported type; the refusals never quote the input.
func TestParseImportKey(t *testing.T) {
	good, err := ca.EncodePrivateKey(testKey(t, ca.ECDSAP256))
	if err != nil {
		t.Fatal(err)
	}
	legacyEncrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----"
	for _, row := range []struct{ name, in, want string }{
		{"good", good, ""},
		{"two", good + "\n" + good, "holds 2 PEM private keys"},
		{"legacy encrypted", legacyEncrypted, "is encrypted"},
		{"PKCS #8 encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----", "is encrypted"},
		{"a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a PEM private key"},
		{"broken body", "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0g=\n-----END PRIVATE KEY-----", "not a valid PKCS #8, PKCS #1 or SEC 1 key"},
	} {
		t.Run(row.name, func(t *testing.T) {
			_, err := ca.ParseImportKey(row.in)
			if row.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), row.want) || strings.Contains(err.Error(), "QUJD") || strings.Contains(err.Error(), "AAAA") {
				t.Fatalf("got %v, want %q and no input", err, row.want)
			}
		})
	}
}
