package charm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// provRunner is a small Juju for the provider: relation-ids, relation-list, relation-get, relation-set (which fails
// for the relations in failSet, as Juju's does for a relation that is going away or a document too large),
// secret-get of the CA secret, and juju-log.
type provRunner struct {
	mu      sync.Mutex
	ids     []string                     // certificates relations
	units   map[string][]string          // relation id -> remote units
	bags    map[string]map[string]string // "<id>/<unit or app>" -> databag
	secret  map[string]string
	failSet map[string]bool
	logs    []string
	calls   map[string]int
}

func newProvRunner() *provRunner {
	return &provRunner{units: map[string][]string{}, bags: map[string]map[string]string{}, failSet: map[string]bool{}, calls: map[string]int{}}
}

func (f *provRunner) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[tool]++
	var id string
	for i, a := range args {
		if a == "-r" && i+1 < len(args) {
			id = args[i+1]
		}
	}
	switch tool {
	case "relation-ids":
		return json.Marshal(f.ids)
	case "relation-list":
		return json.Marshal(f.units[id])
	case "relation-get":
		name := args[slices.Index(args, "-")+1]
		return json.Marshal(f.bags[id+"/"+name])
	case "relation-set":
		if f.failSet[id] {
			return nil, &hooktool.ToolError{Tool: tool, Args: args, ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
		}
		data, err := hooktooltest.RelationSetData(args, stdin)
		if err != nil {
			return nil, err
		}
		key := id + "/tls-authority"
		if !slices.Contains(args, "--app") {
			key = id + "/tls-authority/0"
		}
		if f.bags[key] == nil {
			f.bags[key] = map[string]string{}
		}
		for k, v := range data {
			if v == "" {
				delete(f.bags[key], k)
			} else {
				f.bags[key][k] = v
			}
		}
		return nil, nil
	case "secret-get":
		return json.Marshal(f.secret)
	case "juju-log":
		f.logs = append(f.logs, strings.Join(args, " "))
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

// takeLogs gives the juju-log lines since the last call.
func (f *provRunner) takeLogs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.logs
	f.logs = nil
	return l
}

// provHarness is a leader with a CA and a peer databag that survives its hooks, serving certificates relations.
type provHarness struct {
	run  *provRunner
	raw  map[string]any
	peer map[string]string
	pub  *published
	now  time.Time
}

func newProvHarness(tb testing.TB, set map[string]any) *provHarness {
	tb.Helper()
	now := time.Now()
	content, pub := testCASecret(tb, "provider test CA", now)
	run := newProvRunner()
	run.secret = content
	raw := defaults()
	maps.Copy(raw, set)
	return &provHarness{run: run, raw: raw, peer: map[string]string{peerCA: pub.CA, peerBundle: mustJSON(pub.Bundle)}, pub: pub, now: now}
}

// relate adds relation id with one remote unit (app "req<id>"), which requests reqs.
func (h *provHarness) relate(id string, reqs ...tlscertificates.CSRRequest) string {
	unit := "req" + strings.TrimPrefix(id, "certificates:") + "/0"
	h.run.ids = append(h.run.ids, id)
	h.run.units[id] = []string{unit}
	h.request(id, unit, reqs...)
	return unit
}

func (h *provHarness) request(id, unit string, reqs ...tlscertificates.CSRRequest) {
	h.run.mu.Lock()
	defer h.run.mu.Unlock()
	h.run.bags[id+"/"+unit] = map[string]string{tlscertificates.KeyCSRs: tlscertificates.WriteRequests(reqs)}
}

// reconciler is the leader in hook name (of relation relID when set), with the harness's config and peer databag.
func (h *provHarness) reconciler(tb testing.TB, name, relID string) *reconciler {
	tb.Helper()
	env := hooktool.Env{UnitName: "tls-authority/0", ModelName: "m", HookName: name, RelationID: relID}
	if relID != "" {
		env.RelationName = CertificatesEndpoint
	}
	cfg, err := ParseConfig(h.raw)
	if err != nil {
		tb.Fatal(err)
	}
	return &reconciler{hc: hooktool.New(env, h.run), o: &Options{Now: func() time.Time { return h.now }}, leader: true, cfg: cfg,
		peerID: "authority:1", peer: maps.Clone(h.peer), requests: &requestCache{mem: map[string]*relationBags{}}}
}

// hook runs the provider's part of a leader hook: serve the certificates relations, keep the CRL.
func (h *provHarness) hook(tb testing.TB, name, relID string) error {
	tb.Helper()
	r := h.reconciler(tb, name, relID)
	if err := r.serveCertificates(h.pub); err != nil {
		return err
	}
	if err := r.maintainCRL(h.pub, r.authority); err != nil {
		return err
	}
	h.peer = r.peer
	return nil
}

// provided is what the authority wrote on relation id.
func (h *provHarness) provided(tb testing.TB, id string) ([]tlscertificates.ProviderCertificate, []tlscertificates.RequestError) {
	tb.Helper()
	h.run.mu.Lock()
	bag := maps.Clone(h.run.bags[id+"/tls-authority"])
	h.run.mu.Unlock()
	certs, errs, _, problems := tlscertificates.ReadProviderBag(bag)
	if len(problems) > 0 {
		tb.Fatalf("%s: provider databag problems: %v", id, problems)
	}
	return certs, errs
}

func (h *provHarness) inventory(tb testing.TB, id string) []InventoryEntry {
	tb.Helper()
	var inv []InventoryEntry
	if s := h.peer[inventoryKey(id)]; s != "" {
		if err := json.Unmarshal([]byte(s), &inv); err != nil {
			tb.Fatal(err)
		}
	}
	return inv
}

// testCSR is a PEM CSR for cn with sans (IP addresses become IP SANs), on an ECDSA key unless key is given.
func testCSR(tb testing.TB, key crypto.Signer, cn string, sans ...string) string {
	tb.Helper()
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		key = k
	}
	tpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tpl.IPAddresses = append(tpl.IPAddresses, ip)
		} else {
			tpl.DNSNames = append(tpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tpl, key)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
}

func csrReq(csr string) tlscertificates.CSRRequest { return tlscertificates.CSRRequest{CSR: csr} }

// entryFor is the provider entry and request error of csr.
func entryFor(certs []tlscertificates.ProviderCertificate, errs []tlscertificates.RequestError, csr string) (*tlscertificates.ProviderCertificate, *tlscertificates.RequestError) {
	var c *tlscertificates.ProviderCertificate
	var e *tlscertificates.RequestError
	for i := range certs {
		if certs[i].CSR == csr {
			c = &certs[i]
		}
	}
	for i := range errs {
		if errs[i].CSR == csr {
			e = &errs[i]
		}
	}
	return c, e
}

// BenchmarkPlanAtCaps is the CSR-check cost of a hook at the caps: one requirer unit with the most CSRs a databag
// may hold, half of them refused by policy (already answered in the databag), half waiting on certificate-limit
// (1), in a hook of that relation after the first.
//
//	go test -count=1 ./charm -run '^$' -bench BenchmarkPlanAtCaps -benchtime 200x
func BenchmarkPlanAtCaps(b *testing.B) {
	h := newProvHarness(b, map[string]any{"allowed-domains": "example.com", "certificate-limit": float64(1)})
	const n = 100 // the cap on CSRs per databag
	reqs := make([]tlscertificates.CSRRequest, n)
	for i := range reqs {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		domain := "example.com"
		if i < n/2 {
			domain = "bank.com"
		}
		name := fmt.Sprintf("r%d.%s", i, domain)
		reqs[i] = csrReq(testCSR(b, k, name, name))
	}
	// The refused half first, answered in one hook; then the other half, of which certificate-limit lets one in.
	unit := h.relate("certificates:5", reqs[:n/2]...)
	if err := h.hook(b, "config-changed", ""); err != nil {
		b.Fatal(err)
	}
	h.request("certificates:5", unit, reqs...)
	if err := h.hook(b, "certificates-relation-changed", "certificates:5"); err != nil {
		b.Fatal(err)
	}
	h.run.takeLogs()
	b.ResetTimer()
	calls := 0
	for range b.N {
		before := h.run.calls["relation-get"] + h.run.calls["juju-log"]
		r := h.reconciler(b, "certificates-relation-changed", "certificates:5")
		p := newProvider(r, h.pub)
		if err := p.loadPeerState(); err != nil {
			b.Fatal(err)
		}
		pl, err := p.plan("certificates:5")
		if err != nil {
			b.Fatal(err)
		}
		if len(pl.refusals) != n/2 || pl.waiting+len(pl.items) != n/2 {
			b.Fatalf("%d refused, %d waiting, %d signed or kept", len(pl.refusals), pl.waiting, len(pl.items))
		}
		calls += h.run.calls["relation-get"] + h.run.calls["juju-log"] - before
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
}
