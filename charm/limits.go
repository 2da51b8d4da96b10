package charm

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// The caps on what one requirer may ask of the authority, so that no requirer can slow or stop it for the others.
// Each request over a cap is refused with a request_errors entry (code 999) the requirer can read, and logged once.
const (
	// maxCSRsPerUnitBag is how many requests of one unit's databag are read: a tls-certificates requirer asks for
	// one certificate per purpose, a handful per unit; a hundred is far above any real charm and bounds a hook's
	// parsing of one databag. Requests after the first hundred are refused, unparsed.
	maxCSRsPerUnitBag = 100
	// maxCSRsPerAppBag is the same for the remote application's databag, where an app-mode requirer asks for all
	// its units at once: as many as a relation may hold.
	maxCSRsPerAppBag = maxCertsPerRelation
	// maxCertsPerRelation is how many certificates one relation may hold: ten units of a hundred requests. The
	// databag's size (maxCertBytes) usually bounds it first: about 520 RSA-2048 certificates.
	maxCertsPerRelation = 1000
	// maxCSRBytes bounds a CSR's PEM: an RSA-8192 key with a long subject and a hundred SANs stays under 8 KiB, so
	// 16 KiB refuses nothing real while bounding what a hook parses and echoes back per request. A CSR over
	// ca.MaxCSRSize (64 KiB) is not refused but skipped as malformed, so no larger one is ever echoed back.
	maxCSRBytes = 16 << 10
	// maxProviderBagBytes bounds the provider databag of one relation. Juju keeps a relation's application
	// settings as one document, and MongoDB refuses a document over 16 MiB (3.6): a write over it would fail every
	// leader hook. 4 MiB is a quarter of that, so an estimate off by half is still safe. Certificates take up to
	// maxCertBytes of it, about 520 RSA-2048 certificates with their chains: a request that would go over is
	// refused. Refusals take the rest; one that does not fit is left out (and logged), and the requirer reads it
	// once others are gone.
	maxProviderBagBytes = 4 << 20
	maxCertBytes        = 3 << 20
	// maxPeerBagBytes bounds the peer relation's application databag, which is one settings document for the whole
	// authority (16 MiB on Juju 3.6, as every relation bag): it holds an inventory entry and a ledger entry for
	// every certificate of every relation (peerEntrySize), the CRLs and the rotation state. A new certificate that
	// would take it past 12 MiB is refused; the 4 MiB left cover the CRLs (a revoked serial adds about 40 bytes to
	// one) and the other keys: about 17,800 certificates with a service name each, by the estimate (the real
	// entries, 453 bytes, would let 37,000 fill the 16 MiB: TestRelationDocumentFigures).
	maxPeerBagBytes = 12 << 20
)

// Juju 3.6's secret content limits before 3.6.9 raised them to 1 MiB (juju/juju#20287; core/secrets/createsecret.go):
// 8 KiB a value and 64 KiB a secret, which releases measure as given or base64-encoded. The charm supports every
// 3.6, so what it keeps in a secret stays under both measures.
const (
	maxSecretValue   = 8 << 10
	maxSecretContent = 64 << 10
)

// secretContentProblem says why Juju 3.6 before 3.6.9 would refuse content as a secret's ("" if it would not):
// a value or the whole over its limit, measured as the larger of its size and its base64 size.
func secretContentProblem(content map[string]string) string {
	total := 0
	for k, v := range content {
		n := max(len(v), base64.StdEncoding.EncodedLen(len(v)))
		if n > maxSecretValue {
			return fmt.Sprintf("%s would be %d bytes in the CA secret, over the %d Juju 3.6 before 3.6.9 allows a secret value", k, n, maxSecretValue)
		}
		total += n
	}
	if total > maxSecretContent {
		return fmt.Sprintf("the CA secret would hold %d bytes, over the %d Juju 3.6 before 3.6.9 allows a secret", total, maxSecretContent)
	}
	return ""
}

// peerEntrySize bounds what one new certificate adds to the peer databag: its inventory entry (serial, subject,
// SANs, times, relation, unit, CSR digest: about 400 bytes with the names) and its ledger entry (serial, CA,
// expiry, holder, common name: about 150), the names as the request gives them.
func peerEntrySize(csr *x509.CertificateRequest) int {
	n := 512 + 2*len(csr.Subject.String()) + len(csr.Subject.CommonName)
	for _, s := range csr.DNSNames {
		n += len(s) + 3
	}
	for _, s := range csr.EmailAddresses {
		n += len(s) + 3
	}
	for _, ip := range csr.IPAddresses {
		n += len(ip.String()) + 3
	}
	for _, u := range csr.URIs {
		n += len(u.String()) + 3
	}
	return n
}

// peerBagBytes is the peer databag's size as its settings document counts it: keys and values.
func peerBagBytes(bag map[string]string) int {
	n := 0
	for k, v := range bag {
		n += len(k) + len(v) + 7 // a BSON string element's type byte, key NUL, length and value NUL
	}
	return n
}

// takePeerRoom takes a new certificate's share (n bytes) of the peer databag's budget, if there is enough left.
func (p *provider) takePeerRoom(size int) bool {
	n := int64(size)
	if p.peerRoom.Add(-n) >= 0 {
		return true
	}
	p.peerRoom.Add(n)
	return false
}

// capacityPrefix starts the message of a refusal by a cap: such a refusal depends on what else the relation holds,
// so it is decided again in every hook that looks at the relation (a policy refusal is not: see plan).
const capacityPrefix = "over this authority's limit: "

func capacityRefusal(csr, format string, args ...any) tlscertificates.RequestError {
	return tlscertificates.RequestError{CSR: csr, Error: tlscertificates.ErrorDetail{
		Code: ca.CodeOther, Name: "other", Message: capacityPrefix + fmt.Sprintf(format, args...)}}
}

func isCapacityRefusal(e tlscertificates.RequestError) bool {
	return strings.HasPrefix(e.Error.Message, capacityPrefix)
}

// pemSize is what a PEM value weighs in the databag's JSON: each line's newline is written as "\n" (64 characters
// to a line).
func pemSize(s string) int { return len(s) + len(s)/32 }

// certEntrySize estimates a provider entry's size: its CSR, certificate, CA and chain, and the keys around them.
func certEntrySize(csr, cert, caPEM string, chain []string) int {
	n := pemSize(csr) + pemSize(cert) + pemSize(caPEM) + 200
	for _, c := range chain {
		n += pemSize(c) + 4
	}
	return n
}

// newEntrySize estimates the entry a CSR not signed yet will make: a certificate holds the CSR's key and names,
// the CA's signature instead of the CSR's, and a few extensions, which a kilobyte more than the CSR covers.
func newEntrySize(csr, caPEM string, parents []string) int {
	leafLen := len(csr) + 1024
	n := pemSize(csr) + 2*(leafLen+leafLen/32) + 2*pemSize(caPEM) + 200
	for _, c := range parents {
		n += pemSize(c) + 4
	}
	return n
}

// refusalSize estimates a request_errors entry's size.
func refusalSize(e tlscertificates.RequestError) int {
	return pemSize(e.CSR) + len(e.Error.Message) + len(e.Error.Name) + 100
}
