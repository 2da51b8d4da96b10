package prometheusscrape

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// RulesDir is where cosl looks for a charm's alert rules, relative to the charm directory (read recursively).
const RulesDir = "src/prometheus_alert_rules"

// RuleExtensions are the file name endings cosl reads as rule files.
var RuleExtensions = []string{".rule", ".rules", ".yml", ".yaml"}

// RuleSet is alert_rules on the wire: Prometheus' rule file format.
type RuleSet struct {
	Groups []Group `json:"groups,omitempty" yaml:"groups"`
}

// Group is one rule group. A rule is kept as a generic map so that every field a rule file has goes through.
type Group struct {
	Name  string           `json:"name" yaml:"name"`
	Rules []map[string]any `json:"rules" yaml:"rules"`
}

// RuleFile is one rule file of a charm.
type RuleFile struct {
	Path string // relative to RulesDir, with "/" separators
	Data []byte
}

// IsRuleFile tells whether cosl reads a file of this name as rules.
func IsRuleFile(name string) bool {
	for _, ext := range RuleExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

var (
	topologyPlaceholder = regexp.MustCompile(`%%juju_topology%%,?`)
	alreadyQualified    = regexp.MustCompile(`_[0-9a-f]{8}_.*rules$`)
)

// ParseRuleFile reads one rule file in either of cosl's formats: Prometheus' own ("groups:"), or a single rule
// (top-level alert or record, and expr), which becomes a group named after the file.
func ParseRuleFile(data []byte, stem string) ([]Group, error) {
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("cannot parse rule file: %w", err)
	}
	top, _ = jsonable(top).(map[string]any)
	if _, ok := top["groups"]; ok {
		var rs RuleSet
		if err := yaml.Unmarshal(data, &rs); err != nil {
			return nil, fmt.Errorf("cannot parse rule groups: %w", err)
		}
		for i, g := range rs.Groups {
			for j, r := range g.Rules {
				g.Rules[j], _ = jsonable(r).(map[string]any)
			}
			if g.Name == "" {
				return nil, fmt.Errorf("cannot use rule group %d: it has no name", i)
			}
			for j, r := range g.Rules {
				if err := checkRule(r); err != nil {
					return nil, fmt.Errorf("cannot use rule %d of group %q: %w", j, g.Name, err)
				}
			}
		}
		return rs.Groups, nil
	}
	if err := checkRule(top); err != nil {
		return nil, fmt.Errorf("cannot use single-rule file: %w", err)
	}
	return []Group{{Name: stem, Rules: []map[string]any{top}}}, nil
}

// jsonable gives YAML's maps with non-string keys string keys, as Python's json.dumps does, so that every rule
// can go on the wire.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonable(e)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = jsonable(e)
		}
		return v
	}
	return v
}

func checkRule(r map[string]any) error {
	_, alert := r["alert"].(string)
	_, record := r["record"].(string)
	if alert == record {
		return fmt.Errorf("a rule needs exactly one of alert and record")
	}
	if e, ok := r["expr"].(string); !ok || strings.TrimSpace(e) == "" {
		return fmt.Errorf("a rule needs an expr")
	}
	if l, ok := r["labels"]; ok {
		if _, ok := l.(map[string]any); !ok {
			return fmt.Errorf("labels must be a map")
		}
	}
	return nil
}

// LoadRules turns a charm's rule files into alert_rules as cosl does for topology t: groups named
// <model>_<uuid8>_<app>_[<subdir>_]<name>_rules, the %%juju_topology%% placeholder removed from each expression,
// and the topology labels added to each rule without overwriting a label it has.
func LoadRules(files []RuleFile, t *Topology) (RuleSet, error) {
	sorted := append([]RuleFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var out RuleSet
	for _, f := range sorted {
		if !IsRuleFile(f.Path) {
			continue
		}
		base := path.Base(f.Path)
		stem := strings.TrimSuffix(base, path.Ext(base))
		groups, err := ParseRuleFile(f.Data, stem)
		if err != nil {
			return RuleSet{}, fmt.Errorf("cannot load %s: %w", f.Path, err)
		}
		prefix := t.Identifier() + "_"
		if dir := path.Dir(f.Path); dir != "." {
			prefix += strings.ReplaceAll(dir, "/", "_") + "_"
		}
		for _, g := range groups {
			name := g.Name
			if !alreadyQualified.MatchString(name) {
				name = prefix + name + "_rules"
			}
			ng := Group{Name: sanitize(name)}
			for _, r := range g.Rules {
				ng.Rules = append(ng.Rules, labelRule(r, t))
			}
			out.Groups = append(out.Groups, ng)
		}
	}
	return out, nil
}

func labelRule(r map[string]any, t *Topology) map[string]any {
	out := make(map[string]any, len(r)+1)
	for k, v := range r {
		out[k] = v
	}
	if e, ok := out["expr"].(string); ok {
		out["expr"] = topologyPlaceholder.ReplaceAllString(e, "")
	}
	labels := map[string]any{}
	if l, ok := r["labels"].(map[string]any); ok {
		for k, v := range l {
			labels[k] = v
		}
	}
	for k, v := range t.Labels() {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	out["labels"] = labels
	return out
}
