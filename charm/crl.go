package charm

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// Peer keys of the revocation list.
const (
	peerRevoked       = "revoked"         // JSON []revocation: serials revoked under the current CA (the previous CA's: peerPreviousRevoked)
	peerCRL           = "crl"             // PEM CRL signed by the current CA
	peerCRLNumber     = "crl-number"      // grows with every CRL
	peerCRLNextUpdate = "crl-next-update" // RFC 3339
	peerCRLFor        = "crl-for"         // digest of the CA and revoked list the CRL was signed for
)

type revocation struct {
	Serial    string    `json:"serial"` // lower-case hex, no colons
	RevokedAt time.Time `json:"revoked_at"`
	// NotAfter is when the certificate expires: then it leaves the CRL (RFC 5280 5.1.2.6 lets a CRL drop an entry
	// once the certificate has expired; no relying party accepts it anyway). Zero (revoked by an older charm): kept.
	NotAfter time.Time `json:"not_after,omitzero"`
}

// Peer keys of the last CRLs of CAs that left the bundle after a compromise (rotatePrivateKey): no key signs them
// again, and the agents serve each until its next update.
const (
	peerRetiredCRLs      = "retired-crls" // JSON {CA key id (crlKeyID): RFC 3339 time until which its CRL is served}
	peerRetiredCRLPrefix = "retired-crl-" // + CA key id: its last CRL (PEM)
)

// retiredCRLs reads the retired CRLs' index; an unreadable one serves none rather than failing a hook.
func (r *reconciler) retiredCRLs() map[string]time.Time {
	out := map[string]time.Time{}
	if s := r.peer[peerRetiredCRLs]; s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

// pruneRetiredCRLs drops the retired CRLs whose next update has passed. Leader only.
func (r *reconciler) pruneRetiredCRLs(now time.Time) error {
	retired := r.retiredCRLs()
	update := map[string]string{}
	for id, until := range retired {
		if now.After(until) {
			delete(retired, id)
			update[peerRetiredCRLPrefix+id] = ""
		}
	}
	if len(update) == 0 {
		return nil
	}
	update[peerRetiredCRLs] = jsonOrEmpty(retired)
	return r.setPeer(update)
}

// withoutExpired drops the revocations whose certificate has expired at now.
func withoutExpired(revoked []revocation, now time.Time) []revocation {
	return slices.DeleteFunc(slices.Clone(revoked), func(rv revocation) bool { return !rv.NotAfter.IsZero() && now.After(rv.NotAfter) })
}

// normalizeSerial accepts "0A:1B", "0a1b", "0x0a1b" or decimal-looking hex and gives canonical lower-case hex.
func normalizeSerial(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0x")
	s = strings.ReplaceAll(s, ":", "")
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 {
		return "", fmt.Errorf("%q is not a certificate serial number in hexadecimal", s)
	}
	return n.Text(16), nil
}

// crlKeys names the peer keys of one CA's CRL. Each CA still in the trust bundle has its own CRL, signed by it:
// the current CA's, and during a rotation's overlap the previous CA's, so a serial revoked under the old CA stays
// listed for as long as relying parties trust that CA.
type crlKeys struct {
	revoked, crl, number, nextUpdate, signedFor string
}

var (
	currentCRL  = crlKeys{peerRevoked, peerCRL, peerCRLNumber, peerCRLNextUpdate, peerCRLFor}
	previousCRL = crlKeys{peerPreviousRevoked, peerPreviousCRL, peerPreviousCRLNumber, peerPreviousCRLNextUpdate, peerPreviousCRLFor}
)

// Peer keys of the previous CA's CRL, during a rotation's overlap (see crlKeys).
const (
	peerPreviousRevoked       = "previous-revoked"
	peerPreviousCRL           = "previous-crl"
	peerPreviousCRLNumber     = "previous-crl-number"
	peerPreviousCRLNextUpdate = "previous-crl-next-update"
	peerPreviousCRLFor        = "previous-crl-for"
)

func (r *reconciler) revocationsOf(k crlKeys) ([]revocation, error) {
	var out []revocation
	if s := r.peer[k.revoked]; s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("cannot parse the revoked serials in the peer databag: %w", err)
		}
	}
	return out, nil
}

// revokeSerials lists serials on the CRL of the CA that issued each: the current CA's, or the previous CA's for
// those in previous (issued before a rotation's switch, during its overlap). A serial listed already stays as it
// is. The CRL itself is re-signed by maintainCRL, which sees the revoked set changed.
func (r *reconciler) revokeSerials(serials []string, previous map[string]bool, notAfter map[string]time.Time, at time.Time) error {
	for _, k := range []crlKeys{currentCRL, previousCRL} {
		revoked, err := r.revocationsOf(k)
		if err != nil {
			return err
		}
		listed := make(map[string]bool, len(revoked))
		for _, rv := range revoked {
			listed[rv.Serial] = true
		}
		n := len(revoked)
		for _, s := range serials {
			if (k == previousCRL) == previous[s] && !listed[s] {
				listed[s] = true
				revoked = append(revoked, revocation{Serial: s, RevokedAt: at.UTC(), NotAfter: notAfter[s]})
			}
		}
		if len(revoked) > n {
			if err := r.setPeer(map[string]string{k.revoked: mustJSON(revoked)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// maintainCRL keeps the CRL of every trusted CA signed: the current CA's, and the previous CA's during a
// rotation's overlap. Leader only.
func (r *reconciler) maintainCRL(pub *published, auth func() (*ca.Authority, error)) error {
	if err := r.pruneRetiredCRLs(r.o.Now()); err != nil {
		return err
	}
	if err := r.maintainOneCRL(currentCRL, pub.CA, auth); err != nil {
		return err
	}
	if prev := r.peer[peerPreviousCA]; prev != "" {
		return r.maintainOneCRL(previousCRL, prev, r.previousAuthority)
	}
	return nil
}

// maintainOneCRL re-signs a CA's CRL when its revoked set or the CA changed, or when half of its validity has
// passed, so relying parties never hold an expired one. The key is read only when a CRL is signed.
func (r *reconciler) maintainOneCRL(k crlKeys, caPEM string, auth func() (*ca.Authority, error)) error {
	revoked, err := r.revocationsOf(k)
	if err != nil {
		return err
	}
	now := r.o.Now()
	if kept := withoutExpired(revoked, now); len(kept) != len(revoked) {
		revoked = kept
		if err := r.setPeer(map[string]string{k.revoked: jsonOrEmpty(kept)}); err != nil {
			return err
		}
	}
	h := sha256.New()
	h.Write([]byte(caPEM))
	h.Write([]byte(r.peer[k.revoked]))
	digest := hex.EncodeToString(h.Sum(nil)[:8])
	validity := 7 * 24 * time.Hour
	if r.cfg != nil && r.cfg.CRLValidity > 0 {
		validity = r.cfg.CRLValidity
	}
	next, _ := time.Parse(time.RFC3339, r.peer[k.nextUpdate])
	if r.peer[k.crl] != "" && r.peer[k.signedFor] == digest && now.Before(next.Add(-validity/2)) {
		return nil
	}
	if c, err := ca.ParseCertificate(caPEM); err == nil && c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCRLSign == 0 {
		// A CA without the cRLSign usage may not sign a CRL (RFC 5280 4.2.1.3): one imported from
		// self-signed-certificates has none. Nothing is published for it.
		return nil
	}
	a, err := auth()
	if err != nil {
		return err
	}
	if want, err := ca.ParseCertificate(caPEM); err != nil || a.Certificate == nil || !bytes.Equal(a.Certificate.Raw, want.Raw) {
		return errors.New("cannot sign the CRL: the key at hand is not the CA's whose CRL it is")
	}
	entries := make([]ca.Revoked, 0, len(revoked))
	for _, rv := range revoked {
		n, ok := new(big.Int).SetString(rv.Serial, 16)
		if !ok {
			continue
		}
		entries = append(entries, ca.Revoked{Serial: n, RevokedAt: rv.RevokedAt})
	}
	number, _ := strconv.ParseInt(r.peer[k.number], 10, 64)
	number++
	der, err := a.NewCRL(entries, number, validity, now)
	if err != nil {
		return fmt.Errorf("cannot sign the CRL: %w", err)
	}
	return r.setPeer(map[string]string{
		k.crl:        ca.EncodeCRL(der),
		k.number:     strconv.FormatInt(number, 10),
		k.nextUpdate: now.Add(validity).UTC().Format(time.RFC3339),
		k.signedFor:  digest,
	})
}

// previousAuthority loads the previous CA's key from its secret, as this hook last wrote it (see caSecret: a hook
// never reads back a secret it set), else as Juju has it.
func (r *reconciler) previousAuthority() (*ca.Authority, error) {
	if r.prevContent == nil {
		content, err := r.hc.GetSecret(hooktool.GetSecretOptions{Label: CAPreviousSecret, Refresh: true}) // as caSecret
		if err != nil {
			return nil, fmt.Errorf("cannot read the previous CA's secret: %w", err)
		}
		r.prevContent = content
	}
	return authorityFrom(r.prevContent)
}

// crlKeyID names a CA's CRL on the agent (/crl/<id>): its subject key identifier in hex, which the CRL's
// authority key identifier repeats, or a digest of its public key when it has none.
func crlKeyID(cert *x509.Certificate) string {
	if len(cert.SubjectKeyId) > 0 {
		return hex.EncodeToString(cert.SubjectKeyId)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:20])
}

// crlURL is where the agents serve the CRL of the CA cert (DER; PEM at .pem): what the certificates it issues
// name as their CRL distribution point. The path is per CA, so a certificate's CRL stays the one of its issuer
// after a rotation.
func (r *reconciler) caCRLURL(cert *x509.Certificate) string {
	return r.crlURL() + "/" + crlKeyID(cert)
}

// crlFiles are the agent's CRL files: the current CA's at crl.der and crl.pem, and every trusted CA's (the current
// one, the previous one during an overlap) at crl-<id>.der and crl-<id>.pem, which the agent serves at /crl/<id>
// and /crl/<id>.pem (see crlKeyID).
func (r *reconciler) crlFiles(pub *published, files map[string]string) {
	if pub.cert != nil && addCRLFiles(r.peer[peerCRL], "crl-"+crlKeyID(pub.cert), files) {
		addCRLFiles(r.peer[peerCRL], "crl", files)
	}
	if prev := r.peer[peerPreviousCA]; prev != "" {
		// A renewed intermediate keeps its key, hence its key id: the current CA's CRL is the one served there.
		if cert, err := ca.ParseCertificate(prev); err == nil && (pub.cert == nil || crlKeyID(cert) != crlKeyID(pub.cert)) {
			addCRLFiles(r.peer[peerPreviousCRL], "crl-"+crlKeyID(cert), files)
		}
	}
	// The last CRLs of CAs a compromise rotation retired, until their next update (pruneRetiredCRLs).
	for id, until := range r.retiredCRLs() {
		if r.o == nil || r.o.Now().Before(until) {
			addCRLFiles(r.peer[peerRetiredCRLPrefix+id], "crl-"+id, files)
		}
	}
}

func addCRLFiles(crlPEM, base string, files map[string]string) bool {
	if crlPEM == "" {
		return false
	}
	block, _ := pem.Decode([]byte(crlPEM))
	if block == nil {
		return false
	}
	files[base+".pem"] = crlPEM + "\n"
	files[base+".der"] = string(block.Bytes)
	return true
}
