package docs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root is the repository, from this package's directory (where `go test` runs it).
const root = "../.."

// charmFiles is what a charm declares, read from its metadata.yaml, config.yaml and actions.yaml.
type charmFiles struct {
	name      string
	options   map[string]bool
	actions   map[string]map[string]bool // action -> its parameters
	endpoints map[string]bool
	resources map[string]bool
}

func readCharm(t *testing.T, dir string) *charmFiles {
	t.Helper()
	var meta struct {
		Name      string         `yaml:"name"`
		Provides  map[string]any `yaml:"provides"`
		Requires  map[string]any `yaml:"requires"`
		Peers     map[string]any `yaml:"peers"`
		Resources map[string]any `yaml:"resources"`
	}
	var cfg struct {
		Options map[string]any `yaml:"options"`
	}
	var acts map[string]struct {
		Params map[string]any `yaml:"params"`
	}
	for f, v := range map[string]any{"metadata.yaml": &meta, "config.yaml": &cfg, "actions.yaml": &acts} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s/%s: %v", dir, f, err)
		}
	}
	c := &charmFiles{name: meta.Name, options: map[string]bool{}, actions: map[string]map[string]bool{}, endpoints: map[string]bool{}, resources: map[string]bool{}}
	for k := range cfg.Options {
		c.options[k] = true
	}
	for k, a := range acts {
		c.actions[k] = map[string]bool{}
		for p := range a.Params {
			c.actions[k][p] = true
		}
	}
	for _, m := range []map[string]any{meta.Provides, meta.Requires, meta.Peers} {
		for k := range m {
			c.endpoints[k] = true
		}
	}
	for k := range meta.Resources {
		c.resources[k] = true
	}
	return c
}

// docFiles are the Markdown files whose commands are checked: the README, CONTRIBUTING.md and everything under
// docs/ (the generated reference too: its commands come from actions.yaml).
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// block is a fenced code block of a Markdown file.
type block struct {
	file, lang string
	line       int // of the opening fence
	text       string
}

// shellLangs are the info strings of blocks that hold commands; a block without one is taken as commands too.
var shellLangs = map[string]bool{"": true, "sh": true, "shell": true, "bash": true, "console": true}

func fencedBlocks(t *testing.T, file string) []block {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	var cur *block
	var body []string
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				body = append(body, l)
			}
			continue
		}
		if cur == nil {
			cur = &block{file: file, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), line: i + 1}
			body = nil
			continue
		}
		cur.text = strings.Join(body, "\n")
		out = append(out, *cur)
		cur = nil
	}
	if cur != nil {
		t.Errorf("%s:%d: a code block is never closed", file, cur.line)
	}
	return out
}

// command is one shell command of a block, as words.
type command struct {
	where string // file:line
	words []string
}

// commands splits a shell block into its commands: continuation lines joined, a `$ ` prompt and comments removed,
// and each pipeline or list (|, &&, ||, ;) cut into its simple commands.
func commands(b block) []command {
	var out []command
	lines := strings.Split(b.text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		l := lines[i]
		for strings.HasSuffix(strings.TrimRight(l, " "), `\`) && i+1 < len(lines) {
			l = strings.TrimSuffix(strings.TrimRight(l, " "), `\`) + " " + lines[i+1]
			i++
		}
		l = strings.TrimPrefix(strings.TrimSpace(l), "$ ")
		var cur []string
		flush := func() {
			if len(cur) > 0 {
				out = append(out, command{where: fmt.Sprintf("%s:%d", b.file, b.line+1+start), words: cur})
			}
			cur = nil
		}
		for _, w := range shellWords(l) {
			switch w {
			case "|", "||", "&&", ";", "&":
				flush()
			default:
				cur = append(cur, w)
			}
		}
		flush()
	}
	return out
}

// shellWords splits a line as sh would, closely enough for documentation: quotes group (and are removed), an
// unquoted # starting a word starts a comment, and the operators | || && ; & are words of their own.
func shellWords(l string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	emit := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	rs := []rune(l)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			emit()
		case r == '#' && !inWord:
			emit()
			return words
		case r == '|' || r == '&' || r == ';':
			emit()
			op := string(r)
			if i+1 < len(rs) && rs[i+1] == r && r != ';' {
				op += string(r)
				i++
			}
			words = append(words, op)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	emit()
	return words
}

// jujuCall is a juju command with its flags taken out: the subcommand, its positional arguments and its flags.
type jujuCall struct {
	sub   string
	args  []string
	flags map[string][]string
}

// valueFlags are the juju flags that take a value (as the next word or after =).
var valueFlags = map[string]bool{"-m": true, "--model": true, "-n": true, "--num-units": true, "--config": true,
	"--resource": true, "--channel": true, "--base": true, "--constraints": true, "--format": true, "--wait": true,
	"--container": true, "--revision": true, "-o": true, "--output": true, "--params": true, "--to": true,
	"--storage": true, "--file": true, "--reset": true}

func parseJuju(words []string) (jujuCall, bool) {
	if len(words) < 2 || words[0] != "juju" {
		return jujuCall{}, false
	}
	c := jujuCall{sub: words[1], flags: map[string][]string{}}
	for i := 2; i < len(words); i++ {
		w := words[i]
		// juju ssh and juju exec pass what follows the target to the remote shell, flags included.
		if (c.sub == "ssh" || c.sub == "exec") && len(c.args) > 0 {
			c.args = append(c.args, w)
			continue
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name, val, hasVal := strings.Cut(w, "=")
			if !hasVal && valueFlags[name] && i+1 < len(words) {
				val, hasVal = words[i+1], true
				i++
			}
			c.flags[name] = append(c.flags[name], val)
			continue
		}
		c.args = append(c.args, w)
	}
	return c, true
}

// charmOf names the charm a deploy argument deploys: "tls-authority" for `tls-authority` and
// `./build/tls-authority_amd64.charm`, likewise for tls-requirer, else the argument.
func charmOf(arg string) string {
	base := filepath.Base(arg)
	base = strings.TrimSuffix(base, ".charm")
	if i := strings.Index(base, "_"); i > 0 && strings.HasSuffix(arg, ".charm") {
		base = base[:i]
	}
	return base
}

// appOf is the application of "app", "app/3", "app/leader", "model.app" or "app:endpoint".
func appOf(s string) string {
	s, _, _ = strings.Cut(s, ":")
	s, _, _ = strings.Cut(s, "/")
	if i := strings.LastIndex(s, "."); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// placeholder: a word the reader replaces (<app>, <unit>, $APP).
func placeholder(s string) bool { return strings.ContainsAny(s, "<>$") }

// checker checks juju commands against the charms; apps maps an application name to its charm.
type checker struct {
	charms   map[string]*charmFiles // by charm name
	apps     map[string]string      // application -> charm name, as the documents deploy them
	problems []string
}

func (c *checker) errorf(where, f string, args ...any) {
	c.problems = append(c.problems, where+": "+fmt.Sprintf(f, args...))
}

// charmFor is the charm of an application: as deployed in the documents, else tls-authority for a name the
// documents deploy tls-authority under anywhere, else nil (another charm: not checked).
func (c *checker) charmFor(app string) *charmFiles {
	ch, _ := c.knownCharm(app)
	return ch
}

// knownCharm is charmFor, and whether the documents deploy the application at all (a nil charm of a known
// application is another charm's: its commands are not checked).
func (c *checker) knownCharm(app string) (*charmFiles, bool) {
	n, ok := c.apps[app]
	return c.charms[n], ok
}

func (c *checker) checkOption(where string, ch *charmFiles, kv string) {
	k, _, _ := strings.Cut(kv, "=")
	if !placeholder(k) && !ch.options[k] {
		c.errorf(where, "%s has no config option %q", ch.name, k)
	}
}

func (c *checker) checkEndpoint(where, side string) {
	app, ep, ok := strings.Cut(side, ":")
	if !ok || placeholder(ep) {
		return
	}
	if ch := c.charmFor(appOf(app)); ch != nil {
		for _, e := range strings.Split(ep, ",") {
			if !ch.endpoints[e] {
				c.errorf(where, "%s (application %s) has no endpoint %q", ch.name, appOf(app), e)
			}
		}
	}
}

func (c *checker) check(where string, j jujuCall) {
	switch j.sub {
	case "deploy":
		if len(j.args) == 0 {
			c.errorf(where, "juju deploy without a charm")
			return
		}
		ch := c.charms[charmOf(j.args[0])]
		if ch == nil {
			return
		}
		for _, kv := range j.flags["--config"] {
			c.checkOption(where, ch, kv)
		}
		for _, r := range j.flags["--resource"] {
			if name, _, _ := strings.Cut(r, "="); !ch.resources[name] {
				c.errorf(where, "%s has no resource %q", ch.name, name)
			}
		}
	case "config":
		if len(j.args) == 0 || placeholder(j.args[0]) {
			return
		}
		ch, known := c.knownCharm(appOf(j.args[0]))
		if !known {
			c.errorf(where, "juju config on %q: no document deploys it with a charm of this repository", j.args[0])
		}
		if ch == nil {
			return
		}
		for _, kv := range j.args[1:] {
			c.checkOption(where, ch, kv)
		}
		for _, k := range j.flags["--reset"] {
			for _, o := range strings.Split(k, ",") {
				c.checkOption(where, ch, o)
			}
		}
	case "run":
		if len(j.args) < 2 || placeholder(j.args[0]) {
			return
		}
		ch, known := c.knownCharm(appOf(j.args[0]))
		if !known {
			c.errorf(where, "juju run on %q: no document deploys it with a charm of this repository", j.args[0])
		}
		if ch == nil {
			return
		}
		params, ok := ch.actions[j.args[1]]
		if !ok {
			c.errorf(where, "%s has no action %q", ch.name, j.args[1])
			return
		}
		for _, kv := range j.args[2:] {
			k, _, isParam := strings.Cut(kv, "=")
			if !isParam {
				c.errorf(where, "juju run %s: %q is not a key=value parameter", j.args[1], kv)
			} else if !params[k] && !placeholder(k) {
				c.errorf(where, "%s's action %s has no parameter %q", ch.name, j.args[1], k)
			}
		}
	case "integrate", "relate", "remove-relation":
		for _, side := range j.args {
			c.checkEndpoint(where, side)
		}
	case "offer":
		if len(j.args) > 0 {
			c.checkEndpoint(where, j.args[0])
		}
	}
}

// deployedApps reads every `juju deploy` of the documents: application name -> charm name. A name deployed with
// two different charms is an error: the checks could not tell which charm a command means.
func deployedApps(t *testing.T, cmds []command, charms map[string]*charmFiles) map[string]string {
	t.Helper()
	apps := map[string]string{}
	for _, cmd := range cmds {
		j, ok := parseJuju(cmd.words)
		if !ok || j.sub != "deploy" || len(j.args) == 0 {
			continue
		}
		ch := charmOf(j.args[0])
		app := ch
		if len(j.args) > 1 {
			app = j.args[1]
		}
		if _, ours := charms[ch]; !ours {
			ch = "other:" + ch
		}
		if prev, ok := apps[app]; ok && prev != ch {
			t.Errorf("%s: application %s deployed as %s here and as %s elsewhere: give it another name", cmd.where, app, ch, prev)
		}
		apps[app] = ch
	}
	return apps
}

// inlineCommand is a command quoted in prose: `juju ...`, `go test ...`, `go run ...` or `make ...`.
var inlineCommand = regexp.MustCompile("`((?:juju|go test|go run|make) [^`]+)`")

// inlineCommands are the commands quoted in a document's prose (outside code blocks), each as a one-line block.
func inlineCommands(t *testing.T, file string) []command {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []command
	in := false
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if in {
			continue
		}
		for _, m := range inlineCommand.FindAllStringSubmatch(l, -1) {
			out = append(out, commands(block{file: file, line: i, text: m[1]})...)
		}
	}
	return out
}

// allCommands are the commands of the documents: their shell blocks' and those quoted in their prose.
func allCommands(t *testing.T) []command {
	t.Helper()
	var cmds []command
	for _, f := range docFiles(t) {
		for _, b := range fencedBlocks(t, f) {
			if shellLangs[b.lang] {
				cmds = append(cmds, commands(b)...)
			}
		}
		cmds = append(cmds, inlineCommands(t, f)...)
	}
	return cmds
}

func ourCharms(t *testing.T) map[string]*charmFiles {
	t.Helper()
	return map[string]*charmFiles{
		"tls-authority": readCharm(t, root),
		"tls-requirer":  readCharm(t, filepath.Join(root, "tests", "requirer")),
	}
}

// TestDocCommandsNameRealThings: every juju command in the documents' shell blocks names options, actions and
// their parameters, endpoints and resources that the charm it addresses declares. An application the documents
// do not deploy is taken to be tls-authority (the documents are about it) for config and run; integrate and
// offer check only the sides whose charm is known.
func TestDocCommandsNameRealThings(t *testing.T) {
	charms := ourCharms(t)
	cmds := allCommands(t)
	apps := deployedApps(t, cmds, charms)
	if _, ok := apps["tls-authority"]; !ok {
		apps["tls-authority"] = "tls-authority"
	}
	// The charms the documents compare tls-authority with, under their default names: not checked.
	for _, other := range []string{"self-signed-certificates", "vault-k8s", "manual-tls-certificates", "lego"} {
		if _, ok := apps[other]; !ok {
			apps[other] = "other:" + other
		}
	}
	c := &checker{charms: charms, apps: apps}
	n := 0
	for _, cmd := range cmds {
		if j, ok := parseJuju(cmd.words); ok {
			c.check(cmd.where, j)
			n++
		}
	}
	for _, p := range c.problems {
		t.Error(p)
	}
	if n < 50 {
		t.Errorf("found %d juju commands in the documents: the parser lost them", n)
	}
	t.Logf("%d juju commands checked", n)
}

// TestCheckerCatchesWrongNames: each kind of wrong name in a command is reported, and the right ones are not.
func TestCheckerCatchesWrongNames(t *testing.T) {
	charms := ourCharms(t)
	doc := block{file: "x.md", line: 1, text: strings.Join([]string{
		"juju deploy tls-authority pki-ca --config allow-ca-requests=true",
		"juju deploy ./build/tls-requirer_amd64.charm web --config mode=unit --resource server-image=img",
		"juju config pki-ca allowed-domains=example.com   # a comment with juju config pki-ca nope=1",
		"juju run pki-ca/leader rotate-private-key compromised=true --format json | jq .",
		"juju integrate web:certificates pki-ca:certificates && juju offer pki-ca:certificates,send-ca-cert certs",
		"juju config pki-ca allow-ca-request=true",
		"juju run pki-ca/leader rotate-key",
		"juju run pki-ca/leader revoke-certificate serial-number=01",
		"juju integrate web:certificate pki-ca:certificates",
		"juju offer pki-ca:ca-cert certs",
		"juju deploy tls-authority --resource image=x --config ca-name=x",
		"juju config web modes=app",
		"juju run stranger/0 anything",
		"juju integrate -m m2 'my-app:certificates' \\",
		"  pki-ca:issuers",
	}, "\n")}
	cmds := commands(doc)
	c := &checker{charms: charms, apps: deployedApps(t, cmds, charms)}
	for _, cmd := range cmds {
		if j, ok := parseJuju(cmd.words); ok {
			c.check(cmd.where, j)
		}
	}
	want := []string{
		`x.md:7: tls-authority has no config option "allow-ca-request"`,
		`x.md:8: tls-authority has no action "rotate-key"`,
		`x.md:9: tls-authority's action revoke-certificate has no parameter "serial-number"`,
		`x.md:10: tls-requirer (application web) has no endpoint "certificate"`,
		`x.md:11: tls-authority (application pki-ca) has no endpoint "ca-cert"`,
		`x.md:12: tls-authority has no config option "ca-name"`,
		`x.md:12: tls-authority has no resource "image"`,
		`x.md:13: tls-requirer has no config option "modes"`,
		`x.md:14: juju run on "stranger/0": no document deploys it with a charm of this repository`,
		`x.md:15: tls-authority (application pki-ca) has no endpoint "issuers"`,
	}
	got := slices.Clone(c.problems)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// testFuncs are the names of a package directory's Test, Benchmark, Fuzz and Example functions (and of every
// package below it when recursive).
func testFuncs(t *testing.T, dir string, recursive bool) []string {
	t.Helper()
	fn := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz|Example)\w*)\(`)
	var names []string
	walk := func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && !recursive {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range fn.FindAllStringSubmatch(string(b), -1) {
				names = append(names, m[1])
			}
		}
		return nil
	}
	if err := filepath.WalkDir(dir, walk); err != nil {
		t.Fatal(err)
	}
	return names
}

// checkGoMake checks a go or make command of the documents: its packages and paths exist, its -run and -bench
// patterns select at least one function (a subtest part after "/" is not checked), its make targets exist.
func checkGoMake(t *testing.T, cmd command, targets map[string]bool) []string {
	t.Helper()
	w := cmd.words
	var problems []string
	switch {
	case len(w) >= 2 && w[0] == "make":
		for _, a := range w[1:] {
			if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
				continue
			}
			if !targets[a] {
				problems = append(problems, fmt.Sprintf("%s: make has no target %q", cmd.where, a))
			}
		}
	case len(w) >= 3 && w[0] == "go" && (w[1] == "run" || w[1] == "test"):
		var pkgs []string
		patterns := map[string]string{}
		for i := 2; i < len(w); i++ {
			a := w[i]
			if (a == "-run" || a == "-bench") && i+1 < len(w) {
				patterns[a] = w[i+1]
				i++
				continue
			}
			if strings.HasPrefix(a, "./") {
				pkgs = append(pkgs, a)
				if w[1] == "run" {
					break // the rest are the program's arguments
				}
			}
		}
		var funcs []string
		for _, p := range pkgs {
			recursive := strings.HasSuffix(p, "/...")
			dir := filepath.Join(root, strings.TrimSuffix(strings.TrimSuffix(p, "/..."), "/"))
			if _, err := os.Stat(dir); err != nil {
				problems = append(problems, fmt.Sprintf("%s: no package %s", cmd.where, p))
				continue
			}
			funcs = append(funcs, testFuncs(t, dir, recursive)...)
		}
		for flag, pat := range patterns {
			if pat == "^$" || pat == "." || placeholder(pat) {
				continue
			}
			prefix := map[string]string{"-run": "Test", "-bench": "Benchmark"}[flag]
			for _, alt := range strings.Split(pat, "|") {
				top, _, _ := strings.Cut(alt, "/")
				re, err := regexp.Compile(top)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s %q: %v", cmd.where, flag, pat, err))
					continue
				}
				found := false
				for _, f := range funcs {
					if (strings.HasPrefix(f, prefix) || (flag == "-run" && strings.HasPrefix(f, "Example"))) && re.MatchString(f) {
						found = true
						break
					}
				}
				if !found && len(pkgs) > 0 {
					problems = append(problems, fmt.Sprintf("%s: %s %q selects no function in %s", cmd.where, flag, alt, strings.Join(pkgs, " ")))
				}
			}
		}
	}
	return problems
}

func makeTargets(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_-]+):`).FindAllStringSubmatch(string(b), -1) {
		targets[m[1]] = true
	}
	return targets
}

// TestDocGoAndMakeCommandsExist: every `make` target, `go test` package and -run/-bench pattern, and `go run`
// path in the documents' shell blocks exists.
func TestDocGoAndMakeCommandsExist(t *testing.T) {
	targets := makeTargets(t)
	n := 0
	for _, cmd := range allCommands(t) {
		if len(cmd.words) > 0 && (cmd.words[0] == "make" || cmd.words[0] == "go") {
			n++
		}
		for _, p := range checkGoMake(t, cmd, targets) {
			t.Error(p)
		}
	}
	if n < 10 {
		t.Errorf("found %d go and make commands: the parser lost them", n)
	}
}

func TestCheckGoMakeCatchesWrongNames(t *testing.T) {
	targets := makeTargets(t)
	doc := block{file: "x.md", line: 1, text: strings.Join([]string{
		"make demo && make test-integration RUN=TestX",
		"go test -count=1 -run 'TestTutorial|TestDemoScenarios' ./tests/e2e/",
		"go test -run '^$' -bench ScaleStorm -benchtime 1x ./tests/bench",
		"go run ./cmd/docgen -check",
		"make juju-upp",
		"go test -run TestNoSuchTest ./tests/e2e/",
		"go test -run '^$' -bench NoSuchBench ./tests/bench",
		"go test ./no/such/package",
		"go test -run 'TestTutorial|TestGone' ./tests/e2e/",
	}, "\n")}
	var got []string
	for _, cmd := range commands(doc) {
		got = append(got, checkGoMake(t, cmd, targets)...)
	}
	want := []string{
		`x.md:10: -run "TestGone" selects no function in ./tests/e2e/`,
		`x.md:6: make has no target "juju-upp"`,
		`x.md:7: -run "TestNoSuchTest" selects no function in ./tests/e2e/`,
		`x.md:8: -bench "NoSuchBench" selects no function in ./tests/bench`,
		`x.md:9: no package ./no/such/package`,
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
