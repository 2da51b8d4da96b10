package docs_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

// The tutorial and the scenario that runs it.
const (
	tutorialDoc      = "docs/tutorial/getting-started.md"
	tutorialScenario = "tests/scenarios/tutorial.yaml"
)

// scenarioDocs are the documents whose juju commands are the steps of a scenario `make test` runs, so that what
// they tell the operator to type is what a test deployed and checked.
var scenarioDocs = []struct{ doc, scenario, test string }{
	{tutorialDoc, tutorialScenario, "tests/e2e TestTutorial"},
	{"docs/how-to/multi-model-reference-architecture.md", "tests/scenarios/multimodel-intermediate.yaml", "tests/e2e TestMultiModelReferenceArchitecture"},
}

// tutorialIgnored are the juju commands of a document that change nothing the scenario models: reading status,
// the update-status interval (the scenario runs update-status as a step), cleaning up.
var tutorialIgnored = map[string]bool{"status": true, "model-config": true, "destroy-model": true, "debug-log": true}

// canonicalSettings writes key=value settings in one order.
func canonicalSettings(kv map[string]string) string {
	var parts []string
	for k, v := range kv {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// stepOfCommand is the scenario step a tutorial command is, as a string both sides can be compared by; "" for a
// command the scenario has no step for (tutorialIgnored), and an error for one the tutorial should not hold.
func stepOfCommand(j jujuCall) (string, error) {
	settings := func(words []string) (string, error) {
		kv := map[string]string{}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return "", fmt.Errorf("%q is not key=value", w)
			}
			kv[k] = v
		}
		return canonicalSettings(kv), nil
	}
	switch {
	case tutorialIgnored[j.sub]:
		return "", nil
	case j.sub == "add-model" && len(j.args) == 1:
		return "model " + j.args[0], nil
	case j.sub == "deploy" && len(j.args) >= 1:
		ch := charmOf(j.args[0])
		app := ch
		if len(j.args) > 1 {
			app = j.args[1]
		}
		units := "1"
		if n := j.flags["-n"]; len(n) > 0 {
			units = n[len(n)-1]
		}
		cfg, err := settings(j.flags["--config"])
		return fmt.Sprintf("deploy %s charm=%s units=%s config=%s", app, ch, units, cfg), err
	case j.sub == "integrate" && len(j.args) == 2:
		sides := []string{j.args[0], j.args[1]}
		sort.Strings(sides)
		return "integrate " + strings.Join(sides, " "), nil
	case j.sub == "config" && len(j.args) >= 2:
		cfg, err := settings(j.args[1:])
		return "config " + j.args[0] + " " + cfg, err
	case j.sub == "run" && len(j.args) >= 2:
		p, err := settings(j.args[2:])
		return fmt.Sprintf("action %s %s %s", appOf(j.args[0]), j.args[1], p), err
	case j.sub == "offer" && len(j.args) >= 1:
		app, eps, _ := strings.Cut(j.args[0], ":")
		app = appOf(app)
		name := app
		if len(j.args) > 1 {
			name = j.args[1]
		}
		return fmt.Sprintf("offer %s %s %s", app, eps, name), nil
	case j.sub == "consume" && len(j.args) >= 1:
		// admin/<model>.<offer> [alias]
		_, url, _ := strings.Cut(j.args[0], "/")
		model, offer, _ := strings.Cut(url, ".")
		alias := offer
		if len(j.args) > 1 {
			alias = j.args[1]
		}
		return fmt.Sprintf("consume %s %s %s", model, offer, alias), nil
	case j.sub == "ssh" && len(j.args) >= 2 && len(j.flags["--container"]) == 1:
		cmd := strings.Join(j.args[1:], " ")
		if len(j.args) == 4 && j.args[1] == "sh" && j.args[2] == "-c" {
			cmd = j.args[3]
		}
		return fmt.Sprintf("exec %s %s %s", j.args[0], j.flags["--container"][0], cmd), nil
	}
	return "", fmt.Errorf("juju %s %s: the scenario has no step for it (add one to the tutorial's mapping, or leave it out)", j.sub, strings.Join(j.args, " "))
}

// stepOfScenario is a scenario step as stepOfCommand writes it, and whether the operator takes it (a model,
// deploy, integrate, config, offer or consume step): the document must hold every such step. Actions, execs and
// recorded certificates may be checks of the scenario's own; the document's `juju run` and `juju ssh` must be
// among them.
func stepOfScenario(st scenario.Step) (s string, operator bool) {
	str := func(v any) string { return fmt.Sprint(v) }
	switch {
	case st.Model != "":
		return "model " + st.Model, true
	case st.Deploy != nil:
		d := st.Deploy
		kv := map[string]string{}
		for k, v := range d.Config {
			kv[k] = str(v)
		}
		units := max(d.Units, 1)
		return fmt.Sprintf("deploy %s charm=%s units=%d config=%s", d.App, charmOf(d.Charm), units, canonicalSettings(kv)), true
	case st.Integrate != nil:
		sides := []string{st.Integrate.A, st.Integrate.B}
		sort.Strings(sides)
		return "integrate " + strings.Join(sides, " "), true
	case st.Config != nil:
		kv := map[string]string{}
		for k, v := range st.Config.Values {
			kv[k] = str(v)
		}
		return "config " + st.Config.App + " " + canonicalSettings(kv), true
	case st.Action != nil:
		kv := map[string]string{}
		for k, v := range st.Action.Params {
			kv[k] = str(v)
		}
		return fmt.Sprintf("action %s %s %s", appOf(st.Action.Unit), st.Action.Name, canonicalSettings(kv)), false
	case st.Certificate != nil:
		kv := map[string]string{}
		for k, v := range st.Certificate.Params {
			kv[k] = str(v)
		}
		action := st.Certificate.Action
		if action == "" {
			action = "get-certificate"
		}
		return fmt.Sprintf("action %s %s %s", appOf(st.Certificate.Unit), action, canonicalSettings(kv)), false
	case st.Offer != nil:
		name := st.Offer.Name
		if name == "" {
			name = st.Offer.App
		}
		return fmt.Sprintf("offer %s %s %s", st.Offer.App, st.Offer.Endpoint, name), true
	case st.Consume != nil:
		alias := st.Consume.Alias
		if alias == "" {
			alias = st.Consume.Offer
		}
		return fmt.Sprintf("consume %s %s %s", st.Consume.From, st.Consume.Offer, alias), true
	case st.Exec != nil:
		return fmt.Sprintf("exec %s %s %v", st.Exec.Unit, st.Exec.Container, st.Exec.Command), false
	case st.Scale != nil || st.RemoveRelation != nil || st.RemoveApp != nil || st.Leader != nil:
		return fmt.Sprintf("%+v", st), true
	}
	return "", false
}

// matchTutorial checks that the tutorial's commands are the scenario's steps: each command is a step, in the
// same order, and every step the operator takes (all but checks, settles, waits and the clock) is a command.
func matchTutorial(cmds []string, where []string, steps []scenario.Step) []string {
	var problems []string
	i := 0
	for _, st := range steps {
		s, operator := stepOfScenario(st)
		if s == "" {
			continue
		}
		if i < len(cmds) && cmds[i] == s {
			i++
			continue
		}
		if operator {
			problems = append(problems, fmt.Sprintf("the scenario's step %q is not the tutorial's next command (%s)", s, next(cmds, where, i)))
		}
	}
	for ; i < len(cmds); i++ {
		problems = append(problems, fmt.Sprintf("%s: %q is no step of the scenario (at this point or after)", where[i], cmds[i]))
	}
	return problems
}

func next(cmds, where []string, i int) string {
	if i < len(cmds) {
		return fmt.Sprintf("%s: %q", where[i], cmds[i])
	}
	return "the tutorial has no more commands"
}

func tutorialCommands(t *testing.T, file string) (cmds, where []string) {
	t.Helper()
	for _, b := range fencedBlocks(t, file) {
		if !shellLangs[b.lang] {
			continue
		}
		for _, c := range commands(b) {
			j, ok := parseJuju(c.words)
			if !ok {
				continue
			}
			s, err := stepOfCommand(j)
			if err != nil {
				t.Errorf("%s: %v", c.where, err)
				continue
			}
			if s != "" {
				cmds, where = append(cmds, s), append(where, c.where)
			}
		}
	}
	return cmds, where
}

// TestDocsAreTheirScenarios: the juju commands of the tutorial and of the reference architecture's how-to are the
// steps of the scenarios `make test` runs, so each document does what its test proves.
func TestDocsAreTheirScenarios(t *testing.T) {
	for _, d := range scenarioDocs {
		t.Run(d.doc, func(t *testing.T) {
			sc, err := scenario.Load(filepath.Join(root, d.scenario))
			if err != nil {
				t.Fatal(err)
			}
			cmds, where := tutorialCommands(t, d.doc)
			if len(cmds) < 10 {
				t.Fatalf("%s: %d commands found, want the document's", d.doc, len(cmds))
			}
			for _, p := range matchTutorial(cmds, where, sc.Steps) {
				t.Errorf("%s (run by %s): %s", d.scenario, d.test, p)
			}
		})
	}
}

// TestMatchTutorialCatchesDrift: a command changed, missing or added on either side is reported.
func TestMatchTutorialCatchesDrift(t *testing.T) {
	sc, err := scenario.Load(filepath.Join(root, tutorialScenario))
	if err != nil {
		t.Fatal(err)
	}
	cmds, where := tutorialCommands(t, tutorialDoc)
	if p := matchTutorial(cmds, where, sc.Steps); len(p) != 0 {
		t.Fatalf("the tutorial does not match to begin with: %v", p)
	}
	find := func(prefix string) int {
		for i, c := range cmds {
			if strings.HasPrefix(c, prefix) {
				return i
			}
		}
		t.Fatalf("no command %q", prefix)
		return -1
	}
	for _, c := range []struct {
		name   string
		change func(cmds, where []string) ([]string, []string)
	}{
		{"a config value changed", func(c, w []string) ([]string, []string) {
			i := find("deploy tls-authority")
			c[i] = strings.Replace(c[i], "tutorial-ca", "other-ca", 1)
			return c, w
		}},
		{"an integrate left out", func(c, w []string) ([]string, []string) {
			i := find("integrate client")
			return append(c[:i:i], c[i+1:]...), append(w[:i:i], w[i+1:]...)
		}},
		{"an action added", func(c, w []string) ([]string, []string) {
			return append(c, "action tls-authority get-crl "), append(w, "x.md:1")
		}},
		{"the rotation moved before the curl", func(c, w []string) ([]string, []string) {
			i, j := find("exec client/0 server curl"), find("action tls-authority rotate-private-key")
			c[i], c[j] = c[j], c[i]
			return c, w
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc, ww := c.change(append([]string(nil), cmds...), append([]string(nil), where...))
			if p := matchTutorial(cc, ww, sc.Steps); len(p) == 0 {
				t.Error("not reported")
			}
		})
	}
}
