package terraform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/tests/artifacts"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func load(t testing.TB, dir string) *Module {
	t.Helper()
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// hclValue evaluates an HCL literal, as the tables below write values.
func hclValue(t testing.TB, src string) cty.Value {
	t.Helper()
	x, diags := hclsyntax.ParseExpression([]byte(src), "table", hclStart)
	if diags.HasErrors() {
		t.Fatalf("cannot parse %q: %v", src, diags)
	}
	v, diags := x.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("cannot evaluate %q: %v", src, diags)
	}
	return v
}

// rootModule writes a root module (main.tf = body) in a fresh directory inside a copy of terraform/ and examples/,
// so "../terraform" from it is the repository's module; files maps paths under the copy to replacements (old → new)
// applied before writing.
func rootModule(t testing.TB, body string, edits ...edit) string {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	for _, sub := range []string{"terraform", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tf") {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := string(b)
			for _, e := range edits {
				if e.file == filepath.ToSlash(rel) {
					if !strings.Contains(s, e.old) {
						t.Fatalf("%s does not contain %q", rel, e.old)
					}
					s = strings.Replace(s, e.old, e.new, 1)
				}
			}
			out := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, []byte(s), 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "root")
	if err := os.MkdirAll(main, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(main, "main.tf"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// edit replaces old with new in file (a path relative to the repository root).
type edit struct{ file, old, new string }

// charmMeta is the part of a metadata.yaml the tests compare with.
type charmMeta struct {
	Name      string                    `yaml:"name"`
	Provides  map[string]map[string]any `yaml:"provides"`
	Requires  map[string]map[string]any `yaml:"requires"`
	Resources map[string]map[string]any `yaml:"resources"`
}

func readMeta(t testing.TB, path string) *charmMeta {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m charmMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// charmOptions reads config.yaml's options: name → type and default.
func charmOptions(t testing.TB, path string) map[string]struct {
	Type    string `yaml:"type"`
	Default any    `yaml:"default"`
} {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Options map[string]struct {
			Type    string `yaml:"type"`
			Default any    `yaml:"default"`
		} `yaml:"options"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Options
}
