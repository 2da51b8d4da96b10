package tlscertificates

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tls-authority/tls-authority/ca"
)

// CertificateRequest is what a charm asks a certificate for: the subject the
// CSR carries and whether it wants a CA certificate. Two requests are the same
// when their common name, SAN sets and CA flag are equal; order and
// duplicates in the SAN lists do not matter.
type CertificateRequest struct {
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	// IsCA asks for a CA certificate. As with the Python library it is only
	// the databag's "ca" flag: the CSR carries no BasicConstraints.
	IsCA bool
}

// oidUniqueIdentifier is x500UniqueIdentifier (2.5.4.45). The Python library
// puts a random UUID there so that two CSRs for the same subject and key
// differ; the provider then tells a renewal from the request it replaces.
var (
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidUniqueIdentifier = asn1.ObjectIdentifier{2, 5, 4, 45}
)

// validate refuses requests no provider could sign.
func (r CertificateRequest) validate() error {
	if strings.TrimSpace(r.CommonName) == "" {
		return errors.New("empty common name")
	}
	// The Python library refuses a CN longer than the X.509 upper bound of
	// 64 characters; providers built on cryptography cannot sign it either.
	if len(r.CommonName) > 64 {
		return fmt.Errorf("common name %q is longer than 64 characters", r.CommonName)
	}
	for _, ip := range r.IPAddresses {
		if ip == nil {
			return errors.New("nil IP address")
		}
	}
	return nil
}

// normalized returns sorted, de-duplicated SANs so that requests compare as
// sets.
func (r CertificateRequest) normalized() (dns, ips []string) {
	dns = uniqueDNS(r.DNSNames)
	for _, ip := range r.IPAddresses {
		if s := ip.String(); !slices.Contains(ips, s) {
			ips = append(ips, s)
		}
	}
	slices.Sort(dns)
	slices.Sort(ips)
	return dns, ips
}

// matchesCSR tells whether csr asks for r's subject and SANs (the CA flag is
// in the databag, not the CSR; the caller compares it).
func (r CertificateRequest) matchesCSR(csr *x509.CertificateRequest) bool {
	return r.matchesNames(csr.Subject.CommonName, csr.DNSNames, csr.IPAddresses)
}

// matchesCertificate tells whether cert was issued for r's subject and SANs.
func (r CertificateRequest) matchesCertificate(cert *x509.Certificate) bool {
	return r.matchesNames(cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses) && cert.IsCA == r.IsCA
}

func (r CertificateRequest) matchesNames(cn string, dns []string, ips []net.IP) bool {
	if cn != r.CommonName {
		return false
	}
	wantDNS, wantIPs := r.normalized()
	gotDNS, gotIPs := CertificateRequest{DNSNames: dns, IPAddresses: ips}.normalized()
	return slices.Equal(wantDNS, gotDNS) && slices.Equal(wantIPs, gotIPs)
}

// NewCSR creates the CSR a Python requirer would for r and key: subject
// CN=<common name> followed by x500UniqueIdentifier=<random UUID>, both as
// UTF8String as cryptography encodes them; the SANs in a subjectAltName
// extension request; SHA-256 signature. It returns the PEM without a
// trailing newline, as it goes into the databag.
func NewCSR(r CertificateRequest, key crypto.Signer) (string, error) {
	if err := r.validate(); err != nil {
		return "", fmt.Errorf("cannot create CSR: %w", err)
	}
	// The subject is encoded by hand: Go would write both values as
	// PrintableString, cryptography writes UTF8String, and providers that
	// compare subjects byte for byte would see a different name.
	rdns := pkix.RDNSequence{
		{{Type: oidCommonName, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(r.CommonName)}}},
		{{Type: oidUniqueIdentifier, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(uuid.NewString())}}},
	}
	subject, err := asn1.Marshal(rdns)
	if err != nil {
		return "", fmt.Errorf("cannot create CSR: cannot encode subject: %w", err)
	}
	tmpl := &x509.CertificateRequest{
		RawSubject:  subject,
		DNSNames:    uniqueDNS(r.DNSNames),
		IPAddresses: r.IPAddresses,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", fmt.Errorf("cannot create CSR: %w", err)
	}
	return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "\n"), nil
}

// uniqueDNS keeps the charm's order (the Python library writes SANs in the
// order asked) and drops blanks and duplicates.
func uniqueDNS(names []string) []string {
	var out []string
	for _, d := range names {
		if d = strings.TrimSpace(d); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// samePublicKey tells whether two public keys are equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// parseCSR parses a databag CSR; nil when it does not parse.
func parseCSR(s string) *x509.CertificateRequest {
	csr, err := ca.ParseCSR(s)
	if err != nil {
		return nil
	}
	return csr
}
