package charm

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// IssuerEndpoint is where a parent authority signs this one's CA certificate (intermediate mode).
const IssuerEndpoint = "issuer"

// Peer keys of intermediate mode. The chains are public certificates; the key stays in the CA secret.
const (
	peerIssuer          = "issuer"           // the issuer relation's id while it is related
	peerIssuerWaiting   = "issuer-waiting"   // the status message while the issuer has not delivered the CA certificate
	peerIssuerRenewAt   = "issuer-renew-at"  // RFC 3339: when the intermediate's CSR is renewed, so a steady hook knows
	peerParents         = "parents"          // JSON []string: the current CA's issuers up to the root
	peerNextParents     = "next-parents"     // likewise for the next CA of a rotation (none for a root)
	peerPreviousParents = "previous-parents" // likewise for the previous CA, trusted until the overlap ends
)

// secretIssuerKey is the CA secret's field with the intermediate's key: one key for the life of the issuer
// relation, so a renewal or a re-issue by a rotating parent is a new certificate for the same key.
const secretIssuerKey = "issuer-key"

// issuerRelevant tells whether this hook must look at the issuer relation: its own hooks, the full scans, the
// renewal time of the intermediate, and any hook before there is a CA (install may come before
// issuer-relation-created: a root made then would only be rotated away). A steady hook makes no call for it.
func (r *reconciler) issuerRelevant() bool {
	if r.hc.Env.RelationName == IssuerEndpoint || fullScanHooks[r.hc.Env.HookName] || r.peer[peerCA] == "" {
		return true
	}
	if r.peer[peerIssuer] == "" {
		return false
	}
	at, err := time.Parse(time.RFC3339, r.peer[peerIssuerRenewAt])
	return err == nil && !r.o.Now().Before(at)
}

// syncIssuer runs intermediate mode (leader only): with issuer related it sends the CSR of the intermediate's key
// with ca true in APP mode, and installs what the parent delivers: at once when there is no CA yet, otherwise
// through a rotation (the delivered certificate trusted first, signing after the next update-status, the previous
// CA trusted for one leaf validity), so that a renewal, a parent's rotation or the move from a root never shows a
// requirer's peer a chain to something it does not trust yet. With issuer gone it goes back to a root, likewise.
func (r *reconciler) syncIssuer(pub *published) (*published, error) {
	if !r.leader || r.cfgErr != nil || r.peerID == "" || !r.issuerRelevant() {
		return pub, nil
	}
	ids, err := r.hc.RelationIDs(IssuerEndpoint)
	if err != nil {
		return nil, err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool {
		return strings.HasSuffix(r.hc.Env.HookName, "-relation-broken") && id == r.hc.Env.RelationID
	})
	if len(ids) == 0 {
		return r.leaveIssuer(pub)
	}
	key, err := r.issuerKey()
	if err != nil {
		return nil, err
	}
	req := tlscertificates.NewRequirer(r.hc, &tlscertificates.RequirerOptions{
		Endpoint:    IssuerEndpoint,
		AppRequests: []tlscertificates.CertificateRequest{{CommonName: r.cfg.Subject.CommonName, IsCA: true}},
		// Renewed while a whole leaf validity is left, so leaves signed after the switch keep their validity.
		RenewBefore: r.cfg.LeafValidity,
		AppKey:      key,
		Now:         r.o.Now,
	})
	got, err := req.Sync()
	if err != nil {
		return nil, err
	}
	if err := logWarnings(r.hc, "", prefixAll("issuer: ", got.Problems)); err != nil {
		return nil, err
	}
	state := map[string]string{peerIssuer: got.RelationID}
	a := got.App[0]
	if got.Wrote && a.Ready() {
		if err := r.hc.Log(hooktool.LevelInfo, "asked the issuer to renew the intermediate CA certificate (expires %s)", a.NotAfter.UTC().Format(time.RFC3339)); err != nil {
			return nil, err
		}
	}
	cert, parents, verr := delivered(a, key, r.o.Now())
	switch {
	case !a.Ready() && a.Refused != nil:
		parent, err := r.hc.RemoteApp(got.RelationID) // known from Sync's read: no call
		if err != nil {
			return nil, err
		}
		state[peerIssuerWaiting] = issuerRefusedStatus(parent, a.Refused)
		if state[peerIssuerWaiting] != r.peer[peerIssuerWaiting] {
			// Once per refusal: the status stays in the peer databag until the parent answers otherwise.
			if err := r.hc.Log(hooktool.LevelWarning, "the issuer %s refused this authority's CA request: %s (%d): %s",
				parent, a.Refused.Name, a.Refused.Code, a.Refused.Message); err != nil {
				return nil, err
			}
		}
	case !a.Ready():
		state[peerIssuerWaiting] = "waiting for the issuer to sign this authority's CA certificate"
	case verr != nil:
		state[peerIssuerWaiting] = "waiting for the issuer: its CA certificate is unusable"
		if err := r.hc.Log(hooktool.LevelWarning, "cannot use the CA certificate the issuer delivered: %v", verr); err != nil {
			return nil, err
		}
	default:
		state[peerIssuerWaiting] = ""
		state[peerIssuerRenewAt] = a.RenewAt.UTC().Format(time.RFC3339)
	}
	if state[peerIssuerWaiting] != "" && r.peer[peerIssuerWaiting] == "" && pub.CA != "" {
		if err := r.hc.Log(hooktool.LevelInfo, "issuer related: the current CA serves its certificates and signs no new ones until the issuer delivers"); err != nil {
			return nil, err
		}
	}
	if err := r.setPeer(state); err != nil {
		return nil, err
	}
	if state[peerIssuerWaiting] != "" {
		return pub, nil
	}
	switch {
	case pub.CA == "":
		return r.installIntermediate(cert, parents)
	case cert == pub.CA || cert == r.peer[peerNextCA]:
		return pub, nil
	}
	return r.startIntermediateRotation(pub, cert, parents)
}

func prefixAll(prefix string, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = prefix + l
	}
	return out
}

// delivered checks what the issuer assigned: a CA certificate for the intermediate's key that verifies along the
// chain given with it up to its last element. It returns the certificate and its issuers up to the root.
func delivered(a tlscertificates.AssignedCertificate, key crypto.Signer, now time.Time) (string, []string, error) {
	if !a.Ready() {
		return "", nil, nil
	}
	certPEM := strings.TrimSpace(a.Certificate)
	cert, err := ca.ParseCertificate(certPEM)
	if err != nil {
		return "", nil, err
	}
	if !cert.IsCA || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return "", nil, errors.New("it is not a CA certificate for this authority's key")
	}
	var parents []string
	for i, c := range a.Chain {
		if c = strings.TrimSpace(c); c != "" && (i > 0 || c != certPEM) && !slices.Contains(parents, c) {
			parents = append(parents, c)
		}
	}
	if len(parents) == 0 && strings.TrimSpace(a.CA) != "" {
		parents = []string{strings.TrimSpace(a.CA)}
	}
	if len(parents) == 0 {
		return "", nil, errors.New("it comes with no issuer certificate")
	}
	roots, mid := x509.NewCertPool(), x509.NewCertPool()
	for i, p := range parents {
		c, err := ca.ParseCertificate(p)
		if err != nil {
			return "", nil, fmt.Errorf("cannot parse its chain: %w", err)
		}
		if i == len(parents)-1 {
			roots.AddCert(c)
		} else {
			mid.AddCert(c)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: mid, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "", nil, fmt.Errorf("it does not verify along its chain: %w", err)
	}
	return certPEM, parents, nil
}

// issuerKey is the intermediate's key from the CA secret, created (with the secret, before any CA) on first need.
func (r *reconciler) issuerKey() (crypto.Signer, error) {
	content, err := r.caSecret()
	if err != nil && !errors.Is(err, hooktool.ErrNotFound) {
		return nil, err
	}
	if k := content[secretIssuerKey]; k != "" {
		return ca.ParsePrivateKey(k)
	}
	key, err := ca.GenerateKey(r.cfg.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("cannot generate the intermediate CA key: %w", err)
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	if content == nil {
		content = map[string]string{secretIssuerKey: keyPEM}
		id, err := r.hc.AddSecret(content, &hooktool.AddSecretOptions{Label: CASecret, Owner: hooktool.OwnerApplication,
			Description: "tls-authority CA key and certificate"})
		if err != nil {
			return nil, err
		}
		r.caContent = content
		return key, r.setPeer(map[string]string{peerCASecret: id})
	}
	content[secretIssuerKey] = keyPEM
	return key, r.setCASecret(content)
}

// installIntermediate makes the delivered certificate the CA when there was none: nothing was signed yet.
func (r *reconciler) installIntermediate(cert string, parents []string) (*published, error) {
	content, err := r.caSecret()
	if err != nil {
		return nil, err
	}
	content["private-key"], content["certificate"], content["params"] = content[secretIssuerKey], cert, r.cfg.CAParams()
	if err := r.setCASecret(content); err != nil {
		return nil, err
	}
	c, err := ca.ParseCertificate(cert)
	if err != nil {
		return nil, err
	}
	if err := r.hc.Log(hooktool.LevelInfo, "intermediate CA %q serial %x signs now (issuer %q, expires %s)", c.Subject.CommonName,
		c.SerialNumber, c.Issuer.CommonName, c.NotAfter.UTC().Format(time.RFC3339)); err != nil {
		return nil, err
	}
	pub := &published{CA: cert, Params: r.cfg.CAParams(), Bundle: []string{cert}, Parents: parents, cert: c}
	return pub, r.setPeer(map[string]string{peerCA: cert, peerCAParams: pub.Params, peerBundle: mustJSON(pub.Bundle),
		peerParents: jsonOrEmpty(parents)})
}

// startIntermediateRotation is phase 1 of a rotation to a delivered certificate (rotate does the rest): trusted
// now with its chain, signing after the next update-status, with the same key when it renews or re-issues the
// intermediate.
func (r *reconciler) startIntermediateRotation(pub *published, cert string, parents []string) (*published, error) {
	content, err := r.caSecret()
	if err != nil {
		return nil, err
	}
	content["next-private-key"], content["next-certificate"], content["next-params"] = content[secretIssuerKey], cert, r.cfg.CAParams()
	if err := r.setCASecret(content); err != nil {
		return nil, err
	}
	c, err := ca.ParseCertificate(cert)
	if err != nil {
		return nil, err
	}
	if err := r.hc.Log(hooktool.LevelInfo, "rotation started (the issuer delivered a CA certificate): intermediate serial %x (issuer %q, expires %s) is trusted now and signs after the next update-status",
		c.SerialNumber, c.Issuer.CommonName, c.NotAfter.UTC().Format(time.RFC3339)); err != nil {
		return nil, err
	}
	bundle := []string{pub.CA, cert}
	if prev := r.peer[peerPreviousCA]; prev != "" {
		bundle = append(bundle, prev)
	}
	pub.Bundle = bundle
	pub.Others = appendNew(pub.Others, parents...)
	return pub, r.setPeer(map[string]string{
		peerNextCA: cert, peerNextParams: r.cfg.CAParams(), peerBundle: mustJSON(bundle), peerNextParents: jsonOrEmpty(parents),
		peerRotationStart: r.o.Now().UTC().Format(time.RFC3339),
	})
}

// leaveIssuer goes back to a self-signed root once issuer is gone: through a rotation when an intermediate signs
// (its chain stays trusted for the overlap); a pending move to an intermediate is dropped.
func (r *reconciler) leaveIssuer(pub *published) (*published, error) {
	if r.peer[peerIssuer] == "" && r.peer[peerIssuerWaiting] == "" {
		return pub, nil
	}
	update := map[string]string{peerIssuer: "", peerIssuerWaiting: "", peerIssuerRenewAt: ""}
	content, err := r.caSecret()
	if err != nil && !errors.Is(err, hooktool.ErrNotFound) {
		return nil, err
	}
	// A secret holding only the key of an intermediate never delivered is left for ensureCA to overwrite with a
	// root in this hook: a secret is never set empty.
	if content[secretIssuerKey] != "" && content["certificate"] != "" {
		delete(content, secretIssuerKey)
		if r.peer[peerNextParents] != "" {
			delete(content, "next-private-key")
			delete(content, "next-certificate")
			delete(content, "next-params")
		}
		if err := r.setCASecret(content); err != nil {
			return nil, err
		}
	}
	if r.peer[peerNextParents] != "" {
		// A delivered certificate was trusted but not signing yet: nothing chains to it.
		bundle := []string{pub.CA}
		if prev := r.peer[peerPreviousCA]; prev != "" {
			bundle = append(bundle, prev)
		}
		pub.Bundle = bundle
		maps := map[string]string{peerNextCA: "", peerNextParams: "", peerNextParents: "", peerRotationStart: "", peerBundle: mustJSON(bundle)}
		for k, v := range maps {
			update[k] = v
		}
	}
	if err := r.setPeer(update); err != nil {
		return nil, err
	}
	if pub.CA == "" || len(pub.Parents) == 0 {
		// A root already, or none yet: ensureCA makes one.
		return pub, r.hc.Log(hooktool.LevelInfo, "issuer removed: this authority stays a self-signed root")
	}
	return r.startRotation(pub, "issuer removed: back to a self-signed root")
}

// parentsOf reads a JSON list of certificates from the peer databag; a bad value reads as none.
func (r *reconciler) parentsOf(key string) []string {
	var out []string
	if s := r.peer[key]; s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

func appendNew(set []string, more ...string) []string {
	for _, c := range more {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	return set
}
