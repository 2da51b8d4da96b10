package pack_test

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/juju/charm/v12"

	"github.com/tls-authority/tls-authority/tests/artifacts"
)

// TestPackedCharm reads the archive `make charm` writes with Juju's own charm library, as the controller would.
func TestPackedCharm(t *testing.T) {
	path, err := artifacts.Charm()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := charm.ReadCharmArchive(path)
	if err != nil {
		t.Fatalf("juju cannot read the charm: %v", err)
	}
	if f := charm.MetaFormat(ch); f != charm.FormatV2 {
		t.Fatalf("charm format = %v, want v2", f)
	}
	if err := charm.CheckMeta(ch); err != nil {
		t.Fatalf("CheckMeta: %v", err)
	}
	meta := ch.Meta()
	if meta.Name != "tls-authority" {
		t.Fatalf("name = %q", meta.Name)
	}
	if c, ok := meta.Containers["authority"]; !ok || c.Resource != "authority-image" {
		t.Fatalf("containers = %+v", meta.Containers)
	}
	if r, ok := meta.Resources["authority-image"]; !ok || r.Type.String() != "oci-image" {
		t.Fatalf("resources = %+v", meta.Resources)
	}
	endpoints := []struct {
		name, iface string
		role        charm.RelationRole
		limit       int
	}{
		{"certificates", "tls-certificates", charm.RoleProvider, 0},
		{"send-ca-cert", "certificate_transfer", charm.RoleProvider, 0},
		{"metrics-endpoint", "prometheus_scrape", charm.RoleProvider, 0},
		{"grafana-dashboard", "grafana_dashboard", charm.RoleProvider, 0},
		{"receive-ca-cert", "certificate_transfer", charm.RoleRequirer, 0},
		{"issuer", "tls-certificates", charm.RoleRequirer, 1},
		{"tracing", "tracing", charm.RoleRequirer, 1}, // as self-signed-certificates' charmcraft.yaml has it
		{"authority", "tls_authority_peers", charm.RolePeer, 0},
	}
	all := meta.CombinedRelations()
	for _, e := range endpoints {
		r, ok := all[e.name]
		if !ok || r.Interface != e.iface || r.Role != e.role || (e.limit > 0 && r.Limit != e.limit) {
			t.Errorf("endpoint %s = %+v, want %s %s limit %d", e.name, r, e.role, e.iface, e.limit)
		}
	}
	if len(all) != len(endpoints) {
		t.Errorf("charm has %d endpoints, want %d", len(all), len(endpoints))
	}
	defaults := map[string]any{
		"ca-common-name": "self-signed-certificates-operator", "root-ca-validity": "365d",
		"certificate-validity": "90d", "certificate-limit": int64(99), "ca-key-algorithm": "rsa-2048",
		"allow-ip-sans": true, "allow-wildcards": true, "allow-ca-requests": false, "crl-validity": "7d",
		"forward-received-cas": false, "allowed-domains": "",
	}
	opts := ch.Config().Options
	for k, want := range defaults {
		if got := opts[k].Default; got != want {
			t.Errorf("config %s default = %#v, want %#v", k, got, want)
		}
	}
	for _, k := range []string{"ca-organization", "ca-organizational-unit", "ca-email-address", "ca-country-name", "ca-state-or-province-name", "ca-locality-name"} {
		if o, ok := opts[k]; !ok || o.Type != "string" || o.Description == "" {
			t.Errorf("config %s = %+v", k, o)
		}
	}
	actions := ch.Actions().ActionSpecs
	for _, a := range []string{"get-ca-certificate", "get-issued-certificates", "rotate-private-key", "revoke-certificate", "get-crl"} {
		if _, ok := actions[a]; !ok {
			t.Errorf("action %s missing", a)
		}
	}
	if len(ch.Manifest().Bases) != 1 || ch.Manifest().Bases[0].Channel.Track != "24.04" {
		t.Errorf("manifest bases = %+v", ch.Manifest().Bases)
	}

	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if (f.Name == "dispatch" || f.Name == "bin/hooktrace") && f.Mode().Perm() != 0o755 {
			t.Errorf("%s mode = %v, want 0755", f.Name, f.Mode())
		}
	}
	slices.Sort(names)
	want := []string{"actions.yaml", "bin/hooktrace", "config.yaml", "dispatch", "manifest.yaml", "metadata.yaml",
		"src/grafana_dashboards/tls-authority.json", "src/prometheus_alert_rules/tls-authority.rule"}
	if !slices.Equal(names, want) {
		t.Errorf("archive holds %v, want %v", names, want)
	}
}

// TestCharmcraftYAML checks charmcraft.yaml packs the same dispatch binary (plugin go, ./hooks).
func TestCharmcraftYAML(t *testing.T) {
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "charmcraft.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: charm", "plugin: go", "./hooks", "24.04"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("charmcraft.yaml lacks %q", want)
		}
	}
}
