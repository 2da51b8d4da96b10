package terraform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The evaluator plans as Terraform would, and refuses what Terraform or the provider would refuse.
func TestEvaluate(t *testing.T) {
	const model = `resource "juju_model" "m" { name = "m" }` + "\n"
	const app = `
resource "juju_application" "a" {
  model_uuid = juju_model.m.uuid
  charm { name = "tls-authority" }
}
`
	for _, tc := range []struct {
		name, main string
		wantErr    string
		check      func(t *testing.T, r *Result)
	}{
		{name: "a required variable not set", main: `variable "x" { type = string }`, wantErr: `variable "x" of`},
		{name: "a null argument stays null", main: model + `
module "ssc" {
  source     = "../terraform"
  model_uuid = juju_model.m.uuid
  revision   = null
  app_name   = "ca"
}
output "rev" { value = module.ssc.offers.certificates.application_name }
`, check: func(t *testing.T, r *Result) {
			if r.Deployment.Apps[0].Charm.Revision != nil || r.Outputs["rev"].AsString() != "ca" {
				t.Errorf("revision %v, offer of %q", r.Deployment.Apps[0].Charm.Revision, r.Outputs["rev"].AsString())
			}
		}},
		{name: "a module argument of the wrong type", main: model + `
module "ssc" {
  source     = "../terraform"
  model_uuid = juju_model.m.uuid
  units      = "three"
}`, wantErr: `variable "units"`},
		{name: "an undeclared module argument", main: model + `
module "ssc" {
  source     = "../terraform"
  model_uuid = juju_model.m.uuid
  model      = "m"
}`, wantErr: `cannot set variable "model"`},
		{name: "a model looked up by name", main: model + `
data "juju_model" "m" { name = juju_model.m.name }
module "ssc" {
  source     = "../terraform"
  model_uuid = data.juju_model.m.uuid
}`, check: func(t *testing.T, r *Result) {
			if got := r.Deployment.ModelName(r.Deployment.Apps[0].ModelUUID); got != "m" {
				t.Errorf("deployed in %q", got)
			}
		}},
		{name: "a model that is not there", main: `data "juju_model" "m" { name = "nope" }`, wantErr: `no model named "nope"`},
		{name: "an application in no model", main: `
resource "juju_application" "a" {
  model_uuid = "0"
  charm { name = "tls-authority" }
}`, wantErr: "is no model's"},
		{name: "two instances in one model: their offers collide", main: model + `
module "one" {
  source     = "../terraform"
  model_uuid = juju_model.m.uuid
  app_name   = "one"
}
module "two" {
  source     = "../terraform"
  model_uuid = juju_model.m.uuid
  app_name   = "two"
}`, wantErr: "is already declared by"},
		{name: "a reference cycle", main: `
locals {
  a = local.b
  b = local.a
}`, wantErr: "reference cycle"},
		{name: "count.index without count", main: `locals { a = count.index }`, wantErr: "count.index outside"},
		{name: "each without for_each", main: `locals { a = each.key }`, wantErr: "each outside"},
		{name: "no charm block", main: model + `resource "juju_application" "a" { model_uuid = juju_model.m.uuid }`, wantErr: "want one charm block"},
		{name: "a required argument missing", main: model + `resource "juju_offer" "o" { model_uuid = juju_model.m.uuid }`, wantErr: `required argument "application_name"`},
		{name: "a read-only attribute set", main: model + `resource "juju_offer" "o" {
  model_uuid       = juju_model.m.uuid
  application_name = "a"
  endpoints        = ["x"]
  url              = "admin/m.x"
}`, wantErr: `"url" is read-only`},
		{name: "an integration end with offer_url and name", main: model + app + `
resource "juju_integration" "i" {
  model_uuid = juju_model.m.uuid
  application {
    name      = juju_application.a.name
    offer_url = "admin/m.x"
  }
  application {
    name     = juju_application.a.name
    endpoint = "certificates"
  }
}`, wantErr: "either offer_url, or name and endpoint"},
		{name: "a resource type the provider has not", main: `resource "juju_charm" "c" {}`, wantErr: "juju_charm is not one of"},
		{name: "a remote module", main: `module "x" { source = "git::https://example.com/x" }`, wantErr: "is not a local path"},
		{name: "Terraform's functions are not provided", main: model + app + `
resource "juju_application" "r" {
  for_each   = toset(["x"])
  model_uuid = juju_model.m.uuid
  charm { name = "tls-authority" }
}`, wantErr: "Function calls not allowed"},
		{name: "count and for_each expand", main: model + `
variable "apps" { default = { x = 2, y = 1 } }
resource "juju_application" "r" {
  for_each   = var.apps
  name       = "r-${each.key}"
  model_uuid = juju_model.m.uuid
  units      = each.value
  charm { name = "tls-authority" }
}
resource "juju_offer" "o" {
  count            = 2
  name             = "o${count.index}"
  model_uuid       = juju_model.m.uuid
  application_name = juju_application.r["x"].name
  endpoints        = ["certificates"]
}
output "urls" { value = [juju_offer.o[0].url, juju_offer.o[1].url] }
`, check: func(t *testing.T, r *Result) {
			d := r.Deployment
			if len(d.Apps) != 2 || d.Apps[0].Name != "r-x" || d.Apps[0].Units != 2 || d.Apps[1].Name != "r-y" || d.Apps[1].Units != 1 {
				t.Errorf("apps %+v %+v", d.Apps[0], d.Apps[1])
			}
			urls := r.Outputs["urls"].AsValueSlice()
			if len(d.Offers) != 2 || urls[0].AsString() != "admin/m.o0" || urls[1].AsString() != "admin/m.o1" || d.Offers[1].Application != "r-x" {
				t.Errorf("offers %v, urls %v", d.Offers, urls)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := rootModule(t, tc.main)
			m, err := Load(filepath.Join(dir, "root"))
			var r *Result
			if err == nil {
				r, err = Evaluate(m, nil)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// Load refuses what Terraform would not parse.
func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct{ src, wantErr string }{
		{`variable "x" { type = strin }`, "cannot read its type"},
		{`variable "x" {
  type    = number
  default = "a"
}`, "does not match its type"},
		{`output "o" {}`, "has no value"},
		{`resource "juju_model" "m" {
  dynamic "cloud" {
    for_each = []
    content {}
  }
}`, "dynamic blocks"},
		{`resource "a" "b" {
  count    = 1
  for_each = {}
}`, "count and for_each"},
		{`module "m" {}`, "has no source"},
		{`variable "x" {}
variable "x" {}`, "duplicate variable"},
		{`x = 1`, "unexpected top-level argument"},
		{`moved {}`, "unsupported block"},
		{`variable "x" {`, "cannot parse"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got %v, want an error with %q", tc.src, err, tc.wantErr)
		}
	}
}
