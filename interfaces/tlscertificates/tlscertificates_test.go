package tlscertificates_test

import (
	"crypto/x509"
	"maps"
	"reflect"
	"strings"
	"testing"

	"go.step.sm/crypto/keyutil"

	"github.com/tls-authority/tls-authority/ca"
	tls "github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

func TestReadRequestsFixtures(t *testing.T) {
	tests := []struct {
		file         string
		side         string
		wantCA       []bool // one per request read
		wantProblems int
		exactWrite   bool // WriteRequests gives back the same bytes
	}{
		{"tls-v4p30-requirer-unit.json", "unit", []bool{false, false}, 0, true},
		{"tls-v4p30-requirer-unit.json", "app", nil, 0, false},
		{"tls-v4p30-requirer-app.json", "app", []bool{false, true}, 0, true},
		{"tls-v4p30-requirer-app.json", "unit", nil, 0, false},
		{"tls-charmlibs110-requirer-app-and-unit.json", "app", []bool{false}, 0, true},
		{"tls-charmlibs110-requirer-app-and-unit.json", "unit", []bool{false}, 0, true},
		// Python providers drop this whole databag; we read the entry
		// without "ca" as a leaf request and keep the other.
		{"neg-tls-csr-entry-without-ca.json", "unit", []bool{false, false}, 0, false},
		// Python providers raise for every relation; we skip the entry.
		{"neg-tls-csr-not-pem.json", "unit", nil, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.side, func(t *testing.T) {
			f := loadFixture(t, tt.file)
			bag := f.Databags.Unit
			if tt.side == "app" {
				bag = f.Databags.App
			}
			reqs, problems, err := tls.ReadRequests(bag)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != tt.wantProblems {
				t.Errorf("problems = %q, want %d", problems, tt.wantProblems)
			}
			var gotCA []bool
			for _, r := range reqs {
				gotCA = append(gotCA, r.CA)
				// Every request read is a CSR the ca package accepts: the
				// wire layer's PEM check lets nothing through that would
				// only fail later.
				if _, err := ca.ParseCSR(r.CSR); err != nil {
					t.Errorf("ParseCSR: %v", err)
				}
				if strings.TrimSpace(r.CSR) != r.CSR || strings.HasSuffix(r.CSR, "\n") {
					t.Errorf("CSR not trimmed")
				}
			}
			if !reflect.DeepEqual(gotCA, tt.wantCA) {
				t.Errorf("ca flags = %v, want %v", gotCA, tt.wantCA)
			}
			if tt.exactWrite {
				if got := tls.WriteRequests(reqs); got != bag[tls.KeyCSRs] {
					t.Errorf("WriteRequests differs from the Python requirer's:\n got %.200q\nwant %.200q", got, bag[tls.KeyCSRs])
				}
			}
		})
	}
}

// TestFixtureKeysMatchCSRs checks the fixture CSRs against the throwaway keys
// recorded with them, so the tests above read what the libraries signed.
func TestFixtureKeysMatchCSRs(t *testing.T) {
	f := loadFixture(t, "tls-v4p30-requirer-unit.json")
	keyPEM := f.Meta["requirer_private_key"].(map[string]any)["pem"].(string)
	key, err := ca.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := tls.ReadRequests(f.Databags.Unit)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		csr, err := ca.ParseCSR(r.CSR)
		if err != nil {
			t.Fatal(err)
		}
		if !keyutil.Equal(csr.PublicKey, key.Public()) {
			t.Errorf("request %d: CSR key is not the requirer's", i)
		}
	}
}

func TestProviderBagFixtures(t *testing.T) {
	tests := []struct {
		file         string
		wantCerts    int
		wantRevoked  bool
		wantErrs     int
		wantCaps     bool
		wantProblems int
		exactWrite   bool
		valid        bool
	}{
		{"tls-v4p30-provider-issued.json", 2, false, 0, false, 0, true, true},
		{"tls-v4p30-provider-revoked.json", 2, true, 0, false, 0, true, true},
		{"tls-charmlibs110-provider-errors-capabilities.json", 1, false, 1, true, 0, true, true},
		// Readers keep an empty chain, as both Python requirers do; no
		// provider may write it.
		{"neg-tls-provider-empty-chain.json", 1, false, 0, false, 0, true, false},
		// charmlibs drops the whole databag; we read the schema spelling.
		{"neg-tls-request-errors-schema-key.json", 1, false, 1, true, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := loadFixture(t, tt.file)
			certs, errs, caps, problems := tls.ReadProviderBag(f.Databags.App)
			if len(certs) != tt.wantCerts || len(errs) != tt.wantErrs || (caps != nil) != tt.wantCaps || len(problems) != tt.wantProblems {
				t.Fatalf("read %d certs, %d errors, caps %v, problems %q", len(certs), len(errs), caps != nil, problems)
			}
			for i, c := range certs {
				if c.Revoked != tt.wantRevoked {
					t.Errorf("certs[%d].Revoked = %v", i, c.Revoked)
				}
				if err := c.Validate(); (err == nil) != tt.valid {
					t.Errorf("certs[%d].Validate() = %v, want valid %v", i, err, tt.valid)
				}
				if _, err := ca.ParseCertificate(c.Certificate); err != nil {
					t.Errorf("certs[%d]: %v", i, err)
				}
			}
			if len(f.Databags.Unit) != 0 {
				t.Errorf("provider unit databag not empty")
			}
			got := tls.WriteProviderBag(certs, errs, caps)
			if tt.exactWrite && !maps.Equal(got, f.Databags.App) {
				for k, v := range f.Databags.App {
					if got[k] != v {
						t.Errorf("%s differs:\n got %.300q\nwant %.300q", k, got[k], v)
					}
				}
				t.Errorf("keys: got %v, want %v", slicesSorted(got), slicesSorted(f.Databags.App))
			}
			// Whatever is written reads back the same.
			c2, e2, caps2, p2 := tls.ReadProviderBag(got)
			if !reflect.DeepEqual(c2, certs) || !reflect.DeepEqual(e2, errs) || !reflect.DeepEqual(caps2, caps) || len(p2) != 0 {
				t.Errorf("round trip changed the entries (problems %q)", p2)
			}
		})
	}
}

func slicesSorted(m map[string]string) []string {
	var keys []string
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	return keys
}

// TestProviderEchoesRequests ties the two v4 fixtures together: the provider
// echoed each CSR string exactly, issued a leaf for the CSR's key and put
// [leaf, CA] in the chain.
func TestProviderEchoesRequests(t *testing.T) {
	reqs, _, err := tls.ReadRequests(loadFixture(t, "tls-v4p30-requirer-unit.json").Databags.Unit)
	if err != nil {
		t.Fatal(err)
	}
	certs, _, _, _ := tls.ReadProviderBag(loadFixture(t, "tls-v4p30-provider-issued.json").Databags.App)
	if len(certs) != len(reqs) {
		t.Fatalf("%d certificates for %d requests", len(certs), len(reqs))
	}
	for i := range reqs {
		if certs[i].CSR != reqs[i].CSR {
			t.Errorf("entry %d: CSR not echoed verbatim", i)
		}
		csr, _ := ca.ParseCSR(reqs[i].CSR)
		cert, err := ca.ParseCertificate(certs[i].Certificate)
		if err != nil {
			t.Fatal(err)
		}
		if !keyutil.Equal(cert.PublicKey, csr.PublicKey) {
			t.Errorf("entry %d: certificate key is not the CSR's", i)
		}
		if len(certs[i].Chain) != 2 || certs[i].Chain[0] != certs[i].Certificate || certs[i].Chain[1] != certs[i].CA {
			t.Errorf("entry %d: chain is not [leaf, CA]", i)
		}
		root, _ := ca.ParseCertificate(certs[i].CA)
		pool := x509.NewCertPool()
		pool.AddCert(root)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: cert.NotBefore.Add(1), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
}

const (
	csrA = "-----BEGIN CERTIFICATE REQUEST-----\nQUFB\n-----END CERTIFICATE REQUEST-----"
	csrB = "-----BEGIN CERTIFICATE REQUEST-----\nQkJC\n-----END CERTIFICATE REQUEST-----"
	crt  = "-----BEGIN CERTIFICATE-----\nQ0ND\n-----END CERTIFICATE-----"
)

func TestReadRequestsLenient(t *testing.T) {
	q := func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
	tests := []struct {
		name         string
		value        *string // nil: key absent
		want         []tls.CSRRequest
		wantProblems int
		wantErr      bool
	}{
		{"absent", nil, nil, 0, false},
		{"deleted", ptr(""), nil, 0, false},
		{"null", ptr("null"), nil, 0, false},
		{"empty list", ptr("[]"), nil, 0, false},
		{"compact", ptr(`[{"certificate_signing_request":"` + q(csrA) + `","ca":true}]`), []tls.CSRRequest{{csrA, true}}, 0, false},
		{"key order, spacing, unknown keys", ptr("[\n  {\"extra\": {\"x\": 1},  \"ca\" : false ,\"certificate_signing_request\" :\"" + q(csrA) + "\"}\n]"), []tls.CSRRequest{{csrA, false}}, 0, false},
		{"ca null", ptr(`[{"certificate_signing_request": "` + q(csrA) + `", "ca": null}]`), []tls.CSRRequest{{csrA, false}}, 0, false},
		{"ca missing", ptr(`[{"certificate_signing_request": "` + q(csrA) + `"}, {"certificate_signing_request": "` + q(csrB) + `", "ca": true}]`), []tls.CSRRequest{{csrA, false}, {csrB, true}}, 0, false},
		{"ca not a bool", ptr(`[{"certificate_signing_request": "` + q(csrA) + `", "ca": "yes"}, {"certificate_signing_request": "` + q(csrB) + `", "ca": false}]`), []tls.CSRRequest{{csrB, false}}, 1, false},
		{"surrounding whitespace trimmed", ptr(`[{"certificate_signing_request": "\n ` + q(csrA) + `\n\n", "ca": false}]`), []tls.CSRRequest{{csrA, false}}, 0, false},
		{"not PEM among good", ptr(`[{"certificate_signing_request": "QUFB", "ca": false}, {"certificate_signing_request": "` + q(csrB) + `", "ca": false}]`), []tls.CSRRequest{{csrB, false}}, 1, false},
		{"certificate instead of CSR", ptr(`[{"certificate_signing_request": "` + q(crt) + `", "ca": false}]`), nil, 1, false},
		{"CSR not a string", ptr(`[{"certificate_signing_request": 5, "ca": false}]`), nil, 1, false},
		{"CSR missing", ptr(`[{"ca": false}]`), nil, 1, false},
		{"entry not an object", ptr(`["x", null, 3, {"certificate_signing_request": "` + q(csrA) + `"}]`), []tls.CSRRequest{{csrA, false}}, 3, false},
		{"case-sensitive keys", ptr(`[{"Certificate_Signing_Request": "` + q(csrA) + `"}]`), nil, 1, false},
		{"duplicate", ptr(`[{"certificate_signing_request": "` + q(csrA) + `"}, {"certificate_signing_request": "` + q(csrA) + `", "ca": true}]`), []tls.CSRRequest{{csrA, false}}, 1, false},
		{"not JSON", ptr(`[{"certificate_signing_request": `), nil, 0, true},
		{"object instead of list", ptr(`{"certificate_signing_request": "x"}`), nil, 0, true},
		{"string instead of list", ptr(`"` + q(csrA) + `"`), nil, 0, true},
	}
	for _, tt := range tests {
		bag := map[string]string{"other": "x"}
		if tt.value != nil {
			bag[tls.KeyCSRs] = *tt.value
		}
		got, problems, err := tls.ReadRequests(bag)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "cannot read certificate_signing_requests") {
			t.Errorf("%s: error %q", tt.name, err)
		}
		if !reflect.DeepEqual(got, tt.want) || len(problems) != tt.wantProblems {
			t.Errorf("%s: got %v, problems %q; want %v, %d problems", tt.name, got, problems, tt.want, tt.wantProblems)
		}
	}
}

func ptr(s string) *string { return &s }

func TestWriteRequests(t *testing.T) {
	if got := tls.WriteRequests(nil); got != "" {
		t.Errorf("empty list written as %q, want the key deleted", got)
	}
	got := tls.WriteRequests([]tls.CSRRequest{{csrA, false}, {csrB, true}})
	want := `[{"certificate_signing_request": "-----BEGIN CERTIFICATE REQUEST-----\nQUFB\n-----END CERTIFICATE REQUEST-----", "ca": false}, ` +
		`{"certificate_signing_request": "-----BEGIN CERTIFICATE REQUEST-----\nQkJC\n-----END CERTIFICATE REQUEST-----", "ca": true}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestPythonJSONEscaping pins the string escaping to what Python's
// json.dumps prints (checked with CPython 3.11): ensure_ascii \u escapes,
// surrogate pairs, no HTML escaping.
func TestPythonJSONEscaping(t *testing.T) {
	tests := []struct{ in, want string }{
		{"é", `"\u00e9"`},
		{"😀", `"\ud83d\ude00"`},
		{"<&>", `"<&>"`},
		{"\x7f", `"\u007f"`},
		{"\x01", `"\u0001"`},
		{`a"b\c/d`, `"a\"b\\c/d"`},
		{"\u2028", `"\u2028"`},
		{"tab\there\r\n\b\f", `"tab\there\r\n\b\f"`},
		{"\xff", `"\ufffd"`},
	}
	for _, tt := range tests {
		bag := tls.WriteProviderBag(nil, nil, &tls.Capabilities{ProviderType: tt.in})
		want := `{"provider_type": ` + tt.want + `}`
		if bag[tls.KeyCapabilities] != want {
			t.Errorf("%q: got %s, want %s", tt.in, bag[tls.KeyCapabilities], want)
		}
	}
}

func TestWriteProviderBag(t *testing.T) {
	if got := tls.WriteProviderBag(nil, nil, nil); len(got) != 0 {
		t.Errorf("empty bag = %v", got)
	}
	certs := []tls.ProviderCertificate{
		{CA: crt, CSR: csrA, Certificate: crt, Chain: []string{crt, crt}},
		{CA: crt, CSR: csrB, Certificate: crt, Chain: []string{crt}, Revoked: true},
	}
	errs := []tls.RequestError{
		{CSR: csrA, Error: tls.ErrorDetail{Code: 101, Name: "ip_not_allowed", Message: "no IPs"}},
		{CSR: csrB, Error: tls.ErrorDetail{Code: 999, Name: "other", Message: "weak key", Reason: "RSA 1024"}},
	}
	caps := &tls.Capabilities{
		SupportsIPSANs: tls.Bool(false), SupportsWildcardDNS: tls.Bool(true), SupportsSubdomain: tls.Bool(true),
		SupportsCACertificates: tls.Bool(true), AllowedDomains: []string{}, ProviderType: "tls-authority",
	}
	bag := tls.WriteProviderBag(certs, errs, caps)
	c := strings.ReplaceAll(crt, "\n", `\n`)
	a := strings.ReplaceAll(csrA, "\n", `\n`)
	b := strings.ReplaceAll(csrB, "\n", `\n`)
	want := map[string]string{
		"certificates": `[{"ca": "` + c + `", "certificate_signing_request": "` + a + `", "certificate": "` + c + `", "chain": ["` + c + `", "` + c + `"]}, ` +
			`{"ca": "` + c + `", "certificate_signing_request": "` + b + `", "certificate": "` + c + `", "chain": ["` + c + `"], "revoked": true}]`,
		"request_errors": `[{"csr": "` + a + `", "error": {"code": 101, "name": "ip_not_allowed", "message": "no IPs"}}, ` +
			`{"csr": "` + b + `", "error": {"code": 999, "name": "other", "message": "weak key", "reason": "RSA 1024"}}]`,
		"capabilities": `{"supports_ip_sans": false, "supports_wildcard_dns": true, "supports_subdomain": true, "supports_ca_certificates": true, "allowed_domains": [], "provider_type": "tls-authority"}`,
	}
	for k, v := range want {
		if bag[k] != v {
			t.Errorf("%s:\n got %s\nwant %s", k, bag[k], v)
		}
	}
	gc, ge, gcaps, problems := tls.ReadProviderBag(bag)
	if !reflect.DeepEqual(gc, certs) || !reflect.DeepEqual(ge, errs) || !reflect.DeepEqual(gcaps, caps) || len(problems) != 0 {
		t.Errorf("round trip: %+v %+v %+v %q", gc, ge, gcaps, problems)
	}
	if got := tls.WriteCapabilities(tls.Capabilities{}); got != "{}" {
		t.Errorf("empty capabilities = %s", got)
	}
	for _, k := range tls.ProviderKeys {
		if _, ok := bag[k]; !ok {
			t.Errorf("ProviderKeys has %q, never written", k)
		}
	}
}

func TestReadProviderBagLenient(t *testing.T) {
	c := strings.ReplaceAll(crt, "\n", `\n`)
	a := strings.ReplaceAll(csrA, "\n", `\n`)
	tests := []struct {
		name                  string
		bag                   map[string]string
		certs, errs, problems int
		caps                  bool
	}{
		{"empty", map[string]string{}, 0, 0, 0, false},
		{"deleted keys", map[string]string{"certificates": "", "request_errors": "", "capabilities": ""}, 0, 0, 0, false},
		{"not JSON everywhere", map[string]string{"certificates": "[", "request_errors": "{", "capabilities": "["}, 0, 0, 3, false},
		{"one bad among good", map[string]string{"certificates": `[{"certificate_signing_request": "` + a + `", "certificate": "` + c + `"}, {"certificate_signing_request": "` + a + `", "certificate": "nope"}, 7]`}, 1, 0, 2, false},
		{"bad chain member", map[string]string{"certificates": `[{"certificate_signing_request": "` + a + `", "certificate": "` + c + `", "chain": ["x"]}]`}, 0, 0, 1, false},
		{"revoked null", map[string]string{"certificates": `[{"certificate_signing_request": "` + a + `", "certificate": "` + c + `", "revoked": null, "ca": null}]`}, 1, 0, 0, false},
		{"error without code", map[string]string{"request_errors": `[{"csr": "x", "error": {"name": "n"}}, {"csr": "x"}, {"error": {"code": 1}}, {"csr": "` + a + `", "error": {"code": 102}}]`}, 0, 1, 3, false},
		{"capabilities with unknown and null fields", map[string]string{"capabilities": `{"supports_ip_sans": null, "future": [1], "provider_type": "x"}`}, 0, 0, 0, true},
		{"capabilities bad field", map[string]string{"capabilities": `{"supports_ip_sans": "yes"}`}, 0, 0, 1, false},
		{"capabilities null", map[string]string{"capabilities": `null`}, 0, 0, 0, false},
	}
	for _, tt := range tests {
		certs, errs, caps, problems := tls.ReadProviderBag(tt.bag)
		if len(certs) != tt.certs || len(errs) != tt.errs || len(problems) != tt.problems || (caps != nil) != tt.caps {
			t.Errorf("%s: %d certs, %d errors, caps %v, problems %q", tt.name, len(certs), len(errs), caps != nil, problems)
		}
	}
}

func TestValidate(t *testing.T) {
	good := tls.ProviderCertificate{CA: crt, CSR: csrA, Certificate: crt, Chain: []string{crt, crt}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*tls.ProviderCertificate){
		"empty chain":        func(c *tls.ProviderCertificate) { c.Chain = nil },
		"bad CSR":            func(c *tls.ProviderCertificate) { c.CSR = "x" },
		"CSR is certificate": func(c *tls.ProviderCertificate) { c.CSR = crt },
		"bad certificate":    func(c *tls.ProviderCertificate) { c.Certificate = csrA },
		"no CA":              func(c *tls.ProviderCertificate) { c.CA = "" },
		"bad chain member":   func(c *tls.ProviderCertificate) { c.Chain = []string{crt, "x"} },
		"chain not leaf first": func(c *tls.ProviderCertificate) {
			c.Chain = []string{strings.Replace(crt, "Q0ND", "RERE", 1)}
		},
	} {
		c := good
		c.Chain = append([]string(nil), good.Chain...)
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

func FuzzReadRequests(f *testing.F) {
	for _, name := range []string{"tls-v4p30-requirer-unit.json", "tls-v4p30-requirer-app.json", "neg-tls-csr-entry-without-ca.json", "neg-tls-csr-not-pem.json"} {
		fx := loadFixture(f, name)
		f.Add(fx.Databags.Unit[tls.KeyCSRs] + fx.Databags.App[tls.KeyCSRs])
	}
	f.Add(`[{"certificate_signing_request": "x", "ca": null}, null, 1]`)
	f.Fuzz(func(t *testing.T, value string) {
		reqs, _, err := tls.ReadRequests(map[string]string{tls.KeyCSRs: value})
		if err != nil {
			return
		}
		// What we read, we can write, and it reads back the same.
		again, problems, err := tls.ReadRequests(map[string]string{tls.KeyCSRs: tls.WriteRequests(reqs)})
		if err != nil || len(problems) != 0 || !reflect.DeepEqual(again, reqs) {
			t.Fatalf("round trip: %v %q %v != %v", err, problems, again, reqs)
		}
	})
}

func FuzzReadProviderBag(f *testing.F) {
	for _, name := range []string{"tls-v4p30-provider-issued.json", "tls-charmlibs110-provider-errors-capabilities.json", "neg-tls-request-errors-schema-key.json"} {
		bag := loadFixture(f, name).Databags.App
		f.Add(bag["certificates"], bag["request_errors"], bag["capabilities"])
	}
	f.Add("[null]", `[{"csr": 1}]`, `{"allowed_domains": null}`)
	f.Fuzz(func(t *testing.T, certsV, errsV, capsV string) {
		certs, errs, caps, _ := tls.ReadProviderBag(map[string]string{"certificates": certsV, "request_errors": errsV, "capabilities": capsV})
		c2, e2, caps2, problems := tls.ReadProviderBag(tls.WriteProviderBag(certs, errs, caps))
		if len(problems) != 0 || !reflect.DeepEqual(c2, certs) || !reflect.DeepEqual(e2, errs) || !reflect.DeepEqual(caps2, caps) {
			t.Fatalf("round trip changed entries: %q", problems)
		}
	})
}
