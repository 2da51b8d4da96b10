package charm

// serving.go gives each unit a serving certificate for its own agent, so that COS scrapes the metrics over TLS:
// the pod's FQDN as DNS SAN and its IP as IP SAN (a "*" scrape target is the pod IP), signed by the current signing
// CA, for a key the unit generates.
//
// Only the leader ever reads the CA key. A unit puts a CSR for its key in its own peer unit databag
// (peerServingCSR); the leader, in the hook that brings it (authority-relation-changed) or in a scan hook,
// checks it strictly (the CSR's signature, a P-256 key, exactly the unit's pod FQDN and the pod IP the unit
// publishes beside it as peerServingIP, nothing else), signs it (signServing) and publishes the leaf in the peer application databag
// (peerServingPrefix + the unit's number). The unit installs the leaf once its public key is the key it holds; until
// then its agent keeps serving the certificate it has, with that certificate's key. The leader signs its own CSR
// directly.
//
// The key and certificate live in the unit's charm directory, not in a unit-owned secret. A steady hook then
// checks them with a file read and no hook tool (a secret would cost a secret-get per hook, and put a key in the
// controller that is only ever used inside this pod). The charm directory goes away with the pod, and so does the
// pod IP the certificate names: the next pod's first hook asks for a new one.

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// AgentTLSPort is where the agent serves the same routes over HTTPS, with the unit's serving certificate.
const AgentTLSPort = 8443

// Files in the charm directory, and in the workload's DataDir.
const (
	// servingCache holds the unit's serving state (servingState, JSON, 0600), in one file replaced by a rename, so
	// that a hook killed half way never leaves a key with another key's certificate.
	servingCache    = ".tls-authority-serving.json"
	servingCertFile = "tls.crt"
	servingKeyFile  = "tls.key"
)

// Keys of the peer relation's databags for the serving certificates.
const (
	// peerServingCSR, in a unit's own databag: the PEM CSR for the key the unit waits a certificate for.
	peerServingCSR = "serving-csr"
	// peerServingIP, beside it: the pod IP the unit's CSR names ("" for none). Not Juju's ingress-address: on
	// Kubernetes that is the application's service address, the same for every unit (seen on Juju 4.1-beta2,
	// where the leader refused every other unit's CSR for naming its own pod IP). A unit's own databag is written
	// by that unit alone, as its CSR is: the IP is trusted as far as the CSR is.
	peerServingIP = "serving-ip"
	// peerServingPrefix + a unit's number, in the application databag: the PEM leaf the leader signed for that
	// unit's CSR. One key per unit, so that signing one unit's certificate rewrites that key alone.
	peerServingPrefix = "serving-cert-"
)

// servingValidity is how long a serving certificate lasts (clipped to the CA's expiry); it is renewed once two
// thirds of its life have passed, so an update-status or two always fall in the remaining third.
const servingValidity = 90 * 24 * time.Hour

// servingState is what a unit keeps of its serving certificate: the one its agent serves, with its key, and the key
// and CSR it waits a certificate for.
type servingState struct {
	Crt string `json:"crt,omitempty"` // leaf then chain
	Key string `json:"key,omitempty"`
	// PendingKey and PendingCSR are the next key and its CSR; PendingFor is the CA they were made under (caID).
	PendingKey string `json:"pending-key,omitempty"`
	PendingCSR string `json:"pending-csr,omitempty"`
	PendingFor string `json:"pending-for,omitempty"`
}

// caID names a CA certificate in the serving state: the digest of its PEM.
func caID(pub *published) string { return fileDigest(pub.CA) }

// servingKeyOf is the application databag key of a unit's serving certificate.
func servingKeyOf(unit string) string {
	_, n, _ := strings.Cut(unit, "/")
	return peerServingPrefix + n
}

// servingCert returns this unit's serving certificate (leaf and chain) and key. It asks for a new one when there is
// none, when it names another address or FQDN, when another CA signs now, or when two thirds of its life are gone,
// and installs the certificate the leader published once it is for the key the unit holds. Until then it returns the
// kept one, if any. The leader signs its own directly.
func (r *reconciler) servingCert(pub *published) (crt, key string, err error) {
	if pub.CA == "" || pub.cert == nil {
		return "", "", nil
	}
	env := r.hc.Env
	fqdn := podFQDN(env.UnitName, env.ModelName)
	ip := podIPOf(podHostname(env.UnitName))
	now := r.o.Now()
	cachePath := filepath.Join(env.CharmDir, servingCache)
	chain := strings.Join(pub.Chain(), "\n") + "\n"
	crlURL := r.caCRLURL(pub.cert)
	var st servingState
	if env.CharmDir != "" {
		if b, err := os.ReadFile(cachePath); err == nil && json.Unmarshal(b, &st) == nil && (st.Crt == "") == (st.Key == "") {
			if leaf := keptLeaf(st.Crt, chain); leaf != nil && leafCurrent(leaf, pub.cert, fqdn, ip, now) && servingUsable(leaf, crlURL, r.peer[peerRevoked]) {
				return st.Crt, st.Key, nil
			}
		} else {
			st = servingState{}
		}
	}
	save := func() error {
		if env.CharmDir == "" {
			return nil
		}
		b, _ := json.Marshal(st)
		tmp := cachePath + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return fmt.Errorf("cannot keep the serving certificate: %w", err)
		}
		if err := os.Rename(tmp, cachePath); err != nil {
			return fmt.Errorf("cannot keep the serving certificate: %w", err)
		}
		return nil
	}
	// install makes leafPEM, with key, what the agent serves; it returns them so that a caller never reads the
	// state before the change.
	install := func(leafPEM, key string) (string, string, error) {
		if key == st.PendingKey {
			st.PendingKey, st.PendingCSR, st.PendingFor = "", "", ""
		}
		st.Crt, st.Key = strings.TrimSpace(leafPEM)+"\n"+chain, key
		if err := save(); err != nil {
			return "", "", err
		}
		return st.Crt, st.Key, r.hc.Log(hooktool.LevelInfo, "installed the agent's serving certificate for %s (%s)", fqdn, ipString(ip))
	}

	// The certificate the leader published for this unit, once it is for the pending key (or for the key the agent
	// has: a leader's full scan may renew it before the unit asks).
	published := r.peer[servingKeyOf(env.UnitName)]
	pendingAnswered := false
	if leaf, err := ca.ParseCertificate(published); !r.leader && published != "" && err == nil {
		current := leafCurrent(leaf, pub.cert, fqdn, ip, now) && servingUsable(leaf, crlURL, r.peer[peerRevoked])
		switch {
		case st.PendingKey != "" && keyOf(leaf, st.PendingKey):
			if current {
				return install(published, st.PendingKey)
			}
			pendingAnswered = true // signed, but no longer good: a new CSR tells the leader
		case current && st.Key != "" && keyOf(leaf, st.Key):
			return install(published, st.Key)
		}
	}
	// A CSR for the names and the CA of now, made once and kept until answered.
	if pendingAnswered || st.PendingKey == "" || st.PendingFor != caID(pub) || !csrNames(st.PendingCSR, fqdn, ip) {
		k, csrPEM, err := newServingCSR(fqdn, ip)
		if err != nil {
			return st.Crt, st.Key, err
		}
		st.PendingKey, st.PendingCSR, st.PendingFor = k, csrPEM, caID(pub)
		// The key is on disk before its CSR leaves the unit.
		if err := save(); err != nil {
			return "", "", err
		}
	}

	if r.leader {
		auth, err := r.signingAuthority(pub)
		if err != nil {
			return "", "", err
		}
		if auth == nil {
			// Until the new CA can sign, the agent keeps serving what it has (a scraper trusts the whole bundle).
			return st.Crt, st.Key, nil
		}
		csr, err := parseCSR(st.PendingCSR)
		if err == nil {
			var leaf *x509.Certificate
			if leaf, err = r.signServing(auth, env.UnitName, csr, now); err == nil {
				return install(ca.EncodeCertificate(leaf), st.PendingKey)
			}
		}
		// The agent's own certificate is not worth failing the hook over (an expired CA is already in the status
		// and the alerts): keep serving what there is, and say why.
		return st.Crt, st.Key, r.hc.Log(hooktool.LevelWarning, "cannot renew the agent's serving certificate: %v", err)
	}
	// Another unit asks the leader: the CSR goes in its own peer databag, unless it is there already.
	if r.peerID == "" {
		return st.Crt, st.Key, nil
	}
	mine, err := r.hc.UnitData(r.peerID, env.UnitName)
	if err != nil {
		return "", "", err
	}
	if want := ipOrEmpty(ip); mine[peerServingCSR] != st.PendingCSR || mine[peerServingIP] != want {
		if err := r.hc.SetUnitData(r.peerID, map[string]string{peerServingCSR: st.PendingCSR, peerServingIP: want}); err != nil {
			return "", "", err
		}
		if err := r.hc.Log(hooktool.LevelInfo, "asked the leader for the agent's serving certificate for %s (%s)", fqdn, ipString(ip)); err != nil {
			return "", "", err
		}
	}
	return st.Crt, st.Key, nil
}

// signingAuthority is the CA that signs now, with its key (the leader's alone: it reads the CA secret by label).
// nil when the secret does not yet hold the published CA (a rotation committed in between), or on another unit.
func (r *reconciler) signingAuthority(pub *published) (*ca.Authority, error) {
	if !r.leader {
		return nil, nil
	}
	auth, err := r.authority()
	if errors.Is(err, hooktool.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(auth.Certificate.Raw, pub.cert.Raw) {
		return nil, nil
	}
	return auth, nil
}

// signServing is where the leader signs a unit's serving certificate (its own included): csr has passed
// checkServingCSR (or is the leader's own), and the certificate is for the unit's pod alone.
func (r *reconciler) signServing(auth *ca.Authority, unit string, csr *x509.CertificateRequest, now time.Time) (*x509.Certificate, error) {
	// It names its CA's CRL, as requirer certificates do, so that revoke-certificate can list it there.
	leaf, err := auth.Issue(csr, ca.IssueOptions{Validity: servingValidity, CRLDistributionPoint: r.caCRLURL(auth.Certificate), Now: now})
	if err != nil {
		return nil, fmt.Errorf("cannot issue the serving certificate of %s: %w", unit, err)
	}
	r.recordIssued(leaf, servingHolder(unit)) // the serial ledger: it can be revoked (ledger.go)
	return leaf, nil
}

// servingScanHooks are the leader's hooks that read every peer unit's databag: a new leader may have missed a
// CSR the previous one never answered, and a leader just upgraded from a revision that ignored CSRs. Any CSR written
// since reaches the leader in its own relation-changed.
var servingScanHooks = map[string]bool{"leader-elected": true, "upgrade-charm": true}

// signPeerServing is the leader's side: it signs the serving CSRs of the other units that this hook brings (the
// relation-changed of the unit that wrote one) or that a scan hook (servingScanHooks) finds, and publishes each certificate in the
// application databag (staged: one write per hook). A certificate already published for the same key, names and CA
// with less than two thirds of its life gone is kept. A departed unit's certificate leaves the databag. Any other
// hook makes no call here.
func (r *reconciler) signPeerServing(pub *published) error {
	env := r.hc.Env
	stale := map[string]string{}
	if own := servingKeyOf(env.UnitName); r.peer[own] != "" {
		stale[own] = "" // the leader signs its own directly
	}
	var units []string
	switch {
	case servingScanHooks[env.HookName]:
		listed, err := r.hc.RelationUnits(r.peerID)
		if err != nil {
			return err
		}
		units = listed
		present := map[string]bool{servingKeyOf(env.UnitName): true}
		for _, u := range listed {
			present[servingKeyOf(u)] = true
		}
		for k := range r.peer {
			if strings.HasPrefix(k, peerServingPrefix) && !present[k] {
				stale[k] = ""
			}
		}
	case env.RelationName == PeerEndpoint && env.HookName == PeerEndpoint+"-relation-departed":
		if u := cmp.Or(env.DepartingUnit, env.RemoteUnit); u != "" && u != env.UnitName && r.peer[servingKeyOf(u)] != "" {
			stale[servingKeyOf(u)] = ""
		}
	case env.RelationName == PeerEndpoint && env.HookName == PeerEndpoint+"-relation-changed" && env.RemoteUnit != "":
		units = []string{env.RemoteUnit}
	}
	if len(units) > 0 {
		signed, err := r.signPeerCSRs(pub, units)
		if err != nil {
			return err
		}
		for k, v := range signed {
			stale[k] = v
		}
	}
	return r.setPeer(stale)
}

// signPeerCSRs reads the units' peer databags (side by side) and signs what needs it; it returns the databag keys
// to set. A CSR that fails the checks is logged and left unanswered: the unit's agent keeps what it has.
func (r *reconciler) signPeerCSRs(pub *published, units []string) (map[string]string, error) {
	bags := make([]map[string]string, len(units))
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bags[i], errs[i] = r.hc.UnitData(r.peerID, u)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := r.o.Now()
	out := map[string]string{}
	var auth *ca.Authority
	for i, u := range units {
		csrPEM := bags[i][peerServingCSR]
		if csrPEM == "" || u == r.hc.Env.UnitName {
			continue
		}
		fqdn := podFQDN(u, r.hc.Env.ModelName)
		ip := net.ParseIP(bags[i][peerServingIP])
		csr, err := checkServingCSR(csrPEM, fqdn, ip)
		if err != nil {
			if err := r.hc.Log(hooktool.LevelWarning, "refused the serving CSR of %s: %v", u, err); err != nil {
				return nil, err
			}
			continue
		}
		var certIP net.IP
		if len(csr.IPAddresses) == 1 {
			certIP = csr.IPAddresses[0]
		}
		key := servingKeyOf(u)
		if leaf := servingLeafCurrent(r.peer[key], csr, pub.cert, fqdn, certIP, now); leaf != nil && servingUsable(leaf, r.caCRLURL(pub.cert), r.peer[peerRevoked]) {
			continue
		}
		if auth == nil {
			if auth, err = r.signingAuthority(pub); err != nil {
				return nil, err
			}
			if auth == nil {
				return out, nil // the secret does not show the published CA yet: a later hook signs
			}
		}
		leaf, err := r.signServing(auth, u, csr, now)
		if err != nil {
			if err := r.hc.Log(hooktool.LevelWarning, "%v", err); err != nil {
				return nil, err
			}
			continue
		}
		out[key] = ca.EncodeCertificate(leaf)
		if err := r.hc.Log(hooktool.LevelInfo, "signed the serving certificate of %s for %s (%s), serial %x", u, fqdn, ipString(ip), leaf.SerialNumber); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// servingLeafCurrent is leafPEM, as published, parsed, if it is for csr's key, names exactly fqdn and ip, was
// signed by signer, and has less than two thirds of its life gone; nil if not.
func servingLeafCurrent(leafPEM string, csr *x509.CertificateRequest, signer *x509.Certificate, fqdn string, ip net.IP, now time.Time) *x509.Certificate {
	if leafPEM == "" {
		return nil
	}
	leaf, err := ca.ParseCertificate(leafPEM)
	if err != nil || !publicKeyEqual(leaf.PublicKey, csr.PublicKey) || !leafCurrent(leaf, signer, fqdn, ip, now) {
		return nil
	}
	return leaf
}

// checkServingCSR parses a unit's serving CSR and holds it to what that unit may have: a valid self-signature by a
// P-256 key, the subject CN=fqdn alone, the DNS name fqdn alone, the IP ip alone (or no IP), and no other name.
func checkServingCSR(csrPEM, fqdn string, ip net.IP) (*x509.CertificateRequest, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("cannot verify the CSR's signature: %w", err)
	}
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("the CSR's key is not ECDSA P-256")
	}
	want, err := servingSubject(fqdn)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(csr.RawSubject, want) {
		return nil, fmt.Errorf("the CSR's subject %q is not CN=%s", csr.Subject.String(), fqdn)
	}
	// The unit may leave out the IP (its pod has none in /etc/hosts), never name another.
	if !csrNamesMatch(csr, fqdn, ip) && !csrNamesMatch(csr, fqdn, nil) {
		return nil, fmt.Errorf("the CSR names %v %v %v %v, not exactly %s and %s", csr.DNSNames, csr.IPAddresses, csr.URIs, csr.EmailAddresses, fqdn, ipString(ip))
	}
	return csr, nil
}

// servingSubject is the DER subject of a serving certificate: CN=fqdn and nothing else.
func servingSubject(fqdn string) ([]byte, error) {
	b, err := asn1.Marshal(pkix.Name{CommonName: fqdn}.ToRDNSequence())
	if err != nil {
		return nil, fmt.Errorf("cannot encode the serving subject: %w", err)
	}
	return b, nil
}

// csrNamesMatch says whether csr asks for exactly fqdn and ip (no IP when ip is nil), and no URI or email.
func csrNamesMatch(csr *x509.CertificateRequest, fqdn string, ip net.IP) bool {
	if !slices.Equal(csr.DNSNames, []string{fqdn}) || len(csr.URIs) != 0 || len(csr.EmailAddresses) != 0 {
		return false
	}
	if ip == nil {
		return len(csr.IPAddresses) == 0
	}
	return len(csr.IPAddresses) == 1 && csr.IPAddresses[0].Equal(ip)
}

// csrNames says whether a kept CSR is for fqdn and ip.
func csrNames(csrPEM, fqdn string, ip net.IP) bool {
	csr, err := parseCSR(csrPEM)
	return err == nil && csrNamesMatch(csr, fqdn, ip)
}

// parseCSR parses one PEM CERTIFICATE REQUEST.
func parseCSR(s string) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("cannot parse the serving CSR: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the serving CSR: %w", err)
	}
	return csr, nil
}

// keyOf says whether cert is for the PEM private key.
func keyOf(cert *x509.Certificate, keyPEM string) bool {
	k, err := ca.ParsePrivateKey(keyPEM)
	if err != nil {
		return false
	}
	return publicKeyEqual(cert.PublicKey, k.Public())
}

func publicKeyEqual(a, b any) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

// keptLeaf is the leaf of a kept serving certificate (PEM: the leaf, then the chain), parsed, if the chain after
// it is chain; nil if not.
func keptLeaf(crt, chain string) *x509.Certificate {
	leafPEM, rest, ok := strings.Cut(crt, "-----END CERTIFICATE-----\n")
	if !ok || rest != chain {
		return nil
	}
	leaf, err := ca.ParseCertificate(leafPEM + "-----END CERTIFICATE-----")
	if err != nil {
		return nil
	}
	return leaf
}

// leafCurrent says whether leaf was signed by signer, names exactly fqdn and ip, and has at most two thirds of its
// life gone.
func leafCurrent(leaf, signer *x509.Certificate, fqdn string, ip net.IP, now time.Time) bool {
	if !bytes.Equal(leaf.RawIssuer, signer.RawSubject) || !bytes.Equal(leaf.AuthorityKeyId, signer.SubjectKeyId) {
		return false
	}
	if !slices.Equal(leaf.DNSNames, []string{fqdn}) {
		return false
	}
	if ip == nil && len(leaf.IPAddresses) != 0 || ip != nil && (len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip)) {
		return false
	}
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return now.Before(leaf.NotBefore.Add(life * 2 / 3))
}

// servingUsable says whether a serving certificate's leaf names crlURL as its CRL
// distribution point, as requirer certificates do (one issued before serving certificates named it is issued
// again, so it can be revoked), and is not on the current CA's revoked list (revoked, the peer databag's JSON:
// looked up as text, not parsed, in every hook): a revoked one is replaced at once.
func servingUsable(leaf *x509.Certificate, crlURL, revoked string) bool {
	return slices.Equal(leaf.CRLDistributionPoints, []string{crlURL}) && !strings.Contains(revoked, `"serial":"`+serialHex(leaf)+`"`)
}

// servingPair is a serving certificate and its key, as a hook worked them out (servingOnce).
type servingPair struct {
	Crt string
	Key string
}

// newServingCSR generates a serving key and its CSR for fqdn and ip.
func newServingCSR(fqdn string, ip net.IP) (key, csrPEM string, err error) {
	k, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		return "", "", fmt.Errorf("cannot generate the serving key: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: fqdn}, DNSNames: []string{fqdn}}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		return "", "", fmt.Errorf("cannot create the serving CSR: %w", err)
	}
	if key, err = ca.EncodePrivateKey(k); err != nil {
		return "", "", err
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// hostsOnly resolves from /etc/hosts alone: its DNS dialer fails at once, so a hook never waits on a DNS server.
var hostsOnly = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("cannot query DNS: /etc/hosts only")
}}

// podIPOf is podIP, which a test replaces: the pod's /etc/hosts is not the test machine's.
var podIPOf = podIP

// podIP is the address the pod's hostname has in /etc/hosts (IPv4 first), as the kubelet writes it into every
// container of the pod: the pod IP (not the unit's ingress-address, which on Kubernetes is the application's service
// address). nil when it is not there.
func podIP(host string) net.IP {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	addrs, err := hostsOnly.LookupHost(ctx, host)
	if err != nil {
		return nil
	}
	var first net.IP
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil {
			continue
		}
		if ip.To4() != nil {
			return ip
		}
		if first == nil {
			first = ip
		}
	}
	return first
}

// ipOrEmpty is ip as the peer databag holds it: "" for none.
func ipOrEmpty(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func ipString(ip net.IP) string {
	if ip == nil {
		return "no IP"
	}
	return ip.String()
}
