// Package tlscertificates also holds the requirer side, for any Go charm
// (requirer.go; the wire types are described below). A Requirer asks for
// certificates on one endpoint and reports what the provider assigned. It is
// built once per hook and does everything in one reconcile call, Sync, which
// a charm runs in every hook (update-status included, so renewals happen on
// time):
//
//	req := tlscertificates.NewRequirer(hc, &tlscertificates.RequirerOptions{
//		Endpoint: "certificates",
//		UnitRequests: []tlscertificates.CertificateRequest{{
//			CommonName: "db-0.db-endpoints.prod.svc.cluster.local",
//			DNSNames:   []string{"db-0.db-endpoints.prod.svc.cluster.local"},
//		}},
//	})
//	got, err := req.Sync()
//	if err != nil {
//		return err
//	}
//	if c := got.Unit[0]; c.Ready() {
//		key, err := req.PrivateKey(tlscertificates.ScopeUnit)
//		// serve c.Certificate with key, trust c.CA
//	}
//
// UnitRequests are each unit's own (UNIT mode): the key is in a unit-owned
// secret, the CSRs in the unit's databag. AppRequests are the application's
// (APP mode): the leader keeps the key in an application-owned secret and the
// CSRs in the app databag, so a new leader finds both and requests nothing
// new; every unit can read the key and the certificate. Both lists together
// are the app-and-unit mode. Each scope has one key, shared by its requests,
// as in the Python library.
package tlscertificates

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// Scope says whose certificate a request is.
type Scope string

// Scopes.
const (
	ScopeUnit Scope = "unit"
	ScopeApp  Scope = "app"
)

// Defaults of RequirerOptions.
const (
	DefaultEndpoint        = "certificates"
	DefaultRenewalFraction = 0.9
)

// secretKeyField is the field of the key secret's content holding the PEM.
const secretKeyField = "private-key"

// RequirerOptions configure a Requirer.
type RequirerOptions struct {
	// Endpoint is the tls-certificates requires endpoint; default
	// "certificates". Only its first relation is used: the endpoint is meant
	// to have limit 1, as in the Python library.
	Endpoint string
	// UnitRequests are requested by every unit for itself.
	UnitRequests []CertificateRequest
	// AppRequests are requested by the leader for the application.
	AppRequests []CertificateRequest
	// RenewalFraction is the part of a certificate's validity after which a
	// new CSR for the same key replaces the old one; default 0.9.
	RenewalFraction float64
	// KeyAlgorithm is the type of a newly generated key; default RSA 2048,
	// what the Python library generates and every provider signs.
	KeyAlgorithm ca.Algorithm
	// SecretLabel prefixes the key secrets' labels (<prefix>-unit-key and
	// <prefix>-app-key); default "tls-certificates-<endpoint>".
	SecretLabel string
	// RenewBefore, when set, renews a certificate once less than this is
	// left of it, but never before half its validity (so a certificate
	// shorter than twice RenewBefore is not renewed in every hook); it
	// replaces RenewalFraction. An intermediate CA renews so that its leaves
	// can keep their full validity.
	RenewBefore time.Duration
	// AppKey, when set, is the app scope's key: the charm keeps it itself
	// (an intermediate CA's key lives in its CA secret) and the Requirer
	// neither reads nor creates a key secret for the app scope.
	AppKey crypto.Signer
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// Requirer is the requirer side of one tls-certificates endpoint for one hook.
type Requirer struct {
	hc   *hooktool.Context
	opts RequirerOptions
	keys map[Scope]crypto.Signer
	pems map[Scope]string
}

// NewRequirer returns a Requirer working through hc. o may be nil.
func NewRequirer(hc *hooktool.Context, o *RequirerOptions) *Requirer {
	opts := RequirerOptions{}
	if o != nil {
		opts = *o
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	if opts.RenewalFraction <= 0 || opts.RenewalFraction > 1 {
		opts.RenewalFraction = DefaultRenewalFraction
	}
	if opts.KeyAlgorithm == "" {
		opts.KeyAlgorithm = ca.RSA2048
	}
	if opts.SecretLabel == "" {
		opts.SecretLabel = "tls-certificates-" + opts.Endpoint
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Requirer{hc: hc, opts: opts, keys: map[Scope]crypto.Signer{}, pems: map[Scope]string{}}
}

// Assigned is what Sync found: one AssignedCertificate per request, in the
// order of RequirerOptions.UnitRequests and AppRequests.
type Assigned struct {
	// RelationID is the relation used, "" when the endpoint has none.
	RelationID string
	Unit       []AssignedCertificate
	App        []AssignedCertificate
	// Capabilities are what the provider said it signs, nil if it did not.
	Capabilities *Capabilities
	// Problems are remote-data defects that were skipped, one line each,
	// for the charm to log.
	Problems []string
	// Wrote tells whether Sync wrote a new CSR list (a request, a renewal,
	// a revocation or a change of the requests).
	Wrote bool
}

// AssignedCertificate is the state of one request.
type AssignedCertificate struct {
	Scope   Scope
	Request CertificateRequest
	// CSR is the PEM CSR in the databag; "" on a non-leader unit for an app
	// request (it cannot read its app databag).
	CSR string
	// Certificate, CA and Chain are what the provider assigned (PEM, chain
	// leaf first); empty while the request is outstanding.
	Certificate string
	CA          string
	Chain       []string
	NotBefore   time.Time
	NotAfter    time.Time
	// RenewAt is when Sync will replace the CSR to renew the certificate.
	RenewAt time.Time
	// Renewing: Certificate is the previous one, still valid, while the CSR
	// that renews it is outstanding. Keep serving it.
	Renewing bool
	// Refused is the provider's request error for the CSR, if any.
	Refused *ErrorDetail
}

// Ready tells whether a certificate is assigned.
func (a AssignedCertificate) Ready() bool { return a.Certificate != "" }

// providerEntry is a provider certificate with its parsed leaf.
type providerEntry struct {
	ProviderCertificate
	cert *x509.Certificate
}

// Sync reconciles the endpoint in one pass: it reads the provider's app
// databag and this side's CSR lists once, keeps each CSR that still matches
// its request, creates CSRs for new requests, renewals and revoked
// certificates, writes a list only when it differs from what is there (the
// key is deleted when a list empties), and reports what is assigned. Bad
// remote data never fails it; it is reported in Assigned.Problems.
func (r *Requirer) Sync() (*Assigned, error) {
	out := &Assigned{
		Unit: make([]AssignedCertificate, len(r.opts.UnitRequests)),
		App:  make([]AssignedCertificate, len(r.opts.AppRequests)),
	}
	for i, req := range r.opts.UnitRequests {
		out.Unit[i] = AssignedCertificate{Scope: ScopeUnit, Request: req}
	}
	for i, req := range r.opts.AppRequests {
		out.App[i] = AssignedCertificate{Scope: ScopeApp, Request: req}
	}
	relID, err := r.relation()
	if err != nil || relID == "" {
		return out, err
	}
	out.RelationID = relID

	remote, err := r.hc.RemoteApp(relID)
	if err != nil {
		return nil, fmt.Errorf("cannot sync certificate requests: %w", err)
	}
	provBag, err := r.hc.AppData(relID, remote)
	if err != nil {
		return nil, fmt.Errorf("cannot sync certificate requests: %w", err)
	}
	certs, reqErrs, caps, problems := ReadProviderBag(provBag)
	out.Capabilities = caps
	out.Problems = problems
	entries := make([]providerEntry, 0, len(certs))
	for i, c := range certs {
		leaf, err := ca.ParseCertificate(c.Certificate)
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("%s[%d] skipped: %v", KeyCertificates, i, err))
			continue
		}
		entries = append(entries, providerEntry{ProviderCertificate: c, cert: leaf})
	}

	unitBag, err := r.hc.UnitData(relID, r.hc.Env.UnitName)
	if err != nil {
		return nil, fmt.Errorf("cannot sync certificate requests: %w", err)
	}
	wrote, err := r.syncScope(ScopeUnit, relID, unitBag, out.Unit, entries, reqErrs, &out.Problems)
	if err != nil {
		return nil, err
	}
	out.Wrote = wrote

	leader, err := r.hc.IsLeader()
	if err != nil {
		return nil, fmt.Errorf("cannot sync certificate requests: %w", err)
	}
	switch {
	case leader:
		appBag, err := r.hc.AppData(relID, r.hc.Env.AppName())
		if err != nil {
			return nil, fmt.Errorf("cannot sync certificate requests: %w", err)
		}
		wrote, err := r.syncScope(ScopeApp, relID, appBag, out.App, entries, reqErrs, &out.Problems)
		if err != nil {
			return nil, err
		}
		out.Wrote = out.Wrote || wrote
	case len(out.App) > 0:
		// A non-leader cannot read its app databag, so it finds the app's
		// certificates by the app key, which every unit may read.
		if err := r.readAppScope(out.App, entries); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// relation returns the endpoint's first live relation, "" if none. A relation
// being broken is left out: nothing written to it matters any more.
func (r *Requirer) relation() (string, error) {
	ids, err := r.hc.RelationIDs(r.opts.Endpoint)
	if err != nil {
		return "", fmt.Errorf("cannot sync certificate requests: %w", err)
	}
	for _, id := range ids {
		if strings.HasSuffix(r.hc.Env.HookName, "-relation-broken") && id == r.hc.Env.RelationID {
			continue
		}
		return id, nil
	}
	return "", nil
}

// syncScope reconciles one CSR list (unit or app databag) with its requests,
// fills in what is assigned and writes the list when it changed.
func (r *Requirer) syncScope(scope Scope, relID string, bag map[string]string, res []AssignedCertificate,
	entries []providerEntry, reqErrs []RequestError, problems *[]string) (bool, error) {
	current := strings.TrimSpace(bag[KeyCSRs])
	existing, probs, err := ReadRequests(bag)
	if err != nil {
		// Our own databag is unreadable only if something else wrote it:
		// start again with fresh CSRs.
		*problems = append(*problems, fmt.Sprintf("own %s: %v", KeyCSRs, err))
	}
	*problems = append(*problems, probs...)
	parsed := make([]*x509.CertificateRequest, len(existing))
	for i, e := range existing {
		parsed[i] = parseCSR(e.CSR)
	}
	// The charm's own app key is known before any CSR is made: a CSR in the databag made with another key (the
	// charm replaced its key, e.g. after its issuer relation was suspended and resumed, when Juju keeps the
	// application databag) is stale, and must be made again rather than kept.
	if scope == ScopeApp && r.opts.AppKey != nil {
		if _, err := r.key(scope, false); err != nil {
			return false, err
		}
	}
	used := make([]bool, len(existing))
	now := r.opts.Now()

	list := make([]CSRRequest, len(res))
	for i := range res {
		req := res[i].Request
		var keep *CSRRequest
		var keepParsed *x509.CertificateRequest
		for j, e := range existing {
			if used[j] || parsed[j] == nil || e.CA != req.IsCA || !req.matchesCSR(parsed[j]) {
				continue
			}
			// A CSR made with another key (the secret was replaced) is stale.
			if key := r.keys[scope]; key != nil && !samePublicKey(key.Public(), parsed[j].PublicKey) {
				continue
			}
			used[j] = true
			keep, keepParsed = &existing[j], parsed[j]
			break
		}
		if keep != nil {
			if e := exactEntry(entries, keep.CSR); e != nil && (e.Revoked || r.dueForRenewal(e, now)) {
				keep = nil
			}
		}
		if keep != nil {
			list[i] = *keep
		} else {
			key, err := r.key(scope, true)
			if err != nil {
				return false, err
			}
			csr, err := NewCSR(req, key)
			if err != nil {
				return false, fmt.Errorf("cannot request a certificate for %q: %w", req.CommonName, err)
			}
			list[i] = CSRRequest{CSR: csr, CA: req.IsCA}
			keepParsed = parseCSR(csr)
		}
		res[i].CSR = list[i].CSR
		r.assign(&res[i], entries, reqErrs, keepParsed.PublicKey, now)
	}

	value := WriteRequests(list)
	if value == current {
		return false, nil
	}
	var err2 error
	data := map[string]string{KeyCSRs: value}
	if scope == ScopeUnit {
		err2 = r.hc.SetUnitData(relID, data)
	} else {
		err2 = r.hc.SetAppData(relID, data)
	}
	if err2 != nil {
		return false, fmt.Errorf("cannot write certificate requests: %w", err2)
	}
	return true, nil
}

// readAppScope fills in the app's certificates on a non-leader unit.
func (r *Requirer) readAppScope(res []AssignedCertificate, entries []providerEntry) error {
	key, err := r.key(ScopeApp, false)
	if errors.Is(err, hooktool.ErrNotFound) {
		return nil // the leader has not requested anything yet
	}
	if err != nil {
		return err
	}
	now := r.opts.Now()
	for i := range res {
		r.assign(&res[i], entries, nil, key.Public(), now)
	}
	return nil
}

// assign fills in res from the provider's entries: the non-revoked entry for
// res.CSR if there is one; otherwise, so a renewal or a leader change never
// leaves the charm without a certificate, the still valid, non-revoked
// certificate for the same key and request that expires last.
func (r *Requirer) assign(res *AssignedCertificate, entries []providerEntry, reqErrs []RequestError,
	pub crypto.PublicKey, now time.Time) {
	if res.CSR != "" {
		for _, e := range reqErrs {
			if strings.TrimSpace(e.CSR) == res.CSR {
				detail := e.Error
				res.Refused = &detail
			}
		}
	}
	var best *providerEntry
	if res.CSR != "" {
		if e := exactEntry(entries, res.CSR); e != nil && !e.Revoked {
			best = e
		}
	}
	if best == nil {
		for i := range entries {
			e := &entries[i]
			if e.Revoked || !now.Before(e.cert.NotAfter) || !samePublicKey(pub, e.cert.PublicKey) ||
				!res.Request.matchesCertificate(e.cert) {
				continue
			}
			if best == nil || e.cert.NotAfter.After(best.cert.NotAfter) {
				best = e
			}
		}
		// On a non-leader there is no CSR to compare: the newest is the one.
		res.Renewing = best != nil && res.CSR != ""
	}
	if best == nil {
		return
	}
	res.Certificate = best.Certificate
	res.CA = best.CA
	res.Chain = best.Chain
	res.NotBefore = best.cert.NotBefore
	res.NotAfter = best.cert.NotAfter
	res.RenewAt = r.renewalTime(best.cert)
}

// exactEntry is the provider entry for csr, preferring a non-revoked one.
func exactEntry(entries []providerEntry, csr string) *providerEntry {
	var found *providerEntry
	for i := range entries {
		if strings.TrimSpace(entries[i].CSR) != csr {
			continue
		}
		if !entries[i].Revoked {
			return &entries[i]
		}
		found = &entries[i]
	}
	return found
}

// dueForRenewal tells whether the certificate has passed its renewal time.
// A certificate that ends with its CA is never due: the provider capped it
// at the CA's expiry, a new CSR would get the same cap, and renewing would
// then happen in every hook; the CA's own rotation brings the fix.
func (r *Requirer) dueForRenewal(e *providerEntry, now time.Time) bool {
	if now.Before(r.renewalTime(e.cert)) {
		return false
	}
	if e.CA != "" {
		if issuer, err := ca.ParseCertificate(e.CA); err == nil && !e.cert.NotAfter.Before(issuer.NotAfter) {
			return false
		}
	}
	return true
}

// renewalTime is NotBefore plus RenewalFraction of the validity, or, with
// RenewBefore, NotAfter minus RenewBefore but not before half the validity.
func (r *Requirer) renewalTime(cert *x509.Certificate) time.Time {
	validity := cert.NotAfter.Sub(cert.NotBefore)
	if r.opts.RenewBefore > 0 {
		return cert.NotAfter.Add(-min(r.opts.RenewBefore, validity/2))
	}
	return cert.NotBefore.Add(time.Duration(float64(validity) * r.opts.RenewalFraction))
}

func (r *Requirer) secretLabel(scope Scope) string {
	return r.opts.SecretLabel + "-" + string(scope) + "-key"
}

// key returns the scope's private key from its secret, creating both when
// create is set and the secret does not exist. A unit key lives in a
// unit-owned secret; the app key in an app-owned one (only the leader creates
// it, every unit reads it).
func (r *Requirer) key(scope Scope, create bool) (crypto.Signer, error) {
	if k := r.keys[scope]; k != nil {
		return k, nil
	}
	if scope == ScopeApp && r.opts.AppKey != nil {
		pemKey, err := ca.EncodePrivateKey(r.opts.AppKey)
		if err != nil {
			return nil, fmt.Errorf("cannot use the given app key: %w", err)
		}
		r.keys[scope], r.pems[scope] = r.opts.AppKey, pemKey
		return r.opts.AppKey, nil
	}
	label := r.secretLabel(scope)
	content, err := r.hc.GetSecret(hooktool.GetSecretOptions{Label: label})
	switch {
	case err == nil:
		pemKey := content[secretKeyField]
		key, err := ca.ParsePrivateKey(pemKey)
		if err != nil {
			return nil, fmt.Errorf("cannot use private key in secret %q: %w", label, err)
		}
		r.keys[scope], r.pems[scope] = key, pemKey
		return key, nil
	case !errors.Is(err, hooktool.ErrNotFound) || !create:
		return nil, fmt.Errorf("cannot read private key: %w", err)
	}
	key, err := ca.GenerateKey(r.opts.KeyAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("cannot create private key: %w", err)
	}
	pemKey, err := ca.EncodePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cannot create private key: %w", err)
	}
	owner := hooktool.OwnerUnit
	if scope == ScopeApp {
		owner = hooktool.OwnerApplication
	}
	if _, err := r.hc.AddSecret(map[string]string{secretKeyField: pemKey}, &hooktool.AddSecretOptions{
		Label:       label,
		Owner:       owner,
		Description: fmt.Sprintf("private key of the %s certificates on %s", scope, r.opts.Endpoint),
	}); err != nil {
		return nil, fmt.Errorf("cannot store private key: %w", err)
	}
	r.keys[scope], r.pems[scope] = key, pemKey
	return key, nil
}

// PrivateKey returns the scope's private key as PEM (PKCS #8, or whatever
// format the secret holds). It reads the secret, once per Requirer, so a
// charm calls it only when it has something to install. It never creates a
// key: before the first Sync that requested something the error wraps
// hooktool.ErrNotFound.
func (r *Requirer) PrivateKey(scope Scope) (string, error) {
	if _, err := r.key(scope, false); err != nil {
		return "", err
	}
	return r.pems[scope], nil
}
