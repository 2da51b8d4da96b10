package tlscertificates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
)

// fakeModel is the little of Juju a requirer hook touches: one relation
// between the requirer app "myapp" and "provider", databags, leadership and
// secrets with owners. It answers hook tools as Juju prints them.
type fakeModel struct {
	relID   string   // "certificates:3"
	leader  string   // unit name
	units   []string // requirer units
	bags    map[string]map[string]string
	secrets map[string]map[string]string // owner + "\x00" + label -> content
	nextID  int
}

func newFakeModel(units ...string) *fakeModel {
	if len(units) == 0 {
		units = []string{"myapp/0"}
	}
	m := &fakeModel{relID: "certificates:3", leader: units[0], units: units,
		bags: map[string]map[string]string{}, secrets: map[string]map[string]string{}}
	for _, n := range append(slices.Clone(units), "myapp", "provider", "provider/0") {
		m.bags[n] = map[string]string{}
	}
	return m
}

// hook returns a hook context for unit, whose tool calls land in m.
func (m *fakeModel) hook(unit string) (*hooktool.Context, *fakeRunner) {
	r := &fakeRunner{m: m, unit: unit}
	env := hooktool.Env{UnitName: unit, HookName: "update-status", ModelName: "test"}
	return hooktool.New(env, r), r
}

type fakeRunner struct {
	m     *fakeModel
	unit  string
	calls []string
}

func notFound(tool string) error {
	return &hooktool.ToolError{Tool: tool, ExitCode: 1, Stderr: "ERROR secret not found"}
}

func (r *fakeRunner) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	r.calls = append(r.calls, tool)
	m := r.m
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	app := slices.Contains(args, "--app")
	switch tool {
	case "is-leader":
		return json.Marshal(r.unit == m.leader)
	case "relation-ids":
		if m.relID == "" {
			return []byte("[]"), nil
		}
		return json.Marshal([]string{m.relID})
	case "relation-list":
		if app {
			return json.Marshal("provider")
		}
		return json.Marshal([]string{"provider/0"})
	case "relation-get":
		name := args[len(args)-2]
		if name == "myapp" && r.unit != m.leader {
			return nil, &hooktool.ToolError{Tool: tool, ExitCode: 1, Stderr: "ERROR permission denied"}
		}
		bag, ok := m.bags[name]
		if !ok {
			return nil, fmt.Errorf("unknown databag %q", name)
		}
		return json.Marshal(bag)
	case "relation-set":
		name := r.unit
		if app {
			if r.unit != m.leader {
				return nil, &hooktool.ToolError{Tool: tool, ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
			}
			name = "myapp"
		}
		data, err := hooktooltest.RelationSetData(args, stdin)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			if v == "" {
				delete(m.bags[name], k)
			} else {
				m.bags[name][k] = v
			}
		}
		return nil, nil
	case "secret-get":
		label := flag("--label")
		for _, owner := range []string{r.unit, "myapp"} {
			if c, ok := m.secrets[owner+"\x00"+label]; ok {
				return json.Marshal(c)
			}
		}
		return nil, notFound(tool)
	case "secret-add":
		owner := r.unit
		if flag("--owner") != "unit" {
			if r.unit != m.leader {
				return nil, &hooktool.ToolError{Tool: tool, ExitCode: 1, Stderr: "ERROR this unit is not the leader"}
			}
			owner = "myapp"
		}
		data, err := os.ReadFile(flag("--file"))
		if err != nil {
			return nil, err
		}
		var content map[string]string
		if err := json.Unmarshal(data, &content); err != nil {
			return nil, err
		}
		m.secrets[owner+"\x00"+flag("--label")] = content
		m.nextID++
		return []byte(fmt.Sprintf("secret:fake%d\n", m.nextID)), nil
	case "juju-log":
		return nil, nil
	}
	return nil, fmt.Errorf("fake Juju has no %s", tool)
}

// reqFixture is a fixture file of ../../shared/fixtures (copied to testdata).
type reqFixture struct {
	Meta     json.RawMessage `json:"meta"`
	Databags struct {
		App  map[string]string `json:"app"`
		Unit map[string]string `json:"unit"`
	} `json:"databags"`
}

func readReqFixture(t testing.TB, name string) reqFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f reqFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}
