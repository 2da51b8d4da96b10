package terraform

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
)

// cosLiteTLSInputs are the TLS inputs of observability-stack's COS module, read from canonical/observability-stack
// at 488c741032b8bbf9d54c5047e608af5d98c28051 (2026-07-22), terraform/cos-lite/variables.tf; examples/cos/cos keeps
// them so the seed's root module (tests/integration/cos/tls_full/track-dev.tf there) reads the same against either.
var cosLiteTLSInputs = []struct{ name, typ, def string }{
	{"internal_tls", "bool", `true`},
	{"external_certificates_offer_url", "string", `null`},
	{"external_ca_cert_offer_url", "string", `null`},
}

func TestExampleCOSModuleInputs(t *testing.T) {
	m := load(t, filepath.Join(repoRoot(t), "examples", "cos", "cos"))
	for _, v := range cosLiteTLSInputs {
		got := m.Variables[v.name]
		if got == nil {
			t.Errorf("variable %q is missing", v.name)
			continue
		}
		if s := typeexpr.TypeString(got.Type); s != v.typ {
			t.Errorf("variable %q: type %s, want %s", v.name, s, v.typ)
		}
		want := hclValue(t, v.def)
		if got.Default == nil || !(got.Default.RawEquals(want) || got.Default.IsNull() && want.IsNull()) {
			t.Errorf("variable %q: default %v, want %s", v.name, got.Default, v.def)
		}
	}
	if v := m.Variables["model"]; v == nil || !v.Type.IsObjectType() || !v.Type.HasAttribute("uuid") {
		t.Errorf("variable model must be an object with uuid, as cos-lite's")
	}
}

// Every reference of the example, and of the modules it calls, resolves to something declared: variables, locals,
// modules and their outputs, resources and the provider's attributes.
func TestExampleReferencesResolve(t *testing.T) {
	res, err := Evaluate(load(t, filepath.Join(repoRoot(t), "examples", "cos")), nil)
	if err != nil {
		t.Fatal(err)
	}
	offers := res.Outputs["ca_offers"]
	if got := offers.GetAttr("certificates").AsString(); got != "admin/ca.certificates" {
		t.Errorf("ca_offers.certificates = %q", got)
	}
	if got := offers.GetAttr("send-ca-cert").AsString(); got != "admin/ca.send-ca-cert" {
		t.Errorf("ca_offers.send-ca-cert = %q", got)
	}
}

// The checks fail on a reference to anything undeclared, or an argument the provider does not have.
func TestExampleBrokenReferencesFail(t *testing.T) {
	for _, tc := range []struct {
		edit    edit
		wantErr string
	}{
		{edit{"examples/cos/main.tf", "module.ssc.offers.certificates.url :", "module.ssc.offers.certificates.uri :"}, "Unsupported attribute"},
		{edit{"examples/cos/main.tf", "module.ssc.offers.send-ca-cert.url :", "module.ssc.offers.send_ca_cert.url :"}, "Unsupported attribute"},
		{edit{"examples/cos/main.tf", "model_uuid = juju_model.ca.uuid", "model_uuid = juju_model.pki.uuid"}, "undeclared resource juju_model.pki"},
		{edit{"examples/cos/main.tf", "value       = module.cos.applications", "value       = module.cos.apps"}, "Unsupported attribute"},
		{edit{"examples/cos/main.tf", "internal_tls                    = var.internal_tls", "internal_tls                    = var.internal"}, "undeclared variable"},
		{edit{"examples/cos/main.tf", "internal_tls                    = var.internal_tls", "internal-tls                    = var.internal_tls"}, "not declared"},
		{edit{"examples/cos/cos/integrations.tf", "offer_url = var.external_ca_cert_offer_url", "offer_url = var.external_ca_offer_url"}, "undeclared variable"},
		{edit{"examples/cos/cos/integrations.tf", "endpoint = module.ca[0].provides.send-ca-cert", "endpoint = module.ca[0].provides.send_ca_cert"}, "Unsupported attribute"},
		{edit{"examples/cos/cos/integrations.tf", "name     = juju_application.traefik.name", "name     = juju_application.traefic.name"}, "undeclared resource"},
		{edit{"examples/cos/cos/applications.tf", "model_uuid = local.model_uuid", "model_uuid = local.model"}, "undeclared local"},
		{edit{"terraform/outputs.tf", "certificates = juju_offer.certificates", "certificates = juju_offer.certificate"}, "undeclared resource"},
		{edit{"terraform/main.tf", "trust = false", "trusted = false"}, `unsupported argument "trusted"`},
		{edit{"terraform/main.tf", `endpoints        = ["certificates"]`, `endpoint         = ["certificates"]`}, `unsupported argument "endpoint"`},
		{edit{"terraform/main.tf", "    base     = var.base\n", "    base     = var.base\n    series   = \"noble\"\n"}, `unsupported argument "series"`},
	} {
		t.Run(tc.edit.file+":"+tc.edit.new, func(t *testing.T) {
			dir := rootModule(t, "", tc.edit)
			m, err := Load(filepath.Join(dir, "examples", "cos"))
			if err == nil {
				_, err = Evaluate(m, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// The four TLS modes of COS: which applications and integrations the example plans for each.
func TestExampleModes(t *testing.T) {
	internal := []string{
		`module.cos.juju_integration.internal_certificates["alertmanager"] ca:certificates alertmanager:certificates`,
		`module.cos.juju_integration.internal_certificates["catalogue"] ca:certificates catalogue:certificates`,
		`module.cos.juju_integration.internal_certificates["grafana"] ca:certificates grafana:certificates`,
		`module.cos.juju_integration.internal_certificates["loki"] ca:certificates loki:certificates`,
		`module.cos.juju_integration.internal_certificates["prometheus"] ca:certificates prometheus:certificates`,
		`module.cos.juju_integration.traefik_receive_ca_certificate[0] ca:send-ca-cert traefik:receive-ca-cert`,
	}
	external := []string{
		`module.cos.juju_integration.external_ca_cert["grafana"] admin/ca.send-ca-cert grafana:receive-ca-cert`,
		`module.cos.juju_integration.external_ca_cert["prometheus"] admin/ca.send-ca-cert prometheus:receive-ca-cert`,
		`module.cos.juju_integration.external_traefik_certificates[0] admin/ca.certificates traefik:certificates`,
	}
	for _, tc := range []struct {
		internal, external bool
		wantApps           int
		want               []string
	}{
		{false, false, 7, nil},
		{true, false, 8, internal},
		{false, true, 7, external},
		{true, true, 8, append(append([]string(nil), external...), internal...)},
	} {
		t.Run(strings.ReplaceAll(strings.Join([]string{"internal", b(tc.internal), "external", b(tc.external)}, "-"), " ", ""), func(t *testing.T) {
			res, err := Evaluate(load(t, filepath.Join(repoRoot(t), "examples", "cos")), map[string]cty.Value{
				"internal_tls": cty.BoolVal(tc.internal), "external_tls": cty.BoolVal(tc.external)})
			if err != nil {
				t.Fatal(err)
			}
			d := res.Deployment
			if len(d.Apps) != tc.wantApps {
				t.Errorf("%d applications, want %d", len(d.Apps), tc.wantApps)
			}
			var got []string
			for _, in := range d.Integrations {
				s := in.Address
				for _, e := range in.Ends {
					if e.OfferURL != "" {
						s += " " + e.OfferURL
					} else {
						s += " " + e.Name + ":" + e.Endpoint
					}
				}
				got = append(got, s)
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("integrations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// Each offer URL an integration consumes is one the external CA's module declares.
			urls := map[string]bool{}
			for _, o := range d.Offers {
				if strings.HasPrefix(o.Address, "module.ssc.") {
					urls[o.URL] = true
				}
			}
			for _, in := range d.Integrations {
				for _, e := range in.Ends {
					if e.OfferURL != "" && !urls[e.OfferURL] {
						t.Errorf("%s consumes %s, which module.ssc does not offer", in.Address, e.OfferURL)
					}
				}
			}
		})
	}
}

func b(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// cos-lite's rule: both external offer URLs or neither.
func TestExampleExternalOffersTogether(t *testing.T) {
	dir := rootModule(t, "", edit{"examples/cos/main.tf", "external_ca_cert_offer_url      = var.external_tls ? module.ssc.offers.send-ca-cert.url : null", "external_ca_cert_offer_url      = null"})
	_, err := Evaluate(load(t, filepath.Join(dir, "examples", "cos")), nil)
	if err == nil || !strings.Contains(err.Error(), "must be supplied together") {
		t.Fatalf("got %v, want the validation error", err)
	}
}
