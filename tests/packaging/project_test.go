package packaging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// root is the repository, from this package's directory (where `go test` runs it).
const root = "../.."

// legacyBases are the only bases charmcraft 3 and 4 accept under `bases:` (charmcraft const.py LEGACY_BASES,
// checked by models/project.py _validate_base); every other base needs `base:` and `platforms:`. The JSON schema
// does not say so: its BasesCharm takes any name and channel.
var legacyBases = []string{"ubuntu@18.04", "ubuntu@20.04", "ubuntu@22.04", "almalinux@9"}

// pluginKeys are the part keys a plugin adds to the common ones (craft-parts plugins/go_plugin.py
// GoPluginProperties; nil and dump add none). craft-parts refuses any other key in a part (its part and plugin
// property models forbid extra fields), which the schemas leave open: rockcraft's Part and charmcraft's parts
// allow any key.
var pluginKeys = map[string][]string{
	"go":   {"go-buildtags", "go-generate"},
	"nil":  nil,
	"dump": nil,
}

func readYAML(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	return m, nil
}

func mustYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	m, err := readYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// schema compiles one of testdata/schemas.
func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("cannot parse %s: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("cannot compile %s: %v", name, err)
	}
	return s
}

// validate checks a YAML document against a schema, as JSON (what the tools' pydantic models dump the schema for).
func validate(s *jsonschema.Schema, doc map[string]any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("cannot encode as JSON: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("cannot decode JSON: %w", err)
	}
	return s.Validate(v)
}

// charmcraftProject is the project charmcraft validates: charmcraft.yaml with what it merges in from the files
// beside it before validation (charmcraft preprocess.py, called from the application's _extra_yaml_transform):
// name, summary and description from metadata.yaml (each in one file only), config.yaml as `config`, actions.yaml
// as `actions` (neither may also be in charmcraft.yaml), and the default `charm` part of a bases charm without parts.
func charmcraftProject(dir string, data map[string]any) (map[string]any, error) {
	p := make(map[string]any, len(data)+5)
	for k, v := range data {
		p[k] = v
	}
	if parts, _ := p["parts"].(map[string]any); len(parts) == 0 && p["type"] == "charm" && p["bases"] != nil {
		p["parts"] = map[string]any{"charm": map[string]any{"plugin": "charm", "source": "."}}
	}
	if meta, err := readYAML(filepath.Join(dir, "metadata.yaml")); err == nil {
		var dup []string
		for _, k := range []string{"name", "summary", "description"} {
			if _, ok := p[k]; ok {
				if _, ok := meta[k]; ok {
					dup = append(dup, k)
				}
				continue
			}
			p[k] = meta[k]
		}
		if len(dup) > 0 {
			return nil, fmt.Errorf("cannot duplicate fields of metadata.yaml in charmcraft.yaml: %s", strings.Join(dup, ", "))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, f := range []struct{ file, key string }{{"config.yaml", "config"}, {"actions.yaml", "actions"}} {
		m, err := readYAML(filepath.Join(dir, f.file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, ok := p[f.key]; ok {
			return nil, fmt.Errorf("cannot have a %q section in charmcraft.yaml when %s exists", f.key, f.file)
		}
		if len(m) > 0 {
			p[f.key] = m
		}
	}
	return p, nil
}

// longFormBases is the first step of charmcraft's _validate_base, which runs before the model validates `bases:`
// (so the schema knows the long form only): a short-form entry (name, channel) is both its build-on and run-on.
func longFormBases(p map[string]any) {
	bases, _ := p["bases"].([]any)
	for i, b := range bases {
		if entry, _ := b.(map[string]any); entry["name"] != nil {
			bases[i] = map[string]any{"build-on": []any{entry}, "run-on": []any{entry}}
		}
	}
}

// checkBases is the rest of charmcraft's _validate_base: every build-on and run-on base of `bases:` must be legacy.
func checkBases(p map[string]any) error {
	bases, ok := p["bases"].([]any)
	if !ok {
		return nil
	}
	for _, b := range bases {
		entry, _ := b.(map[string]any)
		for _, key := range []string{"build-on", "run-on"} {
			list, _ := entry[key].([]any)
			for _, x := range list {
				base, _ := x.(map[string]any)
				s := fmt.Sprintf("%v@%v", base["name"], base["channel"])
				if !slices.Contains(legacyBases, s) {
					return fmt.Errorf("cannot use base %s under bases: charmcraft requires 'platforms' for it (legacy bases: %s)",
						s, strings.Join(legacyBases, ", "))
				}
			}
		}
	}
	return nil
}

// checkPartKeys refuses a part key craft-parts would refuse: one that is neither a common part key (the
// properties of rockcraft's Part schema, which are craft-parts' PartSpec) nor one of its plugin's.
func checkPartKeys(common []string, p map[string]any) error {
	parts, _ := p["parts"].(map[string]any)
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		part, _ := parts[name].(map[string]any)
		plugin, _ := part["plugin"].(string)
		extra, known := pluginKeys[plugin]
		if !known {
			return fmt.Errorf("cannot check part %s: plugin %q is not one this project uses", name, plugin)
		}
		for k := range part {
			if !slices.Contains(common, k) && !slices.Contains(extra, k) {
				return fmt.Errorf("cannot use key %q in part %s: craft-parts knows no such key for plugin %s", k, name, plugin)
			}
		}
	}
	return nil
}

// commonPartKeys are the properties of rockcraft's Part schema.
func commonPartKeys(t *testing.T) []string {
	t.Helper()
	f, err := os.ReadFile(filepath.Join("testdata", "schemas", "rockcraft.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Part struct {
				Properties map[string]any `json:"properties"`
			} `json:"Part"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(f, &s); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range s.Defs.Part.Properties {
		keys = append(keys, k)
	}
	if len(keys) < 10 {
		t.Fatalf("rockcraft.json's Part has %d properties", len(keys))
	}
	return keys
}

// deepCopy copies a decoded YAML document, so a case can change it without changing the others'.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}

// rename moves key old to new in the map at path (a list of keys) of doc.
func rename(t *testing.T, doc map[string]any, path []string, old, new string) {
	t.Helper()
	m := doc
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("no map at %v", path)
		}
		m = next
	}
	v, ok := m[old]
	if !ok {
		t.Fatalf("no key %q at %v", old, path)
	}
	delete(m, old)
	m[new] = v
}

// TestCharmcraftYAML validates charmcraft.yaml as charmcraft 3 and 4 read it, and shows that the checks refuse what
// charmcraft refuses: the `bases:` file this repository had (ubuntu 24.04 is not a legacy base), a missing
// `platforms:`, a misspelt part key, and a field in both charmcraft.yaml and metadata.yaml.
func TestCharmcraftYAML(t *testing.T) {
	s := schema(t, "charmcraft.json")
	common := commonPartKeys(t)
	current := mustYAML(t, filepath.Join(root, "charmcraft.yaml"))
	legacy := mustYAML(t, filepath.Join("testdata", "charmcraft", "legacy-bases.yaml"))
	cases := []struct {
		name   string
		doc    map[string]any
		change func(t *testing.T, doc map[string]any)
		want   string // "" accepted; else a part of the error
	}{
		{name: "charmcraft.yaml", doc: current},
		{name: "legacy bases (the old charmcraft.yaml)", doc: legacy, want: "cannot use base ubuntu@24.04 under bases"},
		{name: "bases with a legacy base", doc: legacy, change: func(t *testing.T, d map[string]any) {
			for _, b := range d["bases"].([]any) {
				for _, k := range []string{"build-on", "run-on"} {
					for _, x := range b.(map[string]any)[k].([]any) {
						x.(map[string]any)["channel"] = "22.04"
					}
				}
			}
		}},
		{name: "short-form bases entry", doc: legacy, change: func(t *testing.T, d map[string]any) {
			d["bases"] = []any{map[string]any{"name": "ubuntu", "channel": "24.04"}}
		}, want: "cannot use base ubuntu@24.04 under bases"},
		{name: "short-form legacy bases entry", doc: legacy, change: func(t *testing.T, d map[string]any) {
			d["bases"] = []any{map[string]any{"name": "ubuntu", "channel": "22.04"}}
		}},
		{name: "no platforms", doc: current, change: func(t *testing.T, d map[string]any) { delete(d, "platforms") },
			want: "platforms"},
		{name: "unsupported base", doc: current, change: func(t *testing.T, d map[string]any) { d["base"] = "ubuntu@23.04" },
			want: "base"},
		{name: "misspelt top-level key", doc: current, change: func(t *testing.T, d map[string]any) {
			rename(t, d, nil, "platforms", "platform")
		}, want: "platform"},
		{name: "misspelt part key", doc: current, change: func(t *testing.T, d map[string]any) {
			rename(t, d, []string{"parts", "charm"}, "build-snaps", "build-snap")
		}, want: `"build-snap"`},
		{name: "summary in both files", doc: current, change: func(t *testing.T, d map[string]any) {
			d["summary"] = "twice"
		}, want: "cannot duplicate fields of metadata.yaml in charmcraft.yaml: summary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := deepCopy(c.doc).(map[string]any)
			if c.change != nil {
				c.change(t, doc)
			}
			err := checkCharmcraft(s, common, doc)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func checkCharmcraft(s *jsonschema.Schema, common []string, doc map[string]any) error {
	p, err := charmcraftProject(root, doc)
	if err != nil {
		return err
	}
	longFormBases(p)
	if err := validate(s, p); err != nil {
		return err
	}
	if err := checkBases(p); err != nil {
		return err
	}
	return checkPartKeys(common, p)
}

// rockcraftFiles are the rocks this repository builds.
var rockcraftFiles = []string{"rockcraft.yaml", "tests/requirer/server/rockcraft.yaml"}

// TestRockcraftYAML validates both rockcraft.yaml files against rockcraft's schema and craft-parts' part keys, and
// shows that misspelt keys are refused where rockcraft refuses them.
func TestRockcraftYAML(t *testing.T) {
	s := schema(t, "rockcraft.json")
	common := commonPartKeys(t)
	agent := mustYAML(t, filepath.Join(root, "rockcraft.yaml"))
	cases := []struct {
		name   string
		doc    map[string]any
		change func(t *testing.T, doc map[string]any)
		want   string
	}{
		{name: "rockcraft.yaml", doc: agent},
		{name: "tests/requirer/server/rockcraft.yaml", doc: mustYAML(t, filepath.Join(root, rockcraftFiles[1]))},
		{name: "misspelt top-level key", doc: agent, change: func(t *testing.T, d map[string]any) {
			rename(t, d, nil, "summary", "sumary")
		}, want: "sumary"},
		{name: "misspelt service key", doc: agent, change: func(t *testing.T, d map[string]any) {
			rename(t, d, []string{"services", "agent"}, "command", "comand")
		}, want: "comand"},
		{name: "misspelt part key", doc: agent, change: func(t *testing.T, d map[string]any) {
			rename(t, d, []string{"parts", "agent"}, "stage-packages", "stage-package")
		}, want: "stage-package"},
		{name: "run-user other than _daemon_", doc: agent, change: func(t *testing.T, d map[string]any) {
			d["run-user"] = "nobody"
		}, want: "run-user"},
		{name: "bases key of a charm", doc: agent, change: func(t *testing.T, d map[string]any) {
			d["bases"] = []any{map[string]any{"name": "ubuntu", "channel": "24.04"}}
		}, want: "bases"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := deepCopy(c.doc).(map[string]any)
			if c.change != nil {
				c.change(t, doc)
			}
			err := validate(s, doc)
			if err == nil {
				err = checkPartKeys(common, doc)
			}
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}
