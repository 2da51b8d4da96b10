package charm

// What this file owns: a CA the operator brings in a Juju user secret (the ca-secret option), checked before
// anything changes and installed through the rotation (rotation.go), so no requirer meets a chain it does not trust
// yet.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// Keys of the user secret that ca-secret names. Juju's key rule (^[a-z](-?[a-z0-9]){2,}$) allows no dot, so
// cert-manager's tls.crt/tls.key cannot be used; these are the keys self-signed-certificates' own secret uses for
// the key ("private-key") and this charm's CA secret uses for the certificate.
const (
	importCertificate = "certificate" // the CA certificate (PEM), one
	importPrivateKey  = "private-key" // its key (PEM, unencrypted: PKCS #8, PKCS #1 or SEC 1)
	importChain       = "chain"       // its issuers up to the root (PEM, the root last); absent for a root
	// importCACertificate is self-signed-certificates' key for its CA certificate: accepted too, so its secret's
	// content can be given as it is.
	importCACertificate = "ca-certificate"
)

// peerImportProblem is why the CA in ca-secret is not used, as the status shows it (no material), in the peer
// databag: every unit shows it, and the leader logs it once, when it changes.
const peerImportProblem = "import-problem"

// importParamsPrefix marks the params of an imported CA: its certificate's digest, so a new certificate in the
// secret is a new CA and a rotation, and the same one is none.
const importParamsPrefix = "import="

func importParams(im *ca.Imported) string {
	sum := sha256.Sum256(im.Certificate.Raw)
	return importParamsPrefix + hex.EncodeToString(sum[:16])
}

func isImportParams(p string) bool { return strings.HasPrefix(p, importParamsPrefix) }

// importReadHooks are the hooks in which the leader reads the secret ca-secret names although the CA in use is
// already the one it held: the secret changed, the option was set again, leadership moved, or update-status (which
// notices a revoked grant). Any other hook leaves it unread: a steady hook runs no more hook tools for it.
var importReadHooks = map[string]bool{"config-changed": true, "secret-changed": true, "leader-elected": true,
	"update-status": true, "upgrade-charm": true, "start": true}

// loadImport reads and checks the CA ca-secret names, on the leader. A CA that passes every check is r.imported;
// anything else is a problem in the status and one log line, and the CA in use stays and signs.
func (r *reconciler) loadImport(pub *published) error {
	uri := ""
	if r.cfg != nil && r.cfgErr == nil {
		uri = r.cfg.CASecret
	}
	if uri == "" {
		return r.setImportProblem("")
	}
	if r.peer[peerIssuer] != "" {
		// The issuer signs this authority's CA; two sources of one CA cannot both hold.
		return r.setImportProblem("the issuer relation gives this authority its CA: remove it to use ca-secret")
	}
	if isImportParams(pub.Params) && r.peer[peerNextCA] == "" && !importReadHooks[r.hc.Env.HookName] &&
		r.peer[peerImportProblem] == "" {
		return nil
	}
	// --refresh: a consumer is pinned to the revision it first read; the import follows the latest (and the read
	// acknowledges the secret-changed that brought it).
	content, err := r.hc.GetSecret(hooktool.GetSecretOptions{ID: uri, Refresh: true})
	switch {
	case errors.Is(err, hooktool.ErrPermission):
		return r.setImportProblem(fmt.Sprintf("cannot read secret %s: permission denied (juju grant-secret <secret> %s)", uri, r.hc.Env.AppName()))
	case errors.Is(err, hooktool.ErrNotFound):
		return r.setImportProblem(fmt.Sprintf("secret %s not found", uri))
	case err != nil:
		var te *hooktool.ToolError
		if errors.As(err, &te) {
			return r.setImportProblem(fmt.Sprintf("cannot read secret %s", uri))
		}
		return err
	}
	im, err := checkImportContent(content, r.o.Now(), r.cfg.LeafValidity)
	if err != nil {
		return r.setImportProblem(err.Error())
	}
	r.imported = im
	return r.setImportProblem("")
}

// checkImportContent is the checks of ca.CheckImport on a secret's content, with its keys named.
func checkImportContent(content map[string]string, now time.Time, leaf time.Duration) (*ca.Imported, error) {
	certPEM := content[importCertificate]
	if certPEM == "" {
		certPEM = content[importCACertificate]
	}
	if certPEM == "" || content[importPrivateKey] == "" {
		return nil, fmt.Errorf("the secret needs the keys %s and %s (and %s for an intermediate)", importCertificate, importPrivateKey, importChain)
	}
	key, err := ca.ParseImportKey(content[importPrivateKey])
	if err != nil {
		return nil, err
	}
	return ca.CheckImport(certPEM, key, content[importChain], ca.ImportOptions{Now: now, MinValidity: leaf})
}

// setImportProblem records why the CA of ca-secret is not used ("": it is, or there is none), logging it once.
func (r *reconciler) setImportProblem(problem string) error {
	if r.peer[peerImportProblem] == problem {
		return nil
	}
	if problem != "" {
		if err := r.hc.Log(hooktool.LevelWarning, "ca-secret: %s; the current CA keeps signing", problem); err != nil {
			return err
		}
	}
	return r.setPeer(map[string]string{peerImportProblem: problem})
}

// wantParams is the CA this authority should have: the imported one when ca-secret holds a good CA; what it has,
// or is rotating to, when ca-secret is set but its CA is not usable or was not read in this hook (nothing changes);
// a root of its own from the ca-* options otherwise (so removing ca-secret rotates back to one).
func (r *reconciler) wantParams(pub *published) string {
	switch {
	case r.imported != nil:
		return importParams(r.imported)
	case r.cfg.CASecret != "":
		if next := r.peer[peerNextParams]; next != "" {
			return next
		}
		return pub.Params
	case r.peer[peerOffline] != "":
		return r.peer[peerOffline]
	}
	return r.cfg.CAParams()
}
