package hooktool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
)

// scripted answers each tool from a table and records every call.
type scripted struct {
	out   map[string]string // "tool args..." -> stdout
	err   map[string]error
	calls []string
	argv  [][]string
	stdin []string
}

func (s *scripted) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	key := strings.TrimSpace(tool + " " + strings.Join(args, " "))
	s.calls = append(s.calls, key)
	s.argv = append(s.argv, args)
	s.stdin = append(s.stdin, string(stdin))
	if err, ok := s.err[key]; ok {
		return nil, err
	}
	return []byte(s.out[key]), nil
}

func TestReadsAreCachedPerHook(t *testing.T) {
	r := &scripted{out: map[string]string{
		"is-leader --format=json":                                 "true",
		"config-get --format=json":                                `{"a":"b","n":3}`,
		"relation-ids certificates --format=json":                 `["certificates:10","certificates:2"]`,
		"relation-list -r certificates:2 --format=json":           `["x/0","x/1"]`,
		"relation-get -r certificates:2 - x/0 --format=json":      `{"k":"v"}`,
		"relation-get -r certificates:2 --app - me --format=json": `{"mine":"1"}`,
	}}
	hc := New(Env{UnitName: "me/0"}, r)
	for range 3 {
		if ok, err := hc.IsLeader(); err != nil || !ok {
			t.Fatalf("IsLeader = %v, %v", ok, err)
		}
		if cfg, err := hc.Config(); err != nil || cfg["a"] != "b" {
			t.Fatalf("Config = %v, %v", cfg, err)
		}
		ids, err := hc.RelationIDs("certificates")
		if err != nil || strings.Join(ids, ",") != "certificates:2,certificates:10" {
			t.Fatalf("RelationIDs = %v, %v (want numeric order)", ids, err)
		}
		if u, err := hc.RelationUnits("certificates:2"); err != nil || len(u) != 2 {
			t.Fatalf("RelationUnits = %v, %v", u, err)
		}
		if bag, err := hc.UnitData("certificates:2", "x/0"); err != nil || bag["k"] != "v" {
			t.Fatalf("UnitData = %v, %v", bag, err)
		}
	}
	if got := len(r.calls); got != 5 {
		t.Fatalf("ran %d tools for 5 distinct reads: %v", got, r.calls)
	}
	// A write updates the cached bag: later reads see it without another call, as Juju's reads do.
	if _, err := hc.AppData("certificates:2", "me"); err != nil {
		t.Fatal(err)
	}
	if err := hc.SetAppData("certificates:2", map[string]string{"mine": "", "new": "x"}); err != nil {
		t.Fatal(err)
	}
	bag, _ := hc.AppData("certificates:2", "me")
	if _, ok := bag["mine"]; ok || bag["new"] != "x" {
		t.Fatalf("after write, bag = %v", bag)
	}
	if got := r.calls[len(r.calls)-1]; got != "relation-set -r certificates:2 --app mine= new=x" || r.stdin[len(r.stdin)-1] != "" {
		t.Fatalf("relation-set ran as %q with stdin %q", got, r.stdin[len(r.stdin)-1])
	}
	if c := hc.Calls(); c["relation-get"] != 2 || c["relation-set"] != 1 || c["is-leader"] != 1 {
		t.Fatalf("Calls = %v", c)
	}
}

func TestSentinelErrors(t *testing.T) {
	tests := []struct {
		stderr string
		want   error
	}{
		{"ERROR relation not found", ErrRelationNotFound},
		{`ERROR secret "abc" not found`, ErrNotFound},
		{`ERROR consumer label "x" not found`, ErrNotFound},
		{"ERROR this unit is not the leader", ErrNotLeader},
		{"ERROR permission denied", ErrPermission},
		{"ERROR cannot write relation settings", ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.stderr, func(t *testing.T) {
			r := &scripted{err: map[string]error{"secret-get --label x --format=json": &ToolError{Tool: "secret-get", ExitCode: 1, Stderr: tt.stderr}}}
			_, err := New(Env{}, r).GetSecret(GetSecretOptions{Label: "x"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v is not %v", err, tt.want)
			}
		})
	}
}

// TestExecRunner runs real processes: a tool script on PATH, its exit code and stderr, and the per-call timeout.
func TestExecRunner(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("is-leader", `echo true`)
	write("secret-get", `echo 'ERROR secret "x" not found' >&2; exit 1`)
	write("status-set", `sleep 5`)
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))

	hc := New(Env{}, ExecRunner{Timeout: 200 * time.Millisecond})
	if ok, err := hc.IsLeader(); err != nil || !ok {
		t.Fatalf("IsLeader = %v, %v", ok, err)
	}
	if _, err := hc.GetSecret(GetSecretOptions{Label: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSecret error = %v", err)
	}
	start := time.Now()
	if err := hc.SetStatus(StatusActive, "x"); err == nil {
		t.Fatal("a hanging tool did not time out")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestSecretContentNeverInArgv(t *testing.T) {
	r := &scripted{out: map[string]string{}}
	hc := New(Env{}, r)
	if _, err := hc.AddSecret(map[string]string{"private-key": "SECRET-PEM"}, &AddSecretOptions{Label: "l"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.calls {
		if strings.Contains(c, "SECRET-PEM") {
			t.Fatalf("secret content in argv: %q", c)
		}
	}
}

func TestEnv(t *testing.T) {
	env := map[string]string{"JUJU_DISPATCH_PATH": "actions/get-ca-certificate", "JUJU_UNIT_NAME": "tls-authority/2"}
	e := EnvFrom(func(k string) string { return env[k] })
	if !e.IsAction() || e.ActionName != "get-ca-certificate" || e.AppName() != "tls-authority" || e.ContainersDir != "/charm/containers" {
		t.Fatalf("EnvFrom = %+v", e)
	}
	if RelationNumber("certificates:12") != 12 || RelationNumber("7") != 7 || RelationNumber("x") != -1 {
		t.Fatal("RelationNumber")
	}
}

func TestRemoteAppFromUnitNames(t *testing.T) {
	r := &scripted{out: map[string]string{"relation-list -r certificates:4 --format=json": `["req-7/0","req-7/12"]`}}
	hc := New(Env{}, r)
	if _, err := hc.RelationUnits("certificates:4"); err != nil {
		t.Fatal(err)
	}
	if app, err := hc.RemoteApp("certificates:4"); err != nil || app != "req-7" {
		t.Fatalf("RemoteApp = %q, %v", app, err)
	}
	if len(r.calls) != 1 {
		t.Fatalf("calls = %v: the app name comes from the unit names", r.calls)
	}
}

// TestRelationSetForms checks when relation-set gets key=value arguments and when the settings go through
// --file - on stdin: values of any size or content must arrive untouched.
func TestRelationSetForms(t *testing.T) {
	big := strings.Repeat("x", maxSettingArgs)
	tests := []struct {
		name      string
		data      map[string]string
		wantCall  string
		wantStdin string
	}{
		{"small", map[string]string{"b": "2\n-----BEGIN X-----", "a": ""}, "relation-set -r r:1 a= b=2\n-----BEGIN X-----", ""},
		{"equals in value", map[string]string{"a": "x=y"}, "relation-set -r r:1 a=x=y", ""},
		{"too big", map[string]string{"a": big}, "relation-set -r r:1 --file -", `{"a":"` + big + `"}`},
		{"NUL in value", map[string]string{"a": "x\x00y"}, "relation-set -r r:1 --file -", `{"a":"x\u0000y"}`},
		{"equals in key", map[string]string{"a=b": "c"}, "relation-set -r r:1 --file -", `{"a=b":"c"}`},
		{"dash key", map[string]string{"-a": "c"}, "relation-set -r r:1 --file -", `{"-a":"c"}`},
		// Juju trims key=value arguments (juju/utils keyvalues.Parse): a PEM's final newline would be lost.
		{"trailing newline", map[string]string{"a": "PEM\n"}, "relation-set -r r:1 --file -", `{"a":"PEM\n"}`},
		{"leading space", map[string]string{"a": " x"}, "relation-set -r r:1 --file -", `{"a":" x"}`},
		{"spaced key", map[string]string{"a ": "x"}, "relation-set -r r:1 --file -", `{"a ":"x"}`},
		// The bound is on the whole command line, not each value.
		{"total too big", map[string]string{"a": big[:maxSettingArgs/2], "b": big[:maxSettingArgs/2]}, "relation-set -r r:1 --file -",
			`{"a":"` + big[:maxSettingArgs/2] + `","b":"` + big[:maxSettingArgs/2] + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scripted{}
			if err := New(Env{UnitName: "me/0"}, r).SetUnitData("r:1", tt.data); err != nil {
				t.Fatal(err)
			}
			if len(r.calls) != 1 || r.calls[0] != tt.wantCall || r.stdin[0] != tt.wantStdin {
				t.Fatalf("ran %q with stdin %.80q, want %q with %.80q", r.calls, r.stdin, tt.wantCall, tt.wantStdin)
			}
		})
	}
}

// TestRelationSetReadsBackAsJujuReadsIt decodes every call as Juju's relation-set would (hooktooltest follows
// jujuc relation-set.go) and checks the bag is exactly what the charm meant, for values that stress both forms.
func TestRelationSetReadsBackAsJujuReadsIt(t *testing.T) {
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	for _, data := range []map[string]string{
		{"ca": pem, "chain": "[" + `"` + pem + `"` + "]"},
		{"a": "  both  ", "b": "\t", "c": "x"},
		{"html": "<a & b>", "unicode": "é\u2028ü", "ctl": "\x01\x7f", "yamlish": "- item\nkey: value", "bool": "yes", "num": "010"},
		{"big": strings.Repeat("y", maxSettingArgs), "small": "z"},
		{"deleted": "", "kept": "v"},
	} {
		r := &scripted{}
		if err := New(Env{UnitName: "me/0"}, r).SetUnitData("r:1", data); err != nil {
			t.Fatal(err)
		}
		got, err := hooktooltest.RelationSetData(r.argv[0], []byte(r.stdin[0]))
		if err != nil {
			t.Fatalf("%v: %v", data, err)
		}
		if !reflect.DeepEqual(got, data) {
			t.Errorf("Juju would read\n%q\nfor\n%q", got, data)
		}
	}
}

func TestMessagesFitOneArgument(t *testing.T) {
	r := &scripted{}
	hc := New(Env{UnitName: "me/0"}, r)
	long := strings.Repeat("é", MaxMessage) // two bytes each: the cut falls inside one
	if err := hc.Log(LevelInfo, "%s", long); err != nil {
		t.Fatal(err)
	}
	if err := hc.SetStatus(StatusBlocked, long); err != nil {
		t.Fatal(err)
	}
	if err := hc.SetStatus(StatusActive, "-r looks like an option"); err != nil {
		t.Fatal(err)
	}
	for i, prefix := range []string{"juju-log --log-level INFO -- ", "status-set -- blocked "} {
		msg, ok := strings.CutPrefix(r.calls[i], prefix)
		if !ok {
			t.Fatalf("call %q, want prefix %q", r.calls[i][:40], prefix)
		}
		if len(msg) > MaxMessage || !strings.HasSuffix(msg, truncatedMark) || !utf8.ValidString(msg) {
			t.Errorf("%s: %d bytes, valid UTF-8 %v, suffix %q", prefix, len(msg), utf8.ValidString(msg), msg[len(msg)-20:])
		}
	}
	if r.calls[2] != "status-set -- active -r looks like an option" {
		t.Errorf("got %q", r.calls[2])
	}
	if got := messageArg("short"); got != "short" {
		t.Errorf("short message changed: %q", got)
	}
}

// lockedRunner is scripted for tools run side by side.
type lockedRunner struct {
	mu sync.Mutex
	s  scripted
}

func (l *lockedRunner) Run(ctx context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Run(ctx, tool, args, stdin)
}

func TestPrefetchRelationIDs(t *testing.T) {
	r := &lockedRunner{s: scripted{
		out: map[string]string{
			"relation-ids a --format=json": `["a:3","a:1"]`,
			"relation-ids b --format=json": `[]`,
		},
		err: map[string]error{"relation-ids c --format=json": errors.New("boom")},
	}}
	hc := New(Env{UnitName: "me/0"}, r)
	hc.PrefetchRelationIDs("a", "b", "c")
	if got := len(r.s.calls); got != 3 {
		t.Fatalf("prefetch ran %d tools, want 3: %v", got, r.s.calls)
	}
	if ids, err := hc.RelationIDs("a"); err != nil || strings.Join(ids, ",") != "a:1,a:3" {
		t.Errorf("RelationIDs(a) = %v, %v", ids, err)
	}
	if ids, err := hc.RelationIDs("b"); err != nil || len(ids) != 0 {
		t.Errorf("RelationIDs(b) = %v, %v", ids, err)
	}
	// A failed listing is not kept: asked for, it runs (and fails) again.
	if _, err := hc.RelationIDs("c"); err == nil {
		t.Error("RelationIDs(c) did not fail")
	}
	if got := len(r.s.calls); got != 4 {
		t.Errorf("ran %d tools, want 4 (the prefetch's 3 and c again): %v", got, r.s.calls)
	}
}

// secretFileRunner is secret-add and secret-set as Juju runs them: it reads the --file the hook names, and records
// its path, mode and directory.
type secretFileRunner struct {
	path    string
	mode    os.FileMode
	dirMode os.FileMode
	content string
}

func (r *secretFileRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	for i, a := range args {
		if a == "--file" && i+1 < len(args) {
			r.path = args[i+1]
			st, err := os.Stat(r.path)
			if err != nil {
				return nil, err
			}
			dst, err := os.Stat(filepath.Dir(r.path))
			if err != nil {
				return nil, err
			}
			b, _ := os.ReadFile(r.path)
			r.mode, r.dirMode, r.content = st.Mode().Perm(), dst.Mode().Perm(), string(b)
		}
	}
	if tool == "secret-add" {
		return []byte("secret://model/abc\n"), nil
	}
	return nil, nil
}

// TestStaleSecretFileRemoved: secret-add and secret-set read the content from a 0600 file in the charm's own 0700
// directory, removed once they return; a file left there by a hook killed inside the tool (its content a CA key) is
// removed at the start of the next hook, with no hook-tool call.
func TestStaleSecretFileRemoved(t *testing.T) {
	charmDir := t.TempDir()
	env := Env{UnitName: "tls-authority/0", CharmDir: charmDir}
	for _, tool := range []string{"secret-add", "secret-set"} {
		r := &secretFileRunner{}
		hc := New(env, r)
		content := map[string]string{"private-key": "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"}
		var err error
		if tool == "secret-add" {
			_, err = hc.AddSecret(content, &AddSecretOptions{Label: "ca"})
		} else {
			err = hc.SetSecret("secret://model/abc", content, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(r.path) != filepath.Join(charmDir, secretDirName) || r.mode != 0o600 || r.dirMode != 0o700 ||
			!strings.Contains(r.content, "PRIVATE KEY") {
			t.Fatalf("%s read %s (mode %v, directory %v): want a 0600 file in %s/%s (0700)", tool, r.path, r.mode, r.dirMode, charmDir, secretDirName)
		}
		if _, err := os.Stat(r.path); !os.IsNotExist(err) {
			t.Fatalf("%s: the content file is still there after the call: %v", tool, err)
		}
	}
	// A hook killed inside secret-add left its file.
	stale := filepath.Join(charmDir, secretDirName, "secret-123.json")
	if err := os.WriteFile(stale, []byte(`{"private-key":"KEY"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &scripted{}
	hc := New(env, r)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("the next hook's start left the stale content file: %v", err)
	}
	if len(r.calls) != 0 || len(hc.Calls()) != 0 {
		t.Fatalf("the cleanup ran hook tools: %v", r.calls)
	}
	// No charm directory (a test's hook): nothing to clean, the system's temporary directory is used.
	if New(Env{}, r).SecretDir() != "" {
		t.Fatal("a secret directory without a charm directory")
	}
}

// TestSecretGetParseErrorHidesContent: secret-get output that does not parse (a truncated answer, a tool that
// printed something else) gives an error that says what failed and how long the output was, and holds nothing of
// the output, which is a secret's content.
func TestSecretGetParseErrorHidesContent(t *testing.T) {
	const key = "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZuZkUvOeQ5HuXqMW8y5xPDUoAoGCCqGSM49"
	for _, out := range []string{
		`{"private-key":"-----BEGIN EC PRIVATE KEY-----\n` + key, // truncated
		`{"private-key": 1234567890123456789}`,                   // a number where a string was expected
		`["` + key + `"]`,                                        // not an object
		`-----BEGIN EC PRIVATE KEY-----` + key,                   // not JSON at all
		`{"private-key":"` + key + `"} trailing`,
	} {
		r := &scripted{out: map[string]string{"secret-get --label ca --format=json": out}}
		_, err := New(Env{}, r).GetSecret(GetSecretOptions{Label: "ca"})
		if err == nil {
			t.Fatalf("%q parsed", out)
		}
		msg := err.Error()
		for _, leak := range []string{key[:8], "1234567890", "BEGIN", "trailing"} {
			if strings.Contains(msg, leak) {
				t.Errorf("the error echoes the secret's content (%q): %s", leak, msg)
			}
		}
		if !strings.Contains(msg, "cannot parse secret-get output") || !strings.Contains(msg, fmt.Sprintf("(%d bytes)", len(out))) {
			t.Errorf("the error does not say what failed and the output's length: %s", msg)
		}
	}
}
