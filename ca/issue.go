package ca

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// IssueOptions are the parts of a certificate that come from the authority,
// not from the CSR.
type IssueOptions struct {
	// Validity is how long the certificate lasts; it is clipped to the CA's
	// own expiry.
	Validity time.Duration
	// IsCA is the requirer's "ca" flag: BasicConstraints cA is exactly this.
	IsCA bool
	// Policy, required when IsCA, is what the CA certificate is constrained
	// to: its path length (CAMaxPathLen) and critical name constraints
	// derived from the policy, so the requirer's CA cannot sign what this
	// authority would refuse.
	Policy *Policy
	// CRLDistributionPoint, when set, is the URL the certificate names for
	// its CRL (the workload agent's /crl).
	CRLDistributionPoint string
	// Now is the issuing time.
	Now time.Time
}

// Issue signs a certificate for csr. Subject and SANs (DNS, IP, URI, email)
// come from the CSR, everything else from the authority: no requested
// extension is copied, so a requirer cannot ask for key usages or name
// constraints of its own. Callers check the policy first. A CA certificate
// (o.IsCA) is bound to o.Policy: its pathLenConstraint is CAMaxPathLen and it
// carries the policy's NameConstraints, critical.
func (a *Authority) Issue(csr *x509.CertificateRequest, o IssueOptions) (*x509.Certificate, error) {
	if csr == nil {
		return nil, errors.New("cannot issue certificate: no CSR")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("cannot issue certificate: CSR signature does not verify: %w", err)
	}
	return a.issue(csr, o)
}

// IssueVetted is Issue for a CSR Policy.Vet passed: its signature is not verified a second time.
func (a *Authority) IssueVetted(v *Vetted, o IssueOptions) (*x509.Certificate, error) {
	if v == nil || v.csr == nil {
		return nil, errors.New("cannot issue certificate: no CSR")
	}
	return a.issue(v.csr, o)
}

func (a *Authority) issue(csr *x509.CertificateRequest, o IssueOptions) (*x509.Certificate, error) {
	if a == nil || a.Certificate == nil || a.Key == nil {
		return nil, errors.New("cannot issue certificate: authority has no certificate or key")
	}
	if o.Validity <= 0 {
		return nil, fmt.Errorf("cannot issue certificate: validity %v is not positive", o.Validity)
	}
	if o.IsCA {
		// An unconstrained CA signed for a requirer could sign any name,
		// trusted by everyone who trusts this authority.
		if o.Policy == nil {
			return nil, errors.New("cannot issue a CA certificate without a policy")
		}
		if o.Policy.CAMaxPathLen < 0 {
			return nil, fmt.Errorf("cannot issue a CA certificate: path length %d is negative", o.Policy.CAMaxPathLen)
		}
	}
	notBefore := o.Now.Add(-clockSkew)
	notAfter := o.Now.Add(o.Validity)
	if notAfter.After(a.Certificate.NotAfter) {
		notAfter = a.Certificate.NotAfter
	}
	if !notAfter.After(o.Now) {
		return nil, fmt.Errorf("cannot issue certificate: CA certificate expired at %s", a.Certificate.NotAfter.UTC().Format(time.RFC3339))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("cannot issue certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// RawSubject keeps the subject byte for byte, attributes pkix.Name
		// cannot round-trip included (the Python libraries put a UUID,
		// x500UniqueIdentifier, next to the CN).
		RawSubject:            csr.RawSubject,
		Subject:               csr.Subject,
		DNSNames:              csr.DNSNames,
		IPAddresses:           csr.IPAddresses,
		URIs:                  csr.URIs,
		EmailAddresses:        csr.EmailAddresses,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		// AuthorityKeyId defaults to the parent's SubjectKeyId.
	}
	if o.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.MaxPathLen = o.Policy.CAMaxPathLen
		tmpl.MaxPathLenZero = o.Policy.CAMaxPathLen == 0
		o.Policy.NameConstraints().apply(tmpl)
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
			// RSA key exchange (TLS 1.2 without ECDHE) encrypts with the
			// certificate's key.
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if o.CRLDistributionPoint != "" {
		tmpl.CRLDistributionPoints = []string{o.CRLDistributionPoint}
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("cannot issue certificate: %w", err)
	}
	cert, err := createCertificate(tmpl, a.Certificate, csr.PublicKey, a.Key)
	if err != nil {
		return nil, fmt.Errorf("cannot issue certificate: %w", err)
	}
	return cert, nil
}
