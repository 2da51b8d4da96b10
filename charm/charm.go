package charm

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/certtransfer"
	"github.com/tls-authority/tls-authority/pebbleconn"
)

// Names shared with operators and other charms.
const (
	PeerEndpoint = "authority"
	CASecret     = "tls-authority-ca"
)

// Keys of the peer relation's application databag: public material only.
const (
	peerCA       = "ca"        // current CA certificate (PEM)
	peerCAParams = "ca-params" // the config that defined it (CAParams)
	peerBundle   = "bundle"    // JSON array of the CA PEMs to trust
	// Kept by the provider (provider.go).
	// peerInventoryPrefix + a relation's number: JSON []InventoryEntry, the certificates issued on that relation.
	// One key per relation, so that a join rewrites its relation's entries, not every certificate the authority
	// ever issued (at 1,000 certificates one key was 360 KB written per join). peerInventory is the key of all
	// of them that earlier revisions wrote: read, then deleted.
	peerInventoryPrefix = "inventory-"
	peerInventory       = "inventory"
	peerCounts          = "counts"    // JSON counts, for the status line
	peerPending         = "pending"   // JSON {relation id: outstanding requests left for a later hook}
	peerRefused         = "refused"   // JSON {relation id: requests refused by policy}
	peerPolicy          = "policy"    // digest of the signing policy the relations were last served under
	peerSignedBy        = "signed-by" // the CA the relations were last served under
	peerWritten         = "written"   // JSON {relation id: digest of the provider databag as last written}
)

// Options are what a hook needs besides Juju.
type Options struct {
	Now func() time.Time
	// Pebble connects to a container's Pebble; nil means the socket under Env.ContainersDir.
	Pebble func(container string) (*client.Client, error)
}

// Run handles one dispatch: an action, or a hook's reconcile.
func Run(hc *hooktool.Context, o *Options) error {
	_, err := Dispatch(hc, o)
	return err
}

// Result is what a dispatch tells its caller besides its error.
type Result struct {
	// TracingURL is the OTLP/HTTP traces URL Tempo publishes on the tracing relation, as the peer databag holds it;
	// empty without the relation, or when the hook failed before reading the databag.
	TracingURL string
}

// Dispatch is Run, also saying where the hook's trace goes.
func Dispatch(hc *hooktool.Context, o *Options) (Result, error) {
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
	var err error
	if hc.Env.IsAction() {
		err = r.runAction(hc.Env.ActionName)
	} else {
		err = r.reconcile()
	}
	return Result{TracingURL: r.tracingURL()}, err
}

type reconciler struct {
	hc *hooktool.Context
	o  *Options

	leader bool
	cfg    *Config
	cfgErr error
	peerID string
	peer   map[string]string // peer app databag, with this hook's staged writes
	// peerUpdate holds the staged writes (see setPeer).
	peerUpdate  map[string]string
	authMu      sync.Mutex
	auth        *ca.Authority          // the CA with its key, loaded on first need (authority)
	caContent   map[string]string      // the CA secret as this hook last read or wrote it (caSecret)
	prevContent map[string]string      // the previous CA's secret, likewise (previousAuthority)
	requests    *requestCache          // the certificates relations' remote databags (requests.go)
	got         *certtransfer.Received // CAs received on receive-ca-cert
	// ledgerAdds are the serials this hook issued, for the ledger (ledger.go), staged with the peer write.
	ledgerMu    sync.Mutex
	ledgerAdds  []ledgerEntry
	servingMemo *servingPair // this hook's serving certificate (servingOnce)
	// imported is the CA ca-secret holds, read and checked in this hook (importca.go), or the offline root's
	// intermediate that set-ca-certificate installs (offline.go).
	imported *ca.Imported
	renewMsg string          // the renewal warning of a CA this charm cannot renew (renewalWarning)
	removed  map[string]bool // bare ids of the secrets this hook removed whole (removeSecret)
	written  map[string]bool // bare ids of the secrets this hook set (noteWritten)
	// obsolete is the revision this secret-remove hook removes last ("" for none): planRevisionRemoval decides it
	// and records it with the hook's one peer write; removeObsoleteRevision removes it.
	obsolete string
}

// published is the CA as the peer databag shows it.
type published struct {
	CA      string
	Params  string
	Bundle  []string // CAs to trust: the current one first, the previous one during a rotation's overlap
	Parents []string // the CA's issuers up to the root, in intermediate mode
	// Others are the issuers of the next and previous CAs of a rotation in intermediate mode, trusted with them.
	Others []string
	cert   *x509.Certificate
}

// Trust is what a client of this authority trusts: every CA of the bundle and every issuer above them, roots
// included, each once.
func (p *published) Trust() []string {
	return appendNew(appendNew(slices.Clone(p.Bundle), p.Parents...), p.Others...)
}

// Chain is the CA followed by its parents: what chain.pem serves.
func (p *published) Chain() []string { return append([]string{p.CA}, p.Parents...) }

func (r *reconciler) load() error {
	// The peer relation lives as long as the application, so its id is cached in the charm directory; if Juju no
	// longer knows it, or the file is missing (a new pod's empty charm directory), it is looked up again.
	cache := filepath.Join(r.hc.Env.CharmDir, peerIDCacheFile)
	cachedID := ""
	if b, err := os.ReadFile(cache); err == nil && r.hc.Env.CharmDir != "" {
		cachedID = strings.TrimSpace(string(b))
	}
	// Leadership, config and the peer databag do not depend on each other: the three tools run side by side, so a
	// hook waits for one process start and not three. (Juju's uniter serves a hook's tool commands one at a time,
	// but each is its own process, and their starts overlap.)
	var (
		wg             sync.WaitGroup
		raw            map[string]any
		cfgErr, getErr error
		peer           map[string]string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, cfgErr = r.hc.Config()
	}()
	if cachedID != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer, getErr = r.hc.AppData(cachedID, r.hc.Env.AppName())
		}()
	}
	var err error
	r.leader, err = r.hc.IsLeader()
	wg.Wait()
	if err != nil {
		return err
	}
	if cfgErr != nil {
		return cfgErr
	}
	r.cfg, r.cfgErr = ParseConfig(raw)
	if r.leader {
		leaving, err := r.leaving()
		if err != nil {
			return err
		}
		if leaving {
			// On Juju a dying leader keeps leadership until the unit is gone, through its own relation-departed,
			// relation-broken and stop hooks, where every relation looks gone to it. What it would decide from that
			// (the issuer gone, requirers gone) is not the application's state: the unit hooks as a non-leader, and
			// the next leader carries on from the peer data and the CA secret, untouched.
			if err := r.hc.Log(hooktool.LevelInfo, "this unit is leaving: it changes nothing that belongs to the application"); err != nil {
				return err
			}
			r.leader = false
		}
	}
	if r.requests, err = openRequestCache(r.hc.Env, r.leader); err != nil {
		return err
	}
	r.peer = map[string]string{}
	if cachedID != "" {
		switch {
		case getErr == nil:
			r.peerID, r.peer = cachedID, peer
			return nil
		case !errors.Is(getErr, hooktool.ErrRelationNotFound):
			return getErr
		}
	}
	ids, err := r.hc.RelationIDs(PeerEndpoint)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		r.peerID = ids[0]
		if r.peer, err = r.hc.AppData(r.peerID, r.hc.Env.AppName()); err != nil {
			return err
		}
		if r.hc.Env.CharmDir != "" {
			_ = os.WriteFile(cache, []byte(r.peerID), 0o644) // best effort: a cache
		}
	}
	return nil
}

// peerIDCacheFile keeps the peer relation's id between hooks.
const peerIDCacheFile = ".tls-authority-peer-id"

// leavingFile marks, in the charm directory, a unit that has seen itself leave: its later teardown hooks (relation
// hooks on other relations, stop, remove) know it without asking Juju.
const leavingFile = ".tls-authority-leaving"

// leaving tells whether this unit is on its way out (scaled down, or its application removed). Juju says so in
// relation-departed (JUJU_DEPARTING_UNIT is the unit itself when the unit or its application is dying: relation/
// resolver.go nextHookForRelation) and, in relation-broken, by still listing the relation in relation-ids: a
// relation that is itself going away with no member left is hidden there (contextfactory.go getContextRelations),
// one the unit leaves while it lives is not. The answer is kept in the charm directory for the hooks after (a
// relation without remote units has no departed hook, and stop and remove name no relation). Only the leader asks:
// a non-leader changes nothing of the application anyway. A steady hook makes no call.
func (r *reconciler) leaving() (bool, error) {
	env := r.hc.Env
	marker := filepath.Join(env.CharmDir, leavingFile)
	if env.CharmDir != "" {
		if _, err := os.Stat(marker); err == nil {
			return true, nil
		}
	}
	leaving := env.DepartingUnit != "" && env.DepartingUnit == env.UnitName
	if !leaving && strings.HasSuffix(env.HookName, "-relation-broken") && env.RelationID != "" {
		ids, err := r.hc.RelationIDs(env.RelationName)
		if err != nil {
			return false, err
		}
		leaving = slices.Contains(ids, env.RelationID)
	}
	if leaving && env.CharmDir != "" {
		_ = os.WriteFile(marker, nil, 0o644) // best effort: relation-departed and relation-broken tell again
	}
	return leaving, nil
}

func (r *reconciler) published() (*published, error) {
	p := &published{CA: r.peer[peerCA], Params: r.peer[peerCAParams]}
	if p.CA == "" {
		return p, nil
	}
	cert, err := ca.ParseCertificate(p.CA)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the published CA certificate: %w", err)
	}
	p.cert = cert
	if b := r.peer[peerBundle]; b != "" {
		if err := json.Unmarshal([]byte(b), &p.Bundle); err != nil {
			return nil, fmt.Errorf("cannot parse the published trust bundle: %w", err)
		}
	}
	if len(p.Bundle) == 0 {
		p.Bundle = []string{p.CA}
	}
	p.Parents = r.parentsOf(peerParents)
	p.Others = appendNew(r.parentsOf(peerNextParents), r.parentsOf(peerPreviousParents)...)
	return p, nil
}

func (r *reconciler) reconcile() (err error) {
	if r.hc.Env.HookName == "install" || r.hc.Env.HookName == "upgrade-charm" {
		// Ports are transactional and idempotent; opening them in these two hooks covers every unit's life.
		for _, port := range []int{AgentPort, AgentTLSPort} {
			if err := r.hc.OpenPort(fmt.Sprintf("%d/tcp", port)); err != nil {
				return err
			}
		}
	}
	// What the container holds is read while the first hook tools run: a steady hook then waits for neither.
	probe := r.probeWorkload()
	if err := r.load(); err != nil {
		return err
	}
	// The obsolete revision goes last: Juju hides a secret with a pending removal, of any revision, from
	// secret-info-get for the rest of the hook (context.go SecretMetadata), and this hook may look its secret up by
	// label (previousSecretID).
	defer func() {
		if err == nil {
			err = r.removeObsoleteRevision()
		}
	}()
	pub, err := r.published()
	if err != nil {
		return err
	}
	r.prefetchRelationIDs(pub)
	if r.leader {
		if err := r.observeRequests(); err != nil {
			return err
		}
		if err := r.dropRetiredKeys(pub); err != nil {
			return err
		}
		if pub, err = r.syncIssuer(pub); err != nil {
			return err
		}
		if err := r.loadImport(pub); err != nil {
			return err
		}
		if pub, err = r.ensureCA(pub); err != nil {
			return err
		}
		if pub, err = r.rotate(pub, false); err != nil {
			return err
		}
		// The units' serving certificates: only the leader reads the CA key, so it signs them (serving.go).
		if pub.CA != "" && pub.cert != nil && r.peerID != "" {
			if err := r.signPeerServing(pub); err != nil {
				return err
			}
		}
		// Signing needs valid config and a CA; it never waits for the workload container.
		if pub.CA != "" && r.cfgErr == nil && r.peerID != "" {
			if err := r.serveCertificates(pub); err != nil {
				return err
			}
			if err := r.maintainCRL(pub, r.authority); err != nil {
				return err
			}
		}
	}
	got, err := r.received()
	if err != nil {
		return err
	}
	if pub.CA != "" && r.cfgErr == nil {
		if err := r.sendCAs(r.sentBundle(pub, got)); err != nil {
			return err
		}
	}
	if err := r.publishObservability(pub); err != nil {
		return err
	}
	if err := r.syncTracing(); err != nil {
		return err
	}
	r.got = got
	if r.renewMsg, err = r.renewalWarning(pub); err != nil {
		return err
	}
	if r.leader {
		// The leader's own serving certificate, should this hook issue it, is in the ledger written below.
		if _, _, err := r.servingOnce(pub); err != nil {
			return err
		}
		if err := r.stageLedger(); err != nil {
			return err
		}
	}
	if err := r.planRevisionRemoval(); err != nil {
		return err
	}
	// The peer databag's write and the container's files do not depend on each other (both only read what this
	// hook decided; Juju commits the write when the hook ends anyway): the one is under way while the other runs.
	flushed := make(chan error, 1)
	go func() { flushed <- r.flushPeer() }()
	workloadErr := r.syncWorkload(pub, probe)
	if err := <-flushed; err != nil {
		return err
	}
	if workloadErr != nil && !errors.Is(workloadErr, ErrContainerNotReady) {
		return workloadErr
	}
	return r.setStatus(pub, workloadErr)
}

// prefetchRelationIDs lists, side by side, the endpoints a full-scan hook (config-changed, leader-elected, start,
// upgrade-charm) with a CA and valid config lists one after the other below: the issuer and certificates relations
// on the leader, the CA transfer and observability relations on every unit. Each listing is a hook-tool process;
// six in a row are a few percent of a leader hook signing a thousand certificates. Any other hook lists only what it
// must, when it must, and a steady one nothing.
func (r *reconciler) prefetchRelationIDs(pub *published) {
	if !fullScanHooks[r.hc.Env.HookName] || r.cfgErr != nil || pub.CA == "" || r.peerID == "" {
		return
	}
	eps := []string{ReceiveEndpoint, SendEndpoint, MetricsEndpoint, DashboardEndpoint}
	if r.leader {
		eps = append(eps, IssuerEndpoint, CertificatesEndpoint)
	}
	r.hc.PrefetchRelationIDs(eps...)
}

// ensureCA creates the CA on first need: the leader, with valid config and the peer relation to publish it on.
func (r *reconciler) ensureCA(pub *published) (*published, error) {
	if pub.CA != "" || r.cfgErr != nil || r.peerID == "" {
		return pub, nil
	}
	// Juju commits a hook's secret changes before its relation data, in calls of their own: a commit that failed
	// between them (or an operator who removed the relation data) leaves a CA secret with no CA published.
	// Republish the CA it holds rather than minting a second one.
	content, err := r.caSecret()
	switch {
	case err == nil && content["certificate"] != "":
		pub.CA = content["certificate"]
		pub.Params = content["params"]
		if _, err := r.caSecretID(); err != nil { // its id too, which the same lost write held
			return nil, err
		}
	case err == nil || errors.Is(err, hooktool.ErrNotFound):
		if r.peer[peerIssuer] != "" {
			return pub, nil // the issuer signs the CA (syncIssuer); nothing is signed until it does
		}
		if pub, err = r.createCA(content); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	pub.Bundle = []string{pub.CA}
	if err := r.setPeer(map[string]string{peerCA: pub.CA, peerCAParams: pub.Params, peerBundle: mustJSON(pub.Bundle)}); err != nil {
		return nil, err
	}
	cert, err := ca.ParseCertificate(pub.CA)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the CA certificate: %w", err)
	}
	pub.cert = cert
	return pub, nil
}

// createCA makes a self-signed root, in the CA secret when one exists already (it may hold only the key of an
// intermediate whose issuer went away before delivering).
func (r *reconciler) createCA(existing map[string]string) (*published, error) {
	var (
		key     crypto.Signer
		cert    *x509.Certificate
		err     error
		params  = r.cfg.CAParams()
		parents []string
	)
	if im := r.imported; im != nil {
		// The first CA is the imported one: no requirer trusts any other yet.
		key, cert, params, parents = im.Key, im.Certificate, importParams(im), im.ChainPEMs()
	} else {
		if key, err = ca.GenerateKey(r.cfg.Algorithm); err != nil {
			return nil, fmt.Errorf("cannot generate the CA key: %w", err)
		}
		if cert, err = ca.NewRoot(key, r.cfg.Subject, r.cfg.RootValidity, r.o.Now(), r.cfg.RootMaxPathLen()); err != nil {
			return nil, fmt.Errorf("cannot create the CA certificate: %w", err)
		}
	}
	keyPEM, err := ca.EncodePrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := ca.EncodeCertificate(cert)
	content := map[string]string{"private-key": keyPEM, "certificate": certPEM, "params": params}
	if len(parents) > 0 {
		if err := r.setPeer(map[string]string{peerParents: mustJSON(parents)}); err != nil {
			return nil, err
		}
	}
	if existing != nil {
		if err := r.setCASecret(content); err != nil {
			return nil, err
		}
		return &published{CA: certPEM, Params: params, Parents: parents}, r.logCreated(cert)
	}
	id, err := r.hc.AddSecret(content,
		&hooktool.AddSecretOptions{Label: CASecret, Owner: hooktool.OwnerApplication, Description: "tls-authority CA key and certificate"})
	if err != nil {
		return nil, err
	}
	r.caContent = content
	if err := r.logCreated(cert); err != nil {
		return nil, err
	}
	return &published{CA: certPEM, Params: params, Parents: parents}, r.setPeer(map[string]string{peerCASecret: id})
}

func (r *reconciler) logCreated(cert *x509.Certificate) error {
	if r.imported != nil {
		return r.hc.Log(hooktool.LevelInfo, "CA %q imported from ca-secret (serial %x, expires %s)", cert.Subject.CommonName,
			cert.SerialNumber, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return r.hc.Log(hooktool.LevelInfo, "created CA %q (%s, serial %x, expires %s)", cert.Subject.CommonName,
		r.cfg.Algorithm, cert.SerialNumber, cert.NotAfter.UTC().Format(time.RFC3339))
}

// workloadProbe is the container as the hook found it, read in the background (probeWorkload).
type workloadProbe struct {
	done  chan struct{}
	c     *client.Client
	state *WorkloadState
	err   error
}

// probeWorkload connects to the container's Pebble and reads its state (ReadWorkload) in the background. Only
// syncWorkload writes to the container, after it has waited for the probe, so what the probe read is still true then.
func (r *reconciler) probeWorkload() *workloadProbe {
	p := &workloadProbe{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if p.c, p.err = r.o.Pebble(Container); p.err == nil {
			p.state = ReadWorkload(p.c)
		}
	}()
	return p
}

func (r *reconciler) syncWorkload(pub *published, probe *workloadProbe) error {
	<-probe.done
	if probe.c != nil {
		defer probe.c.CloseIdleConnections()
	}
	if pub.CA == "" {
		return nil // nothing to serve yet; status says why
	}
	if probe.err != nil {
		return fmt.Errorf("%w: %w", ErrContainerNotReady, probe.err)
	}
	c := probe.c
	// ca.pem is what a client trusts: in intermediate mode the roots too; chain.pem what a server presents.
	files := map[string]string{"ca.pem": strings.Join(pub.Trust(), "\n") + "\n", "inventory.json": joinInventory(r.peer)}
	files["chain.pem"] = strings.Join(pub.Chain(), "\n") + "\n"
	r.crlFiles(pub, files)
	r.metricsFiles(files)
	crt, key, err := r.servingOnce(pub)
	if err != nil {
		return err
	}
	var private map[string]string
	if crt != "" {
		files[servingCertFile] = crt
		private = map[string]string{servingKeyFile: key}
	}
	w := &Workload{
		Files:   files,
		Private: private,
		Trust:   r.trustSet(pub),
		Host:    podHostname(r.hc.Env.UnitName),
	}
	res, err := SyncWorkloadFrom(c, probe.state, w)
	if err != nil {
		return err
	}
	if res.Pushed || res.LayerReplaced {
		removed := ""
		if len(res.Removed) > 0 {
			removed = fmt.Sprintf(", removed %v", res.Removed)
		}
		return r.hc.Log(hooktool.LevelDebug, "workload synced (files pushed %v%s, trust store updated %v, layer replaced %v)", res.Files, removed, res.TrustUpdated, res.LayerReplaced)
	}
	return nil
}

// trustSet is what the container's trust store holds: this authority's chain and bundle, and every CA received.
func (r *reconciler) trustSet(pub *published) map[string]string {
	set := map[string]string{}
	for i, c := range pub.Bundle {
		if i == 0 {
			set["ca"] = c
		} else {
			set["ca-"+strconv.Itoa(i)] = c
		}
	}
	for i, c := range appendNew(slices.Clone(pub.Parents), pub.Others...) {
		set["parent-"+strconv.Itoa(i)] = c
	}
	if r.got != nil {
		for name, c := range r.got.Named() {
			set["received-"+name] = c
		}
	}
	return set
}

// podHostname is the hostname Kubernetes gives a unit's pod: "app/3" runs in pod "app-3".
func podHostname(unit string) string { return strings.ReplaceAll(unit, "/", "-") }

func (r *reconciler) setStatus(pub *published, workloadErr error) error {
	switch {
	case r.cfgErr != nil:
		return r.setUnitStatus(hooktool.StatusBlocked, r.cfgErr.Error())
	case r.peer[peerIssuerWaiting] != "":
		return r.setUnitStatus(hooktool.StatusWaiting, r.peer[peerIssuerWaiting])
	case pub.CA == "" && r.leader:
		return r.setUnitStatus(hooktool.StatusWaiting, "waiting for the peer relation to create the CA")
	case pub.CA == "":
		return r.setUnitStatus(hooktool.StatusWaiting, "waiting for the leader to create the CA")
	case workloadErr != nil:
		return r.setUnitStatus(hooktool.StatusWaiting, "waiting for the authority container")
	case r.peer[peerImportProblem] != "":
		return r.setUnitStatus(hooktool.StatusBlocked, "ca-secret: "+r.peer[peerImportProblem]+"; still signing with the current CA")
	}
	var c counts
	if s := r.peer[peerCounts]; s != "" {
		// Counts are informative: a bad value shows zeros rather than failing the hook.
		_ = json.Unmarshal([]byte(s), &c)
	}
	msg := fmt.Sprintf("issued %d, outstanding %d, CA expires %s", c.Issued, c.Outstanding, pub.cert.NotAfter.UTC().Format("2006-01-02"))
	if c.Refused > 0 {
		msg += fmt.Sprintf(", refused %d", c.Refused)
	}
	if r.renewMsg != "" {
		msg += "; " + r.renewMsg
	}
	return r.setUnitStatus(hooktool.StatusActive, msg)
}

// setPeer stages the keys of want that differ from the peer app databag ("" deletes). Staged keys are visible to
// the rest of the hook at once and written together by flushPeer, so the databag is written once per hook.
func (r *reconciler) setPeer(want map[string]string) error {
	for k, v := range want {
		if r.peer[k] == v {
			continue
		}
		if r.peerUpdate == nil {
			r.peerUpdate = map[string]string{}
			r.peer = maps.Clone(r.peer)
		}
		r.peerUpdate[k] = v
		if v == "" {
			delete(r.peer, k)
		} else {
			r.peer[k] = v
		}
	}
	return nil
}

func (r *reconciler) flushPeer() error {
	if len(r.peerUpdate) == 0 {
		return nil
	}
	err := r.hc.SetAppData(r.peerID, r.peerUpdate)
	r.peerUpdate = nil
	return err
}
