package sim_test

import (
	"strings"
	"testing"
)

// Each case runs one shell command in a unit (the test charm's "run" action, which commits like a hook)
// and compares its output with what Juju 3.6's hook tool prints. The Juju source each case follows is
// named in tests/sim/tools.go.

func TestRelationSetParsesArgumentsLikeJuju(t *testing.T) {
	_, m, r := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	for _, c := range []struct{ name, cmd, want string }{
		// juju/utils keyvalues.Parse(args, true): trimmed keys and values, "" skipped, no duplicates.
		{"trimmed", `relation-set -r db:2 " k = v " ""; relation-get -r db:2 --format=json k a/0`, `"v"`},
		{"duplicate key", `relation-set -r db:2 k=1 " k=2" 2>&1; echo rc=$?`, `ERROR key "k" specified more than once` + "\nrc=2"},
		{"empty key", `relation-set -r db:2 " =v" 2>&1; echo rc=$?`, `ERROR expected "key=value", got "=v"` + "\nrc=2"},
		{"no equals", `relation-set -r db:2 novalue 2>&1; echo rc=$?`, `ERROR expected "key=value", got "novalue"` + "\nrc=2"},
		{"empty value deletes", `relation-set -r db:2 gone=x; relation-set -r db:2 "gone= "; relation-get -r db:2 --format=json gone a/0`, "null"},
		// --file content is a YAML map read with yaml.v2 into strings, not trimmed; arguments win.
		{"file not trimmed", `printf 'f: "  spaced  "\n' | relation-set -r db:2 --file -; relation-get -r db:2 --format=json f a/0`, `"  spaced  "`},
		{"args override file", `printf 'x: file\ny: file\n' | relation-set -r db:2 --file - x=arg; relation-get -r db:2 x a/0; relation-get -r db:2 y a/0`, "arg\nfile"},
		{"file scalars as written", `printf 'n: 010\nt: True\nz:\n' | relation-set -r db:2 --file -; relation-get -r db:2 n a/0; relation-get -r db:2 t a/0; relation-get -r db:2 --format=json z a/0`, "010\nTrue\nnull"},
		{"file nested map", `printf 'm:\n  a: b\n' | relation-set -r db:2 --file - 2>&1; echo rc=$?`, "ERROR yaml: unmarshal errors:\n  line 2: cannot unmarshal !!map into string\nrc=1"},
		{"deprecated format", `relation-set -r db:2 --format=json w=1 2>&1; echo; echo rc=$?`, `--format flag deprecated for command "relation-set"` + "\nrc=0"},
		{"no relation", `relation-set w=1 2>&1; echo rc=$?`, "ERROR no relation id specified\nrc=2"},
	} {
		eq(t, c.name, sh(t, a0, c.cmd), c.want)
	}
	d := r.UnitData("a/0")
	eq(t, "committed trimmed", d["k"], "v")
	eq(t, "committed untrimmed file value", d["f"], "  spaced  ")
	if _, ok := d["gone"]; ok {
		t.Errorf("an empty value must delete the key: %v", d)
	}
}

func TestRelationGetNamesLikeJuju(t *testing.T) {
	s, m, _ := twoApps(t, 2, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	sh(t, b0, "relation-set -r backend:2 --app side=b-app")
	sh(t, a0, "relation-set -r db:2 --app side=a-app; relation-set -r db:2 side=a-unit")
	settle(t, s)
	for _, c := range []struct {
		name string
		u    string
		cmd  string
		want string
	}{
		// api/agent/uniter RelationUnit.ReadSettings sends an application tag for an application name.
		{"remote app without --app", "a/0", "relation-get -r 2 side b", "b-app"},
		{"--app turns a unit into its app", "a/0", "relation-get -r 2 --app side b/0", "b-app"},
		// The leader reads its own app's name locally: without --app that is its unit bag.
		{"leader own app without --app", "a/0", "relation-set -r 2 side=pending; relation-get -r 2 side a", "pending"},
		{"leader own app with --app", "a/0", "relation-get -r 2 --app side a", "a-app"},
		{"non-leader own app", "a/1", "relation-get -r 2 side a 2>&1; echo rc=$?", "ERROR permission denied\nrc=1"},
		{"non-leader own app --app", "a/1", "relation-get -r 2 --app side a 2>&1; echo rc=$?", "ERROR permission denied\nrc=1"},
		{"unrelated app", "a/0", "relation-get -r 2 - c 2>&1; echo rc=$?", "ERROR permission denied\nrc=1"},
		{"unrelated unit", "a/0", "relation-get -r 2 - c/0 2>&1; echo rc=$?", "ERROR permission denied\nrc=1"},
		{"own peer from the db relation", "a/0", "relation-get -r 2 - a/1 2>&1; echo rc=$?", "ERROR permission denied\nrc=1"},
		{"invalid name", "a/0", "relation-get -r 2 - B_x 2>&1; echo rc=$?", `ERROR "B_x" is not a valid unit or application` + "\nrc=1"},
		{"related unit never in scope", "a/0", "relation-get -r 2 - b/7 2>&1; echo rc=$?",
			`ERROR cannot read settings for unit "b/7" in relation "b:backend a:db": unit "b/7": settings not found` + "\nrc=1"},
		{"extra argument", "a/0", "relation-get -r 2 side b/0 more 2>&1; echo rc=$?", `ERROR unrecognized args: ["more"]` + "\nrc=2"},
		{"peer app on a non-leader", "a/1", "relation-get -r peers:0 --app --format=json - a", "{}"},
	} {
		eq(t, c.name, sh(t, unit(t, m, c.u), c.cmd), c.want)
	}
	// The default target is the hook's JUJU_REMOTE_UNIT whatever -r says (jujuc relation-get.go
	// determineUnitOrAppName): in a db relation hook, reading the peer relation targets b/0.
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = db-relation-changed ]; then relation-get -r peers:0 - > peer.txt 2>&1; echo rc=$? >> peer.txt; fi`)
	sh(t, b0, "relation-set -r backend:2 poke=1")
	settle(t, s)
	eq(t, "default target ignores -r", readFile(t, a0, "peer.txt"), "ERROR permission denied\nrc=1\n")
}

func TestRelationCreatedWritesOverPrefilledBag(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	deploy(t, m, "b", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	// The uniter enters scope (EnterScope creates the bag with the addresses) before relation-created runs.
	script(t, a0, `if [ "$JUJU_HOOK_NAME" = db-relation-created ]; then relation-get - "$JUJU_UNIT_NAME" --format=json > created.json; relation-set mine=1; fi`)
	r := integrate(t, m, "a:db", "b:backend")
	settle(t, s)
	ip := m.App("a").ServiceAddress()
	eq(t, "bag seen in relation-created", readFile(t, a0, "created.json"), `{"egress-subnets":"`+ip+`/32","ingress-address":"`+ip+`","private-address":"`+ip+`"}`+"\n")
	d := r.UnitData("a/0")
	eq(t, "bag after relation-created", d, map[string]string{"egress-subnets": ip + "/32", "ingress-address": ip, "private-address": ip, "mine": "1"})
}

func TestHookToolOptionsLikeGnuflag(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	for _, c := range []struct{ name, cmd, want string }{
		{"single-dash runes", "relation-list -app 2>&1; echo rc=$?", "ERROR option provided but not defined: -a\nrc=2"},
		{"attached short value", "relation-list -r2 --app", "b"},
		{"long option value", "relation-list --relation=db:2 --app=true", "b"},
		{"bool false", "relation-list -r 2 --app=false", "b/0"},
		{"bad bool", "relation-list -r 2 --app=maybe 2>&1; echo rc=$?", `ERROR invalid value "maybe" for option --app: strconv.ParseBool: parsing "maybe": invalid syntax` + "\nrc=2"},
		{"missing value", "relation-list -r 2>&1; echo rc=$?", "ERROR option needs an argument: -r\nrc=2"},
		{"bad relation id", "relation-list -r db:x 2>&1; echo rc=$?", `ERROR invalid value "db:x" for option -r: invalid relation id` + "\nrc=2"},
		{"relation-list extra", "relation-list -r 2 b/0 2>&1; echo rc=$?", `ERROR unrecognized args: ["b/0"]` + "\nrc=2"},
		{"relation-ids extra", "relation-ids db peers 2>&1; echo rc=$?", `ERROR unrecognized args: ["peers"]` + "\nrc=2"},
		{"is-leader extra", "is-leader now 2>&1; echo rc=$?", `ERROR unrecognized args: ["now"]` + "\nrc=2"},
		{"help exits 0", "is-leader --help >/dev/null; echo rc=$?", "rc=0"},
		{"status-set usage", "status-set 2>&1; echo rc=$?", "ERROR invalid args, require <status> [message]\nrc=2"},
		{"status-set extra", "status-set active ok more 2>&1; echo rc=$?", `ERROR unrecognized args: ["more"]` + "\nrc=2"},
		{"config-get key and --all", "config-get --all script 2>&1; echo rc=$?", `ERROR cannot use argument --all together with key "script"` + "\nrc=2"},
		{"application-version-set extra", "application-version-set 1 2 2>&1; echo rc=$?", `ERROR unrecognized args: ["2"]` + "\nrc=2"},
		{"open-port extra", "open-port 80 81 2>&1; echo rc=$?", `ERROR unrecognized args: ["81"]` + "\nrc=2"},
		{"juju-log no message", "juju-log 2>&1; echo rc=$?", "ERROR no message specified\nrc=2"},
		{"juju-log deprecated format", "juju-log --format=json hi 2>&1; echo; echo rc=$?", `--format flag deprecated for command "juju-log"` + "\nrc=0"},
	} {
		eq(t, c.name, sh(t, a0, c.cmd), c.want)
	}
}

func TestOutputFormatsLikeJujuCmd(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	sh(t, a0, `printf 'ml: "one\\ntwo"\n' | relation-set -r db:2 --file -`)
	for _, c := range []struct{ name, cmd, want string }{
		// yaml.v2, as juju/cmd FormatYaml: two-space indents, literal block for multi-line strings.
		{"yaml multi-line", "relation-get -r 2 --format=yaml ml a/0", "|-\n  one\n  two"},
		{"smart map multi-line", "relation-get -r 2 - a/0 | grep -A2 '^ml'", "ml: |-\n  one\n  two"},
		{"yaml nested map", "status-get --include-data --format=yaml | grep -A1 status-data", "status-data: {}"},
		{"smart nil", "relation-get -r 2 nope a/0 | wc -c", "0"},
		{"json nil", "relation-get -r 2 --format=json nope a/0", "null"},
		{"smart bool", "is-leader", "True"},
		{"json bool", "is-leader --format=json", "true"},
		{"smart empty list", "relation-ids db --format=smart; relation-ids backend | wc -c", "db:2\n0"},
		{"json empty list", "relation-ids backend --format=json", "[]"},
	} {
		eq(t, c.name, sh(t, a0, c.cmd), c.want)
	}
	// juju-log levels as loggo.ParseLevel: WARN is WARNING, an unknown level logs at INFO.
	sh(t, a0, "juju-log -l warn careful; juju-log --log-level nope plain")
	var logs []string
	for _, h := range a0.Hooks() {
		for _, l := range h.Logs {
			if strings.HasSuffix(l, "careful") || strings.HasSuffix(l, "plain") {
				logs = append(logs, l)
			}
		}
	}
	eq(t, "juju-log levels", logs, []string{"WARNING careful", "INFO plain"})
}

func TestHookEnvironmentLikeJuju(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	// runner/context context.go HookVars and env.go ubuntuEnv build the whole environment; the shell adds PWD.
	got := sh(t, a0, "env | cut -d= -f1 | grep -v '^PWD$' | sort | tr '\\n' ' '")
	eq(t, "action env", got, "APT_LISTCHANGES_FRONTEND CHARM_DIR CLOUD_API_VERSION DEBIAN_FRONTEND JUJU_ACTION_NAME JUJU_ACTION_TAG JUJU_ACTION_UUID "+
		"JUJU_AGENT_SOCKET_ADDRESS JUJU_AGENT_SOCKET_NETWORK JUJU_API_ADDRESSES JUJU_AVAILABILITY_ZONE JUJU_CHARM_DIR JUJU_CHARM_FTP_PROXY "+
		"JUJU_CHARM_HTTPS_PROXY JUJU_CHARM_HTTP_PROXY JUJU_CHARM_NO_PROXY JUJU_CONTEXT_ID JUJU_DISPATCH_PATH JUJU_HOOK_NAME JUJU_MACHINE_ID "+
		"JUJU_MODEL_NAME JUJU_MODEL_UUID JUJU_PRINCIPAL_UNIT JUJU_SLA JUJU_UNIT_NAME JUJU_VERSION LANG PATH SIM_CONTAINERS_DIR TERM ")
	eq(t, "values", sh(t, a0, `echo "$APT_LISTCHANGES_FRONTEND $DEBIAN_FRONTEND $LANG $TERM $JUJU_DISPATCH_PATH [$JUJU_HOOK_NAME]"`),
		"none noninteractive C.UTF-8 tmux-256color actions/run []")
}

func TestHookToolArgumentLimits(t *testing.T) {
	_, m, r := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	// Each hook tool is a process: Linux refuses (E2BIG) one argument of 128 KiB or more (MAX_ARG_STRLEN
	// counts the NUL), and all arguments plus the environment over ARG_MAX. The shell reports the failed
	// exec with exit 126; the tool never runs, so nothing is written.
	gen := `big() { head -c "$1" /dev/zero | tr '\0' x; }; `
	eq(t, "largest argument", sh(t, a0, gen+`relation-set -r 2 "k=$(big $((131071-2)))"; echo rc=$?`), "rc=0")
	eq(t, "one byte more", sh(t, a0, gen+`relation-set -r 2 "k=$(big $((131072-2)))" 2>/dev/null; echo rc=$?`), "rc=126")
	eq(t, "total over ARG_MAX", sh(t, a0, gen+`v=$(big 100000); set --; n=0; while [ $n -lt $(( $(getconf ARG_MAX) / 100000 + 1 )) ]; do set -- "$@" "k$n=$v"; n=$((n+1)); done; relation-set -r 2 "$@" 2>/dev/null; echo rc=$?`), "rc=126")
	// --file - carries what no argument can.
	eq(t, "file", sh(t, a0, gen+`printf 'f: %s\n' "$(big 1048576)" | relation-set -r 2 --file -; echo rc=$?`), "rc=0")
	d := r.UnitData("a/0")
	eq(t, "sizes", []int{len(d["k"]), len(d["f"])}, []int{131071 - 2, 1048576})
}
