package tlscertificates_test

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/ca"
	tls "github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// fixtureRequests converts a fixture's meta certificate_requests list.
func fixtureRequests(t *testing.T, raw json.RawMessage) []tls.CertificateRequest {
	t.Helper()
	var list []struct {
		CommonName string   `json:"common_name"`
		SANsDNS    []string `json:"sans_dns"`
		SANsIP     []string `json:"sans_ip"`
		IsCA       bool     `json:"is_ca"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	var out []tls.CertificateRequest
	for _, r := range list {
		req := tls.CertificateRequest{CommonName: r.CommonName, DNSNames: r.SANsDNS, IsCA: r.IsCA}
		for _, ip := range r.SANsIP {
			req.IPAddresses = append(req.IPAddresses, net.ParseIP(ip))
		}
		out = append(out, req)
	}
	return out
}

// fixtureScopes returns the unit and app requests a requirer fixture made.
func fixtureScopes(t *testing.T, f reqFixture) (unit, app []tls.CertificateRequest) {
	t.Helper()
	var meta struct {
		Mode     string          `json:"mode"`
		Requests json.RawMessage `json:"certificate_requests"`
	}
	if err := json.Unmarshal(f.Meta, &meta); err != nil {
		t.Fatal(err)
	}
	switch meta.Mode {
	case "UNIT":
		return fixtureRequests(t, meta.Requests), nil
	case "APP":
		return nil, fixtureRequests(t, meta.Requests)
	}
	var both map[string]json.RawMessage
	if err := json.Unmarshal(meta.Requests, &both); err != nil {
		t.Fatal(err)
	}
	return fixtureRequests(t, both["UNIT"]), fixtureRequests(t, both["APP"])
}

var pemRE = regexp.MustCompile(`-----BEGIN CERTIFICATE REQUEST-----(\\n[A-Za-z0-9+/=]+)+\\n-----END CERTIFICATE REQUEST-----`)

// shape replaces every CSR PEM of a databag value by a placeholder: what is
// left must be byte for byte what the Python library wrote.
func shape(s string) string { return pemRE.ReplaceAllString(s, "<CSR>") }

type shapeAttr struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// shapeAttrSET is an RDN: encoding/asn1 reads a slice type named ...SET as
// a SET OF.
type shapeAttrSET []shapeAttr

// subjectShape lists a subject's attribute types with their ASN.1 string tags.
func subjectShape(t *testing.T, raw []byte) []string {
	t.Helper()
	var rdns []shapeAttrSET
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, set := range rdns {
		for _, atv := range set {
			out = append(out, atv.Type.String()+"/"+string(rune('0'+atv.Value.Tag/10))+string(rune('0'+atv.Value.Tag%10)))
		}
	}
	return out
}

// TestRequirerWritesFixtureShape runs the requirer as each Python requirer
// fixture was made and checks that it writes the same databags: same keys,
// same JSON bytes around the CSRs, CSRs with the same subject layout (CN then
// a UUID x500UniqueIdentifier, both UTF8String) and SANs.
func TestRequirerWritesFixtureShape(t *testing.T) {
	for _, name := range []string{
		"tls-v4p30-requirer-unit.json",
		"tls-v4p30-requirer-app.json",
		"tls-charmlibs110-requirer-app-and-unit.json",
	} {
		t.Run(name, func(t *testing.T) {
			f := readReqFixture(t, name)
			unitReqs, appReqs := fixtureScopes(t, f)
			m := newFakeModel()
			hc, _ := m.hook("myapp/0")
			r := tls.NewRequirer(hc, &tls.RequirerOptions{UnitRequests: unitReqs, AppRequests: appReqs})
			got, err := r.Sync()
			if err != nil {
				t.Fatal(err)
			}
			if !got.Wrote || got.RelationID != "certificates:3" {
				t.Fatalf("Wrote %v relation %q", got.Wrote, got.RelationID)
			}
			for _, side := range []struct {
				name       string
				want, have map[string]string
				reqs       []tls.CertificateRequest
			}{
				{"unit", f.Databags.Unit, m.bags["myapp/0"], unitReqs},
				{"app", f.Databags.App, m.bags["myapp"], appReqs},
			} {
				if !slices.Equal(sortedKeys(side.want), sortedKeys(side.have)) {
					t.Fatalf("%s databag keys %v, fixture has %v", side.name, sortedKeys(side.have), sortedKeys(side.want))
				}
				for k, v := range side.want {
					if shape(side.have[k]) != shape(v) {
						t.Errorf("%s %s:\n got %s\nwant %s", side.name, k, shape(side.have[k]), shape(v))
					}
				}
				compareCSRs(t, side.want, side.have, side.reqs)
			}
		})
	}
}

// compareCSRs compares our CSRs with the fixture's: SANs as sets, since the
// Python library builds them from a set and their order varies between runs.
func compareCSRs(t *testing.T, want, have map[string]string, reqs []tls.CertificateRequest) {
	t.Helper()
	wantList, _, _ := tls.ReadRequests(want)
	haveList, _, _ := tls.ReadRequests(have)
	if len(wantList) != len(haveList) || len(haveList) != len(reqs) {
		t.Fatalf("%d CSRs, fixture %d, requests %d", len(haveList), len(wantList), len(reqs))
	}
	for i := range haveList {
		w, err := ca.ParseCSR(wantList[i].CSR)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ca.ParseCSR(haveList[i].CSR)
		if err != nil {
			t.Fatal(err)
		}
		if haveList[i].CA != wantList[i].CA {
			t.Errorf("CSR %d: ca %v, fixture %v", i, haveList[i].CA, wantList[i].CA)
		}
		if ws, hs := subjectShape(t, w.RawSubject), subjectShape(t, h.RawSubject); !slices.Equal(ws, hs) {
			t.Errorf("CSR %d subject layout %v, fixture %v", i, hs, ws)
		}
		if h.Subject.CommonName != w.Subject.CommonName || !slices.Equal(slices.Sorted(slices.Values(h.DNSNames)), slices.Sorted(slices.Values(w.DNSNames))) ||
			len(h.IPAddresses) != len(w.IPAddresses) {
			t.Errorf("CSR %d: %s %v %v, fixture %s %v %v", i, h.Subject.CommonName, h.DNSNames, h.IPAddresses,
				w.Subject.CommonName, w.DNSNames, w.IPAddresses)
		}
		if len(h.Extensions) != len(w.Extensions) {
			t.Errorf("CSR %d: %d extensions requested, fixture %d", i, len(h.Extensions), len(w.Extensions))
		}
		uid := uniqueID(h.Subject)
		if len(uid) != 36 || uid == uniqueID(w.Subject) {
			t.Errorf("CSR %d: unique id %q", i, uid)
		}
		if h.SignatureAlgorithm != w.SignatureAlgorithm {
			t.Errorf("CSR %d: signature %v, fixture %v", i, h.SignatureAlgorithm, w.SignatureAlgorithm)
		}
	}
}

func uniqueID(n pkix.Name) string {
	for _, a := range n.Names {
		if a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 45}) {
			s, _ := a.Value.(string)
			return s
		}
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// seedFromFixture puts a Python requirer's databags and key into the fake
// model, as if our requirer had written them in an earlier hook.
func seedFromFixture(t *testing.T, m *fakeModel, f reqFixture) {
	t.Helper()
	for k, v := range f.Databags.Unit {
		m.bags["myapp/0"][k] = v
	}
	for k, v := range f.Databags.App {
		m.bags["myapp"][k] = v
	}
	var meta struct {
		One  *struct{ Scope, PEM string } `json:"requirer_private_key"`
		Keys map[string]string            `json:"requirer_private_keys"`
	}
	if err := json.Unmarshal(f.Meta, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.One != nil {
		meta.Keys = map[string]string{meta.One.Scope: meta.One.PEM}
	}
	if k := meta.Keys["unit"]; k != "" {
		m.secrets["myapp/0\x00tls-certificates-certificates-unit-key"] = map[string]string{"private-key": k}
	}
	if k := meta.Keys["app"]; k != "" {
		m.secrets["myapp\x00tls-certificates-certificates-app-key"] = map[string]string{"private-key": k}
	}
}

// TestRequirerReadsProviderFixtures puts what Python requirers and providers
// wrote on both sides of the relation and checks what Sync assigns, that it
// keeps the Python requirer's CSRs (no write) when nothing is due, and what
// it does about revocations and refusals.
func TestRequirerReadsProviderFixtures(t *testing.T) {
	tests := []struct {
		name, requirer, provider string
		wantWrote                bool
		check                    func(t *testing.T, got *tls.Assigned, prov reqFixture)
	}{{
		name: "issued", requirer: "tls-v4p30-requirer-unit.json", provider: "tls-v4p30-provider-issued.json",
		check: func(t *testing.T, got *tls.Assigned, prov reqFixture) {
			certs, _, _, _ := tls.ReadProviderBag(prov.Databags.App)
			for i, a := range got.Unit {
				if !a.Ready() || a.Renewing || a.Certificate != certs[i].Certificate || a.CA != certs[i].CA ||
					len(a.Chain) != 2 || a.CSR != certs[i].CSR {
					t.Errorf("unit[%d] = %+v", i, a)
				}
				if want := a.NotBefore.Add(time.Duration(0.9 * float64(a.NotAfter.Sub(a.NotBefore)))); !a.RenewAt.Equal(want) {
					t.Errorf("unit[%d] renews at %v, want %v", i, a.RenewAt, want)
				}
			}
		},
	}, {
		name: "revoked", requirer: "tls-v4p30-requirer-unit.json", provider: "tls-v4p30-provider-revoked.json",
		wantWrote: true,
		check: func(t *testing.T, got *tls.Assigned, prov reqFixture) {
			certs, _, _, _ := tls.ReadProviderBag(prov.Databags.App)
			for i, a := range got.Unit {
				if a.Ready() || a.CSR == certs[i].CSR {
					t.Errorf("unit[%d] revoked certificate still assigned or CSR kept: %+v", i, a)
				}
			}
		},
	}, {
		name: "errors and capabilities", requirer: "tls-charmlibs110-requirer-app-and-unit.json",
		provider: "tls-charmlibs110-provider-errors-capabilities.json",
		check: func(t *testing.T, got *tls.Assigned, _ reqFixture) {
			if !got.Unit[0].Ready() || got.Unit[0].Refused != nil {
				t.Errorf("unit certificate %+v", got.Unit[0])
			}
			if got.App[0].Ready() || got.App[0].Refused == nil || got.App[0].Refused.Code != 102 ||
				got.App[0].Refused.Name != "domain_not_allowed" {
				t.Errorf("app request %+v", got.App[0])
			}
			c := got.Capabilities
			if c == nil || c.SupportsIPSANs == nil || !*c.SupportsIPSANs || !slices.Equal(c.AllowedDomains, []string{"svc.cluster.local"}) {
				t.Errorf("capabilities %+v", c)
			}
		},
	}, {
		name: "empty chain", requirer: "tls-v4p30-requirer-unit.json", provider: "neg-tls-provider-empty-chain.json",
		check: func(t *testing.T, got *tls.Assigned, _ reqFixture) {
			if !got.Unit[0].Ready() || len(got.Unit[0].Chain) != 0 || got.Unit[1].Ready() {
				t.Errorf("assigned %+v", got.Unit)
			}
		},
	}, {
		name: "request_errors keyed like the schema", requirer: "tls-charmlibs110-requirer-app-and-unit.json",
		provider: "neg-tls-request-errors-schema-key.json",
		check: func(t *testing.T, got *tls.Assigned, _ reqFixture) {
			if !got.Unit[0].Ready() || got.App[0].Refused == nil || got.App[0].Refused.Code != 102 {
				t.Errorf("assigned %+v / %+v", got.Unit[0], got.App[0])
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := readReqFixture(t, tt.requirer)
			prov := readReqFixture(t, tt.provider)
			unitReqs, appReqs := fixtureScopes(t, req)
			m := newFakeModel()
			seedFromFixture(t, m, req)
			m.bags["provider"] = prov.Databags.App
			hc, _ := m.hook("myapp/0")
			got, err := tls.NewRequirer(hc, &tls.RequirerOptions{UnitRequests: unitReqs, AppRequests: appReqs}).Sync()
			if err != nil {
				t.Fatal(err)
			}
			if got.Wrote != tt.wantWrote {
				t.Errorf("Wrote = %v, want %v", got.Wrote, tt.wantWrote)
			}
			if !tt.wantWrote {
				if !mapsEqual(m.bags["myapp/0"], req.Databags.Unit) || !mapsEqual(m.bags["myapp"], req.Databags.App) {
					t.Errorf("databags changed")
				}
			}
			if len(got.Problems) != 0 {
				t.Errorf("problems: %v", got.Problems)
			}
			tt.check(t, got, prov)
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// fakeProvider signs every outstanding CSR of the requirer's databags the way
// SPEC §4.1 says a provider does, drops entries whose CSR vanished, and
// writes its app databag.
type fakeProvider struct {
	t        *testing.T
	auth     *ca.Authority
	validity time.Duration
	now      func() time.Time
}

func newFakeProvider(t *testing.T, now func() time.Time) *fakeProvider {
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	root, err := ca.NewRoot(key, ca.Subject{CommonName: "fake provider CA"}, 365*24*time.Hour, now(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeProvider{t: t, auth: &ca.Authority{Certificate: root, Key: key}, validity: 10 * time.Hour, now: now}
}

func (p *fakeProvider) run(m *fakeModel) {
	p.t.Helper()
	old, _, _, _ := tls.ReadProviderBag(m.bags["provider"])
	var reqs []tls.CSRRequest
	for _, name := range append(slices.Clone(m.units), "myapp") {
		list, _, err := tls.ReadRequests(m.bags[name])
		if err != nil {
			p.t.Fatal(err)
		}
		reqs = append(reqs, list...)
	}
	var certs []tls.ProviderCertificate
	for _, r := range reqs {
		i := slices.IndexFunc(old, func(c tls.ProviderCertificate) bool { return c.CSR == r.CSR && !c.Revoked })
		if i >= 0 {
			certs = append(certs, old[i])
			continue
		}
		csr, err := ca.ParseCSR(r.CSR)
		if err != nil {
			p.t.Fatal(err)
		}
		leaf, err := p.auth.Issue(csr, ca.IssueOptions{Validity: p.validity, IsCA: r.CA, Policy: &ca.Policy{}, Now: p.now()})
		if err != nil {
			p.t.Fatal(err)
		}
		caPEM := ca.EncodeCertificate(p.auth.Certificate)
		certs = append(certs, tls.ProviderCertificate{CA: caPEM, CSR: r.CSR, Certificate: ca.EncodeCertificate(leaf),
			Chain: []string{ca.EncodeCertificate(leaf), caPEM}})
	}
	m.bags["provider"] = tls.WriteProviderBag(certs, nil, nil)
}

func (p *fakeProvider) revokeAll(m *fakeModel) {
	certs, _, _, _ := tls.ReadProviderBag(m.bags["provider"])
	for i := range certs {
		certs[i].Revoked = true
	}
	m.bags["provider"] = tls.WriteProviderBag(certs, nil, nil)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestRequirerLifecycle drives one requirer app through request, issue, a
// steady hook, renewal, revocation, a leader change and a change of request
// against a provider that signs what it is asked.
func TestRequirerLifecycle(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := newFakeModel("myapp/0", "myapp/1")
	prov := newFakeProvider(t, clk.now)
	unitReq := func(u string) []tls.CertificateRequest {
		fqdn := strings.Replace(u, "/", "-", 1) + ".myapp-endpoints.test.svc.cluster.local"
		return []tls.CertificateRequest{{CommonName: fqdn, DNSNames: []string{fqdn}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}}
	}
	appReq := []tls.CertificateRequest{{CommonName: "myapp.example.com", DNSNames: []string{"myapp.example.com"}}}
	sync := func(unit string, app []tls.CertificateRequest) (*tls.Assigned, *fakeRunner) {
		t.Helper()
		hc, fr := m.hook(unit)
		got, err := tls.NewRequirer(hc, &tls.RequirerOptions{UnitRequests: unitReq(unit), AppRequests: app,
			KeyAlgorithm: ca.ECDSAP256, Now: clk.now}).Sync()
		if err != nil {
			t.Fatal(err)
		}
		return got, fr
	}

	// First hooks: CSRs written, keys stored, nothing assigned yet.
	for _, u := range m.units {
		got, _ := sync(u, appReq)
		if !got.Wrote || got.Unit[0].Ready() || got.Unit[0].CSR == "" {
			t.Fatalf("%s first sync: %+v", u, got)
		}
	}
	if len(m.secrets) != 3 {
		t.Fatalf("want 2 unit keys and 1 app key, have %d secrets", len(m.secrets))
	}
	prov.run(m)

	// Assigned, and a steady hook writes nothing and reads no secret.
	got0, fr := sync("myapp/0", appReq)
	if got0.Wrote || !got0.Unit[0].Ready() || !got0.App[0].Ready() || got0.Unit[0].Renewing {
		t.Fatalf("after issue: %+v", got0)
	}
	if slices.Contains(fr.calls, "secret-get") || slices.Contains(fr.calls, "relation-set") {
		t.Errorf("steady hook calls %v", fr.calls)
	}
	t.Logf("hook-tool calls of a steady leader hook: %d %v", len(fr.calls), fr.calls)
	got1, fr1 := sync("myapp/1", appReq)
	if got1.Wrote || !got1.Unit[0].Ready() || got1.App[0].Certificate != got0.App[0].Certificate {
		t.Fatalf("non-leader: %+v", got1)
	}
	if got1.Unit[0].Certificate == got0.Unit[0].Certificate {
		t.Fatal("two units share a certificate")
	}
	t.Logf("hook-tool calls of a steady non-leader hook: %d %v", len(fr1.calls), fr1.calls)

	// Leader change: the new leader keeps the app CSR and key.
	appCSRs := m.bags["myapp"]["certificate_signing_requests"]
	m.leader = "myapp/1"
	if got, _ := sync("myapp/1", appReq); got.Wrote || got.App[0].Certificate != got0.App[0].Certificate {
		t.Fatalf("after leader change: %+v", got)
	}
	if m.bags["myapp"]["certificate_signing_requests"] != appCSRs {
		t.Fatal("new leader rewrote the app CSRs")
	}
	m.leader = "myapp/0"

	// Renewal at 90%: a new CSR for the same key; the old certificate is
	// served meanwhile.
	clk.t = got0.Unit[0].RenewAt.Add(time.Second)
	got, _ := sync("myapp/0", appReq)
	if !got.Wrote || got.Unit[0].CSR == got0.Unit[0].CSR || !got.Unit[0].Renewing ||
		got.Unit[0].Certificate != got0.Unit[0].Certificate {
		t.Fatalf("renewal: %+v", got.Unit[0])
	}
	oldCSR, _ := ca.ParseCSR(got0.Unit[0].CSR)
	newCSR, _ := ca.ParseCSR(got.Unit[0].CSR)
	if !oldCSR.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(newCSR.PublicKey) {
		t.Error("renewal changed the key")
	}
	if again, _ := sync("myapp/0", appReq); again.Wrote {
		t.Error("a second hook before the provider answered renewed again")
	}
	prov.run(m)
	renewed, _ := sync("myapp/0", appReq)
	if renewed.Wrote || renewed.Unit[0].Renewing || renewed.Unit[0].Certificate == got0.Unit[0].Certificate ||
		!renewed.Unit[0].NotAfter.After(got0.Unit[0].NotAfter) {
		t.Fatalf("after renewal: %+v", renewed.Unit[0])
	}

	// Revocation: new CSRs, nothing served until the provider answers.
	prov.revokeAll(m)
	revoked, _ := sync("myapp/0", appReq)
	if !revoked.Wrote || revoked.Unit[0].Ready() || revoked.App[0].Ready() {
		t.Fatalf("after revocation: %+v", revoked)
	}
	prov.run(m)
	if got, _ := sync("myapp/0", appReq); got.Wrote || !got.Unit[0].Ready() || !got.App[0].Ready() {
		t.Fatalf("after re-issue: %+v", got)
	}

	// The charm stops asking for an app certificate: the key disappears.
	if got, _ := sync("myapp/0", nil); !got.Wrote || len(got.App) != 0 {
		t.Fatalf("dropping app requests: %+v", got)
	}
	if _, ok := m.bags["myapp"]["certificate_signing_requests"]; ok {
		t.Error("app CSRs left behind")
	}

	// PrivateKey returns the key the certificate was issued for.
	hc, _ := m.hook("myapp/0")
	r := tls.NewRequirer(hc, &tls.RequirerOptions{UnitRequests: unitReq("myapp/0"), Now: clk.now})
	a, err := r.Sync()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := r.PrivateKey(tls.ScopeUnit)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ca.ParseCertificate(a.Unit[0].Certificate)
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("certificate is not for the unit key")
	}
	if _, err := x509.ParseCertificate(leaf.Raw); err != nil {
		t.Fatal(err)
	}
}

func TestRequirerNoRelation(t *testing.T) {
	m := newFakeModel()
	m.relID = ""
	hc, _ := m.hook("myapp/0")
	hc.Env.HookName = "certificates-relation-broken"
	hc.Env.RelationID = ""
	got, err := tls.NewRequirer(hc, &tls.RequirerOptions{
		UnitRequests: []tls.CertificateRequest{{CommonName: "a"}},
	}).Sync()
	if err != nil {
		t.Fatal(err)
	}
	if got.RelationID != "" || len(got.Unit) != 1 || got.Unit[0].Ready() || got.Wrote {
		t.Fatalf("%+v", got)
	}
}

func TestNewCSR(t *testing.T) {
	key, err := ca.GenerateKey(ca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		req     tls.CertificateRequest
		wantErr string
		dns     []string
		ips     int
	}{
		{name: "cn only", req: tls.CertificateRequest{CommonName: "a.example"}},
		{name: "sans deduplicated, order kept", req: tls.CertificateRequest{CommonName: "a",
			DNSNames: []string{"b.example", "a.example", "b.example", " "}, IPAddresses: []net.IP{net.ParseIP("10.1.2.3")}},
			dns: []string{"b.example", "a.example"}, ips: 1},
		{name: "empty cn", req: tls.CertificateRequest{DNSNames: []string{"a"}}, wantErr: "empty common name"},
		{name: "long cn", req: tls.CertificateRequest{CommonName: strings.Repeat("a", 65)}, wantErr: "longer than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tls.NewCSR(tt.req, key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "cannot ") {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(s, "\n") {
				t.Error("trailing newline")
			}
			csr, err := ca.ParseCSR(s)
			if err != nil {
				t.Fatal(err)
			}
			if csr.Subject.CommonName != tt.req.CommonName || !slices.Equal(csr.DNSNames, tt.dns) || len(csr.IPAddresses) != tt.ips {
				t.Errorf("CSR %v %v %v", csr.Subject, csr.DNSNames, csr.IPAddresses)
			}
			if got := subjectShape(t, csr.RawSubject); !slices.Equal(got, []string{"2.5.4.3/12", "2.5.4.45/12"}) {
				t.Errorf("subject layout %v", got)
			}
		})
	}
}

// TestRequirerNoRenewalOfCappedCertificate: a certificate that ends with its
// CA is not renewed at 90%: the provider would cap the next one the same way,
// and the requirer would request a new one in every hook.
func TestRequirerNoRenewalOfCappedCertificate(t *testing.T) {
	clk := &clock{t: time.Now()}
	m := newFakeModel()
	prov := newFakeProvider(t, clk.now)
	prov.validity = 2 * 365 * 24 * time.Hour // longer than the CA: capped at its expiry
	reqs := []tls.CertificateRequest{{CommonName: "a.example", DNSNames: []string{"a.example"}}}
	sync := func() *tls.Assigned {
		t.Helper()
		hc, _ := m.hook("myapp/0")
		got, err := tls.NewRequirer(hc, &tls.RequirerOptions{UnitRequests: reqs, KeyAlgorithm: ca.ECDSAP256, Now: clk.now}).Sync()
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	sync()
	prov.run(m)
	got := sync()
	if !got.Unit[0].Ready() || !got.Unit[0].NotAfter.Equal(prov.auth.Certificate.NotAfter) {
		t.Fatalf("not capped: %+v", got.Unit[0])
	}
	clk.t = got.Unit[0].RenewAt.Add(time.Minute)
	if again := sync(); again.Wrote {
		t.Error("renewed a certificate capped at its CA's expiry")
	}
}
