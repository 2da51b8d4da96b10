package docs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goSources is the text of the non-test Go files of a package directory.
func goSources(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		rel, _ := filepath.Rel(root, f)
		out[rel] = readFile(t, rel)
	}
	return out
}

var (
	// statusSet is a status the charm sets with a literal message: setUnitStatus(hooktool.StatusWaiting, "...").
	statusSet = regexp.MustCompile(`hooktool\.Status(Blocked|Waiting|Maintenance|Error)\s*,\s*"((?:[^"\\]|\\.)*)"`)
	// statusStaged is a message staged in the peer databag for the status (the intermediate's waits).
	statusStaged = regexp.MustCompile(`state\[peer\w*Waiting\]\s*=\s*"((?:[^"\\]|\\.)*)"`)
	// statusFormat is a message made with Sprintf where a status is (the issuer's refusal).
	statusFormat = regexp.MustCompile(`fmt\.Sprintf\("(waiting for [^"]*)"`)
	// formatVerb is a Sprintf verb: in the reference it stands for any text.
	formatVerb = regexp.MustCompile(`%[-+# 0]*[0-9]*[vsdqx]`)
)

// statusMessages are the messages of the Blocked, Waiting and Maintenance statuses the charm sets, each the
// literal text (with <...> for a formatted part) the reference must hold.
func statusMessages(t *testing.T) map[string]string {
	t.Helper()
	msgs := map[string]string{}
	for file, src := range goSources(t, "charm") {
		for _, m := range statusSet.FindAllStringSubmatch(src, -1) {
			msgs[m[2]] = file
		}
		for _, m := range statusStaged.FindAllStringSubmatch(src, -1) {
			msgs[m[1]] = file
		}
		for _, m := range statusFormat.FindAllStringSubmatch(src, -1) {
			msgs[m[1]] = file
		}
	}
	return msgs
}

// inReference: the reference holds the message, a Sprintf verb in it matching any text.
func inReference(ref, msg string) bool {
	parts := formatVerb.Split(msg, -1)
	var re strings.Builder
	for i, p := range parts {
		if i > 0 {
			re.WriteString(`.*?`)
		}
		re.WriteString(regexp.QuoteMeta(p))
	}
	return regexp.MustCompile(re.String()).MatchString(ref)
}

// TestEveryStatusInTheReference: every Blocked and Waiting message the charm sets is in
// docs/reference/statuses.md (with its meaning) and in docs/how-to/troubleshoot.md (with what to do).
func TestEveryStatusInTheReference(t *testing.T) {
	msgs := statusMessages(t)
	if len(msgs) < 7 {
		t.Fatalf("found %d status messages in charm/: the patterns lost them (%v)", len(msgs), msgs)
	}
	for _, doc := range []string{"docs/reference/statuses.md", "docs/how-to/troubleshoot.md"} {
		ref := readFile(t, doc)
		var missing []string
		for m, file := range msgs {
			if !inReference(ref, m) {
				missing = append(missing, m+" (set in "+file+")")
			}
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s does not hold the status %q", doc, m)
		}
	}
	// The Blocked status of a bad config names each bad option: every option check's message is in the reference.
	ref := readFile(t, "docs/reference/statuses.md")
	for _, m := range regexp.MustCompile(`problems\["([a-z-]+)"\]\s*=`).FindAllStringSubmatch(readFile(t, "charm/config.go"), -1) {
		if !strings.Contains(ref, "`"+m[1]+"`") {
			t.Errorf("docs/reference/statuses.md does not name the option %s, whose check can block the charm", m[1])
		}
	}
}

func TestInReference(t *testing.T) {
	ref := "Waiting `waiting for issuer: <parent> refused the CA request (juju config <app> allow-ca-requests=true)`"
	if !inReference(ref, "waiting for issuer: %s refused the CA request (juju config %s %s=true)") {
		t.Error("a formatted message is not matched")
	}
	if inReference(ref, "waiting for the leader to create the CA") {
		t.Error("a message the reference does not hold is matched")
	}
}

// TestEveryMetricAndAlertInTheReference: every metric the agent defines and every alert rule the charm ships is in
// docs/reference/metrics.md.
func TestEveryMetricAndAlertInTheReference(t *testing.T) {
	ref := readFile(t, "docs/reference/metrics.md")
	n := 0
	for _, src := range goSources(t, "agent") {
		for _, m := range regexp.MustCompile(`prometheus\.NewDesc\("([a-z_]+)"`).FindAllStringSubmatch(src, -1) {
			n++
			if !strings.Contains(ref, m[1]) {
				t.Errorf("docs/reference/metrics.md does not hold the metric %s", m[1])
			}
		}
	}
	rules, err := filepath.Glob(filepath.Join(root, "src", "prometheus_alert_rules", "*.rule"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rules {
		rel, _ := filepath.Rel(root, f)
		for _, m := range regexp.MustCompile(`alert:\s*(\w+)`).FindAllStringSubmatch(readFile(t, rel), -1) {
			n++
			if !strings.Contains(ref, m[1]) {
				t.Errorf("docs/reference/metrics.md does not hold the alert %s", m[1])
			}
		}
	}
	if n < 10 {
		t.Fatalf("found %d metrics and alerts: the patterns lost them", n)
	}
}

// TestEveryEndpointAndRouteInTheReference: every endpoint of metadata.yaml is in docs/reference/endpoints.md, and
// every route the agent serves in docs/reference/agent.md.
func TestEveryEndpointAndRouteInTheReference(t *testing.T) {
	ch := readCharm(t, root)
	ref := readFile(t, "docs/reference/endpoints.md")
	for ep := range ch.endpoints {
		if !strings.Contains(ref, "`"+ep+"`") {
			t.Errorf("docs/reference/endpoints.md does not hold the endpoint %s", ep)
		}
	}
	agentRef := readFile(t, "docs/reference/agent.md")
	n := 0
	for _, src := range goSources(t, "agent") {
		for _, m := range regexp.MustCompile(`"GET (/[^"]*)"|\{"(/[^"]*)",\s*\w+File,`).FindAllStringSubmatch(src, -1) {
			n++
			route := m[1] + m[2]
			if !strings.Contains(agentRef, "`"+route+"`") {
				t.Errorf("docs/reference/agent.md does not hold the route %s", route)
			}
		}
	}
	if n < 5 {
		t.Fatalf("found %d routes: the pattern lost them", n)
	}
}

// pendingDocs are pages other branches write, linked from here before they land: a link to one passes while it
// is missing. Remove an entry once its page is merged.
var pendingDocs = map[string]string{}

// TestLinksLeadToFiles: every relative link of the documents leads to a file or directory of the repository.
func TestLinksLeadToFiles(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	inlineCode := regexp.MustCompile("`[^`]*`")
	for _, f := range docFiles(t) {
		text := readFile(t, f)
		// Links inside code blocks are code, not links.
		var prose []string
		in := false
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				in = !in
				continue
			}
			if !in {
				prose = append(prose, inlineCode.ReplaceAllString(l, ""))
			}
		}
		for _, m := range link.FindAllStringSubmatch(strings.Join(prose, "\n"), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if a, ok := strings.CutPrefix(target, "#"); ok {
				if strings.HasSuffix(f, ".md") && !headingAnchors(text)[a] {
					t.Errorf("%s: the link %s names no heading of its own page", f, m[1])
				}
				continue
			}
			target, anchor, _ := strings.Cut(target, "#")
			p := filepath.Join(root, filepath.Dir(f), target)
			rel, _ := filepath.Rel(root, p)
			if _, pending := pendingDocs[filepath.ToSlash(rel)]; pending {
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: the link %s leads nowhere", f, m[1])
				continue
			}
			if anchor != "" && strings.HasSuffix(target, ".md") && !headingAnchors(readFile(t, rel))[anchor] {
				t.Errorf("%s: the link %s names no heading of %s", f, m[1], rel)
			}
		}
	}
}

// headingAnchors are the anchors GitHub (and Charmhub) give a Markdown file's headings: each heading lower-cased,
// code marks and punctuation dropped, spaces made dashes; a repeated heading gets -1, -2, ....
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	in := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if in || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		for i := 1; out[a]; i++ {
			a = fmt.Sprintf("%s-%d", b.String(), i)
		}
		out[a] = true
	}
	return out
}

// TestHeadingAnchors: the anchors are GitHub's, so a link to a renamed or misspelt heading fails
// TestLinksLeadToFiles.
func TestHeadingAnchors(t *testing.T) {
	text := "# Troubleshoot\n\n## Blocked: `ca-secret: <problem>; still signing`\n\n```sh\n# not a heading\n```\n" +
		"## Seen on Juju 4.1-beta2\n## A requirer gets no certificate, and the authority is Active\n## Steps\n## Steps\n"
	got := headingAnchors(text)
	for _, want := range []string{"troubleshoot", "blocked-ca-secret-problem-still-signing", "seen-on-juju-41-beta2",
		"a-requirer-gets-no-certificate-and-the-authority-is-active", "steps", "steps-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	for _, bad := range []string{"not-a-heading", "seen-on-juju-4.1-beta2", "steps-2"} {
		if got[bad] {
			t.Errorf("anchor %q should not be there", bad)
		}
	}
}

// TestNoBarePlaceholders: a placeholder such as <model> written outside code would be read as an HTML tag by
// GitHub and Charmhub and vanish from the page; in prose it goes in backticks (or is escaped, as cmd/docgen does).
func TestNoBarePlaceholders(t *testing.T) {
	tag := regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	inlineCode := regexp.MustCompile("`[^`]*`")
	for _, f := range docFiles(t) {
		in := false
		for i, l := range strings.Split(readFile(t, f), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				in = !in
				continue
			}
			if in {
				continue
			}
			if m := tag.FindString(inlineCode.ReplaceAllString(l, "")); m != "" {
				t.Errorf("%s:%d: %s outside code vanishes when rendered: put it in backticks", f, i+1, m)
			}
		}
	}
}
