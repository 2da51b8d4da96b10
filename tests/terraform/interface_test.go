package terraform

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"
)

// runOn is the base charmcraft.yaml packs the charm for, as Juju names it (ubuntu@24.04).
func runOn(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// charmcraft 3/4 for a non-legacy base: `base: ubuntu@24.04` (tests/packaging holds the file to that).
	var c struct {
		Base string `yaml:"base"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Base == "" {
		t.Fatalf("charmcraft.yaml names no base")
	}
	return c.Base
}

var hclStart = hcl.InitialPos

// sscVariables is self-signed-certificates' module interface, read from canonical/self-signed-certificates-operator
// at df04ad32b488b20942a9db02fb061ac5b55c9c04 (2026-06-03), terraform/variables.tf: name, type, default (HCL).
var sscVariables = []struct{ name, typ, def string }{
	{"app_name", "string", `"self-signed-certificates"`},
	{"channel", "string", `"1/stable"`},
	{"config", "map(string)", `{}`},
	{"constraints", "string", `"arch=amd64"`},
	{"model_uuid", "string", `""`},
	{"revision", "number", `null`},
	{"base", "string", `"ubuntu@24.04"`},
	{"units", "number", `1`},
}

// sscOutputs is the same commit's terraform/outputs.tf: each output and, for the maps, their keys. offers' values are
// whole juju_offer objects.
var sscOutputs = map[string][]string{
	"app_name": nil,
	"requires": {"tracing"},
	"provides": {"certificates", "send-ca-cert"},
	"offers":   {"certificates", "send-ca-cert"},
}

// sscOffers is the same commit's terraform/main.tf: each juju_offer's name and endpoints.
var sscOffers = map[string][]string{
	"certificates": {"certificates"},
	"send-ca-cert": {"send-ca-cert"},
}

func TestModuleVariablesAreSelfSignedCertificates(t *testing.T) {
	m := load(t, filepath.Join(repoRoot(t), "terraform"))
	var want []string
	for _, v := range sscVariables {
		want = append(want, v.name)
		got := m.Variables[v.name]
		if got == nil {
			t.Errorf("variable %q is missing", v.name)
			continue
		}
		if s := typeexpr.TypeString(got.Type); s != v.typ {
			t.Errorf("variable %q: type %s, want %s", v.name, s, v.typ)
		}
		if got.Default == nil {
			t.Errorf("variable %q has no default, want %s", v.name, v.def)
			continue
		}
		wantDef := hclValue(t, v.def)
		if !wantDef.IsNull() {
			var err error
			if wantDef, err = convertTo(got, wantDef); err != nil {
				t.Fatal(err)
			}
		}
		if !got.Default.RawEquals(wantDef) && !(got.Default.IsNull() && wantDef.IsNull()) {
			t.Errorf("variable %q: default %#v, want %s", v.name, *got.Default, v.def)
		}
		if got.Description == "" {
			t.Errorf("variable %q has no description", v.name)
		}
	}
	have := sortedKeys(m.Variables)
	sort.Strings(want)
	if strings.Join(have, ",") != strings.Join(want, ",") {
		t.Errorf("variables %v, want exactly %v", have, want)
	}
	if p := m.Providers["juju"]; p.Source != "juju/juju" || p.Version != ">= 1.0" {
		t.Errorf("required provider juju = %+v, want juju/juju >= 1.0 as self-signed-certificates", p)
	}
}

// The module is used the way a root module uses self-signed-certificates': every output the COS modules read has
// its name and shape, with tls-authority's endpoints.
func TestModuleOutputs(t *testing.T) {
	root := repoRoot(t)
	meta := readMeta(t, filepath.Join(root, "metadata.yaml"))
	m := load(t, filepath.Join(root, "terraform"))
	if got, want := strings.Join(sortedKeys(m.Outputs), ","), strings.Join(sortedKeys(sscOutputs), ","); got != want {
		t.Errorf("outputs %s, want exactly %s", got, want)
	}
	dir := rootModule(t, `
resource "juju_model" "pki" { name = "pki" }
module "ssc" {
  source     = "../terraform"
  model_uuid = juju_model.pki.uuid
}
output "all" { value = module.ssc }
output "url" { value = module.ssc.offers.certificates.url }
output "transfer_url" { value = module.ssc.offers.send-ca-cert.url }
`)
	res, err := Evaluate(load(t, filepath.Join(dir, "root")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["url"].AsString(); got != "admin/pki.certificates" {
		t.Errorf("module.ssc.offers.certificates.url = %q, want admin/pki.certificates", got)
	}
	if got := res.Outputs["transfer_url"].AsString(); got != "admin/pki.send-ca-cert" {
		t.Errorf("module.ssc.offers.send-ca-cert.url = %q, want admin/pki.send-ca-cert", got)
	}
	all := res.Outputs["all"]
	if got := all.GetAttr("app_name").AsString(); got != "self-signed-certificates" {
		t.Errorf("app_name = %q, want the app_name default", got)
	}
	for _, out := range []string{"provides", "requires"} {
		eps := meta.Provides
		if out == "requires" {
			eps = meta.Requires
		}
		v := all.GetAttr(out)
		for it := v.ElementIterator(); it.Next(); {
			k, ep := it.Element()
			if k.AsString() != ep.AsString() || eps[ep.AsString()] == nil {
				t.Errorf("%s.%s = %q: not a %s endpoint of metadata.yaml of the same name", out, k.AsString(), ep.AsString(), out)
			}
		}
		for ep := range eps {
			if !v.Type().HasAttribute(ep) {
				t.Errorf("%s has no key %q (metadata.yaml %s it)", out, ep, out)
			}
		}
	}
	// requires.tracing too: a root module that wires self-signed-certificates' to Tempo keeps working.
	for _, out := range []string{"provides", "requires"} {
		for _, k := range sscOutputs[out] {
			if !all.GetAttr(out).Type().HasAttribute(k) {
				t.Errorf("%s has no %q, which self-signed-certificates' has", out, k)
			}
		}
	}
	offers := all.GetAttr("offers")
	for _, k := range sscOutputs["offers"] {
		if !offers.Type().HasAttribute(k) {
			t.Errorf("offers has no %q", k)
			continue
		}
		o := offers.GetAttr(k)
		// A whole juju_offer: every attribute of the provider's schema.
		for _, a := range []string{"id", "name", "application_name", "endpoints", "model_uuid", "url"} {
			if !o.Type().HasAttribute(a) {
				t.Errorf("offers.%s has no attribute %q: not a whole juju_offer", k, a)
			}
		}
		var eps []string
		for it := o.GetAttr("endpoints").ElementIterator(); it.Next(); {
			_, ep := it.Element()
			eps = append(eps, ep.AsString())
		}
		if o.GetAttr("name").AsString() != k || strings.Join(eps, ",") != strings.Join(sscOffers[k], ",") {
			t.Errorf("offers.%s: name %q endpoints %v, want %q %v", k, o.GetAttr("name").AsString(), eps, k, sscOffers[k])
		}
		if o.GetAttr("application_name").AsString() != "self-signed-certificates" {
			t.Errorf("offers.%s offers %q, not the application", k, o.GetAttr("application_name").AsString())
		}
	}
	app := res.Deployment.Apps[0]
	base := runOn(t, filepath.Join(root, "charmcraft.yaml"))
	if app.Charm.Name != meta.Name || app.Charm.Base != base || app.Trust {
		t.Errorf("application %+v: want charm %s on %s (charmcraft.yaml's run-on) without trust", app, meta.Name, base)
	}
}

// Where tls-authority's module deliberately differs (COS.md): it scales, so any units >= 1 is accepted, and
// nothing else; self-signed-certificates accepts only 1.
func TestModuleUnitsValidation(t *testing.T) {
	for _, tc := range []struct {
		units   string
		wantErr string
	}{
		{"1", ""},
		{"3", ""},
		{"0", "units must be at least 1"},
		{"-1", "units must be at least 1"},
	} {
		t.Run(tc.units, func(t *testing.T) {
			dir := rootModule(t, `
resource "juju_model" "pki" { name = "pki" }
module "ssc" {
  source     = "../terraform"
  model_uuid = juju_model.pki.uuid
  units      = `+tc.units+`
}
`)
			res, err := Evaluate(load(t, filepath.Join(dir, "root")), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Deployment.Apps[0].Units; cty.NumberIntVal(int64(got)).Equals(hclValue(t, tc.units)).False() {
				t.Errorf("units %d, want %s", got, tc.units)
			}
		})
	}
}

// Every .tf file under terraform/ and examples/ parses, and is formatted as hclwrite formats it (the formatter
// under terraform fmt).
func TestFilesParseAndAreFormatted(t *testing.T) {
	root := repoRoot(t)
	dirs := map[string]bool{}
	for _, sub := range []string{"terraform", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tf") {
				dirs[filepath.Dir(p)] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("only %d module directories: %v", len(dirs), dirs)
	}
	for _, dir := range sortedKeys(dirs) {
		for _, f := range load(t, dir).Files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := hclwrite.Format(src); string(got) != string(src) {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s is not formatted; formatted:\n%s", rel, got)
			}
		}
	}
}
