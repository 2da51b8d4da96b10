// Package ca holds the certificate authority's cryptography: key generation,
// self-signed roots, CSR parsing, the name and key policy every request is
// held to (Policy.Check and Vet: the refusal codes a requirer reads), issuing
// (a CA certificate signed for a requirer bound to that policy by its path
// length and critical name constraints) and CRLs, built on go.step.sm/crypto.
// It knows nothing about Juju: callers pass in the time, the policy and the
// validity, so every function here is deterministic apart from key and serial
// randomness, and testable without a model.
package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// clockSkew is how far before "now" every certificate and CRL starts, so a
// peer whose clock lags a little behind ours still accepts it.
const clockSkew = time.Minute

// Subject is the distinguished name of a CA, with the fields the charm's
// ca-* config options set. Empty fields are left out of the name.
type Subject struct {
	CommonName         string
	Organization       string
	OrganizationalUnit string
	EmailAddress       string
	Country            string
	Province           string
	Locality           string
}

// oidEmailAddress is PKCS #9 emailAddress, which pkix.Name has no field for;
// the Python charm puts ca-email-address there too.
var oidEmailAddress = []int{1, 2, 840, 113549, 1, 9, 1}

// Name returns the subject as a pkix.Name.
func (s Subject) Name() pkix.Name {
	var n pkix.Name
	n.CommonName = s.CommonName
	add := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	add(&n.Organization, s.Organization)
	add(&n.OrganizationalUnit, s.OrganizationalUnit)
	add(&n.Country, s.Country)
	add(&n.Province, s.Province)
	add(&n.Locality, s.Locality)
	if s.EmailAddress != "" {
		n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oidEmailAddress, Value: s.EmailAddress})
	}
	return n
}

// Authority is a CA able to sign: its certificate, its private key and the
// chain of issuers above it (empty for a self-signed root; in intermediate
// mode, the parent's chain up to and including its root).
type Authority struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
	Chain       []*x509.Certificate
}

// ChainPEMs returns the chain that goes with a certificate the authority
// issued, as tls-certificates' "chain" wants it: leaf first, then this CA,
// then the issuers above it up to the root, each as PEM.
func (a *Authority) ChainPEMs(leaf *x509.Certificate) []string {
	out := []string{EncodeCertificate(leaf), EncodeCertificate(a.Certificate)}
	for _, c := range a.Chain {
		out = append(out, EncodeCertificate(c))
	}
	return out
}

// Root returns the trust anchor above the authority: the last certificate of
// its chain, or its own certificate when it is a root.
func (a *Authority) Root() *x509.Certificate {
	if len(a.Chain) > 0 {
		return a.Chain[len(a.Chain)-1]
	}
	return a.Certificate
}

// newSerial returns a random positive 128-bit serial number. It is never
// zero, which RFC 5280 forbids.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("cannot generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// NewRoot creates a self-signed root CA certificate for key: cA true,
// keyCertSign and cRLSign, a subject key identifier, a random 128-bit serial,
// valid from now-1m for validity. maxPathLen bounds the CA certificates that
// may chain below it (RFC 5280 pathLenConstraint): 1 leaves room for one
// requirer CA (an intermediate authority) that itself signs only leaves, and
// no more; 0 lets the root sign leaves only.
func NewRoot(key crypto.Signer, subj Subject, validity time.Duration, now time.Time, maxPathLen int) (*x509.Certificate, error) {
	if key == nil {
		return nil, fmt.Errorf("cannot create root certificate: no key")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("cannot create root certificate: validity %v is not positive", validity)
	}
	if subj.CommonName == "" {
		return nil, fmt.Errorf("cannot create root certificate: empty common name")
	}
	if maxPathLen < 0 {
		return nil, fmt.Errorf("cannot create root certificate: path length %d is negative", maxPathLen)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("cannot create root certificate: %w", err)
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("cannot create root certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subj.Name(),
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          skid,
	}
	cert, err := createCertificate(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("cannot create root certificate: %w", err)
	}
	return cert, nil
}

// NewCACSR creates the certificate signing request an intermediate authority
// sends to its parent. The CSR carries only the subject: over tls-certificates
// a CA request is signalled by the databag's "ca" flag, not by an extension.
func NewCACSR(key crypto.Signer, subj Subject) (*x509.CertificateRequest, error) {
	if key == nil {
		return nil, fmt.Errorf("cannot create CA certificate request: no key")
	}
	if subj.CommonName == "" {
		return nil, fmt.Errorf("cannot create CA certificate request: empty common name")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj.Name()}, key)
	if err != nil {
		return nil, fmt.Errorf("cannot create CA certificate request: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("cannot create CA certificate request: %w", err)
	}
	return csr, nil
}
