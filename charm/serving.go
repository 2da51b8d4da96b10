package charm

// serving.go gives each unit a serving certificate for its own agent, so that COS scrapes the metrics over TLS:
// the pod's FQDN as DNS SAN and its IP as IP SAN (a "*" scrape target is the pod IP), signed by the current signing
// CA, for a key the unit generates.
//
// The key and certificate live in the unit's charm directory, not in a unit-owned secret. A steady hook then
// checks them with a file read and no hook tool (a secret would cost a secret-get per hook, and put a key in the
// controller that is only ever used inside this pod). The charm directory goes away with the pod, and so does the
// pod IP the certificate names: the next pod's first hook issues a new one. The CA key stays in the CA secret; a
// unit reads that secret only in the hook that signs its own certificate.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
)

// AgentTLSPort is where the agent serves the same routes over HTTPS, with the unit's serving certificate.
const AgentTLSPort = 8443

// Files in the charm directory, and in the workload's DataDir.
const (
	// servingCache holds {"crt": leaf then chain, "key": the unit's key} (PEM, 0600), in one file replaced by a
	// rename, so that a hook killed half way never leaves a key with another key's certificate.
	servingCache    = ".tls-authority-serving.json"
	servingCertFile = "tls.crt"
	servingKeyFile  = "tls.key"
)

// servingValidity is how long a serving certificate lasts (clipped to the CA's expiry); it is renewed once two
// thirds of its life have passed, so an update-status or two always fall in the remaining third.
const servingValidity = 90 * 24 * time.Hour

// servingCert returns this unit's serving certificate (leaf and chain) and key, issuing a new one when there is
// none, when it names another address or FQDN, when another CA signs now, or when two thirds of its life are gone.
// While the unit cannot sign (the CA secret does not yet show the published CA) it returns the kept one, if any.
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
	var kept, keptKey string
	if env.CharmDir != "" {
		var c servingPair
		if b, err := os.ReadFile(cachePath); err == nil && json.Unmarshal(b, &c) == nil && c.Crt != "" && c.Key != "" {
			kept, keptKey = c.Crt, c.Key
			if servingCurrent(kept, chain, pub.cert, fqdn, ip, now) && servingUsable(kept, r.caCRLURL(pub.cert), r.peer[peerRevoked]) {
				return kept, keptKey, nil
			}
		}
	}
	auth, err := r.signingAuthority(pub)
	if err != nil {
		return "", "", err
	}
	if auth == nil {
		// Until the new CA can sign, the agent keeps serving what it has (a scraper trusts the whole bundle).
		return kept, keptKey, nil
	}
	crt, key, err = issueServing(auth, chain, fqdn, ip, r.caCRLURL(pub.cert), now)
	if err != nil {
		// The agent's own certificate is not worth failing the hook over (an expired CA is already in the status
		// and the alerts): keep serving what there is, and say why.
		return kept, keptKey, r.hc.Log(hooktool.LevelWarning, "cannot renew the agent's serving certificate: %v", err)
	}
	if certs, err := ca.ParseCertificates(crt); err == nil {
		r.recordIssued(certs[0], servingHolder(env.UnitName)) // the serial ledger: it can be revoked (ledger.go)
	}
	if env.CharmDir != "" {
		b, _ := json.Marshal(servingPair{Crt: crt, Key: key})
		tmp := cachePath + ".new"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return "", "", fmt.Errorf("cannot keep the serving certificate: %w", err)
		}
		if err := os.Rename(tmp, cachePath); err != nil {
			return "", "", fmt.Errorf("cannot keep the serving certificate: %w", err)
		}
	}
	return crt, key, r.hc.Log(hooktool.LevelInfo, "issued the agent's serving certificate for %s (%s)", fqdn, ipString(ip))
}

// servingPair is the kept certificate and key.
type servingPair struct {
	Crt string `json:"crt"`
	Key string `json:"key"`
}

// signingAuthority is the CA that signs now, with its key: the leader has it in hand (or reads the secret by label),
// another unit reads the application secret by the URI the peer databag names, as every unit of the owning
// application may. nil when the secret does not yet hold the published CA (a rotation committed in between).
func (r *reconciler) signingAuthority(pub *published) (*ca.Authority, error) {
	var auth *ca.Authority
	var err error
	switch {
	case r.leader:
		auth, err = r.authority()
	case r.peer[peerCASecret] != "":
		var content map[string]string
		content, err = r.hc.GetSecret(hooktool.GetSecretOptions{ID: r.peer[peerCASecret]})
		if err == nil {
			auth, err = authorityFrom(content)
		}
	default:
		return nil, nil // the leader has not published the secret's URI yet
	}
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

// servingCurrent says whether a kept certificate still serves: the right chain under the signing CA, the unit's
// names, and at most two thirds of its life gone.
func servingCurrent(crt, chain string, signer *x509.Certificate, fqdn string, ip net.IP, now time.Time) bool {
	leafPEM, rest, ok := strings.Cut(crt, "-----END CERTIFICATE-----\n")
	if !ok || rest != chain {
		return false
	}
	leaf, err := ca.ParseCertificate(leafPEM + "-----END CERTIFICATE-----")
	if err != nil {
		return false
	}
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

// servingUsable says whether the kept certificate names crlURL as its CRL distribution point, as requirer
// certificates do (one issued before serving certificates named it is issued again, so it can be revoked), and is
// not on the current CA's revoked list (revoked, the peer databag's JSON: looked up as text, not parsed, in every
// hook): a revoked one is replaced at once.
func servingUsable(crt, crlURL, revoked string) bool {
	certs, err := ca.ParseCertificates(crt) // the leaf, then its chain
	return err == nil && slices.Equal(certs[0].CRLDistributionPoints, []string{crlURL}) &&
		!strings.Contains(revoked, `"serial":"`+serialHex(certs[0])+`"`)
}

// issueServing generates a key and has auth sign a certificate for it, naming crlURL as its CRL distribution point.
func issueServing(auth *ca.Authority, chain, fqdn string, ip net.IP, crlURL string, now time.Time) (crt, key string, err error) {
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
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return "", "", fmt.Errorf("cannot parse the serving CSR: %w", err)
	}
	leaf, err := auth.Issue(csr, ca.IssueOptions{Validity: servingValidity, CRLDistributionPoint: crlURL, Now: now})
	if err != nil {
		return "", "", fmt.Errorf("cannot issue the serving certificate: %w", err)
	}
	if key, err = ca.EncodePrivateKey(k); err != nil {
		return "", "", err
	}
	return ca.EncodeCertificate(leaf) + "\n" + chain, key, nil
}

// hostsOnly resolves from /etc/hosts alone: its DNS dialer fails at once, so a hook never waits on a DNS server.
var hostsOnly = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("cannot query DNS: /etc/hosts only")
}}

// podIPOf is podIP, which a test replaces: the pod's /etc/hosts is not the test machine's.
var podIPOf = podIP

// podIP is the address the pod's hostname has in /etc/hosts (IPv4 first), as the kubelet writes it into every
// container of the pod: the pod IP, which Juju also gives as the unit's ingress-address. nil when it is not there.
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

func ipString(ip net.IP) string {
	if ip == nil {
		return "no IP"
	}
	return ip.String()
}
