// Command docgen writes the configuration and action reference (docs/reference/config.md and actions.md) from the
// charm's config.yaml and actions.yaml, in their order, so that the reference says what the charm declares and
// nothing else. Run it from the repository root after changing either file:
//
//	go run ./cmd/docgen
//
// With -check it writes nothing and exits 1 when a page differs from what it would write; its test does the same
// under `make test`. It is a tool of the repository, not part of the charm: the hook binary never imports it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// page is one generated reference page: where it goes and the charm file it is made from.
type page struct {
	out, src string
	render   func(src string, doc *yaml.Node) (string, error)
}

var pages = []page{
	{"docs/reference/config.md", "config.yaml", renderConfig},
	{"docs/reference/actions.md", "actions.yaml", renderActions},
}

func main() {
	rootDir := flag.String("root", ".", "the repository root")
	check := flag.Bool("check", false, "write nothing; exit 1 when a page is stale")
	flag.Parse()
	stale, err := run(*rootDir, *check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
	for _, p := range stale {
		if *check {
			fmt.Fprintf(os.Stderr, "docgen: %s is stale: run go run ./cmd/docgen\n", p)
		} else {
			fmt.Println("wrote", p)
		}
	}
	if *check && len(stale) > 0 {
		os.Exit(1)
	}
}

// run generates every page and returns those that differ from the files in root (written unless check).
func run(root string, check bool) ([]string, error) {
	var stale []string
	for _, p := range pages {
		want, err := generate(root, p)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(root, p.out)
		have, err := os.ReadFile(path)
		if err == nil && string(have) == want {
			continue
		}
		stale = append(stale, p.out)
		if check {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			return nil, fmt.Errorf("cannot write %s: %w", path, err)
		}
	}
	return stale, nil
}

func generate(root string, p page) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, p.src))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", p.src, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("cannot parse %s: %w", p.src, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("cannot use %s: not a YAML mapping", p.src)
	}
	return p.render(p.src, &doc)
}

// header is the top of every page: its title and where it comes from.
func header(title, src string) string {
	return fmt.Sprintf("# %s\n\n<!-- Generated from %s by `go run ./cmd/docgen`: edit %s, not this page. -->\n\n", title, src, src)
}

// lookup returns the value of key in a mapping node, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalar returns a scalar's text as the reference shows it: `value` in code, or "" when absent.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	if n.Value == "" {
		return "`\"\"`"
	}
	return "`" + n.Value + "`"
}

// htmlSafe escapes the characters Markdown renderers read as HTML: a description's "<model>" would otherwise be
// taken for a tag and vanish on GitHub and Charmhub.
var htmlSafe = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// cell makes a one-line text safe in a table cell.
func cell(s string) string {
	return strings.ReplaceAll(htmlSafe.Replace(strings.Join(strings.Fields(s), " ")), "|", `\|`)
}

// firstSentence is the summary a table shows: the description up to its first sentence's end.
func firstSentence(desc string) string {
	s := strings.Join(strings.Fields(desc), " ")
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && !strings.HasSuffix(s[:i], "e.g") && !strings.HasSuffix(s[:i], "i.e") {
			return s[:i+1]
		}
	}
	return s
}

// prose turns a description into Markdown: its lines at the least indentation are paragraphs (blank lines kept),
// and its more indented lines (commands, jq programs) a `sh` block, dedented, as the YAML author laid them out.
func prose(desc string) string {
	lines := strings.Split(strings.TrimRight(desc, "\n"), "\n")
	var b strings.Builder
	inCode := false
	for _, l := range lines {
		indented := strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")
		switch {
		case indented && !inCode:
			b.WriteString("\n```sh\n")
			inCode = true
		case !indented && inCode:
			b.WriteString("```\n\n")
			inCode = false
		}
		if inCode {
			b.WriteString(dedent(l, lines) + "\n")
		} else {
			b.WriteString(htmlSafe.Replace(l) + "\n")
		}
	}
	if inCode {
		b.WriteString("```\n")
	}
	return strings.TrimSpace(b.String()) + "\n"
}

// dedent removes from an indented line the indentation of the description's least indented indented line.
func dedent(l string, lines []string) string {
	least := -1
	for _, x := range lines {
		if strings.TrimSpace(x) == "" || !(strings.HasPrefix(x, " ") || strings.HasPrefix(x, "\t")) {
			continue
		}
		n := len(x) - len(strings.TrimLeft(x, " \t"))
		if least < 0 || n < least {
			least = n
		}
	}
	if least <= 0 || len(l) < least {
		return strings.TrimLeft(l, " \t")
	}
	return l[least:]
}

func renderConfig(src string, doc *yaml.Node) (string, error) {
	opts := lookup(doc.Content[0], "options")
	if opts == nil || opts.Kind != yaml.MappingNode {
		return "", fmt.Errorf("cannot use %s: no options mapping", src)
	}
	var b bytes.Buffer
	b.WriteString(header("Configuration reference", src))
	fmt.Fprintf(&b, "Every option of the charm, in the order of [%s](../../%s). Set one with `juju config <application> <option>=<value>`;\n", src, src)
	b.WriteString("an invalid value leaves every unit Blocked with a message naming each bad option, and nothing is issued or\n")
	b.WriteString("revoked because of it ([troubleshooting](../how-to/troubleshoot.md)).\n\n")
	b.WriteString("| option | type | default | summary |\n|---|---|---|---|\n")
	for i := 0; i+1 < len(opts.Content); i += 2 {
		name, o := opts.Content[i].Value, opts.Content[i+1]
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", name, name, lookup(o, "type").Value, cell(orNone(scalar(lookup(o, "default")))), cell(firstSentence(lookup(o, "description").Value)))
	}
	for i := 0; i+1 < len(opts.Content); i += 2 {
		name, o := opts.Content[i].Value, opts.Content[i+1]
		fmt.Fprintf(&b, "\n## %s\n\n", name)
		fmt.Fprintf(&b, "Type %s, default %s.\n\n", lookup(o, "type").Value, orNone(scalar(lookup(o, "default"))))
		b.WriteString(prose(descriptionOf(o)))
	}
	return b.String(), nil
}

func renderActions(src string, doc *yaml.Node) (string, error) {
	top := doc.Content[0]
	var b bytes.Buffer
	b.WriteString(header("Actions reference", src))
	fmt.Fprintf(&b, "Every action of the charm, in the order of [%s](../../%s). Run one on the leader with\n", src, src)
	b.WriteString("`juju run <application>/leader <action> [<param>=<value> ...]`.\n\n")
	if c := commentText(top.Content[0].HeadComment); c != "" {
		b.WriteString(c + "\n\n")
	}
	b.WriteString("| action | parameters | summary |\n|---|---|---|\n")
	for i := 0; i+1 < len(top.Content); i += 2 {
		name, a := top.Content[i].Value, top.Content[i+1]
		var params []string
		if p := lookup(a, "params"); p != nil {
			for j := 0; j+1 < len(p.Content); j += 2 {
				params = append(params, "`"+p.Content[j].Value+"`")
			}
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", name, name, orNone(strings.Join(params, ", ")), cell(firstSentence(lookup(a, "description").Value)))
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		name, a := top.Content[i].Value, top.Content[i+1]
		fmt.Fprintf(&b, "\n## %s\n\n", name)
		b.WriteString(prose(descriptionOf(a)))
		p := lookup(a, "params")
		if p == nil || len(p.Content) == 0 {
			b.WriteString("\nNo parameters.\n")
			continue
		}
		required := map[string]bool{}
		if r := lookup(a, "required"); r != nil {
			for _, n := range r.Content {
				required[n.Value] = true
			}
		}
		b.WriteString("\n| parameter | type | default | description |\n|---|---|---|---|\n")
		for j := 0; j+1 < len(p.Content); j += 2 {
			pname, pv := p.Content[j].Value, p.Content[j+1]
			typ := scalar(lookup(pv, "type"))
			typ = strings.Trim(typ, "`")
			if m := scalar(lookup(pv, "minimum")); m != "" {
				typ += ", minimum " + m
			}
			if required[pname] {
				typ += ", required"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", pname, typ, orNone(scalar(lookup(pv, "default"))), cell(descriptionOf(pv)))
		}
	}
	return b.String(), nil
}

func descriptionOf(n *yaml.Node) string {
	if d := lookup(n, "description"); d != nil {
		return d.Value
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// commentText turns a YAML comment block into plain text.
func commentText(c string) string {
	var out []string
	for _, l := range strings.Split(c, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}
