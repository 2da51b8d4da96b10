package charm

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// CAPreviousSecret holds the previous CA's key and certificate for a rotation's overlap.
const CAPreviousSecret = "tls-authority-ca-previous"

// Peer keys of a rotation.
const (
	peerCASecret       = "ca-secret"       // URI of the CA secret (an id, not content)
	peerNextCA         = "next-ca"         // phase 1: the new CA, trusted but not signing yet
	peerNextParams     = "next-params"     // its params
	peerRotationStart  = "rotation-start"  // RFC 3339 time of phase 1
	peerPreviousCA     = "previous-ca"     // after phase 2: the old CA, trusted until overlap-until
	peerPreviousSecret = "previous-secret" // URI of the previous CA's secret
	peerOverlapUntil   = "overlap-until"   // RFC 3339
	// peerRemovedRevisions lists the secret revisions a leader removed in answer to secret-remove ("<id>/<rev>",
	// JSON, the newest last), so that a later leader asked again about one does not remove it twice.
	peerRemovedRevisions = "removed-revisions"
	// maxRemovedRevisions bounds that list: a rotation makes a few revisions, and Juju asks again only while its
	// removal of one is pending, so the last few are all a new leader can be asked about.
	maxRemovedRevisions = 16
	// peerRetiredKeys is set by a compromise rotation until the leader drops the compromised keys from the secrets
	// (dropRetiredKeys).
	peerRetiredKeys = "retired-keys"
)

// rotationPropagation bounds how long phase 1 waits for requirers to trust the new CA when no update-status comes.
const rotationPropagation = 5 * time.Minute

// rotate moves a rotation forward. A rotation runs in three phases, so no requirer ever sees a certificate
// signed by a CA it does not yet trust:
//  1. a new CA is created and published in the trust bundle beside the old one; the old CA still signs;
//  2. on the next update-status (Juju runs it only when the unit has nothing else queued, by then requirers have
//     had their relation hooks) or after rotationPropagation, the new CA signs: every certificate is re-issued
//     under it in place, and the old CA stays in the bundle, its key in its own secret, for one leaf validity;
//  3. when that overlap ends, the old CA leaves the bundle and its secret is removed.
//
// forced starts a rotation whatever the config says (rotate-private-key).
func (r *reconciler) rotate(pub *published, forced bool) (*published, error) {
	if pub.CA == "" || r.cfgErr != nil || r.peerID == "" {
		return pub, nil
	}
	now := r.o.Now()
	next := r.peer[peerNextCA]
	wantParams := r.wantParams(pub)
	// An imported CA is renewed by its owner, never by this charm: near its end the import check refuses it
	// (Blocked, naming its expiry) and it keeps signing until the secret holds a new one.
	nearExpiry := pub.cert != nil && pub.cert.NotAfter.Sub(now) < r.cfg.LeafValidity && !isImportParams(pub.Params)
	// With an issuer related the CA is the issuer's to sign: config and expiry bring a new CSR and a renewal
	// (syncIssuer), never a self-signed root.
	own := r.peer[peerIssuer] == ""
	restart := forced || own && ((next == "" && (pub.Params != wantParams || nearExpiry)) || (next != "" && r.peer[peerNextParams] != wantParams))
	started, _ := time.Parse(time.RFC3339, r.peer[peerRotationStart])
	switching := !restart && next != "" && (r.hc.Env.HookName == "update-status" || now.Sub(started) >= rotationPropagation)
	if until, err := time.Parse(time.RFC3339, r.peer[peerOverlapUntil]); err == nil && now.After(until) {
		// A switch in this hook keeps the CA it replaces in the previous-CA secret: that secret is kept for it to
		// overwrite, since removing it and adding another with its label in one hook fails the commit (Juju
		// applies the removal only then, so the label is still taken).
		if err := r.endOverlap(pub, switching); err != nil {
			return nil, err
		}
	}
	switch {
	case restart:
		why := "config changed"
		switch {
		case forced:
			why = "rotate-private-key"
		case r.imported != nil:
			why = "ca-secret holds a new CA"
		case isImportParams(pub.Params):
			why = "ca-secret unset: back to a CA of its own"
		case nearExpiry:
			why = "the CA expires within one certificate validity"
		}
		return r.startRotation(pub, why)
	case switching:
		return r.switchCA(pub)
	}
	return pub, nil
}

// caSecretID is the CA secret's URI, from the peer databag, or asked of Juju once.
func (r *reconciler) caSecretID() (string, error) {
	if id := r.peer[peerCASecret]; id != "" {
		return id, nil
	}
	info, err := r.hc.GetSecretInfo("", CASecret)
	if err != nil {
		return "", err
	}
	return info.ID, r.setPeer(map[string]string{peerCASecret: info.ID})
}

// caSecret is the CA secret's content as this hook last wrote it, else as Juju has it (read once per hook). Juju
// answers a plain secret-get with the last committed revision even after this hook's secret-set (only --peek or
// --refresh see a pending one: worker/uniter/runner/context/context.go GetSecret), so a hook never reads back
// what it wrote: it keeps it here. It reads with --refresh: Juju 4 pins even the owning application's units to the
// revision they first read, like a consumer, until they refresh (seen on 4.1-beta2, whose leader read revision 1
// and never saw a rotation's next CA: domain/secret/service/consume.go GetConsumedRevision), while 3.6 gives an
// owner the latest revision whatever the flag; the hook's first read comes before any secret-set of its own, so
// the flag never shows it a pending revision.
func (r *reconciler) caSecret() (map[string]string, error) {
	if r.caContent == nil {
		content, err := r.hc.GetSecret(hooktool.GetSecretOptions{Label: CASecret, Refresh: true})
		if err != nil {
			return nil, err
		}
		r.caContent = content
	}
	return maps.Clone(r.caContent), nil
}

// setCASecret replaces the CA secret's content; the key is loaded again from it on next need.
func (r *reconciler) setCASecret(content map[string]string) error {
	id, err := r.caSecretID()
	if err != nil {
		return err
	}
	if err := r.hc.SetSecret(id, content, nil); err != nil {
		return err
	}
	r.noteWritten(id)
	r.caContent = maps.Clone(content)
	r.auth = nil
	return nil
}

// startRotation is phase 1 towards a new self-signed root; why goes in the log line.
func (r *reconciler) startRotation(pub *published, why string) (*published, error) {
	content, err := r.caSecret()
	if err != nil {
		return nil, err
	}
	var (
		key     crypto.Signer
		cert    *x509.Certificate
		params  = r.cfg.CAParams()
		parents []string
	)
	if r.imported == nil && r.cfg.CASecret == "" && r.peer[peerOffline] != "" {
		// Back to the offline root's intermediate, kept in this same secret.
		if r.imported, err = offlineImported(content); err != nil {
			return nil, err
		}
	}
	if im := r.imported; im != nil {
		// The imported CA, checked (loadImport): its key goes into this charm's CA secret and nowhere else.
		key, cert, params, parents = im.Key, im.Certificate, importParams(im), im.ChainPEMs()
	} else {
		if key, err = ca.GenerateKey(r.cfg.Algorithm); err != nil {
			return nil, fmt.Errorf("cannot generate the new CA key: %w", err)
		}
		if cert, err = ca.NewRoot(key, r.cfg.Subject, r.cfg.RootValidity, r.o.Now(), r.cfg.RootMaxPathLen()); err != nil {
			return nil, fmt.Errorf("cannot create the new CA certificate: %w", err)
		}
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := ca.EncodeCertificate(cert)
	content["next-private-key"], content["next-certificate"], content["next-params"] = keyPEM, certPEM, params
	if err := r.setCASecret(content); err != nil {
		return nil, err
	}
	if err := r.hc.Log(hooktool.LevelInfo, "rotation started (%s): new CA %q serial %x is trusted now and signs after the next update-status",
		why, cert.Subject.CommonName, cert.SerialNumber); err != nil {
		return nil, err
	}
	bundle := []string{pub.CA, certPEM}
	if prev := r.peer[peerPreviousCA]; prev != "" {
		bundle = append(bundle, prev)
	}
	pub.Bundle = bundle
	// The imported CA's issuers are trusted with it from phase 1 (Trust), so its chain verifies before it signs.
	pub.Others = appendNew(pub.Others, parents...)
	return pub, r.setPeer(map[string]string{
		peerNextCA: certPEM, peerNextParams: params, peerBundle: mustJSON(bundle), peerNextParents: jsonOrEmpty(parents),
		peerRotationStart: r.o.Now().UTC().Format(time.RFC3339),
	})
}

// switchCA is phase 2: the new CA signs, the old one is kept for the overlap.
func (r *reconciler) switchCA(pub *published) (*published, error) {
	content, err := r.caSecret()
	if err != nil {
		return nil, err
	}
	newCA := r.peer[peerNextCA]
	var prevID string
	switch {
	case newCA != "" && content["certificate"] == newCA && content["next-certificate"] == "":
		// A switch whose secret changes Juju applied and whose peer data it did not (the commit failed between
		// them): the CA secret holds the new CA already, the previous CA's secret the current one. Only the peer
		// data is left to write.
		if prevID, err = r.finishedSwitchSecrets(pub); err != nil {
			return nil, err
		}
	case content["next-certificate"] == "" || content["next-certificate"] != newCA:
		return nil, errors.New("cannot switch to the new CA: the secret does not hold it")
	default:
		old := map[string]string{"private-key": content["private-key"], "certificate": content["certificate"]}
		if prevID, err = r.previousSecretID(); err != nil {
			return nil, err
		}
		if prevID != "" {
			err = r.hc.SetSecret(prevID, old, nil)
			r.noteWritten(prevID)
		} else {
			prevID, err = r.hc.AddSecret(old, &hooktool.AddSecretOptions{Label: CAPreviousSecret, Owner: hooktool.OwnerApplication,
				Description: "tls-authority previous CA, kept until the rotation overlap ends"})
		}
		if err != nil {
			return nil, err
		}
		r.prevContent = old // the previous CA's CRL is signed with it in this hook too, never read back from Juju
		// The new key signs from now on, in this hook too: authority loads it from what setCASecret keeps, never
		// from Juju, which would still answer with the old revision.
		next := map[string]string{"private-key": content["next-private-key"], "certificate": newCA, "params": content["next-params"]}
		if k := content[secretIssuerKey]; k != "" {
			next[secretIssuerKey] = k // the intermediate's key stays for its renewals
		}
		for k, v := range content {
			if isOfflineKey(k) && v != "" {
				next[k] = v // the offline root's intermediate: its key stays for its renewals (get-ca-csr)
			}
		}
		if err := r.setCASecret(next); err != nil {
			return nil, err
		}
	}
	if content["next-params"] == "" {
		content["next-params"] = content["params"]
	}
	cert, err := ca.ParseCertificate(newCA)
	if err != nil {
		return nil, err
	}
	until := r.o.Now().Add(r.cfg.LeafValidity).UTC()
	bundle := []string{newCA, pub.CA}
	if err := r.hc.Log(hooktool.LevelInfo, "rotation: CA serial %x signs now; the previous CA stays trusted until %s", cert.SerialNumber, until.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	update := map[string]string{
		peerCA: newCA, peerCAParams: content["next-params"], peerBundle: mustJSON(bundle),
		peerPreviousCA: pub.CA, peerPreviousSecret: prevID, peerOverlapUntil: until.Format(time.RFC3339),
		peerNextCA: "", peerNextParams: "", peerRotationStart: "",
		// The issuers go with their CAs: the next one's become current, the current one's stay trusted with it.
		peerParents: r.peer[peerNextParents], peerNextParents: "", peerPreviousParents: r.peer[peerParents],
		// Serials revoked under the old CA stay on its CRL, which is served and re-signed as long as that CA is
		// trusted (maintainCRL); it moves as signed, so no key is read for it now. The new CA starts with none,
		// its CRL numbers going on from the old one's.
		peerPreviousRevoked: r.peer[peerRevoked], peerPreviousCRL: r.peer[peerCRL], peerPreviousCRLNumber: r.peer[peerCRLNumber],
		peerPreviousCRLNextUpdate: r.peer[peerCRLNextUpdate], peerPreviousCRLFor: r.peer[peerCRLFor],
		peerRevoked: "",
	}
	if pub.cert != nil && crlKeyID(pub.cert) == crlKeyID(cert) {
		// A renewed or re-issued intermediate keeps its key, so its CRL has the same path as the old one's (crlFiles
		// serves one): the serials revoked under the old certificate stay on the new one's CRL instead.
		update[peerRevoked] = r.peer[peerRevoked]
		for _, k := range []string{peerPreviousRevoked, peerPreviousCRL, peerPreviousCRLNumber, peerPreviousCRLNextUpdate, peerPreviousCRLFor} {
			update[k] = ""
		}
	}
	if err := r.setPeer(update); err != nil {
		return nil, err
	}
	return &published{CA: newCA, Params: content["next-params"], Bundle: bundle, cert: cert,
		Parents: r.parentsOf(peerParents), Others: r.parentsOf(peerPreviousParents)}, nil
}

// previousSecretID is the previous CA's secret, from the peer databag, else found by its label: a commit that
// failed after its secret changes may have created it without recording it, and adding another with the label
// would fail every later switch ("secret with label ... already exists"). "" when there is none.
func (r *reconciler) previousSecretID() (string, error) {
	if id := r.peer[peerPreviousSecret]; id != "" {
		return id, nil
	}
	info, err := r.hc.GetSecretInfo("", CAPreviousSecret)
	switch {
	case errors.Is(err, hooktool.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	}
	return info.ID, nil
}

// finishedSwitchSecrets checks what a switch whose peer data was lost left: the previous CA's secret must hold the
// CA the peer data still publishes, whose CRL it signs during the overlap. It returns that secret's id.
func (r *reconciler) finishedSwitchSecrets(pub *published) (string, error) {
	id, err := r.previousSecretID()
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", errors.New("cannot finish the switch to the new CA: the previous CA's secret is missing")
	}
	old, err := r.hc.GetSecret(hooktool.GetSecretOptions{ID: id, Refresh: true})
	if err != nil {
		return "", fmt.Errorf("cannot finish the switch to the new CA: %w", err)
	}
	if old["certificate"] != pub.CA {
		return "", errors.New("cannot finish the switch to the new CA: the previous CA's secret does not hold the current CA")
	}
	r.prevContent = old
	return id, r.hc.Log(hooktool.LevelWarning, "rotation: the last switch committed its secrets but not its peer data; finishing it")
}

// endOverlap is phase 3: the previous CA is no longer trusted nor kept. keepSecret leaves its secret (and its URI
// in the peer databag) for a switch in this same hook to overwrite with the CA it replaces.
func (r *reconciler) endOverlap(pub *published, keepSecret bool) error {
	update := map[string]string{peerPreviousCA: "", peerOverlapUntil: "",
		// Its CRL goes with it: no one trusts what it signed any more.
		peerPreviousRevoked: "", peerPreviousCRL: "", peerPreviousCRLNumber: "", peerPreviousCRLNextUpdate: "", peerPreviousCRLFor: "",
		peerPreviousParents: ""}
	if id := r.peer[peerPreviousSecret]; id != "" && !keepSecret {
		if err := r.removeSecret(id); err != nil {
			return err
		}
		update[peerPreviousSecret] = ""
	}
	bundle := []string{pub.CA}
	if next := r.peer[peerNextCA]; next != "" {
		bundle = append(bundle, next)
	}
	pub.Bundle = bundle
	pub.Others = r.parentsOf(peerNextParents)
	if err := r.hc.Log(hooktool.LevelInfo, "rotation overlap ended: the previous CA is no longer trusted"); err != nil {
		return err
	}
	update[peerBundle] = mustJSON(bundle)
	return r.setPeer(update)
}

// dropRetiredKeys finishes a compromise rotation once its peer data is committed: the CA secret keeps only the new
// pair, and the previous CA's secret is removed. Both were kept by the action until then (compromiseRotation). Run
// again after a commit that applied this and not the flag's removal, it finds nothing left to drop.
func (r *reconciler) dropRetiredKeys(pub *published) error {
	if r.peer[peerRetiredKeys] == "" || r.hc.Env.HookName == "secret-remove" {
		// Not in a secret-remove hook: its revision removal would drop this hook's secret-set of the same secret
		// (planRevisionRemoval keeps a revision of a secret this hook set); the next hook does it.
		return nil
	}
	content, err := r.caSecret()
	if err != nil {
		return err
	}
	if content["next-certificate"] == pub.CA && content["certificate"] != pub.CA {
		if err := r.setCASecret(map[string]string{"private-key": content["next-private-key"], "certificate": content["next-certificate"],
			"params": content["next-params"]}); err != nil {
			return err
		}
	}
	if r.peer[peerPreviousSecret] == "" {
		id, err := r.previousSecretID()
		if err != nil {
			return err
		}
		if id != "" {
			if err := r.removeSecret(id); err != nil {
				return err
			}
		}
	}
	if err := r.hc.Log(hooktool.LevelInfo, "compromise rotation: the compromised CA keys are no longer kept"); err != nil {
		return err
	}
	return r.setPeer(map[string]string{peerRetiredKeys: ""})
}

// removeSecret removes a whole secret (one already gone is fine: a retried hook) and remembers it for
// planRevisionRemoval.
func (r *reconciler) removeSecret(id string) error {
	if err := r.hc.RemoveSecret(id, 0); err != nil && !errors.Is(err, hooktool.ErrNotFound) {
		return err
	}
	if r.removed == nil {
		r.removed = map[string]bool{}
	}
	r.removed[bareSecretID(id)] = true
	return nil
}

// noteWritten remembers a secret this hook set, for planRevisionRemoval.
func (r *reconciler) noteWritten(id string) {
	if r.written == nil {
		r.written = map[string]bool{}
	}
	r.written[bareSecretID(id)] = true
}

// bareSecretID is a secret's id without the secret:// or secret: prefix and model.
func bareSecretID(s string) string {
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// planRevisionRemoval answers secret-remove: Juju sends it to the leader when no one tracks a revision of a
// secret the application owns any more. The charm's secrets are the CA's and the previous CA's, and every revision
// holds a CA private key, so an old one must not stay in the secret store after a rotation replaced it. It runs
// when the hook has made its other changes (it needs to know which secrets this hook set or removed) and before the
// hook's one peer write, which carries the record of the removal; removeObsoleteRevision then removes the revision,
// last. The removal commits with the hook; a revision already gone is fine (a retried hook).
//
// A revision removed once is not removed again. Seen on Juju 4.1-beta2: the removal commits, Juju deletes the
// revision's content from the Kubernetes backend in a removal job of its own, and until that job is done the
// revision is still listed as obsolete; when the leader changes in that time, the new leader is sent secret-remove
// for it too, and a second secret-remove fails the hook's commit ("cannot delete secret ... from backend: ... not
// found"), an error loop no resolve clears. The leaders' record in the peer databag stops it. Juju applies a hook's
// secret changes before its relation settings (commitHookChangesForOneUnit), so a commit that fails between them
// leaves the revision removed and unrecorded: the next secret-remove for it finds it gone, which is fine.
func (r *reconciler) planRevisionRemoval() error {
	env := r.hc.Env
	if env.HookName != "secret-remove" || !r.leader || env.SecretID == "" || env.SecretRevision == 0 {
		return nil
	}
	if r.removed[bareSecretID(env.SecretID)] {
		return nil // this hook removed the whole secret: a revision removal after it would fail the commit
	}
	if r.written[bareSecretID(env.SecretID)] {
		// Juju drops a hook's pending secret-set of a secret when the hook removes one of its revisions
		// (secretsChangeRecorder.remove): the new content matters more; the old revision waits.
		return r.hc.Log(hooktool.LevelWarning, "revision %d of secret %s kept: this hook changed the secret", env.SecretRevision, env.SecretID)
	}
	id := secretRevisionID(env.SecretID, env.SecretRevision)
	var removed []string
	if v := r.peer[peerRemovedRevisions]; v != "" {
		// A list that does not parse is started anew: at worst one revision is asked to be removed twice.
		_ = json.Unmarshal([]byte(v), &removed)
	}
	if slices.Contains(removed, id) {
		return r.hc.Log(hooktool.LevelInfo, "revision %d of secret %s was removed already; Juju asked again", env.SecretRevision, env.SecretID)
	}
	removed = append(removed, id)
	if len(removed) > maxRemovedRevisions {
		removed = removed[len(removed)-maxRemovedRevisions:]
	}
	r.obsolete = id
	return r.setPeer(map[string]string{peerRemovedRevisions: mustJSON(removed)})
}

// removeObsoleteRevision removes the revision planRevisionRemoval chose. It goes last: Juju hides a secret with a
// pending removal, of any revision, from secret-info-get for the rest of the hook (context.go SecretMetadata).
func (r *reconciler) removeObsoleteRevision() error {
	if r.obsolete == "" {
		return nil
	}
	env := r.hc.Env
	if err := r.hc.RemoveSecret(env.SecretID, env.SecretRevision); err != nil && !errors.Is(err, hooktool.ErrNotFound) {
		return err
	}
	return r.hc.Log(hooktool.LevelInfo, "removed revision %d of secret %s: no one reads it any more", env.SecretRevision, env.SecretID)
}

// secretRevisionID names one revision of a secret by its ID without the "secret:" scheme, which Juju gives in
// JUJU_SECRET_ID with or without it.
func secretRevisionID(secretID string, rev int) string {
	return fmt.Sprintf("%s/%d", bareSecretID(secretID), rev)
}

// retiredCA is a CA a compromise rotation took out of the bundle, and the last CRL signed with its key.
type retiredCA struct {
	cert    *x509.Certificate
	revoked int       // serials its last CRL lists
	until   time.Time // the CRL's next update: the agents serve it until then
}

// compromiseRotation answers a key compromise (rotate-private-key compromised=true): a new self-signed CA signs at
// once, with no phase 1; the current CA (and the previous one of an overlap) leave the trust bundle now; each
// signs, with its key, one last CRL listing every unexpired certificate it issued (the ledger's, and every one the
// inventory shows, so that what an older charm issued is on it too: a CRL lists serials of its own issuer only,
// so another CA's serial on it revokes nothing), which the agents serve until its next update: the latest expiry of
// what it lists, at least one crl-validity; and neither key is kept (the previous CA's secret is removed; the CA
// secret's old revision goes at the next secret-remove hook, as after every rotation). A rotation in phase 1 is
// dropped: its key was in the same secret. The caller re-issues every certificate under the new CA.
func (r *reconciler) compromiseRotation(pub *published) (*published, []retiredCA, error) {
	now := r.o.Now()
	ledger, err := r.ledger()
	if err != nil {
		return nil, nil, err
	}
	p := newProvider(r, pub)
	if err := p.loadInventory(); err != nil {
		return nil, nil, err
	}
	inLedger := map[string]bool{}
	for _, e := range ledger {
		inLedger[e.Serial] = true
	}
	var unknown []revocation // in the inventory, not in the ledger (issued by an older charm)
	for _, entries := range p.invByID {
		for _, e := range entries {
			if !inLedger[e.Serial] && now.Before(e.NotAfter) {
				unknown = append(unknown, revocation{Serial: e.Serial, RevokedAt: now, NotAfter: e.NotAfter})
			}
		}
	}
	type old struct {
		pem  string
		keys crlKeys
		auth func() (*ca.Authority, error)
	}
	olds := []old{{pub.CA, currentCRL, r.authority}}
	if prev := r.peer[peerPreviousCA]; prev != "" {
		olds = append(olds, old{prev, previousCRL, r.previousAuthority})
	}
	validity := 7 * 24 * time.Hour
	if r.cfg.CRLValidity > 0 {
		validity = r.cfg.CRLValidity
	}
	index := r.retiredCRLs()
	update := map[string]string{}
	var retired []retiredCA
	for _, o := range olds {
		cert, err := ca.ParseCertificate(o.pem)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot parse the CA certificate to retire: %w", err)
		}
		a, err := o.auth()
		if err != nil {
			return nil, nil, fmt.Errorf("cannot sign the last CRL of CA %x: %w", cert.SerialNumber, err)
		}
		if !bytes.Equal(a.Certificate.Raw, cert.Raw) {
			return nil, nil, fmt.Errorf("cannot sign the last CRL of CA %x: the key at hand is not its own", cert.SerialNumber)
		}
		already, err := r.revocationsOf(o.keys)
		if err != nil {
			return nil, nil, err
		}
		listed := map[string]bool{}
		list := withoutExpired(already, now)
		for _, rv := range list {
			listed[rv.Serial] = true
		}
		for _, e := range ledger {
			if e.issuedBy(cert) && !e.expired(now) && !listed[e.Serial] {
				listed[e.Serial] = true
				list = append(list, revocation{Serial: e.Serial, RevokedAt: now, NotAfter: time.Unix(e.NotAfter, 0).UTC()})
			}
		}
		for _, rv := range unknown {
			if !listed[rv.Serial] {
				listed[rv.Serial] = true
				list = append(list, rv)
			}
		}
		until := now.Add(validity)
		entries := make([]ca.Revoked, 0, len(list))
		for _, rv := range list {
			n, ok := new(big.Int).SetString(rv.Serial, 16)
			if !ok {
				continue
			}
			entries = append(entries, ca.Revoked{Serial: n, RevokedAt: rv.RevokedAt})
			if rv.NotAfter.After(until) {
				until = rv.NotAfter
			}
		}
		number, _ := strconv.ParseInt(r.peer[o.keys.number], 10, 64)
		der, err := a.NewCRL(entries, number+1, until.Sub(now), now)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot sign the last CRL of CA %x: %w", cert.SerialNumber, err)
		}
		if o.keys == currentCRL {
			update[peerCRLNumber] = strconv.FormatInt(number+1, 10) // the new CA's CRL numbers go on from it
		}
		id := crlKeyID(cert)
		index[id] = until.UTC()
		update[peerRetiredCRLPrefix+id] = ca.EncodeCRL(der)
		retired = append(retired, retiredCA{cert: cert, revoked: len(entries), until: until.UTC()})
	}
	update[peerRetiredCRLs] = mustJSON(index)

	key, err := ca.GenerateKey(r.cfg.Algorithm)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate the new CA key: %w", err)
	}
	cert, err := ca.NewRoot(key, r.cfg.Subject, r.cfg.RootValidity, now, r.cfg.RootMaxPathLen())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create the new CA certificate: %w", err)
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM := ca.EncodeCertificate(cert)
	params := r.cfg.CAParams()
	// The new CA goes in as the next pair, beside the compromised one, which signs nothing more (authorityFor
	// picks the pair the peer data publishes: the new one, from the peer write below); the next CA of a phase 1
	// goes, its key was beside the compromised one. Juju applies this before the peer data, in calls of their own:
	// if the commit fails between them, the compromised pair is what the peer data still publishes, and the action
	// run again signs its last CRL with it. The leader's next hook drops it, and the previous CA's secret, once
	// this peer data is committed (dropRetiredKeys).
	content, err := r.caSecret()
	if err != nil {
		return nil, nil, err
	}
	current := map[string]string{"private-key": content["private-key"], "certificate": content["certificate"], "params": content["params"]}
	if content["certificate"] != pub.CA && content["next-certificate"] == pub.CA {
		current = map[string]string{"private-key": content["next-private-key"], "certificate": content["next-certificate"], "params": content["next-params"]}
	}
	current["next-private-key"], current["next-certificate"], current["next-params"] = keyPEM, certPEM, params
	if err := r.setCASecret(current); err != nil {
		return nil, nil, err
	}
	update[peerRetiredKeys] = "true"
	r.prevContent = nil
	bundle := []string{certPEM}
	maps.Copy(update, map[string]string{
		peerCA: certPEM, peerCAParams: params, peerBundle: mustJSON(bundle),
		peerNextCA: "", peerNextParams: "", peerRotationStart: "", peerNextParents: "",
		peerPreviousCA: "", peerPreviousSecret: "", peerOverlapUntil: "", peerPreviousParents: "",
		// The new CA starts with an empty CRL; its numbers go on from the old one's.
		peerRevoked: "", peerCRL: "", peerCRLFor: "", peerCRLNextUpdate: "",
		peerPreviousRevoked: "", peerPreviousCRL: "", peerPreviousCRLNumber: "", peerPreviousCRLNextUpdate: "", peerPreviousCRLFor: "",
	})
	if err := r.setPeer(update); err != nil {
		return nil, nil, err
	}
	return &published{CA: certPEM, Params: params, Bundle: bundle, cert: cert}, retired, nil
}
