// Package cos tests what COS does with this authority, with the real Prometheus and promtool of Debian's prometheus
// package (`make deps` unpacks it into build/deps/prometheus): the alert rules as the charm publishes them, checked
// and unit-tested by promtool, and a real Prometheus scraping every unit's agent in the simulator with the scrape
// configuration a COS Prometheus builds from the charm's databags.
package cos

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/interfaces/prometheusscrape"
	"github.com/tls-authority/tls-authority/tests/artifacts"
)

// promBin finds a binary of Debian's prometheus package: in $PROMETHEUS_BIN_DIR, where `make deps` unpacks it, or
// on PATH.
func promBin(t testing.TB, name string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("PROMETHEUS_BIN_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if root, err := artifacts.RepoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, "build", "deps", "prometheus", "usr", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("cannot find %s: run `make deps` (it unpacks Debian's prometheus package into build/deps/prometheus)", name)
	return ""
}

// testTopology is the topology alerts_test.yml expects.
var testTopology = &prometheusscrape.Topology{Model: "cos", ModelUUID: "12345678-90ab-4def-8123-456789abcdef",
	Application: "tls-authority", Unit: "tls-authority/0", CharmName: "tls-authority"}

// charmRules reads the charm's rule files as the charm does.
func charmRules(t testing.TB) []prometheusscrape.RuleFile {
	t.Helper()
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, prometheusscrape.RulesDir)
	var files []prometheusscrape.RuleFile
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !prometheusscrape.IsRuleFile(p) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, prometheusscrape.RuleFile{Path: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("cannot read the charm's rules: %v (%d files)", err, len(files))
	}
	return files
}

// writeRules writes a rule set as a Prometheus rule file (JSON is YAML).
func writeRules(t testing.TB, path string, rs prometheusscrape.RuleSet) {
	t.Helper()
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func promtool(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promBin(t, "promtool"), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestAlertRules: the charm's rule files, and the rules as the charm publishes them (group names, topology labels),
// pass `promtool check rules`; `promtool test rules` (testdata/alerts_test.yml) shows each alert firing when it should
// and silent before and beside that.
func TestAlertRules(t *testing.T) {
	files := charmRules(t)
	root, _ := artifacts.RepoRoot()
	for _, f := range files {
		out := promtool(t, root, "check", "rules", filepath.Join(prometheusscrape.RulesDir, f.Path))
		if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool check rules %s: %s", f.Path, out)
		}
	}
	rs, err := prometheusscrape.LoadRules(files, testTopology)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "rules.yml"), rs)
	if out := promtool(t, dir, "check", "rules", "rules.yml"); !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Errorf("promtool check rules (published): %s", out)
	}
	test, err := os.ReadFile("testdata/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yml"), test, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := promtool(t, dir, "test", "rules", "alerts_test.yml"); !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
}
