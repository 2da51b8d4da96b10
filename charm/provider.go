package charm

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// CertificatesEndpoint is where requirers send CSRs.
const CertificatesEndpoint = "certificates"

// InventoryEntry describes one issued certificate; the agent serves metrics from the list.
type InventoryEntry struct {
	Serial   string    `json:"serial"`
	Subject  string    `json:"subject"`
	SANs     []string  `json:"sans,omitempty"`
	NotAfter time.Time `json:"not_after"`
	Relation string    `json:"relation"`
	Unit     string    `json:"unit"`
	Revoked  bool      `json:"revoked,omitempty"`
	CA       bool      `json:"ca,omitempty"`
	CSRHash  string    `json:"csr_sha256"`

	// NotBefore lets the agent tell how much of its life a certificate has used; entries of older charms lack it
	// and are described again from their certificate (inventoryEntry).
	NotBefore time.Time `json:"not_before,omitzero"`
}

// counts is the summary the status line shows; kept beside the inventory so a steady hook need not parse it.
type counts struct {
	Issued      int `json:"issued"`
	Outstanding int `json:"outstanding"`
	Refused     int `json:"refused"`
	Revoked     int `json:"revoked"`
}

// provider is the leader's signing state for one hook.
type provider struct {
	r       *reconciler
	pub     *published
	now     time.Time
	crlURL  string
	caps    *tlscertificates.Capabilities
	invByID map[string][]InventoryEntry // relation id -> entries (from the peer databag, then updated)
	pending map[string]int              // relation id -> outstanding after this hook
	refused map[string]int
	// written is the digest of each relation's provider databag as this charm last wrote it ("" when unknown: an
	// action changed it). It is committed with the databags (one hook, one transaction), so a relation whose
	// inventory is empty need not be read to know what its databag holds, nor written when what it should hold
	// has the same digest. A relation missing from it was never written, once writtenKnown says the record is
	// there at all (an older charm kept none).
	written      map[string]string
	writtenKnown bool
	cpu          chan struct{} // a token per core: signing in flight
	// digest is the policy's (policyDigest). steady says the relations were last served under it and the same CA:
	// a policy refusal already in a databag still stands, and its CSR is not checked again.
	digest string
	steady bool
	// policy is the config's, with this authority's own CA subjects (vetPolicy): parsed on first need, so only a
	// hook that vets or signs pays for it.
	policyOnce sync.Once
	policy     ca.Policy
	// peerRoom is what new certificates may still add to the peer application databag in this hook (peerBudget),
	// shared by the relations planned side by side.
	peerRoom atomic.Int64
}

func newProvider(r *reconciler, pub *published) *provider {
	crlURL := r.crlURL()
	if pub.cert != nil {
		crlURL = r.caCRLURL(pub.cert) // the issuing CA's own CRL, which outlives a rotation
	}
	return &provider{
		crlURL: crlURL,
		r:      r, pub: pub, now: r.o.Now(),
		caps:    capabilities(r.cfg),
		invByID: map[string][]InventoryEntry{},
		pending: map[string]int{},
		refused: map[string]int{},
		written: map[string]string{},
		cpu:     make(chan struct{}, runtime.GOMAXPROCS(0)),
		digest:  r.cfg.policyDigest(),
		steady:  r.peer[peerPolicy] == r.cfg.policyDigest() && r.peer[peerSignedBy] == pub.CA,
	}
}

// vetPolicy is the policy requests are vetted and CA certificates constrained to: the config's, with the subjects
// of this authority's CAs (the current one, and the next and previous ones during a rotation), which no requirer
// may have.
func (p *provider) vetPolicy() *ca.Policy {
	p.policyOnce.Do(func() {
		p.policy = p.r.cfg.Policy
		p.policy.CASubjects = caSubjects(p.pub, p.r.peer)
	})
	return &p.policy
}

// caSubjects are the raw subjects of the published CA and of the next and previous CAs of a rotation, each once.
func caSubjects(pub *published, peer map[string]string) [][]byte {
	var out [][]byte
	add := func(raw []byte) {
		for _, s := range out {
			if bytes.Equal(s, raw) {
				return
			}
		}
		out = append(out, raw)
	}
	if pub.cert != nil {
		add(pub.cert.RawSubject)
	}
	// In intermediate mode, the issuers above it too: a requirer CA named like one of them would be self-issued
	// under it, which RFC 5280 leaves out of path length counts and name constraints.
	for _, parent := range pub.Parents {
		if cert, err := ca.ParseCertificate(parent); err == nil {
			add(cert.RawSubject)
		}
	}
	for _, k := range []string{peerNextCA, peerPreviousCA} {
		if s := peer[k]; s != "" {
			if cert, err := ca.ParseCertificate(s); err == nil {
				add(cert.RawSubject)
			}
		}
	}
	return out
}

// about is the prefix of a log line about relation id: none in that relation's own hook, where juju-log already
// starts the line with "<endpoint>:<id>: " (jujuc juju-log.go, JujuLogCommand.Run), else the id, so that a line
// about another relation still names it.
func (p *provider) about(id string) string {
	return relationPrefix(p.r.hc.Env.RelationID, id)
}

func relationPrefix(hookRelation, id string) string {
	if id == hookRelation {
		return ""
	}
	return id + ": "
}

func csrHash(csr string) string {
	h := sha256.Sum256([]byte(csr))
	return hex.EncodeToString(h[:8])
}

// policyDigest changes when anything that decides what is signed, and how, changes: then every relation is
// looked at again (a refused request may now pass, and capabilities change).
func (c *Config) policyDigest() string {
	// The policy's JSON holds every field but CASubjects, which a rotation changes (serveCertificates looks at
	// every relation then anyway). bind-cluster-names decides refusals too: a refusal in a databag stands only
	// while the digest it was made under does (plan).
	b, _ := json.Marshal(struct {
		P ca.Policy
		V time.Duration
		L int
		B bool `json:",omitempty"`
	}{c.Policy, c.LeafValidity, c.CertificateLimit, c.BindClusterNames})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func capabilities(c *Config) *tlscertificates.Capabilities {
	caps := &tlscertificates.Capabilities{
		SupportsIPSANs:         tlscertificates.Bool(c.Policy.AllowIPSANs),
		SupportsWildcardDNS:    tlscertificates.Bool(c.Policy.AllowWildcards),
		SupportsCACertificates: tlscertificates.Bool(c.Policy.AllowCARequests),
	}
	if len(c.Policy.AllowedDomains) > 0 {
		caps.AllowedDomains = c.Policy.AllowedDomains
	}
	return caps
}

// fullScanHooks look at every relation: leadership moved, the charm changed, the unit (re)started, or the config
// changed (a request refused or left waiting may pass now, and requests that came while it was invalid were not
// served).
var fullScanHooks = map[string]bool{"leader-elected": true, "upgrade-charm": true, "start": true, "config-changed": true}

// serveCertificates signs outstanding requests on the relations this hook concerns and keeps every relation's
// provider databag, the inventory and the counts in step. Leader only, with a CA and valid config.
func (r *reconciler) serveCertificates(pub *published) error {
	p := newProvider(r, pub)
	if err := p.loadProgress(); err != nil {
		return err
	}
	if !r.needsScan(p) {
		return nil
	}
	if err := p.loadInventory(); err != nil {
		return err
	}
	ids, err := r.hc.RelationIDs(CertificatesEndpoint)
	if err != nil {
		return err
	}
	p.forgetGone(ids)
	p.peerRoom.Store(int64(maxPeerBagBytes - peerBagBytes(r.peer)))
	scope := r.scope(ids, p)
	// Each relation goes through read, plan, sign and write on its own, several at once: one relation's writes and
	// another's reads overlap the signing, which is what keeps a hook serving a hundred relations close to the time
	// its signing takes. Hook-tool calls are bounded by the hook context, signing by the cores.
	plans := make([]*relationPlan, len(scope))
	tasks := make([]func() error, len(scope))
	for i, id := range scope {
		tasks[i] = func() error {
			pl, err := p.plan(id)
			if err != nil {
				return err
			}
			if err := p.sign(pl); err != nil {
				return err
			}
			plans[i] = pl
			return p.write(pl)
		}
	}
	if err := parallel(relationConcurrency, tasks); err != nil {
		return err
	}
	if err := p.record(plans); err != nil {
		return err
	}
	return p.savePeerState(p.digest)
}

// forgetGone drops what the provider keeps about relations that are gone (broken): their databags went with them.
func (p *provider) forgetGone(live []string) {
	gone := func(id string) bool { return !slices.Contains(live, id) }
	maps.DeleteFunc(p.invByID, func(id string, _ []InventoryEntry) bool { return gone(id) })
	maps.DeleteFunc(p.pending, func(id string, _ int) bool { return gone(id) })
	maps.DeleteFunc(p.refused, func(id string, _ int) bool { return gone(id) })
	maps.DeleteFunc(p.written, func(id string, _ string) bool { return gone(id) })
}

// needsScan tells whether this hook must look at the certificates relations at all: a hook of that endpoint, a
// full scan, requests left outstanding by an earlier hook, or a databag not known to hold what it should. A steady hook (update-status, a peer change) makes
// no call for them.
func (r *reconciler) needsScan(p *provider) bool {
	if r.hc.Env.RelationName == CertificatesEndpoint || r.fullScan(p) || len(p.pending) > 0 {
		return true
	}
	for _, digest := range p.written {
		if digest == "" {
			return true // a databag whose write failed, or an action changed (see scope)
		}
	}
	return false
}

func (r *reconciler) fullScan(p *provider) bool {
	return fullScanHooks[r.hc.Env.HookName] || r.peer[peerPolicy] != r.cfg.policyDigest() || r.peer[peerSignedBy] != p.pub.CA
}

// scope is the relations this hook must read. A relation hook reads its own relation; relations left with
// outstanding requests (certificate-limit, no CA yet) are read again in every hook until served; everything is
// read after a leader change, an upgrade, a start, a policy change, or when the CA that signs changed.
func (r *reconciler) scope(ids []string, p *provider) []string {
	if r.fullScan(p) {
		return ids
	}
	var out []string
	for _, id := range ids {
		// A relation whose databag is not known to hold what it should (a write that failed, an action's) is
		// looked at again.
		if digest, ok := p.written[id]; id == r.hc.Env.RelationID || p.pending[id] > 0 || ok && digest == "" {
			out = append(out, id)
		}
	}
	return out
}

// loadInventory reads the inventory of issued certificates from the peer databag: only a hook that scans needs it,
// and with a thousand certificates parsing it is most of a steady hook's own CPU.
func (p *provider) loadInventory() error {
	for _, k := range inventoryKeys(p.r.peer) {
		var inv []InventoryEntry
		if err := json.Unmarshal([]byte(p.r.peer[k]), &inv); err != nil {
			return fmt.Errorf("cannot parse the inventory in the peer databag (%s): %w", k, err)
		}
		for _, e := range inv {
			p.invByID[e.Relation] = append(p.invByID[e.Relation], e)
		}
	}
	return nil
}

// loadPeerState reads all the provider keeps in the peer databag.
func (p *provider) loadPeerState() error {
	if err := p.loadProgress(); err != nil {
		return err
	}
	return p.loadInventory()
}

// loadProgress reads what the provider keeps in the peer databag besides the inventory: outstanding and refused
// requests, and the digests of the databags it wrote.
func (p *provider) loadProgress() error {
	peer := p.r.peer
	if s := peer[peerPending]; s != "" {
		if err := json.Unmarshal([]byte(s), &p.pending); err != nil {
			return fmt.Errorf("cannot parse pending relations in the peer databag: %w", err)
		}
	}
	if s := peer[peerRefused]; s != "" {
		if err := json.Unmarshal([]byte(s), &p.refused); err != nil {
			return fmt.Errorf("cannot parse refusals in the peer databag: %w", err)
		}
	}
	if s := peer[peerWritten]; s != "" {
		// A digest only saves a read: an unreadable record costs reads, not correctness.
		p.writtenKnown = json.Unmarshal([]byte(s), &p.written) == nil
		if !p.writtenKnown {
			p.written = map[string]string{}
		}
	}
	return nil
}

// needOwn tells whether planning a relation needs its provider databag as it is: for the certificates to keep
// (the inventory has entries there), or because no digest says what it holds.
func (p *provider) needOwn(id string) bool {
	// Refusals are read back too: one already answered under this policy is not checked again, nor logged again.
	if len(p.invByID[id]) > 0 || p.refused[id] > 0 {
		return true
	}
	digest, ok := p.written[id]
	if !ok {
		return !p.writtenKnown // never written by this charm, or no record of what was
	}
	return digest == ""
}

// bagDigest identifies a provider databag's content.
func bagDigest(bag map[string]string) string {
	h := sha256.New()
	for _, k := range tlscertificates.ProviderKeys {
		fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(bag[k]), bag[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (p *provider) savePeerState(policy string) error {
	want := map[string]string{peerInventory: ""}
	for _, k := range inventoryKeys(p.r.peer) {
		want[k] = "" // a relation with no certificates left
	}
	var c counts
	for id, entries := range p.invByID {
		want[inventoryKey(id)] = jsonOrEmpty(entries)
		for _, e := range entries {
			if e.Revoked {
				c.Revoked++
			} else {
				c.Issued++
			}
		}
	}
	for id, n := range p.pending {
		if n == 0 {
			delete(p.pending, id)
		}
		c.Outstanding += n
	}
	for id, n := range p.refused {
		if n == 0 {
			delete(p.refused, id)
		}
		c.Refused += n
	}
	maps.Copy(want, map[string]string{
		peerPending:  jsonOrEmpty(p.pending),
		peerRefused:  jsonOrEmpty(p.refused),
		peerCounts:   mustJSON(c),
		peerPolicy:   policy,
		peerSignedBy: p.pub.CA,
		peerWritten:  mustJSON(p.written), // "{}" too: it says the record is kept
	})
	return p.r.setPeer(want)
}

// inventoryKey is the peer databag key of a relation's inventory.
func inventoryKey(id string) string {
	return peerInventoryPrefix + strconv.Itoa(hooktool.RelationNumber(id))
}

// inventoryKeys lists the peer databag's inventory keys in relation order, the single key of earlier revisions
// first.
func inventoryKeys(peer map[string]string) []string {
	var keys []string
	for k := range peer {
		if strings.HasPrefix(k, peerInventoryPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.TrimPrefix(keys[i], peerInventoryPrefix))
		b, _ := strconv.Atoi(strings.TrimPrefix(keys[j], peerInventoryPrefix))
		return a < b
	})
	if peer[peerInventory] != "" {
		keys = append([]string{peerInventory}, keys...)
	}
	return keys
}

// joinInventory is every inventory key's entries as one JSON array (the agent's inventory.json), joined as text:
// each key holds a JSON array, so no entry is decoded.
func joinInventory(peer map[string]string) string {
	var parts []string
	for _, k := range inventoryKeys(peer) {
		inner := strings.TrimSpace(peer[k])
		inner = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(inner, "["), "]"))
		if inner != "" {
			parts = append(parts, inner)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cannot encode %T: %v", v, err)) // only plain data types reach here
	}
	return string(b)
}

// jsonOrEmpty encodes v, or gives "" (delete the key) for an empty list or map.
func jsonOrEmpty[T any](v T) string {
	s := mustJSON(v)
	if s == "null" || s == "[]" || s == "{}" {
		return ""
	}
	return s
}

// request is one CSR and where it came from.
type request struct {
	tlscertificates.CSRRequest
	From string // unit name, or the remote app's name for APP-mode requests
	// overCap is, for a request beyond the first maxCSRsPerUnitBag (maxCSRsPerAppBag) of its databag, that cap: it
	// is refused, never parsed. 0 for the others.
	overCap int
}

func (p *provider) readRequests(id string) ([]request, error) {
	hc := p.r.hc
	b, err := p.r.relationBags(id)
	if err != nil {
		return nil, err
	}
	var reqs []request
	read := func(from string, bag map[string]string, most int) error {
		rs, problems, err := tlscertificates.ReadRequests(bag)
		if err != nil {
			return hc.Log(hooktool.LevelWarning, "%s%s: ignoring certificate requests: %v", p.about(id), from, err)
		}
		for _, pr := range problems {
			if err := hc.Log(hooktool.LevelWarning, "%s%s: %s", p.about(id), from, pr); err != nil {
				return err
			}
		}
		for i, r := range rs {
			over := 0
			if i >= most {
				over = most
			}
			reqs = append(reqs, request{CSRRequest: r, From: from, overCap: over})
		}
		return nil
	}
	for _, u := range b.unitNames() {
		if err := read(u, b.bag(u), maxCSRsPerUnitBag); err != nil {
			return nil, err
		}
	}
	unlisted, err := p.unlistedUnits(id, b)
	if err != nil {
		return nil, err
	}
	for _, u := range slices.Sorted(maps.Keys(unlisted)) {
		if err := read(u, unlisted[u], maxCSRsPerUnitBag); err != nil {
			return nil, err
		}
	}
	if b.App != "" {
		if err := read(b.App, b.AppBag, maxCSRsPerAppBag); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}

// unlistedUnits reads the databags of the remote units this authority issued certificates to on relation id that
// relation-list does not show (nor goal-state, read ahead: readJoining), unless this hook is the unit's
// relation-departed. A unit's agent lists a remote unit
// only from its relation-joined on, so a unit new to the relation (the first unit after a scale to zero, in its
// relation-created and leader-elected) sees fewer units than hold certificates: taking that for their departure
// would withdraw their certificates and sign them again a hook later. The controller serves a related unit's
// databag by name (relation-get), so their requests are read there; a unit whose databag Juju no longer serves is
// gone. A departed unit's certificates go in its relation-departed, which the leader runs. A steady hook reads
// nothing more: every unit it issued to is listed.
func (p *provider) unlistedUnits(id string, b *relationBags) (map[string]map[string]string, error) {
	hc := p.r.hc
	departed := ""
	if strings.HasSuffix(hc.Env.HookName, "-relation-departed") && hc.Env.RelationID == id {
		departed = hc.Env.RemoteUnit
	}
	out := map[string]map[string]string{}
	for _, e := range p.invByID[id] {
		u := e.Unit
		if b.has(u) || u == departed || !strings.Contains(u, "/") || out[u] != nil {
			continue
		}
		bag, err := hc.UnitData(id, u)
		switch {
		case errors.Is(err, hooktool.ErrNotFound) || errors.Is(err, hooktool.ErrPermission):
			continue
		case err != nil:
			return nil, err
		}
		if bag == nil {
			bag = map[string]string{}
		}
		out[u] = bag
	}
	return out, nil
}

// relationPlan is what one relation's provider databag will hold: every request in order, each kept, refused,
// skipped, waiting (certificate-limit) or to be signed.
type relationPlan struct {
	id       string
	own      map[string]string // nil when not read (see needOwn)
	items    []*planItem
	refusals []tlscertificates.RequestError
	waiting  int
	prevInv  map[string]InventoryEntry // by CSR hash
	digest   string                    // of the databag as written (write); "" when the write failed
	// revoked are the serials of certificates the policy now refuses (revalidation), previous those of them the
	// previous CA issued; record lists them on their CRLs.
	revoked  []string
	previous map[string]bool
	notAfter map[string]time.Time                    // of each revoked serial, so it leaves the CRL once expired
	answered map[string]tlscertificates.RequestError // the request_errors the databag held, by CSR
}

type planItem struct {
	req   request
	csr   *ca.Vetted // to sign, when entry is not set yet
	entry *tlscertificates.ProviderCertificate
	inv   InventoryEntry
}

// relationConcurrency is how many relations a hook serves at once: enough for reads, signing and writes of
// different relations to overlap; hook-tool calls in flight are bounded by the hook context anyway.
const relationConcurrency = 8

// parallel runs tasks with at most n at a time and returns the first error.
func parallel(n int, tasks []func() error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, n)
	)
	for _, task := range tasks {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := task(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// plan decides, for one relation, what each request gets. It signs nothing.
//
// A request is checked once, not in every hook: one refused by policy keeps the request_errors entry it got, unchecked
// and not logged again, for as long as the policy and the signing CA are those it was refused under (steady); one
// beyond certificate-limit is counted, not checked, until its turn. When the policy changed, every certificate kept
// under the current CA is checked again, and one the new policy refuses is revoked: marked revoked in the databag
// and the inventory, listed on its CA's CRL (record), and answered with the refusal.
func (p *provider) plan(id string) (*relationPlan, error) {
	hc := p.r.hc
	reqs, err := p.readRequests(id)
	if err != nil {
		return nil, err
	}
	var own map[string]string
	if p.needOwn(id) {
		if own, err = hc.AppData(id, hc.Env.AppName()); err != nil {
			return nil, err
		}
	}
	existing, prevErrs, _, problems := tlscertificates.ReadProviderBag(own)
	for _, pr := range problems {
		// Only this charm writes here; a problem means an older writer (e.g. the Python charm before a switch).
		if err := hc.Log(hooktool.LevelWarning, "%sown databag: %s", p.about(id), pr); err != nil {
			return nil, err
		}
	}
	byCSR := make(map[string]tlscertificates.ProviderCertificate, len(existing))
	for _, e := range existing {
		if prev, ok := byCSR[e.CSR]; !ok || prev.Revoked {
			byCSR[e.CSR] = e
		}
	}
	answered := make(map[string]tlscertificates.RequestError, len(prevErrs))
	for _, e := range prevErrs {
		answered[e.CSR] = e
	}
	pl := &relationPlan{id: id, own: own, prevInv: map[string]InventoryEntry{}, previous: map[string]bool{}, answered: answered}
	// Problems with single requests are gathered and logged in one juju-log call for the relation: each call is a
	// process and an RPC, and a storm of bad or foreign requests must not cost one each.
	var warnings, revocations []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	// refuse answers a request; a refusal the requirer already reads in the databag is not logged again.
	refuse := func(req request, e tlscertificates.RequestError, foreign string) {
		if _, ok := answered[req.CSR]; !ok {
			if foreign != "" {
				warn("%s: refusing a request for names it does not own: %s", req.From, foreign)
			} else {
				warn("%s: refused certificate request: %s (%d): %s", req.From, e.Error.Name, e.Error.Code, e.Error.Message)
			}
		}
		pl.refusals = append(pl.refusals, e)
	}
	for _, e := range p.invByID[id] {
		pl.prevInv[e.CSRHash] = e // one entry per CSR in a relation
	}
	type keptReq struct {
		req request
		e   tlscertificates.ProviderCertificate
	}
	// Kept entries first: what they weigh and how many they are bounds what new requests may add (the caps).
	seen := map[string]string{}
	var kept []keptReq
	size, count := 0, 0
	for _, req := range reqs {
		if _, dup := seen[req.CSR]; dup || req.overCap > 0 {
			continue
		}
		seen[req.CSR] = req.From
		// Ours, under the current CA: kept as is. A revoked entry stays revoked: signing the same key again would
		// undo the revocation; the requirer must send a new CSR.
		if e, ok := byCSR[req.CSR]; ok && (e.Revoked || e.CA == p.pub.CA) {
			kept = append(kept, keptReq{req, e})
			size += certEntrySize(e.CSR, e.Certificate, e.CA, e.Chain)
			count++
		}
	}
	keptItems := map[string]*planItem{}
	for _, k := range kept {
		it, why, err := p.keep(pl, k.req, k.e)
		if err != nil {
			warn("%s: re-issuing unreadable certificate: %v", k.req.From, err)
			continue
		}
		keptItems[k.req.CSR] = it
		if why != "" {
			revocations = append(revocations, fmt.Sprintf("%s serial %s (%s)", k.req.From, it.inv.Serial, why))
		}
	}
	limit := p.r.cfg.CertificateLimit
	clear(seen)
	signing := 0
	for _, req := range reqs {
		if first, dup := seen[req.CSR]; dup {
			warn("%s: same CSR as %s; served once", req.From, first)
			continue
		}
		seen[req.CSR] = req.From
		if it := keptItems[req.CSR]; it != nil {
			pl.items = append(pl.items, it)
			continue
		}
		if req.overCap > 0 {
			refuse(req, capacityRefusal(req.CSR, "more than %d certificate requests in one databag", req.overCap), "")
			continue
		}
		if len(req.CSR) > ca.MaxCSRSize {
			// Not a CSR any requirer library made: skipped as malformed, never echoed back in request_errors.
			warn("%s: skipping certificate request: cannot parse CSR: %d bytes, more than %d", req.From, len(req.CSR), ca.MaxCSRSize)
			continue
		}
		if len(req.CSR) > maxCSRBytes {
			refuse(req, capacityRefusal(req.CSR, "the CSR is %d bytes, more than %d", len(req.CSR), maxCSRBytes), "")
			continue
		}
		prev, reissue := byCSR[req.CSR]
		if e, ok := answered[req.CSR]; ok && p.steady && !reissue && !isCapacityRefusal(e) {
			pl.refusals = append(pl.refusals, e) // refused under this very policy: still refused
			continue
		}
		if !reissue {
			// Waiting requests count against the caps as if signed: they will be.
			est := newEntrySize(req.CSR, p.pub.CA, p.pub.Parents)
			switch {
			case count >= maxCertsPerRelation:
				refuse(req, capacityRefusal(req.CSR, "a relation holds at most %d certificates", maxCertsPerRelation), "")
				continue
			case size+est > maxCertBytes:
				refuse(req, capacityRefusal(req.CSR, "the relation's databag holds at most %d MiB of certificates", maxCertBytes>>20), "")
				continue
			}
			// While an issuer has not delivered, the CA it replaces signs nothing new (the certificates it signed
			// are still served, and re-issued should it rotate). Beyond certificate-limit a request waits, unchecked,
			// for a later hook.
			if p.r.peer[peerIssuerWaiting] != "" || limit >= 0 && signing >= limit {
				pl.waiting++
				size += est
				count++
				continue
			}
			size += est
			count++
		}
		// Re-issuing under a new CA is not held back by certificate-limit: the overlap must end with every
		// certificate under the new CA.
		csr, refusal, names, err := p.check(req, req.CA)
		if err != nil {
			warn("%s: skipping certificate request: %v", req.From, err)
			continue
		}
		if refusal != nil {
			refuse(req, *refusal, names)
			if reissue && !prev.Revoked {
				// Its certificate under another CA is still valid: the policy refuses it now, so it is revoked.
				if serial, ok := p.revoke(pl, &prev); ok {
					revocations = append(revocations, fmt.Sprintf("%s serial %s (%s)", req.From, serial, refusal.Error.Message))
					if ent, err := p.inventoryEntry(id, req, prev, pl.prevInv); err == nil {
						pl.items = append(pl.items, &planItem{req: req, entry: &prev, inv: ent})
					}
				}
			}
			continue
		}
		if !reissue {
			// Every certificate also has an inventory and a ledger entry in the peer databag, one settings document
			// for the whole authority: past its budget a new request is refused, whatever relation it comes from.
			if n := peerEntrySize(csr.CSR()); !p.takePeerRoom(n) {
				refuse(req, capacityRefusal(req.CSR, "the authority's records hold at most %d MiB, about %d certificates like this one",
					maxPeerBagBytes>>20, maxPeerBagBytes/n), "")
				continue
			}
			signing++
		}
		if names != "" {
			// Logged when signed, not while it waits: once per request.
			warn("%s: signing names it does not own: %s", req.From, names)
		}
		pl.items = append(pl.items, &planItem{req: req, csr: csr})
	}
	// The refusals that do not fit the databag are left out; the requirer reads them once others are gone.
	if dropped := p.fitRefusals(pl, size); dropped > 0 {
		warn("%d refusals left out of the databag: it holds at most %d MiB", dropped, maxProviderBagBytes>>20)
	}
	if err := logWarnings(hc, p.about(id), warnings); err != nil {
		return nil, err
	}
	if len(revocations) > 0 {
		if err := hc.Log(hooktool.LevelWarning, "%srevoked %d certificates the policy now refuses: %s", p.about(id), len(revocations), strings.Join(revocations, "; ")); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// keep makes the plan item of a kept entry. When the policy changed, its CSR is checked again, with the CA flag it
// was signed with, and an entry the policy now refuses is revoked. A revoked entry keeps the refusal it was given.
// It returns why it revoked the entry ("" when it did not).
func (p *provider) keep(pl *relationPlan, req request, e tlscertificates.ProviderCertificate) (*planItem, string, error) {
	ent, err := p.inventoryEntry(pl.id, req, e, pl.prevInv)
	if err != nil {
		return nil, "", err
	}
	lost := false
	if prev, ok := pl.prevInv[ent.CSRHash]; ok && prev.Revoked && !e.Revoked && prev.Serial == ent.Serial {
		// Revoked in a hook whose write of this databag failed: the inventory and the CRL say so already.
		e.Revoked, ent.Revoked, lost = true, true, true
	}
	it := &planItem{req: req, entry: &e, inv: ent}
	if e.Revoked {
		if prevErr, ok := pl.answered[req.CSR]; ok {
			pl.refusals = append(pl.refusals, prevErr)
		} else if lost {
			// The refusal that revoked it was lost with the write (an action's revocation has none: nil).
			if _, refusal, _, err := p.check(req, ent.CA); err == nil && refusal != nil {
				pl.refusals = append(pl.refusals, *refusal)
			}
		}
		return it, "", nil
	}
	if p.r.peer[peerPolicy] == p.digest {
		return it, "", nil
	}
	_, refusal, _, err := p.check(req, ent.CA)
	if err != nil || refusal == nil {
		return it, "", nil // signed once, so it parses: an error here is not a reason to revoke
	}
	pl.refusals = append(pl.refusals, *refusal)
	p.revoke(pl, it.entry)
	it.inv.Revoked = true
	return it, refusal.Error.Message, nil
}

// check vets a request under the policy, and the cluster names it asks for: the request to sign, or the refusal,
// and the cluster names it holds that its requirer does not own (refused for them under bind-cluster-names, or let
// through).
func (p *provider) check(req request, isCA bool) (*ca.Vetted, *tlscertificates.RequestError, string, error) {
	// Parse, policy, signature: a key x509 cannot verify (RSA-512, DSA, Ed448) is refused, not skipped.
	csr, refusal, err := p.vetPolicy().Vet(req.CSR, isCA)
	if err != nil {
		return nil, nil, "", err
	}
	refusal = caRequestRefusal(refusal, p.r.hc.Env.AppName())
	if refusal == nil && isCA {
		refusal = pathLenRefusal(p.pub.cert, p.r.cfg.Policy)
	}
	if refusal != nil {
		return nil, &tlscertificates.RequestError{CSR: req.CSR, Error: tlscertificates.ErrorDetail{
			Code: refusal.Code, Name: refusal.Name, Message: refusal.Message}}, "", nil
	}
	foreign := foreignClusterNames(csr.CSR(), p.r.hc.Env.ModelName, req.From, p.r.requests.unitAddresses)
	if len(foreign) == 0 {
		return csr, nil, "", nil
	}
	names := describeForeign(foreign)
	if p.r.cfg.BindClusterNames {
		return nil, &tlscertificates.RequestError{CSR: req.CSR, Error: tlscertificates.ErrorDetail{
			Code: ca.CodeDomainNotAllowed, Name: "domain_not_allowed",
			Message: fmt.Sprintf("%s may not have %s (bind-cluster-names is true)", req.From, names)}}, names, nil
	}
	return csr, nil, names, nil
}

// revoke marks e revoked and has record list its serial on the CRL of the CA that issued it: the current one, or
// the previous one during a rotation's overlap. A certificate of another CA (not kept by this authority any more)
// cannot be listed; it is still marked.
func (p *provider) revoke(pl *relationPlan, e *tlscertificates.ProviderCertificate) (string, bool) {
	e.Revoked = true
	cert, err := ca.ParseCertificate(e.Certificate)
	if err != nil {
		return "", false
	}
	serial := serialHex(cert)
	switch e.CA {
	case p.pub.CA:
	case p.r.peer[peerPreviousCA]:
		pl.previous[serial] = true
	default:
		return serial, false
	}
	pl.revoked = append(pl.revoked, serial)
	if pl.notAfter == nil {
		pl.notAfter = map[string]time.Time{}
	}
	pl.notAfter[serial] = cert.NotAfter.UTC()
	return serial, true
}

// fitRefusals leaves out the refusals that would take the databag over maxProviderBagBytes, the certificates
// weighing size; it returns how many.
func (p *provider) fitRefusals(pl *relationPlan, size int) int {
	kept := pl.refusals[:0]
	dropped := 0
	for _, e := range pl.refusals {
		if n := refusalSize(e); size+n <= maxProviderBagBytes {
			size += n
			kept = append(kept, e)
		} else {
			dropped++
		}
	}
	pl.refusals = kept
	return dropped
}

// sign signs the relation's planned requests, several at once but never more than there are cores across the
// hook: RSA signing is the one CPU-heavy step of a hook.
func (p *provider) sign(pl *relationPlan) error {
	var tasks []func() error
	for _, it := range pl.items {
		if it.entry != nil {
			continue
		}
		tasks = append(tasks, func() error {
			p.cpu <- struct{}{}
			defer func() { <-p.cpu }()
			entry, ent, err := p.issue(pl.id, it.req, it.csr)
			if err != nil {
				return err
			}
			it.entry, it.inv = &entry, ent
			return nil
		})
	}
	return parallel(len(tasks), tasks)
}

// write writes the relation's provider databag where it changed.
func (p *provider) write(pl *relationPlan) error {
	certs := make([]tlscertificates.ProviderCertificate, 0, len(pl.items))
	for _, it := range pl.items {
		certs = append(certs, *it.entry)
	}
	want := tlscertificates.WriteProviderBag(certs, pl.refusals, p.caps)
	pl.digest = bagDigest(want)
	update := map[string]string{}
	for _, k := range tlscertificates.ProviderKeys {
		// Not read: the digest says whether it holds what it should; if not, every key is written.
		if (pl.own == nil && p.written[pl.id] != pl.digest) || (pl.own != nil && want[k] != pl.own[k]) {
			update[k] = want[k]
		}
	}
	if len(update) == 0 {
		return nil
	}
	if err := p.r.hc.SetAppData(pl.id, update); err != nil {
		// One relation's failed write (a relation going away, a document Juju will not store) must not fail the
		// hook: the others are served, and this one is looked at again next hook, its databag's digest unknown.
		pl.digest = ""
		return p.r.hc.Log(hooktool.LevelError, "%scannot write the certificates databag (the next hook tries again): %v", p.about(pl.id), err)
	}
	return nil
}

// record keeps what the relations now hold: their inventory, outstanding and refused counts, databag digests; and
// lists the certificates the policy now refuses on their CAs' CRLs.
func (p *provider) record(plans []*relationPlan) error {
	var revoked []string
	previous := map[string]bool{}
	notAfter := map[string]time.Time{}
	for _, pl := range plans {
		revoked = append(revoked, pl.revoked...)
		maps.Copy(previous, pl.previous)
		maps.Copy(notAfter, pl.notAfter)
	}
	if len(revoked) > 0 {
		if err := p.r.revokeSerials(revoked, previous, notAfter, p.now); err != nil {
			return err
		}
	}
	for _, pl := range plans {
		inv := make([]InventoryEntry, 0, len(pl.items))
		for _, it := range pl.items {
			inv = append(inv, it.inv)
		}
		if len(inv) == 0 {
			delete(p.invByID, pl.id)
		} else {
			p.invByID[pl.id] = inv
		}
		p.pending[pl.id] = pl.waiting
		p.refused[pl.id] = len(pl.refusals)
		p.written[pl.id] = pl.digest
	}
	return nil
}

// inventoryEntry describes a kept entry, from the previous inventory when it is there (no parsing).
func (p *provider) inventoryEntry(id string, req request, e tlscertificates.ProviderCertificate, prev map[string]InventoryEntry) (InventoryEntry, error) {
	h := csrHash(req.CSR)
	if ent, ok := prev[h]; ok && ent.Revoked == e.Revoked && !ent.NotBefore.IsZero() {
		ent.Unit = req.From
		return ent, nil
	}
	cert, err := ca.ParseCertificate(e.Certificate)
	if err != nil {
		return InventoryEntry{}, err
	}
	ent := describe(cert, id, req.From, h)
	ent.Revoked = e.Revoked
	return ent, nil
}

func describe(cert *x509.Certificate, id, from, h string) InventoryEntry {
	var sans []string
	sans = append(sans, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	sans = append(sans, cert.EmailAddresses...)
	return InventoryEntry{
		Serial: serialHex(cert), Subject: cert.Subject.String(), SANs: sans, NotAfter: cert.NotAfter.UTC(), NotBefore: cert.NotBefore.UTC(),
		Relation: id, Unit: from, CA: cert.IsCA, CSRHash: h,
	}
}

func serialHex(cert *x509.Certificate) string { return fmt.Sprintf("%x", cert.SerialNumber) }

func (p *provider) issue(id string, req request, csr *ca.Vetted) (tlscertificates.ProviderCertificate, InventoryEntry, error) {
	a, err := p.r.authority()
	if err != nil {
		return tlscertificates.ProviderCertificate{}, InventoryEntry{}, err
	}
	// The policy goes with every request: a CA certificate is constrained to it (path length, name constraints).
	cert, err := a.IssueVetted(csr, ca.IssueOptions{Validity: p.r.cfg.LeafValidity, IsCA: req.CA, Policy: p.vetPolicy(), CRLDistributionPoint: p.crlURL, Now: p.now})
	if err != nil {
		return tlscertificates.ProviderCertificate{}, InventoryEntry{}, fmt.Errorf("cannot sign the request of %s on %s: %w", req.From, id, err)
	}
	p.r.recordIssued(cert, id+"/"+req.From) // the serial ledger (ledger.go)
	leaf := ca.EncodeCertificate(cert)
	// Leaf first, then the CA exactly as published (requirers compare strings), then its parents up to the root.
	chain := append([]string{leaf, p.pub.CA}, p.pub.Parents...)
	// No Validate here: every part is known good (the CSR parsed, the CA parsed when loaded, the leaf just
	// encoded), and decoding five PEM blocks again per certificate is a tenth of a signing hook's own CPU.
	entry := tlscertificates.ProviderCertificate{CA: p.pub.CA, CSR: req.CSR, Certificate: leaf, Chain: chain}
	return entry, describe(cert, id, req.From, csrHash(req.CSR)), nil
}

// authority loads the CA key from the secret, once per hook and only when something is to be signed: most hooks
// sign nothing and never read the key.
func (r *reconciler) authority() (*ca.Authority, error) {
	r.authMu.Lock() // relations are signed concurrently
	defer r.authMu.Unlock()
	if r.auth != nil {
		return r.auth, nil
	}
	a, err := r.loadAuthority()
	if err != nil {
		return nil, err
	}
	r.auth = a
	return a, nil
}

// loadAuthority reads the CA key and certificate from the secret, as this hook last wrote it (caSecret): the pair
// whose certificate the peer data publishes.
func (r *reconciler) loadAuthority() (*ca.Authority, error) {
	content, err := r.caSecret()
	if err != nil {
		return nil, err
	}
	return authorityFor(content, r.peer[peerCA])
}

// authorityFor is the CA of the secret's pair whose certificate is the published one: the current pair, or the
// next one (a compromise rotation's new CA, until the leader's next hook drops the old pair: dropRetiredKeys). Juju
// applies a hook's secret changes before its relation data, in calls of their own (commitHookChangesForOneUnit), so
// after a commit that failed between the two the secret can hold a CA the peer data does not publish; that CA
// never signs: nothing would trust what it signed.
func authorityFor(content map[string]string, published string) (*ca.Authority, error) {
	switch {
	case published == "" || content["certificate"] == published:
		return authorityFrom(content)
	case content["next-certificate"] == published:
		return authorityFrom(map[string]string{"private-key": content["next-private-key"], "certificate": content["next-certificate"]})
	}
	return nil, errors.New("cannot sign: the CA secret does not hold the published CA (a commit applied the secret but not the peer data)")
}

// authorityFrom is the CA of a CA secret's content.
func authorityFrom(content map[string]string) (*ca.Authority, error) {
	key, err := ca.ParsePrivateKey(content["private-key"])
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA key from its secret: %w", err)
	}
	cert, err := ca.ParseCertificate(content["certificate"])
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA certificate from its secret: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("cannot use the CA secret: its key does not match its certificate")
	}
	return &ca.Authority{Certificate: cert, Key: key}, nil
}

func publicKeysEqual(a, b any) bool {
	ab, err1 := x509.MarshalPKIXPublicKey(a)
	bb, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// maxWarningsLogged bounds the request problems one log line lists; the count says how many there were.
const maxWarningsLogged = 20

// logWarnings logs a relation's request problems in one juju-log call: one problem as its own line, several joined.
func logWarnings(hc *hooktool.Context, prefix string, warnings []string) error {
	switch len(warnings) {
	case 0:
		return nil
	case 1:
		return hc.Log(hooktool.LevelWarning, "%s%s", prefix, warnings[0])
	}
	shown := warnings
	more := ""
	if len(shown) > maxWarningsLogged {
		shown, more = shown[:maxWarningsLogged], fmt.Sprintf("; and %d more", len(warnings)-maxWarningsLogged)
	}
	return hc.Log(hooktool.LevelWarning, "%s%d problems with certificate requests: %s%s", prefix, len(warnings), strings.Join(shown, "; "), more)
}
