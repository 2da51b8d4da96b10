package charm

// What this file owns: an intermediate CA whose issuer is an offline root the operator signs with by hand
// (get-ca-csr, set-ca-certificate), kept in this charm's CA secret and installed through the rotation, and the
// renewal warning for every CA this charm cannot renew by itself (offline or imported).

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// Keys of the CA secret for the offline root's intermediate: the key get-ca-csr made (kept for every renewal), and
// the certificate and chain set-ca-certificate installed.
const (
	secretOfflineKey   = "offline-key"
	secretOfflineCert  = "offline-certificate"
	secretOfflineChain = "offline-chain" // an older charm's: the whole chain in one value; now offline-chain-<i>
)

// Peer keys: peerOffline is the params (importParams) of the CA set-ca-certificate installed, public; while it is
// set, the CA this authority should have is that one (wantParams). peerRenewWarned is the day the renewal warning
// was last logged.
const (
	peerOffline     = "offline-ca"
	peerRenewWarned = "renew-warned"
)

// getCACSR is get-ca-csr: a CSR for the key the leader keeps for the offline root to sign, made on first use and
// the same key ever after (a renewal is a new certificate for the same key), with the subject of the ca-* options.
func (r *reconciler) getCACSR() error {
	if ok, err := r.requireLeader("get-ca-csr"); !ok {
		return err
	}
	if r.cfgErr != nil {
		return r.hc.FailAction("cannot make a CSR with invalid config: " + r.cfgErr.Error())
	}
	if r.cfg.CASecret != "" {
		return r.hc.FailAction("ca-secret is set: the CA comes from that secret; unset it to use an offline root")
	}
	content, err := r.caSecret()
	if err != nil {
		return fmt.Errorf("cannot read the CA secret (the CA is created at the first hook): %w", err)
	}
	key, made := content[secretOfflineKey], false
	if key == "" {
		k, err := ca.GenerateKey(r.cfg.Algorithm)
		if err != nil {
			return fmt.Errorf("cannot generate the key for the offline root to sign: %w", err)
		}
		if key, err = ca.EncodePrivateKey(k); err != nil {
			return err
		}
		content[secretOfflineKey], made = key, true
		if err := r.setCASecret(content); err != nil {
			return err
		}
	}
	signer, err := ca.ParsePrivateKey(key)
	if err != nil {
		return fmt.Errorf("cannot read the offline root's key from the CA secret: %w", err)
	}
	csr, err := ca.NewCACSR(signer, r.cfg.Subject)
	if err != nil {
		return err
	}
	msg := "a CSR for the key kept for the offline root (the same key as before: sign it again to renew)"
	if made {
		msg = "a CSR for a new key kept in the CA secret: sign it with the offline root as a CA, then run set-ca-certificate"
		if err := r.hc.Log(hooktool.LevelInfo, "get-ca-csr: made the key for the offline root to sign"); err != nil {
			return err
		}
	}
	return r.hc.SetActionResults(map[string]string{"csr": ca.EncodeCertificateRequest(csr), "message": msg})
}

// setCACertificate is set-ca-certificate: the certificate the offline root signed for get-ca-csr's key, with its
// chain, checked as an imported CA is (importca.go) against that key, kept in the CA secret and installed through
// the rotation (trusted now, signing after the next update-status).
func (r *reconciler) setCACertificate() error {
	if ok, err := r.requireLeader("set-ca-certificate"); !ok {
		return err
	}
	if r.cfgErr != nil {
		return r.hc.FailAction("cannot install a CA with invalid config: " + r.cfgErr.Error())
	}
	if r.cfg.CASecret != "" {
		return r.hc.FailAction("ca-secret is set: the CA comes from that secret; unset it to use an offline root")
	}
	if r.peer[peerIssuer] != "" {
		return r.hc.FailAction("issuer is related: its CA signs this one; remove the relation to use an offline root")
	}
	params, err := r.hc.ActionParams()
	if err != nil {
		return err
	}
	certPEM, _ := params["certificate"].(string)
	chainPEM, _ := params["chain"].(string)
	content, err := r.caSecret()
	if err != nil {
		return err
	}
	if content[secretOfflineKey] == "" {
		return r.hc.FailAction("no key for the offline root: run get-ca-csr first and have its CSR signed")
	}
	key, err := ca.ParsePrivateKey(content[secretOfflineKey])
	if err != nil {
		return fmt.Errorf("cannot read the offline root's key from the CA secret: %w", err)
	}
	im, err := ca.CheckImport(certPEM, key, chainPEM, ca.ImportOptions{Now: r.o.Now(), MinValidity: r.cfg.LeafValidity})
	if err != nil {
		if lerr := r.hc.Log(hooktool.LevelWarning, "set-ca-certificate refused: %v", err); lerr != nil {
			return lerr
		}
		return r.hc.FailAction("cannot use this certificate: " + err.Error() + "; the current CA keeps signing")
	}
	pub, err := r.published()
	if err != nil {
		return err
	}
	if pub.CA == "" {
		return r.hc.FailAction("the CA is not created yet")
	}
	want := importParams(im)
	if pub.Params == want || r.peer[peerNextParams] == want {
		return r.hc.SetActionResults(map[string]string{"message": "this certificate is installed already"})
	}
	content[secretOfflineCert] = im.CertificatePEM()
	setOfflineChain(content, im.ChainPEMs())
	// The secret at its fullest is during the rotation this starts: the new CA's key and certificate as next too.
	// Juju would refuse it at secret-set, failing the action with its own words; the operator gets ours instead.
	fullest := maps.Clone(content)
	fullest["next-private-key"], fullest["next-certificate"], fullest["next-params"] = content[secretOfflineKey], im.CertificatePEM(), want
	if problem := secretContentProblem(fullest); problem != "" {
		if lerr := r.hc.Log(hooktool.LevelWarning, "set-ca-certificate refused: %s", problem); lerr != nil {
			return lerr
		}
		return r.hc.FailAction("cannot keep this CA: " + problem + "; give in chain only the issuers up to the root; the current CA keeps signing")
	}
	if err := r.setCASecret(content); err != nil {
		return err
	}
	r.imported = im
	if err := r.setPeer(map[string]string{peerOffline: want}); err != nil {
		return err
	}
	if err := r.rotateNow(pub, false); err != nil {
		return err
	}
	return r.hc.SetActionResults(map[string]string{
		"ca-certificate": im.CertificatePEM(),
		"message": fmt.Sprintf("%q (expires %s) is trusted now and signs after the next update-status (at the latest %s)",
			im.Certificate.Subject.CommonName, im.Certificate.NotAfter.UTC().Format(time.RFC3339),
			r.o.Now().Add(rotationPropagation).UTC().Format(time.RFC3339)),
	})
}

// setOfflineChain keeps the offline root's chain in content one certificate a value, offline-chain-0 (the issuer
// of the intermediate) up to the root: Juju 3.6 before 3.6.9 refuses a secret value over 8 KiB, which an issuer and
// a root of rsa-4096 with long subjects already pass, and allows 64 KiB in all.
func setOfflineChain(content map[string]string, chain []string) {
	maps.DeleteFunc(content, func(k, _ string) bool { return k == secretOfflineChain || isChainPart(k) })
	for i, c := range chain {
		content[secretOfflineChain+"-"+strconv.Itoa(i)] = c
	}
}

// offlineChain is the offline root's chain in content, as PEM, whether this charm or an older one (one value) kept
// it.
func offlineChain(content map[string]string) string {
	if v := content[secretOfflineChain]; v != "" {
		return v
	}
	var parts []string
	for i := 0; content[secretOfflineChain+"-"+strconv.Itoa(i)] != ""; i++ {
		parts = append(parts, content[secretOfflineChain+"-"+strconv.Itoa(i)])
	}
	return strings.Join(parts, "\n")
}

// isOfflineKey says whether a key of the CA secret belongs to the offline root's intermediate.
func isOfflineKey(k string) bool {
	return k == secretOfflineKey || k == secretOfflineCert || k == secretOfflineChain || isChainPart(k)
}

func isChainPart(k string) bool {
	i, ok := strings.CutPrefix(k, secretOfflineChain+"-")
	_, err := strconv.Atoi(i)
	return ok && err == nil
}

// offlineImported is the CA set-ca-certificate installed, read back from the CA secret's content, when a rotation
// must be started towards it in a hook (the action started one already; a rotation restarted since comes back
// to it).
func offlineImported(content map[string]string) (*ca.Imported, error) {
	key, err := ca.ParsePrivateKey(content[secretOfflineKey])
	if err != nil {
		return nil, fmt.Errorf("cannot read the offline root's key from the CA secret: %w", err)
	}
	cert, err := ca.ParseCertificate(content[secretOfflineCert])
	if err != nil {
		return nil, fmt.Errorf("cannot read the offline root's certificate from the CA secret: %w", err)
	}
	im := &ca.Imported{Certificate: cert, Key: key}
	if s := strings.TrimSpace(offlineChain(content)); s != "" {
		if im.Chain, err = ca.ParseCertificates(s); err != nil {
			return nil, fmt.Errorf("cannot read the offline root's chain from the CA secret: %w", err)
		}
	}
	return im, nil
}

// renewalWarning is the warning for a CA this charm cannot renew (imported or signed by an offline root): from two
// certificate-validities before it expires, one before it is refused (a CA must outlast the leaves it signs), the
// status says by when to renew it, and the leader logs it once a day. "" when none is due.
func (r *reconciler) renewalWarning(pub *published) (string, error) {
	if pub.cert == nil || !isImportParams(pub.Params) || r.cfg == nil {
		return "", nil
	}
	now := r.o.Now()
	by := pub.cert.NotAfter.Add(-r.cfg.LeafValidity)
	if by.Sub(now) >= r.cfg.LeafValidity {
		return "", nil
	}
	how := "juju update-secret the secret ca-secret names"
	if r.peer[peerOffline] == pub.Params {
		how = "get-ca-csr, sign it with the offline root, set-ca-certificate"
	}
	msg := fmt.Sprintf("renew the CA before %s (%s)", by.UTC().Format("2006-01-02"), how)
	today := now.UTC().Format("2006-01-02")
	if r.leader && r.peer[peerRenewWarned] != today {
		if err := r.hc.Log(hooktool.LevelWarning, "the CA %q expires on %s; this charm cannot renew it: %s", pub.cert.Subject.CommonName,
			pub.cert.NotAfter.UTC().Format(time.RFC3339), msg); err != nil {
			return "", err
		}
		if err := r.setPeer(map[string]string{peerRenewWarned: today}); err != nil {
			return "", err
		}
	}
	return msg, nil
}

// dropOffline forgets the offline root's intermediate (rotate-private-key): the next CA is one of this charm's own.
func (r *reconciler) dropOffline() error {
	content, err := r.caSecret()
	if err != nil {
		return err
	}
	maps.DeleteFunc(content, func(k, _ string) bool { return isOfflineKey(k) })
	if err := r.setCASecret(content); err != nil {
		return err
	}
	return r.setPeer(map[string]string{peerOffline: ""})
}
