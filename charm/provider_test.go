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
		setBag(f.bags, key, data)
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

// relateApp adds relation id with one remote unit of app "req<id>", whose app databag requests reqs (app mode).
func (h *provHarness) relateApp(id string, reqs ...tlscertificates.CSRRequest) string {
	app := "req" + strings.TrimPrefix(id, "certificates:")
	h.run.ids = append(h.run.ids, id)
	h.run.units[id] = []string{app + "/0"}
	h.request(id, app, reqs...)
	return app
}

// request writes reqs in the databag of name (a unit, or the remote app) on relation id.
func (h *provHarness) request(id, name string, reqs ...tlscertificates.CSRRequest) {
	h.run.mu.Lock()
	defer h.run.mu.Unlock()
	h.run.bags[id+"/"+name] = map[string]string{tlscertificates.KeyCSRs: tlscertificates.WriteRequests(reqs)}
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

// BenchmarkPlanAtCaps is the CSR-check cost of a hook at the caps: one requirer with the most CSRs a databag may
// hold, half of them refused by policy (already answered in the databag), half waiting on certificate-limit (1),
// in a hook of that relation after the first. "unit": a unit's databag of RSA-2048 CSRs; "app": an app-mode
// requirer's databag of ECDSA P-256 CSRs (RSA ones that many would pass the databag's size cap waiting).
//
//	go test -count=1 ./charm -run '^$' -bench BenchmarkPlanAtCaps -benchtime 20x
func BenchmarkPlanAtCaps(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
		app  bool
		key  func() (crypto.Signer, error)
	}{
		{"unit", 100, false, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{"app", 1000, true, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPlan(b, bc.n, bc.app, bc.key) })
	}
}

func benchPlan(b *testing.B, n int, app bool, newKey func() (crypto.Signer, error)) {
	h := newProvHarness(b, map[string]any{"allowed-domains": "example.com", "certificate-limit": float64(1)})
	// Keys are not what is measured: a few, each signing several CSRs, all checked alike.
	keys := make([]crypto.Signer, 8)
	for i := range keys {
		k, err := newKey()
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	reqs := make([]tlscertificates.CSRRequest, n)
	for i := range reqs {
		domain := "example.com"
		if i < n/2 {
			domain = "bank.com"
		}
		name := fmt.Sprintf("r%d.%s", i, domain)
		reqs[i] = csrReq(testCSR(b, keys[i%len(keys)], name, name))
	}
	// The refused half first, answered in one hook; then the other half, of which certificate-limit lets one in.
	var from string
	if app {
		from = h.relateApp("certificates:5", reqs[:n/2]...)
	} else {
		from = h.relate("certificates:5", reqs[:n/2]...)
	}
	if err := h.hook(b, "config-changed", ""); err != nil {
		b.Fatal(err)
	}
	h.request("certificates:5", from, reqs...)
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

// TestCASubjects: the policy a hook vets and constrains with names the subjects of this authority's CAs: the
// current one, and during a rotation the next and the previous ones, each once.
func TestCASubjects(t *testing.T) {
	now := time.Now()
	_, cur := testCASecret(t, "current CA", now)
	_, next := testCASecret(t, "next CA", now)
	_, prev := testCASecret(t, "previous CA", now)
	_, same := testCASecret(t, "current CA", now) // a rotation that keeps the subject
	for _, tc := range []struct {
		name string
		peer map[string]string
		want []*published
	}{
		{"steady", nil, []*published{cur}},
		{"phase 1", map[string]string{peerNextCA: next.CA}, []*published{cur, next}},
		{"overlap", map[string]string{peerPreviousCA: prev.CA}, []*published{cur, prev}},
		{"both", map[string]string{peerNextCA: next.CA, peerPreviousCA: prev.CA}, []*published{cur, next, prev}},
		{"same subject", map[string]string{peerNextCA: same.CA}, []*published{cur}},
		{"unreadable next", map[string]string{peerNextCA: "garbage"}, []*published{cur}},
		{"intermediate", nil, []*published{cur, prev}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := cur
			if tc.name == "intermediate" {
				// Its parents, up to the root, are names a requirer may not take either.
				pub = &published{CA: cur.CA, cert: cur.cert, Parents: []string{prev.CA, "garbage"}}
			}
			got := caSubjects(pub, tc.peer)
			if len(got) != len(tc.want) {
				t.Fatalf("%d subjects, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if !slices.Equal(got[i], w.cert.RawSubject) {
					t.Errorf("subject %d is not %s's", i, w.cert.Subject)
				}
			}
		})
	}
	// And the provider's policy is the config's with them.
	h := newProvHarness(t, map[string]any{"allowed-ip-ranges": "10.0.0.0/8", "ca-request-max-path-length": float64(2)})
	h.peer[peerPreviousCA] = prev.CA
	p := newProvider(h.reconciler(t, "config-changed", ""), h.pub)
	pol := p.vetPolicy()
	if len(pol.CASubjects) != 2 || len(pol.AllowedIPRanges) != 1 || pol.CAMaxPathLen != 2 {
		t.Errorf("policy %+v", pol)
	}
}

// TestPolicyDigest: every option that decides what is signed changes the digest (a change re-vets what was
// issued); the CA subjects, which a rotation changes, do not.
func TestPolicyDigest(t *testing.T) {
	base, _ := ParseConfig(defaults())
	for k, v := range map[string]any{
		"allowed-ip-ranges": "10.0.0.0/8", "ca-request-max-path-length": float64(1), "allowed-domains": "example.com",
		"allow-ip-sans": false, "allow-wildcards": false, "allow-ca-requests": true, "bind-cluster-names": true,
		"certificate-validity": "30d", "certificate-limit": float64(5),
	} {
		raw := defaults()
		raw[k] = v
		c, err := ParseConfig(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.policyDigest() == base.policyDigest() {
			t.Errorf("%s=%v does not change the policy digest", k, v)
		}
	}
	c, _ := ParseConfig(defaults())
	c.Policy.CASubjects = [][]byte{[]byte("subject")}
	if c.policyDigest() != base.policyDigest() {
		t.Error("the CA subjects change the policy digest")
	}
}

func crlSerials(t *testing.T, peer map[string]string, key string) []string {
	t.Helper()
	if peer[key] == "" {
		return nil
	}
	return serials(parseCRL(t, peer[key]))
}

func countLines(logs []string, substr string) int {
	n := 0
	for _, l := range logs {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// TestRevalidation: issued under allowed-domains empty, a bank.com certificate is revoked when allowed-domains
// becomes example.com: marked revoked in the databag and the inventory, on the CRL, its requirer reading the
// refusal; the example.com one is untouched. It is logged once, in one line for the relation, and the hooks after
// keep it so without checking or logging it again. A steady hook re-vets nothing.
func TestRevalidation(t *testing.T) {
	h := newProvHarness(t, nil)
	bank, ok := testCSR(t, nil, "login.bank.com", "login.bank.com"), testCSR(t, nil, "a.example.com", "a.example.com")
	h.relate("certificates:3", csrReq(bank), csrReq(ok))
	if err := h.hook(t, "config-changed", ""); err != nil {
		t.Fatal(err)
	}
	certs, errs := h.provided(t, "certificates:3")
	if len(certs) != 2 || len(errs) != 0 {
		t.Fatalf("%d certificates, %d errors", len(certs), len(errs))
	}
	before, _ := entryFor(certs, errs, ok)
	bankEntry, _ := entryFor(certs, errs, bank)
	bankSerial := serialHex(mustCert(t, bankEntry.Certificate))
	h.run.takeLogs()

	// A steady hook changes nothing.
	if err := h.hook(t, "update-status", ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.provided(t, "certificates:3"); c[0].Revoked || c[1].Revoked {
		t.Fatal("a steady hook revoked a certificate")
	}

	h.raw["allowed-domains"] = "example.com"
	if err := h.hook(t, "config-changed", ""); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"config-changed", "certificates-relation-changed", "update-status"} {
		if i > 0 {
			if err := h.hook(t, name, map[bool]string{true: "certificates:3"}[strings.HasPrefix(name, "certificates")]); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(name, func(t *testing.T) {
			certs, errs := h.provided(t, "certificates:3")
			c, e := entryFor(certs, errs, bank)
			if c == nil || !c.Revoked {
				t.Fatalf("bank.com entry present %v, want it there and revoked", c != nil)
			}
			if e == nil || e.Error.Code != 102 || !strings.Contains(e.Error.Message, "login.bank.com") {
				t.Fatalf("bank.com request error %+v, want domain_not_allowed (102)", e)
			}
			c, e = entryFor(certs, errs, ok)
			if c == nil || c.Revoked || c.Certificate != before.Certificate || e != nil {
				t.Fatalf("example.com entry present %v, error %+v: want it untouched", c != nil, e)
			}
			for _, ent := range h.inventory(t, "certificates:3") {
				if ent.Revoked != (ent.Serial == bankSerial) {
					t.Errorf("inventory entry %s revoked %v", ent.Serial, ent.Revoked)
				}
			}
			if got := crlSerials(t, h.peer, peerCRL); !slices.Equal(got, []string{bankSerial}) {
				t.Errorf("CRL lists %v, want [%s]", got, bankSerial)
			}
			logs := h.run.takeLogs()
			want := map[bool]int{true: 1}[i == 0]
			if n := countLines(logs, "revoked 1 certificates the policy now refuses: req3/0 serial "+bankSerial); n != want {
				t.Errorf("revocation logged %d times, want %d: %q", n, want, logs)
			}
			if n := countLines(logs, "refused certificate request"); n != 0 {
				t.Errorf("the refusal logged again: %q", logs)
			}
		})
	}
}

func mustCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCheckedOnce: a refused request is logged in the hook that refuses it and not in the hooks after, which
// keep its request_errors entry unchecked while the policy stands; a request beyond certificate-limit is neither
// checked nor refused until its turn. A policy change checks the refusals again (and may sign them).
func TestCheckedOnce(t *testing.T) {
	h := newProvHarness(t, map[string]any{"allowed-domains": "example.com", "certificate-limit": float64(1)})
	bank := testCSR(t, nil, "login.bank.com", "login.bank.com")
	first, second := testCSR(t, nil, "a.example.com", "a.example.com"), testCSR(t, nil, "b.bank.com", "b.bank.com")
	h.relate("certificates:4", csrReq(bank), csrReq(first), csrReq(second))
	for i, name := range []string{"config-changed", "certificates-relation-changed", "certificates-relation-changed", "update-status"} {
		rel := ""
		if strings.HasPrefix(name, "certificates") {
			rel = "certificates:4"
		}
		if err := h.hook(t, name, rel); err != nil {
			t.Fatal(err)
		}
		logs := h.run.takeLogs()
		certs, errs := h.provided(t, "certificates:4")
		_, e := entryFor(certs, errs, bank)
		if e == nil || e.Error.Code != 102 {
			t.Fatalf("hook %d: bank.com refusal %+v", i, e)
		}
		if n, want := countLines(logs, "login.bank.com"), map[bool]int{true: 1}[i == 0]; n != want {
			t.Errorf("hook %d (%s): the refusal is logged %d times, want %d: %q", i, name, n, want, logs)
		}
		// b.bank.com waits behind a.example.com (certificate-limit 1) in the first hook: not refused, not logged.
		_, e = entryFor(certs, errs, second)
		if (e != nil) != (i > 0) || countLines(logs, "b.bank.com") != map[bool]int{true: 1}[i == 1] {
			t.Errorf("hook %d (%s): b.bank.com refused %v, logs %q", i, name, e != nil, logs)
		}
	}
	var c counts
	if err := json.Unmarshal([]byte(h.peer[peerCounts]), &c); err != nil || c.Refused != 2 || c.Issued != 1 || c.Outstanding != 0 {
		t.Errorf("counts %+v (%v)", c, err)
	}
	h.raw["allowed-domains"] = "example.com,bank.com"
	if err := h.hook(t, "config-changed", ""); err != nil {
		t.Fatal(err)
	}
	if certs, errs := h.provided(t, "certificates:4"); len(errs) != 0 || len(certs) != 2 {
		t.Errorf("after allowing bank.com: %d certificates, %d errors, want 2 and 0 (certificate-limit 1 per hook)", len(certs), len(errs))
	}
}

// TestCaps: one requirer asking too much is refused, with a request_errors entry (999) it can read, and logged
// once: requests beyond maxCSRsPerUnitBag in a unit's databag (maxCSRsPerAppBag in an app's), a CSR over maxCSRBytes, certificates beyond maxCertBytes in the
// relation's databag, which stays under maxProviderBagBytes. The other relation is served as usual.
func TestCaps(t *testing.T) {
	h := newProvHarness(t, map[string]any{"certificate-limit": float64(-1)})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]tlscertificates.CSRRequest, maxCSRsPerUnitBag+3)
	for i := range many {
		name := fmt.Sprintf("r%d.example.com", i)
		many[i] = csrReq(testCSR(t, key, name, name))
	}
	var sans []string
	for i := range 100 {
		sans = append(sans, fmt.Sprintf("%s-%03d.%s.example.com", strings.Repeat("h", 59), i, strings.Repeat("d", 60)))
	}
	huge := testCSR(t, key, "huge.example.com", sans...)
	if len(huge) <= maxCSRBytes {
		t.Fatalf("the huge CSR is only %d bytes", len(huge))
	}
	// Near the CSR cap, each makes an entry of about 40 KB: the databag's cap on certificates (3 MiB) refuses the
	// ones after ~80.
	big := make([]tlscertificates.CSRRequest, 90)
	for i := range big {
		var s []string
		for j := range 100 { // the most SANs a CSR may have
			s = append(s, fmt.Sprintf("%s-%02d-%03d.big.example.com", strings.Repeat("x", 56), i, j))
		}
		big[i] = csrReq(testCSR(t, key, fmt.Sprintf("big%d.example.com", i), s...))
		if n := len(big[i].CSR); n > maxCSRBytes || n < maxCSRBytes/2 {
			t.Fatalf("big CSR of %d bytes", n)
		}
	}
	h.relate("certificates:1", many...)
	// Over ca.MaxCSRSize a "CSR" is skipped as malformed, never echoed back.
	junk := make([]byte, 60<<10)
	if _, err := rand.Read(junk); err != nil {
		t.Fatal(err)
	}
	junkCSR := strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: junk})))
	h.relate("certificates:2", csrReq(huge), csrReq(junkCSR), csrReq(testCSR(t, key, "ok.example.com", "ok.example.com")))
	h.relate("certificates:3", big...)
	appReqs := make([]tlscertificates.CSRRequest, maxCSRsPerAppBag+3)
	for i := range appReqs {
		name := fmt.Sprintf("a%d.example.com", i)
		appReqs[i] = csrReq(testCSR(t, key, name, name))
	}
	h.relateApp("certificates:6", appReqs...)
	normal := testCSR(t, nil, "normal.example.com", "normal.example.com")
	h.relate("certificates:9", csrReq(normal))
	for i := range 2 {
		if err := h.hook(t, "config-changed", ""); err != nil {
			t.Fatal(err)
		}
		logs := h.run.takeLogs()
		t.Run(fmt.Sprintf("hook %d", i), func(t *testing.T) {
			certs, errs := h.provided(t, "certificates:1")
			if len(certs) != maxCSRsPerUnitBag || len(errs) != 3 {
				t.Fatalf("per databag: %d certificates, %d errors", len(certs), len(errs))
			}
			for _, e := range errs {
				if e.Error.Code != 999 || !strings.Contains(e.Error.Message, "more than 100 certificate requests in one databag") {
					t.Errorf("per databag: %+v", e.Error)
				}
			}
			certs, errs = h.provided(t, "certificates:2")
			if _, e := entryFor(certs, errs, huge); len(certs) != 1 || len(errs) != 1 || e == nil || e.Error.Code != 999 || !strings.Contains(e.Error.Message, "more than 16384") {
				t.Errorf("CSR size: %d certificates, %d errors, error %+v", len(certs), len(errs), e)
			}
			certs, errs = h.provided(t, "certificates:3")
			size := 0
			for _, v := range h.run.bags["certificates:3/tls-authority"] {
				size += len(v)
			}
			if len(certs) < 20 || len(errs) == 0 || len(certs)+len(errs) != len(big) || size > maxProviderBagBytes {
				t.Errorf("databag size: %d certificates (%d bytes), %d errors", len(certs), size, len(errs))
			}
			for _, e := range errs {
				if e.Error.Code != 999 || !strings.Contains(e.Error.Message, "the relation's databag holds at most 3 MiB of certificates") {
					t.Errorf("databag size: %+v", e.Error)
				}
			}
			// An app's databag: the last three are beyond its cap; the databag's size refuses some before them.
			certs, errs = h.provided(t, "certificates:6")
			if len(certs)+len(errs) != len(appReqs) || len(certs) < 500 {
				t.Errorf("app databag: %d certificates, %d errors", len(certs), len(errs))
			}
			for _, r := range appReqs[maxCSRsPerAppBag:] {
				if _, e := entryFor(certs, errs, r.CSR); e == nil || !strings.Contains(e.Error.Message, "more than 1000 certificate requests in one databag") {
					t.Errorf("app databag: request beyond the cap answered %+v", e)
				}
			}
			if certs, errs := h.provided(t, "certificates:9"); len(certs) != 1 || len(errs) != 0 {
				t.Errorf("the other requirer: %d certificates, %d errors", len(certs), len(errs))
			}
			n := countLines(logs, "refused certificate request")
			if want := map[bool]int{true: 4}[i == 0]; n != want { // one line per relation
				t.Errorf("refusals logged in %d lines, want %d: %d lines", n, want, len(logs))
			}
		})
	}
}

// TestRelationSetFails: a relation whose databag cannot be written is a logged ERROR for that relation, not a
// failed hook; the others are served; its digest is unknown, so the next hook, however steady, writes it.
func TestRelationSetFails(t *testing.T) {
	h := newProvHarness(t, nil)
	a, b := testCSR(t, nil, "a.example.com", "a.example.com"), testCSR(t, nil, "b.example.com", "b.example.com")
	h.relate("certificates:1", csrReq(a))
	h.relate("certificates:2", csrReq(b))
	h.run.failSet["certificates:1"] = true
	if err := h.hook(t, "config-changed", ""); err != nil {
		t.Fatalf("the hook failed: %v", err)
	}
	logs := h.run.takeLogs()
	if n := countLines(logs, "ERROR -- certificates:1: cannot write the certificates databag"); n != 1 {
		t.Errorf("%d error lines for certificates:1: %q", n, logs)
	}
	if certs, _ := h.provided(t, "certificates:1"); len(certs) != 0 {
		t.Fatal("the failed write wrote")
	}
	if certs, _ := h.provided(t, "certificates:2"); len(certs) != 1 {
		t.Fatalf("certificates:2 not served: %d certificates", len(certs))
	}
	var written map[string]string
	if err := json.Unmarshal([]byte(h.peer[peerWritten]), &written); err != nil {
		t.Fatal(err)
	}
	if d, ok := written["certificates:1"]; !ok || d != "" {
		t.Errorf("digest of certificates:1 %q (recorded %v), want unknown", d, ok)
	}
	delete(h.run.failSet, "certificates:1")
	if err := h.hook(t, "update-status", ""); err != nil {
		t.Fatal(err)
	}
	if certs, _ := h.provided(t, "certificates:1"); len(certs) != 1 {
		t.Fatalf("the next hook did not write certificates:1: %d certificates", len(certs))
	}
	// And then a steady hook makes no call for the relations.
	before := maps.Clone(h.run.calls)
	if err := h.hook(t, "update-status", ""); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"relation-get", "relation-set", "relation-ids"} {
		if h.run.calls[tool] != before[tool] {
			t.Errorf("a steady hook called %s", tool)
		}
	}

	// A revocation by a policy change whose write fails is on the CRL at once, and in the databag, with its
	// refusal, once the write succeeds.
	certs, _ := h.provided(t, "certificates:1")
	serial := serialHex(mustCert(t, certs[0].Certificate))
	h.raw["allowed-domains"] = "b.example.com"
	h.run.failSet["certificates:1"] = true
	if err := h.hook(t, "config-changed", ""); err != nil {
		t.Fatalf("the hook failed: %v", err)
	}
	if got := crlSerials(t, h.peer, peerCRL); !slices.Equal(got, []string{serial}) {
		t.Errorf("CRL lists %v, want [%s]", got, serial)
	}
	delete(h.run.failSet, "certificates:1")
	if err := h.hook(t, "update-status", ""); err != nil {
		t.Fatal(err)
	}
	certs, errs := h.provided(t, "certificates:1")
	if c, e := entryFor(certs, errs, a); c == nil || !c.Revoked || e == nil || e.Error.Code != 102 {
		t.Errorf("after the retry: entry revoked %v, refusal %+v", c != nil && c.Revoked, e)
	}
}
