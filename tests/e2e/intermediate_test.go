package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// interWorld is the reference architecture's intermediate variant, cut down: model pki holds the root authority
// and offers its certificates endpoint; model model-a holds an authority whose issuer is the consumed offer, a
// scripted requirer with two units (UNIT mode, keys held by the test) and a certificate_transfer v1 requirer
// ("watcher") whose databag shows what the authority gives a requirer's peers to trust.
type interWorld struct {
	s            *sim.Sim
	pki, edge    *sim.Model
	parent, auth *sim.App
	app          *sim.App
	certs, watch *sim.Relation
	issuer       *sim.Relation
	csrs         map[string]string
	signers      map[string]crypto.Signer
}

func newInterWorld(t *testing.T, parentCfg, authCfg map[string]any) *interWorld {
	t.Helper()
	s := newSim(t)
	pki, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	edge, err := s.AddModel("model-a")
	if err != nil {
		t.Fatal(err)
	}
	w := &interWorld{s: s, pki: pki, edge: edge, csrs: map[string]string{}, signers: map[string]crypto.Signer{}}
	w.parent = deployAuthority(t, pki, "pki", 1, parentCfg)
	if err := pki.Offer("pki", "certificates", "pki-certs"); err != nil {
		t.Fatal(err)
	}
	if err := edge.Consume(pki, "pki-certs", "central"); err != nil {
		t.Fatal(err)
	}
	w.auth = deployAuthority(t, edge, "authority", 2, authCfg)
	w.app = deployRequirer(t, edge, "app", 2)
	_, file, _, _ := runtime.Caller(0)
	if _, err := edge.Deploy("watcher", filepath.Join(filepath.Dir(file), "testdata", "ct-v1-requirer"), &sim.DeployOptions{Units: 1}); err != nil {
		t.Fatal(err)
	}
	w.certs = integrate(t, edge, "app:certificates", "authority:certificates")
	w.watch = integrate(t, edge, "watcher:receive-ca-cert", "authority:send-ca-cert")
	settle(t, s)
	for _, u := range w.app.Units() {
		k := rsaKey(t)
		w.signers[u.Name()] = k
		w.csrs[u.Name()] = newCSR(t, k, u.FQDN(), u.FQDN())
		publishCSRs(t, u, false, req(w.csrs[u.Name()], false))
	}
	settle(t, s)
	return w
}

func (w *interWorld) relateIssuer(t *testing.T) {
	t.Helper()
	w.issuer = integrate(t, w.edge, "authority:issuer", "central:certificates")
}

// entry is the authority's current entry for a requirer unit's CSR.
func (w *interWorld) entry(t testing.TB, unit string) tlscertificates.ProviderCertificate {
	t.Helper()
	e, ok := findEntry(w.certs.AppData("authority"), w.csrs[unit])
	if !ok {
		t.Fatalf("no certificate for %s", unit)
	}
	return e
}

func findEntry(bag map[string]string, csr string) (tlscertificates.ProviderCertificate, bool) {
	certs, _, _, _ := tlscertificates.ReadProviderBag(bag)
	for _, e := range certs {
		if e.CSR == csr && !e.Revoked {
			return e, true
		}
	}
	return tlscertificates.ProviderCertificate{}, false
}

// trusted is what the authority sends on send-ca-cert (v1).
func (w *interWorld) trusted(t testing.TB) []string {
	t.Helper()
	var set []string
	if v := w.watch.AppData("authority")["certificates"]; v != "" {
		if err := json.Unmarshal([]byte(v), &set); err != nil {
			t.Fatalf("send-ca-cert certificates: %v", err)
		}
	}
	return set
}

func (w *interWorld) parentCA(t testing.TB) string { return caOf(t, w.parent) }

// verifyUnder checks a provider entry the way a client that trusts only roots does: x509.Verify and openssl
// verify with the roots as anchors and the entry's chain (after the leaf) as untrusted intermediates. The chain
// must be leaf, the entry's ca, then issuers up to a root that is one of roots.
func verifyUnder(t testing.TB, what string, e tlscertificates.ProviderCertificate, roots []string, wantLen int) {
	t.Helper()
	if len(e.Chain) != wantLen || e.Chain[0] != e.Certificate || e.Chain[1] != e.CA {
		t.Fatalf("%s: chain is not [leaf, ca, ...] of %d (%d elements)", what, wantLen, len(e.Chain))
	}
	last := e.Chain[len(e.Chain)-1]
	if !slices.Contains(roots, last) {
		t.Fatalf("%s: the chain ends with %q, not a trusted root", what, parseCert(t, last).Subject.CommonName)
	}
	leaf := parseCert(t, e.Certificate)
	pool, mid := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(parseCert(t, r))
	}
	for _, c := range e.Chain[1:] {
		if !slices.Contains(roots, c) {
			mid.AddCert(parseCert(t, c))
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: mid, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("%s: x509.Verify under the roots: %v", what, err)
	}
	args := []string{"verify", "-CAfile", writeTemp(t, "roots.pem", strings.Join(roots, "\n")+"\n")}
	if len(e.Chain) > 2 {
		args = append(args, "-untrusted", writeTemp(t, "untrusted.pem", strings.Join(e.Chain[1:len(e.Chain)-1], "\n")+"\n"))
	}
	if out := opensslOut(t, e.Certificate, args...); !strings.Contains(out, ": OK") {
		t.Fatalf("%s: openssl verify -untrusted: %s", what, out)
	}
	for i := 1; i < len(e.Chain); i++ {
		if c := parseCert(t, e.Chain[i]); leaf.NotAfter.After(c.NotAfter) {
			t.Fatalf("%s: the leaf outlives chain[%d] %q (%s > %s)", what, i, c.Subject.CommonName, leaf.NotAfter, c.NotAfter)
		}
	}
}

func statusOf(u *sim.Unit) string { s := u.Status(); return s.Status + ": " + s.Message }

func wantStatus(t testing.TB, step string, app *sim.App, status, contains string) {
	t.Helper()
	for _, u := range app.Units() {
		if st := u.Status(); st.Status != status || !strings.Contains(st.Message, contains) {
			t.Fatalf("%s: %s is %q, want %s with %q", step, u.Name(), statusOf(u), status, contains)
		}
	}
}

func lastHook(t testing.TB, u *sim.Unit, name string) sim.HookRecord {
	t.Helper()
	hs := u.Hooks()
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Name == name {
			return hs[i]
		}
	}
	t.Fatalf("%s ran no %s", u.Name(), name)
	return sim.HookRecord{}
}

// steadyCalls runs an update-status everywhere and returns the authority leader's hook-tool calls in it.
func (w *interWorld) steadyCalls(t *testing.T) int {
	t.Helper()
	w.s.UpdateStatus()
	settle(t, w.s)
	return lastHook(t, w.auth.Leader(), "update-status").Calls()
}

// TestIntermediateLifecycle: a running root authority becomes an intermediate of pki through its issuer relation
// and back. While pki delivers nothing (its config is invalid, then it refuses CA requests) the authority is
// Waiting, keeps serving what it signed and signs nothing new; once delivered the intermediate is trusted first and
// signs after update-status; every leaf's chain is leaf, the intermediate, pki's root, verified with x509.Verify and
// openssl verify -untrusted under pki's root alone; what the authority sends on send-ca-cert, /ca.pem, /chain.pem and
// get-ca-certificate carry the root and the chain; leaves end no later than the intermediate; the steady hook costs
// what it costs a root; removing issuer goes back to a self-signed root through a rotation, pki's root trusted for
// the overlap.
func TestIntermediateLifecycle(t *testing.T) {
	w := newInterWorld(t, map[string]any{"ca-common-name": "pki-root", "certificate-validity": "30d", "allow-ca-requests": true},
		map[string]any{"ca-common-name": "model-a-ca", "certificate-validity": "60d"})
	s, leader := w.s, w.auth.Leader()
	rootA := caOf(t, w.auth)
	before := w.entry(t, "app/0")
	verifyUnder(t, "as a root", before, []string{rootA}, 2)
	baseline := w.steadyCalls(t)

	// pki cannot sign (invalid config): Waiting, the old leaves kept, a new request not signed.
	if err := w.parent.SetConfig(map[string]any{"certificate-validity": "bogus"}); err != nil {
		t.Fatal(err)
	}
	w.relateIssuer(t)
	settle(t, s)
	wantStatus(t, "issuer not delivering", w.auth, "waiting", "waiting for the issuer to sign this authority's CA certificate")
	if got := w.entry(t, "app/0"); got.Certificate != before.Certificate {
		t.Fatal("the authority re-issued a certificate while its issuer had not delivered")
	}
	k := rsaKey(t)
	late := newCSR(t, k, "late.example.com", "late.example.com")
	u1 := w.app.Units()[1]
	publishCSRs(t, u1, false, req(w.csrs[u1.Name()], false), req(late, false))
	settle(t, s)
	if _, ok := findEntry(w.certs.AppData("authority"), late); ok {
		t.Fatal("the authority signed a new request while waiting for its issuer")
	}
	if bag := w.issuer.AppData("authority"); !strings.Contains(bag[tlscertificates.KeyCSRs], `"ca": true`) && !strings.Contains(bag[tlscertificates.KeyCSRs], `"ca":true`) {
		t.Fatalf("the issuer relation's app databag holds no ca:true request: %v", bag)
	}
	// The CA key is nowhere in relation data.
	for _, r := range []*sim.Relation{w.issuer, w.certs, w.watch} {
		for _, a := range []string{"authority"} {
			for k, v := range r.AppData(a) {
				if strings.Contains(v, "PRIVATE KEY") {
					t.Fatalf("%v: %s's %s holds a private key", r.Endpoints(), a, k)
				}
			}
		}
	}

	// pki refuses CA requests: Waiting, with pki's reason.
	if err := w.parent.SetConfig(map[string]any{"certificate-validity": "30d", "allow-ca-requests": false}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	wantStatus(t, "issuer refusing", w.auth, "waiting", "refused the CA request")

	// pki signs: phase 1, the intermediate and pki's root trusted beside the old root, the old root still signing.
	if err := w.parent.SetConfig(map[string]any{"allow-ca-requests": true}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	pkiRoot := w.parentCA(t)
	trust := w.trusted(t)
	if !slices.Contains(trust, pkiRoot) || !slices.Contains(trust, rootA) || len(trust) != 3 {
		t.Fatalf("phase 1: send-ca-cert holds %d certificates, want the old root, the intermediate and pki's root", len(trust))
	}
	if got := w.entry(t, "app/0"); got.Certificate != before.Certificate {
		t.Fatal("phase 1: re-issued before the intermediate was trusted")
	}
	if _, ok := findEntry(w.certs.AppData("authority"), late); !ok {
		t.Fatal("phase 1: the request left waiting is not signed once the issuer delivered")
	}

	// update-status: the intermediate signs; every leaf re-issued under it.
	s.UpdateStatus()
	settle(t, s)
	wantStatus(t, "intermediate", w.auth, "active", "issued 3")
	inter := caOf(t, w.auth)
	ic := parseCert(t, inter)
	if !ic.IsCA || ic.Issuer.CommonName != "pki-root" || ic.Subject.CommonName != "model-a-ca" {
		t.Fatalf("the CA is %q issued by %q", ic.Subject.CommonName, ic.Issuer.CommonName)
	}
	for _, u := range w.app.Units() {
		e := w.entry(t, u.Name())
		if e.CA != inter {
			t.Fatalf("%s: entry ca is not the intermediate", u.Name())
		}
		verifyUnder(t, u.Name()+" under pki's root", e, []string{pkiRoot}, 3)
		if leaf := parseCert(t, e.Certificate); !leaf.NotAfter.Equal(ic.NotAfter) {
			t.Fatalf("%s: a 60d leaf under a 30d intermediate ends %s, not with the intermediate (%s)", u.Name(), leaf.NotAfter, ic.NotAfter)
		}
	}
	lateEntry, _ := findEntry(w.certs.AppData("authority"), late)
	verifyUnder(t, "late request", lateEntry, []string{pkiRoot}, 3)
	// What a client trusts and verifies with.
	res := action(t, leader, "get-ca-certificate", nil)
	if res.Results["ca-certificate"] != inter || res.Results["ca-chain"] != inter+"\n"+pkiRoot {
		t.Fatalf("get-ca-certificate: %v", res.Results)
	}
	for _, u := range w.auth.Units() {
		chain := string(httpGet(t, fmt.Sprintf("http://%s:8080/chain.pem", u.Address())))
		if chain != inter+"\n"+pkiRoot+"\n" {
			t.Fatalf("%s /chain.pem is not the intermediate then pki's root", u.Name())
		}
		bundle := string(httpGet(t, fmt.Sprintf("http://%s:8080/ca.pem", u.Address())))
		for _, c := range []string{inter, pkiRoot, rootA} {
			if !strings.Contains(bundle, c) {
				t.Fatalf("%s /ca.pem lacks %q during the overlap", u.Name(), parseCert(t, c).Subject.CommonName)
			}
		}
		if strings.Contains(readContainerFile(t, u, "/var/lib/tls-authority/chain.pem")+bundle, "PRIVATE KEY") {
			t.Fatalf("%s: a private key in the workload's files", u.Name())
		}
	}
	if trust := w.trusted(t); !slices.Contains(trust, pkiRoot) || !slices.Contains(trust, inter) {
		t.Fatal("send-ca-cert lacks the intermediate or pki's root")
	}
	if got := w.steadyCalls(t); got != baseline {
		t.Fatalf("a steady update-status costs %d hook-tool calls as an intermediate, %d as a root", got, baseline)
	}
	if got := w.steadyCalls(t); got != baseline {
		t.Fatalf("a second steady update-status costs %d hook-tool calls, want %d", got, baseline)
	}
	res, err := leader.RunAction("rotate-private-key", nil)
	if err != nil || res.Status != "failed" || !strings.Contains(res.Message, "issuer") {
		t.Fatalf("rotate-private-key on an intermediate: %v %+v", err, res)
	}

	// issuer removed: a new self-signed root, trusted first, then signing; pki's root trusted for the overlap.
	if err := w.edge.RemoveRelation(w.issuer); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if caOf(t, w.auth) != inter {
		t.Fatal("the intermediate stopped signing before the new root was trusted")
	}
	// The old root is still in its overlap (a 60d leaf validity) too.
	if trust := w.trusted(t); len(trust) != 4 || !slices.Contains(trust, pkiRoot) || !slices.Contains(trust, inter) || !slices.Contains(trust, rootA) {
		t.Fatalf("after the removal: send-ca-cert holds %d certificates, want the intermediate, the new root, the old root, pki's root", len(trust))
	}
	s.UpdateStatus()
	settle(t, s)
	rootB := caOf(t, w.auth)
	rb := parseCert(t, rootB)
	if rb.Issuer.String() != rb.Subject.String() || rootB == rootA {
		t.Fatalf("after the removal the CA is %q issued by %q", rb.Subject.CommonName, rb.Issuer.CommonName)
	}
	for _, u := range w.app.Units() {
		verifyUnder(t, u.Name()+" under the new root", w.entry(t, u.Name()), []string{rootB}, 2)
	}
	if trust := w.trusted(t); !slices.Contains(trust, pkiRoot) || !slices.Contains(trust, inter) || !slices.Contains(trust, rootB) {
		t.Fatal("the overlap after the removal does not trust the intermediate and pki's root")
	}
	if res := action(t, leader, "get-ca-certificate", nil); res.Results["ca-chain"] != nil {
		t.Fatalf("a root still reports a ca-chain: %v", res.Results)
	}
	wantStatus(t, "root again", w.auth, "active", "issued 3")
	noFailedHooks(t, w.auth)
	noFailedHooks(t, w.parent)
}

// handshakeLoop makes TLS handshakes without pause while the model runs: app/0 serves the chain of its latest
// committed entry with its key, a client trusts what the authority last committed on send-ca-cert (all of it, as
// Go does, or only its roots, as OpenSSL does). So that a
// requirer learning of a change one hook after its peer counts too, it also pairs the chain with the trust of the
// poll before, and the chain of the poll before with the trust now.
type handshakeLoop struct {
	stop     chan struct{}
	done     chan struct{}
	ok, fail atomic.Int64
	mu       sync.Mutex
	errs     []string
}

func startHandshakes(t *testing.T, w *interWorld, unit string) *handshakeLoop {
	t.Helper()
	l := &handshakeLoop{stop: make(chan struct{}), done: make(chan struct{})}
	key := w.signers[unit]
	go func() {
		defer close(l.done)
		var prevChain, prevTrust []string
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			e, ok := findEntry(w.certs.AppData("authority"), w.csrs[unit])
			var trust []string
			if v := w.watch.AppData("authority")["certificates"]; v != "" {
				_ = json.Unmarshal([]byte(v), &trust)
			}
			if !ok || len(trust) == 0 {
				l.record(fmt.Errorf("no certificate or no trust bundle committed"))
				continue
			}
			pairs := [][2][]string{{e.Chain, trust}}
			if prevChain != nil {
				pairs = append(pairs, [2][]string{e.Chain, prevTrust}, [2][]string{prevChain, trust})
			}
			for _, p := range pairs {
				// Go's client takes any certificate it is given as an anchor, the intermediate too; OpenSSL's (curl,
				// Python's ssl) builds up to a self-signed root: both kinds of peer.
				l.record(handshake(p[0], key, p[1]))
				l.record(handshake(p[0], key, selfSigned(p[1])))
			}
			prevChain, prevTrust = e.Chain, trust
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return l
}

func (l *handshakeLoop) record(err error) {
	if err == nil {
		l.ok.Add(1)
		return
	}
	l.fail.Add(1)
	l.mu.Lock()
	if len(l.errs) < 5 {
		l.errs = append(l.errs, err.Error())
	}
	l.mu.Unlock()
}

func (l *handshakeLoop) finish(t *testing.T, step string, atLeast int64) {
	t.Helper()
	close(l.stop)
	<-l.done
	t.Logf("%s: %d handshakes, %d failed", step, l.ok.Load(), l.fail.Load())
	if n := l.fail.Load(); n > 0 {
		t.Fatalf("%s: %d of %d handshakes failed: %v", step, n, n+l.ok.Load(), l.errs)
	}
	if l.ok.Load() < atLeast {
		t.Fatalf("%s: only %d handshakes", step, l.ok.Load())
	}
}

// handshake serves chain (leaf first, key its key) and connects a client that trusts exactly trust, verifying the
// server's name (the leaf's first DNS name).
func handshake(chain []string, key crypto.Signer, trust []string) error {
	var cert tls.Certificate
	var name string
	for i, c := range chain {
		x, err := parsePEMCert(c)
		if err != nil {
			return err
		}
		if i == 0 && len(x.DNSNames) > 0 {
			name = x.DNSNames[0]
		}
		cert.Certificate = append(cert.Certificate, x.Raw)
	}
	cert.PrivateKey = key
	pool := x509.NewCertPool()
	for _, c := range trust {
		pool.AppendCertsFromPEM([]byte(c))
	}
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	cli := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: name})
	_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
	_ = sc.SetDeadline(time.Now().Add(5 * time.Second))
	err := cli.Handshake()
	if err != nil {
		cc.Close()
		<-errc
		return fmt.Errorf("handshake with %s: %w", name, err)
	}
	return <-errc
}

// selfSigned keeps the roots of a trust set.
func selfSigned(set []string) []string {
	var out []string
	for _, c := range set {
		if x, err := parsePEMCert(c); err == nil && x.CheckSignatureFrom(x) == nil && bytesEqual(x.RawIssuer, x.RawSubject) {
			out = append(out, c)
		}
	}
	return out
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func parsePEMCert(s string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("cannot parse a certificate from %q", s)
	}
	return x509.ParseCertificate(block.Bytes)
}

// TestIntermediateRenewalAndParentRotation: with a handshake loop running from before pki's rotation to after the
// intermediate's renewal, pki rotates its root (rotate-private-key): pki re-issues the intermediate under the new
// root, the authority trusts it with the new root, then re-issues every leaf under it, the old root trusted for the
// overlap; later the intermediate renews through pki (a new CSR for the same key once less than a leaf validity
// is left) and the leaves follow it, ending no later than it does. Not one handshake fails.
func TestIntermediateRenewalAndParentRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("waits about two minutes for the intermediate to near its renewal")
	}
	// The intermediate lives 3m (pki's certificate-validity) and renews when less than one leaf validity (2m) is
	// left, but never before half its life: 90s after it was issued.
	w := newInterWorld(t, map[string]any{"ca-common-name": "pki-root", "certificate-validity": "3m", "root-ca-validity": "30m", "allow-ca-requests": true},
		map[string]any{"ca-common-name": "model-a-ca", "certificate-validity": "2m", "root-ca-validity": "4m"})
	s := w.s
	w.relateIssuer(t)
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	first := caOf(t, w.auth)
	oldRoot := w.parentCA(t)
	verifyUnder(t, "intermediate", w.entry(t, "app/0"), []string{oldRoot}, 3)

	loop := startHandshakes(t, w, "app/0")
	// pki rotates: phase 1 (new root trusted), then update-status: it signs, re-issuing the intermediate.
	action(t, w.parent.Leader(), "rotate-private-key", nil)
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	newRoot := w.parentCA(t)
	if newRoot == oldRoot {
		t.Fatal("pki did not rotate")
	}
	if trust := w.trusted(t); !slices.Contains(trust, newRoot) || !slices.Contains(trust, oldRoot) {
		t.Fatal("the authority does not trust both of pki's roots after pki's switch")
	}
	s.UpdateStatus()
	settle(t, s)
	second := caOf(t, w.auth)
	if second == first || parseCert(t, second).CheckSignatureFrom(parseCert(t, newRoot)) != nil {
		t.Fatal("the intermediate was not re-issued under pki's new root")
	}
	for _, u := range w.app.Units() {
		verifyUnder(t, u.Name()+" after pki's rotation", w.entry(t, u.Name()), []string{newRoot}, 3)
	}

	// The intermediate renews once half its life has passed.
	renewAt := parseCert(t, second).NotBefore.Add(time.Minute + 90*time.Second + 5*time.Second)
	for time.Now().Before(renewAt) {
		time.Sleep(time.Until(renewAt))
	}
	s.UpdateStatus()
	settle(t, s) // the new CSR, pki signs it, the authority trusts the renewed intermediate
	s.UpdateStatus()
	settle(t, s) // it signs
	third := caOf(t, w.auth)
	if third == second {
		t.Fatal("the intermediate did not renew")
	}
	tc := parseCert(t, third)
	if !publicKeyEqual(tc.PublicKey, parseCert(t, second).PublicKey) {
		t.Fatal("the renewed intermediate has another key")
	}
	for _, u := range w.app.Units() {
		e := w.entry(t, u.Name())
		verifyUnder(t, u.Name()+" after the renewal", e, []string{newRoot}, 3)
		if e.CA != third {
			t.Fatalf("%s is not re-issued under the renewed intermediate", u.Name())
		}
	}
	loop.finish(t, "pki's rotation and the intermediate's renewal", 100)
	noFailedHooks(t, w.auth)
	noFailedHooks(t, w.parent)
}

// TestIntermediateSignsScriptedCA: tls-authority as the parent of an intermediate another charm runs. A scripted
// requirer asks the model-a intermediate for a CA certificate (ca: true, APP mode); it gets cA true with
// keyCertSign, and a leaf its key signs verifies under pki's root alone through both intermediates, with x509.Verify
// and openssl verify -untrusted. Refused under allow-ca-requests false. pki allows a chain one CA deeper than its
// default (ca-request-max-path-length 1: root path length 2, model-a-ca 1, sub-ca 0), else model-a-ca could sign
// leaves only and would refuse the request (TestPathLenRefusal).
func TestIntermediateSignsScriptedCA(t *testing.T) {
	w := newInterWorld(t, map[string]any{"ca-common-name": "pki-root", "allow-ca-requests": true, "ca-request-max-path-length": 1},
		map[string]any{"ca-common-name": "model-a-ca", "certificate-validity": "30d", "allow-ca-requests": true})
	s := w.s
	w.relateIssuer(t)
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	pkiRoot := w.parentCA(t)
	sub := deployRequirer(t, w.edge, "sub-ca", 1)
	rel := integrate(t, w.edge, "sub-ca:certificates", "authority:certificates")
	settle(t, s)
	subKey := ecKey(t)
	csr := newCSR(t, subKey, "sub-ca")
	publishCSRs(t, sub.Units()[0], true, req(csr, true))
	settle(t, s)
	e, ok := findEntry(rel.AppData("authority"), csr)
	if !ok {
		t.Fatal("no CA certificate for the scripted requirer")
	}
	verifyUnder(t, "scripted CA", e, []string{pkiRoot}, 3)
	subCert := parseCert(t, e.Certificate)
	if !subCert.IsCA || subCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatal("the scripted requirer's certificate is not a CA's")
	}
	// The scripted CA signs a leaf of its own: leaf, sub-ca, model-a-ca, pki-root.
	leafKey := ecKey(t)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leaf.sub.example.com"}, DNSNames: []string{"leaf.sub.example.com"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: subCert.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, subCert, leafKey.Public(), subKey)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM := strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})), "\n")
	chain := append([]string{leafPEM}, e.Chain...)
	verifyUnder(t, "the scripted CA's leaf", tlscertificates.ProviderCertificate{Certificate: leafPEM, CA: e.Certificate, Chain: chain}, []string{pkiRoot}, 4)
	if err := handshake(chain, leafKey, []string{pkiRoot}); err != nil {
		t.Fatalf("a client trusting only pki's root: %v", err)
	}

	// Refused when CA requests are not allowed: a request_errors entry, no certificate.
	if err := w.auth.SetConfig(map[string]any{"allow-ca-requests": false}); err != nil {
		t.Fatal(err)
	}
	csr2 := newCSR(t, ecKey(t), "sub-ca-2")
	publishCSRs(t, sub.Units()[0], true, req(csr, true), req(csr2, true))
	settle(t, s)
	_, errs, bag := issuedBag(t, rel, "authority")
	if _, ok := findEntry(bag, csr2); ok || len(errs) == 0 || errs[len(errs)-1].CSR != csr2 {
		t.Fatalf("a CA request under allow-ca-requests false: errors %+v", errs)
	}
	// What the requirer reads names the option and the application to set it on.
	if e := errs[len(errs)-1].Error; e.Code != 999 || !strings.Contains(e.Message, "juju config authority allow-ca-requests=true") {
		t.Fatalf("the refusal does not say how to lift it: %+v", e)
	}
}

// TestIntermediateFromTheStart: an authority deployed with issuer already related never makes a root. While pki
// cannot sign it has no CA: Waiting, get-ca-certificate fails, requests wait; once pki signs, the delivered
// certificate is the CA at once (nothing was signed before it, so no rotation) and the waiting requests are signed
// under it.
func TestIntermediateFromTheStart(t *testing.T) {
	s := newSim(t)
	pki, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	edge, err := s.AddModel("model-a")
	if err != nil {
		t.Fatal(err)
	}
	parent := deployAuthority(t, pki, "pki", 1, map[string]any{"ca-common-name": "pki-root", "allow-ca-requests": true})
	settle(t, s)
	if err := parent.SetConfig(map[string]any{"certificate-validity": "bogus"}); err != nil {
		t.Fatal(err)
	}
	if err := pki.Offer("pki", "certificates", "pki-certs"); err != nil {
		t.Fatal(err)
	}
	if err := edge.Consume(pki, "pki-certs", "central"); err != nil {
		t.Fatal(err)
	}
	auth := deployAuthority(t, edge, "authority", 1, map[string]any{"ca-common-name": "model-a-ca"})
	app := deployRequirer(t, edge, "app", 1)
	integrate(t, edge, "authority:issuer", "central:certificates")
	rel := integrate(t, edge, "app:certificates", "authority:certificates")
	settle(t, s)
	wantStatus(t, "no CA yet", auth, "waiting", "waiting for the issuer to sign this authority's CA certificate")
	if res, err := auth.Leader().RunAction("get-ca-certificate", nil); err != nil || res.Status != "failed" {
		t.Fatalf("get-ca-certificate before the issuer delivered: %v %+v", err, res)
	}
	csr := newCSR(t, rsaKey(t), "app-0.example.com", "app-0.example.com")
	publishCSRs(t, app.Units()[0], false, req(csr, false))
	settle(t, s)
	if _, ok := findEntry(rel.AppData("authority"), csr); ok {
		t.Fatal("signed without a CA")
	}

	if err := parent.SetConfig(map[string]any{"certificate-validity": "90d"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	wantStatus(t, "delivered", auth, "active", "issued 1")
	inter, pkiRoot := caOf(t, auth), caOf(t, parent)
	if c := parseCert(t, inter); c.Issuer.CommonName != "pki-root" {
		t.Fatalf("the CA is issued by %q", c.Issuer.CommonName)
	}
	e, ok := findEntry(rel.AppData("authority"), csr)
	if !ok {
		t.Fatal("the waiting request is not signed once the issuer delivered")
	}
	verifyUnder(t, "first leaf", e, []string{pkiRoot}, 3)
	for _, h := range auth.Leader().Hooks() {
		for _, l := range h.Logs {
			if strings.Contains(l, "created CA") || strings.Contains(l, "rotation started") {
				t.Fatalf("an authority with issuer from the start logged %q", l)
			}
		}
	}
	noFailedHooks(t, auth)
}

// TestIntermediateCRLAcrossReissue: a certificate revoked under the intermediate stays revoked after pki's rotation
// re-issues the intermediate for the same key (same key identifier, so the same CRL path): the CRL the agent serves
// there after the switch is signed by the re-issued intermediate and still lists the serial.
func TestIntermediateCRLAcrossReissue(t *testing.T) {
	w := newInterWorld(t, map[string]any{"ca-common-name": "pki-root", "allow-ca-requests": true}, map[string]any{"ca-common-name": "model-a-ca", "certificate-validity": "30d"})
	s := w.s
	w.relateIssuer(t)
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	first := caOf(t, w.auth)
	revoked := parseCert(t, w.entry(t, "app/1").Certificate)
	serial := fmt.Sprintf("%x", revoked.SerialNumber)
	action(t, w.auth.Leader(), "revoke-certificate", map[string]any{"serial": serial})
	settle(t, s)

	action(t, w.parent.Leader(), "rotate-private-key", nil)
	settle(t, s)
	s.UpdateStatus() // pki signs with its new root: it re-issues the intermediate; the authority trusts it
	settle(t, s)
	s.UpdateStatus() // the re-issued intermediate signs
	settle(t, s)
	second := caOf(t, w.auth)
	if second == first {
		t.Fatal("the intermediate was not re-issued")
	}
	sc := parseCert(t, second)
	for _, u := range w.auth.Units() {
		for _, path := range []string{"/crl", "/crl/" + fmt.Sprintf("%x", revoked.AuthorityKeyId)} {
			der := httpGet(t, fmt.Sprintf("http://%s:8080%s", u.Address(), path))
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatalf("%s %s: %v", u.Name(), path, err)
			}
			if err := crl.CheckSignatureFrom(sc); err != nil {
				t.Fatalf("%s %s is not signed by the re-issued intermediate: %v", u.Name(), path, err)
			}
			listed := false
			for _, e := range crl.RevokedCertificateEntries {
				listed = listed || e.SerialNumber.Cmp(revoked.SerialNumber) == 0
			}
			if !listed {
				t.Fatalf("%s %s no longer lists serial %s after the intermediate was re-issued", u.Name(), path, serial)
			}
		}
	}
	noFailedHooks(t, w.auth)
}

// TestIntermediateParentDefault: a parent left at its default (allow-ca-requests false) refuses the intermediate's
// CA request with a request_errors entry (999) naming the option and itself. The child stays Waiting with a short
// status that says which parent refused and the command to run there, logs the refusal once, keeps its root's
// certificates served and signs nothing new; once the operator sets the option on the parent, the child becomes
// its intermediate and goes Active.
func TestIntermediateParentDefault(t *testing.T) {
	w := newInterWorld(t, map[string]any{"ca-common-name": "pki-root"}, map[string]any{"ca-common-name": "model-a-ca", "certificate-validity": "30d"})
	s := w.s
	rootA := caOf(t, w.auth)
	before := w.entry(t, "app/0")
	w.relateIssuer(t)
	settle(t, s)
	const want = "waiting for issuer: central refused the CA request (juju config pki allow-ca-requests=true)"
	wantStatus(t, "parent at its default", w.auth, "waiting", want)
	if got := statusOf(w.auth.Leader()); len(got) > 120 {
		t.Errorf("status of %d characters: %q", len(got), got)
	}
	// The parent's answer on the issuer relation, as any requirer reads it.
	_, errs, _ := issuedBag(t, w.issuer, "pki")
	if len(errs) != 1 || errs[0].Error.Code != 999 || !strings.Contains(errs[0].Error.Message, "juju config pki allow-ca-requests=true") {
		t.Fatalf("pki's request_errors on the issuer relation: %+v", errs)
	}
	// Signs nothing new; what the root signed stays.
	late := newCSR(t, rsaKey(t), "late.example.com", "late.example.com")
	u1 := w.app.Units()[1]
	publishCSRs(t, u1, false, req(w.csrs[u1.Name()], false), req(late, false))
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	wantStatus(t, "still refused", w.auth, "waiting", want)
	if _, ok := findEntry(w.certs.AppData("authority"), late); ok {
		t.Fatal("the authority signed a new request while its parent refused to sign it")
	}
	if got := w.entry(t, "app/0"); got.Certificate != before.Certificate || caOf(t, w.auth) != rootA {
		t.Fatal("the authority changed its CA or re-issued while its parent refused")
	}
	logged := 0
	for _, h := range w.auth.Leader().Hooks() {
		for _, l := range h.Logs {
			if strings.Contains(l, "the issuer central refused this authority's CA request") {
				logged++
			}
		}
	}
	if logged != 1 {
		t.Errorf("the refusal was logged %d times, want once", logged)
	}

	// The operator lifts it on the parent: the intermediate is delivered, trusted, then signs.
	if err := w.parent.SetConfig(map[string]any{"allow-ca-requests": true}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	wantStatus(t, "intermediate", w.auth, "active", "issued 3")
	inter := caOf(t, w.auth)
	if c := parseCert(t, inter); !c.IsCA || c.Issuer.CommonName != "pki-root" {
		t.Fatalf("the CA is %q issued by %q", c.Subject.CommonName, c.Issuer.CommonName)
	}
	lateEntry, ok := findEntry(w.certs.AppData("authority"), late)
	if !ok {
		t.Fatal("the request left waiting is not signed once the parent allowed CA requests")
	}
	verifyUnder(t, "late request", lateEntry, []string{w.parentCA(t)}, 3)
	noFailedHooks(t, w.auth)
	noFailedHooks(t, w.parent)
}
