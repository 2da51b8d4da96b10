package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"go.step.sm/crypto/pemutil"
)

// The PEM helpers write PEM the way Python's cryptography library prints it
// and the charm libraries store it: 64-column base64, "\n" line ends and no
// trailing newline. Requirers written in Python compare these strings, so the
// exact bytes matter.

func encodePEM(typ string, der []byte) string {
	return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})), "\n")
}

// EncodeCertificate returns cert as a PEM string without a trailing newline.
func EncodeCertificate(cert *x509.Certificate) string {
	return encodePEM("CERTIFICATE", cert.Raw)
}

// EncodeCertificates returns certs as concatenated PEM blocks separated by a
// newline, without a trailing newline.
func EncodeCertificates(certs []*x509.Certificate) string {
	parts := make([]string, len(certs))
	for i, c := range certs {
		parts[i] = EncodeCertificate(c)
	}
	return strings.Join(parts, "\n")
}

// EncodeCertificateRequest returns csr as a PEM string without a trailing
// newline.
func EncodeCertificateRequest(csr *x509.CertificateRequest) string {
	return encodePEM("CERTIFICATE REQUEST", csr.Raw)
}

// EncodeCRL returns a DER CRL as a PEM "X509 CRL" string without a trailing
// newline.
func EncodeCRL(der []byte) string {
	return encodePEM("X509 CRL", der)
}

// EncodePrivateKey returns key as an unencrypted PKCS #8 PEM string without a
// trailing newline. PKCS #8 is the one format that holds every algorithm we
// generate.
func EncodePrivateKey(key crypto.Signer) (string, error) {
	if key == nil {
		return "", errors.New("cannot encode private key: no key")
	}
	block, err := pemutil.Serialize(key, pemutil.WithPKCS8(true))
	if err != nil {
		return "", fmt.Errorf("cannot encode private key: %w", err)
	}
	return strings.TrimSuffix(string(pem.EncodeToMemory(block)), "\n"), nil
}

// ParsePrivateKey parses an unencrypted PEM private key (PKCS #8, PKCS #1 or
// SEC 1) and returns it as a signer.
func ParsePrivateKey(s string) (crypto.Signer, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return nil, errors.New("cannot parse private key: no PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("cannot parse private key: data after the PEM block")
	}
	if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("cannot parse private key: PEM block is %q", block.Type)
	}
	key, err := pemutil.ParseKey(pem.EncodeToMemory(block))
	if err != nil {
		return nil, fmt.Errorf("cannot parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("cannot parse private key: %T is not a signing key", key)
	}
	return signer, nil
}

// ParseCertificates parses one or more PEM certificates. Anything other than
// CERTIFICATE blocks and whitespace is an error: a bundle that half parses is
// more dangerous than one that does not.
func ParseCertificates(s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(strings.TrimSpace(s))
	for len(rest) > 0 {
		// pem.Decode skips any text before a BEGIN line; a bundle with junk
		// between its blocks is refused instead.
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, errors.New("cannot parse certificates: data that is not PEM")
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("cannot parse certificates: malformed PEM block")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("cannot parse certificates: PEM block %d is %q", len(certs)+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, errors.New("cannot parse certificates: no PEM certificate")
	}
	return certs, nil
}

// ParseCertificate parses exactly one PEM certificate.
func ParseCertificate(s string) (*x509.Certificate, error) {
	certs, err := ParseCertificates(s)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("cannot parse certificate: want one PEM certificate, got %d", len(certs))
	}
	return certs[0], nil
}
