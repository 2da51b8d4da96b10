package sim_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestActionParamsDefaultsAndResults(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a1 := unit(t, m, "a/1") // actions run on any unit, leader or not
	res, err := a1.RunAction("echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "status", res.Status, "completed")
	eq(t, "defaults", toString(res.Results["message"])+" "+toString(res.Results["count"]), "hello 1")
	eq(t, "return-code", toString(res.Results["return-code"]), "0")
	eq(t, "logs", res.Logs, []string{"echoing"})
	res, _ = a1.RunAction("echo", map[string]any{"message": "hi", "count": 3})
	eq(t, "given", toString(res.Results["message"])+" "+toString(res.Results["count"]), "hi 3")
	h := a1.Hooks()[len(a1.Hooks())-1]
	eq(t, "record", h.Kind+" "+h.Name, "action echo")
}

func TestActionEnvironment(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	out := sh(t, unit(t, m, "a/0"), `echo "$JUJU_ACTION_NAME $JUJU_ACTION_UUID $JUJU_ACTION_TAG $JUJU_DISPATCH_PATH hook=[$JUJU_HOOK_NAME]"`)
	eq(t, "env", out, "run 1 action-1 actions/run hook=[]")
}

func TestActionValidationFailsBeforeRunning(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	n := len(a0.Hooks())
	res, err := a0.RunAction("echo", map[string]any{"bogus": 1})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "unknown param", res.Status, "failed")
	if !strings.Contains(res.Message, `additional property "bogus" is not allowed`) {
		t.Errorf("message %q", res.Message)
	}
	res, _ = a0.RunAction("set", map[string]any{"relation": "db"})
	eq(t, "missing required", res.Status+" "+res.Message, "failed validation failed: (root) : data is required")
	res, _ = a0.RunAction("echo", map[string]any{"count": "three"})
	eq(t, "wrong type", res.Status, "failed")
	if len(a0.Hooks()) != n {
		t.Error("an invalid action must not run")
	}
	if _, err := a0.RunAction("nope", nil); err == nil {
		t.Error("undefined action accepted")
	}
}

func TestActionFail(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	_ = s
	res, _ := a0.RunAction("fail", map[string]any{"message": "nope"})
	eq(t, "action-fail", res.Status+": "+res.Message, "failed: nope")
	res, _ = a0.RunAction("fail", nil)
	eq(t, "default message", res.Message, "action failed without reason given, check action for errors")
	// action-fail keeps the hook's writes; a non-zero exit drops them but leaves the unit healthy.
	res, _ = a0.RunAction("run", map[string]any{"cmd": "relation-set -r db:2 kept=yes; action-set k=v; action-fail why"})
	eq(t, "fail keeps writes", r.UnitData("a/0")["kept"]+" "+toString(res.Results["k"]), "yes v")
	res, _ = a0.RunAction("run", map[string]any{"cmd": "relation-set -r db:2 dropped=yes; action-set k=v; exit 3"})
	eq(t, "exit 3", res.Status+": "+res.Message, "failed: exit status 3")
	if _, ok := r.UnitData("a/0")["dropped"]; ok {
		t.Error("non-zero exit must drop writes")
	}
	if _, ok := res.Results["k"]; ok {
		t.Error("non-zero exit must drop results")
	}
	eq(t, "unit healthy", a0.AgentStatus().String(), "idle")
}

func TestActionSetKeys(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	// Init errors (action-set.go ActionSetCommand.Init) exit 2, and one bad argument sets nothing.
	bad := []struct{ arg, msg string }{
		{"stdout=x", `ERROR cannot set reserved action key "stdout"`},
		{"a.stderr=x", `ERROR cannot set reserved action key "stderr"`},
		{"stdout-encoding.b=x", `ERROR cannot set reserved action key "stdout-encoding"`},
		{"Bad=x", `ERROR key "Bad" must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens`},
		{"a-=x", `ERROR key "a-" must start`},
		{"a..b=x", `ERROR key "" must start`},
		{"=x", `ERROR key "" must start`},
		{"noequals", `ERROR argument "noequals" must be of the form key...=value`},
		{"--file", `ERROR option provided but not defined: --file`}, // action-set has no --file
	}
	for _, b := range bad {
		res, _ := a0.RunAction("run", map[string]any{"cmd": "action-set ok=1 '" + b.arg + "' 2>&1; echo rc=$?"})
		out := strings.TrimSpace(toString(res.Results["stdout"]))
		if !strings.HasPrefix(out, b.msg) || !strings.HasSuffix(out, "\nrc=2") {
			t.Errorf("action-set %q: %q, want %q and rc=2", b.arg, out, b.msg)
		}
		if _, ok := res.Results["ok"]; ok {
			t.Errorf("action-set %q set ok=1 before failing", b.arg)
		}
	}
	res, _ := a0.RunAction("run", map[string]any{"cmd": "action-set a.b=1 a.c=2 top=x 5-o-0.x=y v=' a=b '"})
	eq(t, "nested", toString(res.Results["a"]), "map[b:1 c:2]")
	eq(t, "digits and hyphens", toString(res.Results["5-o-0"]), "map[x:y]")
	eq(t, "value untrimmed", res.Results["v"], " a=b ")
	// Later calls merge into the results; a key given again is replaced, a value by a map and back
	// (context.go UpdateActionResults, addValueToMap).
	res, _ = a0.RunAction("run", map[string]any{"cmd": "action-set m=1 k=v; action-set m.x=2 k=w; action-set n.y=1; action-set n=3"})
	eq(t, "merged", toString(res.Results["m"])+" "+toString(res.Results["k"])+" "+toString(res.Results["n"]), "map[x:2] w 3")
	eq(t, "action-get json", sh(t, a0, "action-get --format=json"), `{"cmd":"action-get --format=json"}`)
	eq(t, "action-get missing", sh(t, a0, "action-get nope --format=json"), "null")
}

// TestActionSetArgumentLimit: action-set has no --file, so a result travels in one argument, and the kernel refuses an
// argument over 128 KiB (MAX_ARG_STRLEN) before jujuc runs: a charm must split a long result into several keys.
func TestActionSetArgumentLimit(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	fill := `v=$(head -c %d /dev/zero | tr '\0' x); action-set big="$v" 2>/dev/null; echo rc=$?`
	res, _ := a0.RunAction("run", map[string]any{"cmd": fmt.Sprintf(fill, 120<<10)})
	eq(t, "120 KiB", strings.TrimSpace(toString(res.Results["stdout"])), "rc=0")
	eq(t, "120 KiB set", len(toString(res.Results["big"])), 120<<10)
	res, _ = a0.RunAction("run", map[string]any{"cmd": fmt.Sprintf(fill, 128<<10)})
	if out := strings.TrimSpace(toString(res.Results["stdout"])); out != "rc=126" {
		t.Errorf("an argument of 128 KiB + 4 went through: %q", out)
	}
	if _, ok := res.Results["big"]; ok {
		t.Error("an over-long argument was set")
	}
}
