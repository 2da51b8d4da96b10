package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// ImportError is why a CA brought by the operator (an imported CA, or the certificate an offline root signed) cannot
// be used. Its message names the problem and never quotes the material: it goes to a status line and a log.
type ImportError struct{ Reason string }

func (e *ImportError) Error() string { return e.Reason }

func importErrorf(format string, args ...any) error {
	return &ImportError{Reason: fmt.Sprintf(format, args...)}
}

// ImportOptions are what an imported CA is held to.
type ImportOptions struct {
	Now time.Time
	// MinValidity is how long the CA must still be valid: one certificate validity, so that it can sign a
	// certificate of full length.
	MinValidity time.Duration
}

// Imported is a CA brought by the operator, checked: its certificate, its key, and its issuers up to the root
// (none for a root).
type Imported struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
	Chain       []*x509.Certificate
}

// CertificatePEM, KeyPEM and ChainPEMs are the material in this package's encoding (PKCS #8 for the key).
func (im *Imported) CertificatePEM() string { return EncodeCertificate(im.Certificate) }

// KeyPEM is the key as PKCS #8 PEM.
func (im *Imported) KeyPEM() (string, error) { return EncodePrivateKey(im.Key) }

// ChainPEMs are the issuers, each as PEM, the root last.
func (im *Imported) ChainPEMs() []string {
	out := make([]string, len(im.Chain))
	for i, c := range im.Chain {
		out[i] = EncodeCertificate(c)
	}
	return out
}

// ParseImportKey reads the private key of an imported CA: exactly one unencrypted PEM private key (PKCS #8, PKCS #1
// or SEC 1) of a supported type. Its errors are *ImportError.
func ParseImportKey(keyPEM string) (crypto.Signer, error) {
	rest := []byte(strings.TrimSpace(keyPEM))
	var keys []*pem.Block
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			keys = append(keys, b)
		}
	}
	switch {
	case len(keys) == 0:
		return nil, importErrorf("the private key is not a PEM private key")
	case len(keys) > 1:
		return nil, importErrorf("the private key holds %d PEM private keys, want one", len(keys))
	}
	b := keys[0]
	if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, importErrorf("the private key is encrypted: import it unencrypted (the Juju secret protects it)")
	}
	key, err := ParsePrivateKey(string(pem.EncodeToMemory(b)))
	if err != nil {
		// The parser's own message may describe the bytes it met; the status says what matters.
		return nil, importErrorf("the private key is not a valid PKCS #8, PKCS #1 or SEC 1 key")
	}
	if err := supportedKey(key.Public()); err != nil {
		return nil, err
	}
	return key, nil
}

// supportedKey is the CA key types this charm signs with: RSA of 2048 bits or more, ECDSA on P-256, P-384 or P-521,
// Ed25519.
func supportedKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return importErrorf("the key is RSA of %d bits: at least 2048 are needed", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return importErrorf("the key is ECDSA on %s: P-256, P-384 or P-521 are supported", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return importErrorf("the key type %T is not supported (RSA, ECDSA or Ed25519)", pub)
	}
	return nil
}

// CheckImport checks a CA brought by the operator before anything changes: one certificate, whose key is key; a
// CA (basic constraints CA:TRUE) with the keyCertSign usage; valid now and for at least MinValidity; its chain
// (issuers up to a self-signed root; none when it is a root itself) verifies; every path length on it leaves room
// for the leaves it signs; a supported key type. Its errors are *ImportError.
func CheckImport(certPEM string, key crypto.Signer, chainPEM string, o ImportOptions) (*Imported, error) {
	if strings.TrimSpace(certPEM) == "" {
		return nil, importErrorf("the certificate is missing")
	}
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, importErrorf("the certificate is not PEM certificates only")
	}
	if len(certs) != 1 {
		return nil, importErrorf("the certificate holds %d certificates, want one (its issuers go in the chain)", len(certs))
	}
	cert := certs[0]
	if err := supportedKey(cert.PublicKey); err != nil {
		return nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, importErrorf("the private key does not match the certificate")
	}
	name := fmt.Sprintf("%q", cert.Subject.CommonName)
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, importErrorf("the certificate %s is not a CA (basic constraints CA:TRUE missing): a leaf cannot sign", name)
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, importErrorf("the CA certificate %s lacks the keyCertSign key usage", name)
	}
	switch {
	case o.Now.Before(cert.NotBefore):
		return nil, importErrorf("the CA certificate %s is not valid before %s", name, cert.NotBefore.UTC().Format(time.RFC3339))
	case !o.Now.Before(cert.NotAfter):
		return nil, importErrorf("the CA certificate %s expired on %s", name, cert.NotAfter.UTC().Format(time.RFC3339))
	case cert.NotAfter.Sub(o.Now) < o.MinValidity:
		return nil, importErrorf("the CA certificate %s expires on %s, within one certificate-validity (%s)", name,
			cert.NotAfter.UTC().Format(time.RFC3339), days(o.MinValidity))
	}
	var chain []*x509.Certificate
	if strings.TrimSpace(chainPEM) != "" {
		if chain, err = ParseCertificates(chainPEM); err != nil {
			return nil, importErrorf("the chain is not PEM certificates only")
		}
	}
	// A root given in its own chain is dropped: the chain holds the issuers.
	if len(chain) > 0 && bytes.Equal(chain[0].Raw, cert.Raw) {
		chain = chain[1:]
	}
	selfSigned := func(c *x509.Certificate) bool {
		return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
	}
	root := cert
	if len(chain) > 0 {
		root = chain[len(chain)-1]
	}
	if !selfSigned(root) {
		if len(chain) == 0 {
			return nil, importErrorf("the chain up to the root is missing: %s is issued by %q", name, cert.Issuer.CommonName)
		}
		return nil, importErrorf("the chain does not end at a root (a self-signed certificate): its last is issued by %q", root.Issuer.CommonName)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[:max(0, len(chain)-1)] {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: o.Now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, importErrorf("the chain does not verify: %v", err)
	}
	// A leaf this CA signs has i CAs between it and the i-th certificate of [cert, chain...]: a path length below
	// that refuses the leaf, whatever the client.
	for i, c := range append([]*x509.Certificate{cert}, chain...) {
		if !c.IsCA {
			return nil, importErrorf("the chain holds %q, which is not a CA", c.Subject.CommonName)
		}
		if c.MaxPathLen >= 0 && c.MaxPathLen < i {
			return nil, importErrorf("the path length %d of %q leaves no room for the leaves %s signs", c.MaxPathLen, c.Subject.CommonName, name)
		}
	}
	return &Imported{Certificate: cert, Key: key, Chain: chain}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// days writes a duration as the config options do: whole days as "90d", anything else as Go prints it.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
