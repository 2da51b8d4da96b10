// Package charm is the reference requirer's logic: one reconcile per hook on
// top of the Go requirer library (interfaces/tlscertificates,
// interfaces/certtransfer, trust), and its two actions. It requests a
// certificate for the unit, the application or both (config "mode"), pushes
// the one it serves with its key into the server container, where
// requirer-server serves it on :8443, and installs the CAs received on
// receive-ca-cert into that container's trust store.
//
// In mode "proxy" it plays Traefik: the application certificate, served by a
// reverse proxy in front of the units related on ingress-per-unit (each
// publishes its host and port there, as an ingress_per_unit requirer does),
// verified with that trust store. Every unit publishes itself on its own
// ingress relation, and serves mutual TLS to its peers on :9443 with its unit
// certificate: the one of cluster-certificates when related, else the unit
// certificate of certificates.
//
// For the COS TLS modes (tests/scenarios/cos-tls-*.yaml) it plays a COS charm: without a certificates relation it
// serves plain HTTP (plain-http-without-certificates), it trusts the CA that issued its certificate (trust-issuer-ca)
// and installs its trusted CAs into its charm container as well (charm-trust-store), where the get-url action
// calls its workload as a COS charm does.
package charm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/certtransfer"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/pebbleconn"
	"github.com/tls-authority/tls-authority/trust"
)

// Names shared with tests.
const (
	Container        = "server"
	CertEndpoint     = "certificates"
	ClusterEndpoint  = "cluster-certificates"
	TransferEndpoint = "receive-ca-cert"
	// ProxyEndpoint lists the backends of a proxy; BackendEndpoint is where a
	// unit publishes itself to one.
	ProxyEndpoint   = "ingress-per-unit"
	BackendEndpoint = "ingress"
	ServerBinary    = "/usr/local/bin/requirer-server"
	ServerPort      = 8443
	PeerPort        = 9443
	// Dir is under /var/lib, which is private to each simulated
	// container (as every path is in a real pod); /etc is shared with the
	// host in the simulator.
	Dir          = "/var/lib/tls-requirer"
	CertPath     = Dir + "/tls.crt" // leaf then chain
	KeyPath      = Dir + "/tls.key"
	CAPath       = Dir + "/ca.crt"   // the issuing CA
	PeerCertPath = Dir + "/peer.crt" // the unit certificate for mutual TLS, then its chain
	PeerKeyPath  = Dir + "/peer.key"
	PeerCAPath   = Dir + "/peer-ca.crt"   // the CA that issued it: peers must chain to it
	BackendsPath = Dir + "/backends.json" // mode proxy: [{name, url}]
	manifestPath = Dir + "/.manifest"     // digest of what the charm pushed
	TrustPrefix  = "tls-requirer-"
)

// Options are what a hook needs besides Juju.
type Options struct {
	Now func() time.Time
	// Pebble connects to a container's Pebble; nil means the socket under Env.ContainersDir.
	Pebble func(container string) (*client.Client, error)
}

// Run handles one dispatch: an action, or a hook's reconcile.
func Run(hc *hooktool.Context, o *Options) error {
	if o == nil {
		o = &Options{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Pebble == nil {
		dir := hc.Env.ContainersDir
		o.Pebble = func(container string) (*client.Client, error) { return pebbleconn.Connect(dir, container) }
	}
	r := &reconciler{hc: hc, o: o}
	switch hc.Env.ActionName {
	case "":
		return r.reconcile()
	case "get-certificate":
		return r.getCertificate()
	case "get-trusted-ca-certificates":
		return r.getTrustedCAs()
	case "get-url":
		return r.getURL()
	}
	return hc.FailAction(fmt.Sprintf("unknown action %q", hc.Env.ActionName))
}

// Config is the charm's validated config.
type Config struct {
	Unit, App bool
	// Proxy: the application certificate, served by a reverse proxy.
	Proxy    bool
	Requests map[tlscertificates.Scope]tlscertificates.CertificateRequest
	// Cluster is the request on cluster-certificates: the unit's FQDN.
	Cluster tlscertificates.CertificateRequest
	// PlainHTTP: without a certificates relation, serve plain HTTP instead of going Blocked (COS with TLS off).
	PlainHTTP bool
	// TrustIssuerCA: trust the CA of the certificates relation too (a COS charm's local CA).
	TrustIssuerCA bool
	// CharmTrustStore: install the trusted CAs into the charm container's trust store as well.
	CharmTrustStore bool
}

// Serves is the scope whose certificate the server serves.
func (c *Config) Serves() tlscertificates.Scope {
	if c.Unit {
		return tlscertificates.ScopeUnit
	}
	return tlscertificates.ScopeApp
}

// UnitFQDN is a unit's Kubernetes FQDN: <app>-<n>.<app>-endpoints.<model>.svc.cluster.local.
func UnitFQDN(unit, model string) string {
	app, n, _ := strings.Cut(unit, "/")
	return fmt.Sprintf("%s-%s.%s-endpoints.%s.svc.cluster.local", app, n, app, model)
}

// AppFQDN is an application's Kubernetes service FQDN: <app>.<model>.svc.cluster.local.
func AppFQDN(app, model string) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", app, model)
}

// ErrInvalidConfig is wrapped by ParseConfig's errors: the unit goes Blocked.
var ErrInvalidConfig = errors.New("invalid config")

// ParseConfig validates the options and builds the requests; the error names
// every bad option.
func ParseConfig(cfg map[string]any, env hooktool.Env) (*Config, error) {
	str := func(k string) string { s, _ := cfg[k].(string); return strings.TrimSpace(s) }
	var bad []string
	c := &Config{Requests: map[tlscertificates.Scope]tlscertificates.CertificateRequest{}}
	switch mode := str("mode"); mode {
	case "unit", "":
		c.Unit = true
	case "app":
		c.App = true
	case "both":
		c.Unit, c.App = true, true
	case "proxy":
		c.App, c.Proxy = true, true
	default:
		bad = append(bad, fmt.Sprintf("mode %q (want unit, app, both or proxy)", mode))
	}
	for k, v := range map[string]*bool{"plain-http-without-certificates": &c.PlainHTTP, "trust-issuer-ca": &c.TrustIssuerCA, "charm-trust-store": &c.CharmTrustStore} {
		switch b := cfg[k].(type) {
		case nil:
		case bool:
			*v = b
		default:
			bad = append(bad, fmt.Sprintf("%s %v (want a boolean)", k, cfg[k]))
		}
	}
	sort.Strings(bad)
	unitFQDN := UnitFQDN(env.UnitName, env.ModelName)
	c.Cluster = tlscertificates.CertificateRequest{CommonName: unitFQDN, DNSNames: []string{unitFQDN}}
	for _, scope := range []tlscertificates.Scope{tlscertificates.ScopeUnit, tlscertificates.ScopeApp} {
		if (scope == tlscertificates.ScopeUnit && !c.Unit) || (scope == tlscertificates.ScopeApp && !c.App) {
			continue
		}
		fqdn := UnitFQDN(env.UnitName, env.ModelName)
		if scope == tlscertificates.ScopeApp {
			fqdn = AppFQDN(env.AppName(), env.ModelName)
		}
		var req tlscertificates.CertificateRequest
		for _, san := range strings.Split(str("sans"), ",") {
			san = strings.ReplaceAll(strings.TrimSpace(san), "{fqdn}", fqdn)
			switch {
			case san == "":
			case net.ParseIP(san) != nil:
				req.IPAddresses = append(req.IPAddresses, net.ParseIP(san))
			default:
				req.DNSNames = append(req.DNSNames, san)
			}
		}
		req.CommonName = strings.ReplaceAll(str("common-name"), "{fqdn}", fqdn)
		if req.CommonName == "" && len(req.DNSNames) > 0 {
			req.CommonName = req.DNSNames[0]
		}
		if req.CommonName == "" {
			req.CommonName = fqdn
		}
		if len(req.CommonName) > 64 {
			bad = append(bad, fmt.Sprintf("common-name %q (longer than 64 characters)", req.CommonName))
		}
		c.Requests[scope] = req
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	return c, nil
}

type reconciler struct {
	hc      *hooktool.Context
	o       *Options
	cfg     *Config
	req     *tlscertificates.Requirer
	cluster *tlscertificates.Requirer
	// clusterCert is the cluster-certificates request's state; nil when the endpoint has no relation.
	clusterCert *tlscertificates.AssignedCertificate
	// plain: no certificates relation and plain-http-without-certificates: the server speaks plain HTTP.
	plain bool
}

// sync runs both requirers and returns what they found.
func (r *reconciler) sync() (*tlscertificates.Assigned, *certtransfer.Received, error) {
	raw, err := r.hc.Config()
	if err != nil {
		return nil, nil, err
	}
	if r.cfg, err = ParseConfig(raw, r.hc.Env); err != nil {
		return nil, nil, err
	}
	opts := &tlscertificates.RequirerOptions{Endpoint: CertEndpoint, Now: r.o.Now}
	if r.cfg.Unit {
		opts.UnitRequests = []tlscertificates.CertificateRequest{r.cfg.Requests[tlscertificates.ScopeUnit]}
	}
	if r.cfg.App {
		opts.AppRequests = []tlscertificates.CertificateRequest{r.cfg.Requests[tlscertificates.ScopeApp]}
	}
	r.req = tlscertificates.NewRequirer(r.hc, opts)
	assigned, err := r.req.Sync()
	if err != nil {
		return nil, nil, err
	}
	r.cluster = tlscertificates.NewRequirer(r.hc, &tlscertificates.RequirerOptions{Endpoint: ClusterEndpoint, Now: r.o.Now,
		UnitRequests: []tlscertificates.CertificateRequest{r.cfg.Cluster}})
	cluster, err := r.cluster.Sync()
	if err != nil {
		return nil, nil, err
	}
	r.clusterCert = nil
	if cluster.RelationID != "" {
		r.clusterCert = &cluster.Unit[0]
	}
	received, err := certtransfer.NewRequirer(r.hc, TransferEndpoint).Sync()
	if err != nil {
		return nil, nil, err
	}
	for _, p := range append(append(assigned.Problems, cluster.Problems...), received.Problems...) {
		if err := r.hc.Log(hooktool.LevelWarning, "skipped remote data: %s", p); err != nil {
			return nil, nil, err
		}
	}
	return assigned, received, nil
}

// served is the certificate the server serves.
func (r *reconciler) served(a *tlscertificates.Assigned) *tlscertificates.AssignedCertificate {
	list := a.Unit
	if r.cfg.Serves() == tlscertificates.ScopeApp {
		list = a.App
	}
	if len(list) == 0 {
		return nil
	}
	return &list[0]
}

func (r *reconciler) reconcile() error {
	if r.hc.Env.HookName == "install" || r.hc.Env.HookName == "upgrade-charm" {
		// On Kubernetes the application's service exposes only the ports its charm opened (a real controller gave
		// the service only Juju's placeholder port 65535 until these were opened). Ports are transactional and
		// idempotent; these two hooks cover every unit's life, a re-created pod included.
		for _, port := range []int{ServerPort, PeerPort} {
			if err := r.hc.OpenPort(fmt.Sprintf("%d/tcp", port)); err != nil {
				return err
			}
		}
	}
	assigned, received, err := r.sync()
	if errors.Is(err, ErrInvalidConfig) {
		return r.hc.SetStatus(hooktool.StatusBlocked, err.Error())
	}
	if err != nil {
		return err
	}
	cert := r.served(assigned)
	r.plain = assigned.RelationID == "" && r.cfg.PlainHTTP
	status, msg := hooktool.StatusActive, ""
	switch {
	case r.plain:
		msg = "serving plain HTTP (no certificates relation)"
	case assigned.RelationID == "":
		status, msg = hooktool.StatusBlocked, "needs a certificates relation"
	case cert.Refused != nil:
		status, msg = hooktool.StatusBlocked, fmt.Sprintf("certificate refused: %s (%d) %s", cert.Refused.Name, cert.Refused.Code, cert.Refused.Message)
	case !cert.Ready():
		status, msg = hooktool.StatusWaiting, "waiting for a certificate"
	default:
		msg = fmt.Sprintf("serving %s until %s", cert.Request.CommonName, cert.NotAfter.UTC().Format(time.RFC3339))
		if cert.Renewing {
			msg += " (renewing)"
		}
	}
	if err := r.publishBackend(); err != nil {
		return err
	}
	var backends []Backend
	if r.cfg.Proxy {
		if backends, err = r.backends(); err != nil {
			return err
		}
		if status == hooktool.StatusActive {
			msg += fmt.Sprintf(", proxying to %d backends", len(backends))
		}
	}
	peer := r.peerSource(assigned)
	cas := r.trusted(cert, received)
	// The charm container's trust store is updated while the workload's is: each update-ca-certificates takes a
	// second or more, and they are independent.
	local := make(chan error, 1)
	go func() {
		if !r.cfg.CharmTrustStore {
			local <- nil
			return
		}
		_, err := (&localTrust{Prefix: TrustPrefix}).Sync(cas)
		local <- err
	}()
	c, err := r.o.Pebble(Container)
	if err == nil {
		err = r.syncWorkload(c, cert, peer, backends, cas)
	}
	if lerr := <-local; lerr != nil {
		return lerr
	}
	if err != nil {
		if !errors.Is(err, errNotReady) {
			return err
		}
		if status == hooktool.StatusActive {
			status, msg = hooktool.StatusWaiting, "waiting for the server container"
		}
	}
	if n := len(received.All()); n > 0 && status == hooktool.StatusActive {
		msg += fmt.Sprintf(", trusting %d received CAs", n)
	}
	if _, ok := cas[IssuerCAName]; ok && status == hooktool.StatusActive {
		msg += ", trusting its issuer"
	}
	return r.hc.SetStatus(status, msg)
}

var errNotReady = errors.New("server container not ready")

// pemFile is one file the charm pushes into the server container.
type pemFile struct {
	path, content string
	mode          os.FileMode
}

// pair is a certificate to push with its key, and the requirer that holds the key.
type pair struct {
	cert                    *tlscertificates.AssignedCertificate
	req                     *tlscertificates.Requirer
	certPath, keyPath, caAt string
}

// peerSource is the unit certificate that serves mutual TLS: cluster-certificates' when that endpoint is related,
// else the unit certificate of certificates; nil when neither is there.
func (r *reconciler) peerSource(a *tlscertificates.Assigned) *pair {
	p := &pair{certPath: PeerCertPath, keyPath: PeerKeyPath, caAt: PeerCAPath}
	switch {
	case r.clusterCert != nil:
		p.cert, p.req = r.clusterCert, r.cluster
	case r.cfg.Unit && len(a.Unit) > 0:
		p.cert, p.req = &a.Unit[0], r.req
	default:
		return nil
	}
	return p
}

// syncWorkload makes the server container hold the served certificate and
// key, the peer certificate and key, the proxy's backends, the received CAs
// in its trust store, and the server's layer. A steady hook costs one Pull
// (the manifest), two directory listings (trust) and one PlanBytes; the key
// secrets are read only when a certificate changed.
func (r *reconciler) syncWorkload(c *client.Client, cert *tlscertificates.AssignedCertificate, peer *pair, backends []Backend, cas map[string]string) error {
	if _, err := c.SysInfo(); err != nil {
		return fmt.Errorf("%w: %w", errNotReady, err)
	}
	pairs := []*pair{{cert: cert, req: r.req, certPath: CertPath, keyPath: KeyPath, caAt: CAPath}}
	if peer != nil {
		pairs = append(pairs, peer)
	}
	var files []pemFile
	var parts []string
	for _, p := range pairs {
		if p.cert == nil || !p.cert.Ready() {
			continue
		}
		certPEM := strings.Join(fullChain(p.cert), "\n") + "\n"
		parts = append(parts, p.certPath, certPEM, p.cert.CA)
		files = append(files, pemFile{p.certPath, certPEM, 0o644}, pemFile{p.caAt, p.cert.CA + "\n", 0o644})
	}
	if r.cfg.Proxy {
		b, err := json.Marshal(backends)
		if err != nil {
			return fmt.Errorf("cannot encode the backends: %w", err)
		}
		parts = append(parts, BackendsPath, string(b))
		files = append(files, pemFile{BackendsPath, string(b) + "\n", 0o644})
	}
	if len(files) > 0 {
		want := digest(parts...)
		var have strings.Builder
		err := c.Pull(&client.PullOptions{Path: manifestPath, Target: &have})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("cannot read %s: %w", manifestPath, err)
		}
		if strings.TrimSpace(have.String()) != want {
			// The keys first: the server keeps the previous pair until the
			// certificate that matches the new key arrives.
			var keys []pemFile
			for _, p := range pairs {
				if p.cert == nil || !p.cert.Ready() {
					continue
				}
				key, err := p.req.PrivateKey(p.cert.Scope)
				if err != nil {
					return err
				}
				keys = append(keys, pemFile{p.keyPath, key + "\n", 0o600})
			}
			for _, f := range append(append(keys, files...), pemFile{manifestPath, want, 0o644}) {
				err := c.Push(&client.PushOptions{Source: strings.NewReader(f.content), Path: f.path, MakeDirs: true, Permissions: f.mode})
				if err != nil {
					return fmt.Errorf("cannot push %s: %w", f.path, err)
				}
			}
		}
	}
	inst := &trust.Installer{Client: c, Prefix: TrustPrefix}
	if _, err := inst.Sync(cas); err != nil {
		return fmt.Errorf("cannot install received CAs: %w", err)
	}
	return ensureLayer(c, r.cfg.Proxy, r.plain)
}

// IssuerCAName is the name of the issuing CA among the trusted CAs (trust-issuer-ca); received CAs are named
// after their relation, so the two never collide.
const IssuerCAName = "issuer-ca"

// trusted is the set of CAs the trust stores hold: the received ones, and with trust-issuer-ca the CA that issued
// the served certificate once it is there.
func (r *reconciler) trusted(cert *tlscertificates.AssignedCertificate, received *certtransfer.Received) map[string]string {
	cas := received.Named()
	if r.cfg.TrustIssuerCA && cert != nil && cert.Ready() && cert.CA != "" {
		if cas == nil {
			cas = map[string]string{}
		}
		cas[IssuerCAName] = cert.CA
	}
	return cas
}

// fullChain is the leaf followed by the rest of the chain, without a
// duplicate of the leaf (the chain starts with it).
func fullChain(cert *tlscertificates.AssignedCertificate) []string {
	out := []string{strings.TrimSpace(cert.Certificate)}
	for _, p := range cert.Chain {
		if p = strings.TrimSpace(p); p != out[0] {
			out = append(out, p)
		}
	}
	return out
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d\x00%s\x00", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func isNotFound(err error) bool {
	var pe *client.Error
	return errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound
}
