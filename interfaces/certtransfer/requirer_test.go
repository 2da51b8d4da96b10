package certtransfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/ca"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktool/hooktooltest"
	ct "github.com/tls-authority/tls-authority/interfaces/certtransfer"
)

type rqFixture struct {
	Meta     map[string]any `json:"meta"`
	Databags struct {
		App  map[string]string `json:"app"`
		Unit map[string]string `json:"unit"`
	} `json:"databags"`
}

func readRqFixture(t *testing.T, name string) rqFixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f rqFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

// subjects returns the common names of PEM certificates.
func subjects(t *testing.T, pems []string) []string {
	t.Helper()
	var out []string
	for _, p := range pems {
		c, err := ca.ParseCertificate(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Subject.CommonName)
	}
	slices.Sort(out)
	return out
}

// TestRequirerWritesVersionFixture: a leader writes exactly what the v1
// Python requirer writes, replacing a v0 requirer's "0".
func TestRequirerWritesVersionFixture(t *testing.T) {
	f := readRqFixture(t, "ct-v1p15-requirer-app.json")
	old := readRqFixture(t, "ct-v0p11-requirer-app.json")
	m := newFakeCT()
	m.bags["myapp"] = old.Databags.App
	if _, err := m.sync(t, "myapp/0"); err != nil {
		t.Fatal(err)
	}
	if !maps(m.bags["myapp"], f.Databags.App) {
		t.Fatalf("app databag %v, want %v", m.bags["myapp"], f.Databags.App)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// fakeCT is one requirer app ("myapp", leader myapp/0) with relations to
// providers "p<N>" (unit p<N>/0) on receive-ca-cert.
type fakeCT struct {
	rels   []int
	leader string
	bags   map[string]map[string]string // "myapp", "myapp/0", "p3", "p3/0" (relation N's provider is pN)
	calls  []string
	hook   string
	relID  string
}

func newFakeCT(rels ...int) *fakeCT {
	if len(rels) == 0 {
		rels = []int{3}
	}
	m := &fakeCT{rels: rels, leader: "myapp/0", bags: map[string]map[string]string{"myapp": {}}}
	for _, n := range rels {
		m.bags[fmt.Sprintf("p%d", n)] = map[string]string{}
		m.bags[fmt.Sprintf("p%d/0", n)] = map[string]string{}
	}
	return m
}

func (m *fakeCT) sync(t *testing.T, unit string) (*ct.Received, error) {
	t.Helper()
	m.calls = nil
	env := hooktool.Env{UnitName: unit, HookName: m.hook, RelationID: m.relID}
	return ct.NewRequirer(hooktool.New(env, &fakeCTRunner{m: m, unit: unit}), "").Sync()
}

type fakeCTRunner struct {
	m    *fakeCT
	unit string
}

func (r *fakeCTRunner) Run(_ context.Context, tool string, args []string, stdin []byte) ([]byte, error) {
	m := r.m
	m.calls = append(m.calls, tool)
	rel := func() int {
		return hooktool.RelationNumber(args[slices.Index(args, "-r")+1])
	}
	switch tool {
	case "is-leader":
		return json.Marshal(r.unit == m.leader)
	case "relation-ids":
		var ids []string
		for _, n := range m.rels {
			ids = append(ids, fmt.Sprintf("receive-ca-cert:%d", n))
		}
		return json.Marshal(ids)
	case "relation-list":
		if slices.Contains(args, "--app") {
			return json.Marshal(fmt.Sprintf("p%d", rel()))
		}
		return json.Marshal([]string{fmt.Sprintf("p%d/0", rel())})
	case "relation-get":
		name := args[len(args)-2]
		return json.Marshal(m.bags[name])
	case "relation-set":
		if r.unit != m.leader {
			return nil, &hooktool.ToolError{Tool: tool, ExitCode: 1, Stderr: "ERROR cannot write relation settings"}
		}
		data, err := hooktooltest.RelationSetData(args, stdin)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			m.bags["myapp"][k] = v
		}
		return nil, nil
	}
	return nil, fmt.Errorf("fake Juju has no %s", tool)
}

// TestRequirerSync: version announced once, v1 preferred over v0, v0
// fallback, several relations, a broken relation's CAs gone, a steady hook
// writes nothing.
func TestRequirerSync(t *testing.T) {
	v1 := readRqFixture(t, "ct-v1p15-provider-app.json")
	v0 := readRqFixture(t, "ct-v0p11-provider-unit.json")
	fallback := readRqFixture(t, "ct-v1p15-provider-v0-fallback-unit.json")
	m := newFakeCT(3, 5)
	m.bags["p3"] = v1.Databags.App
	m.bags["p3/0"] = v0.Databags.Unit // ignored: the app databag has certificates
	m.bags["p5/0"] = v0.Databags.Unit

	got, err := m.sync(t, "myapp/0")
	if err != nil {
		t.Fatal(err)
	}
	if m.bags["myapp"]["version"] != "1" || !slices.Contains(m.calls, "relation-set") {
		t.Fatalf("version not announced: %v", m.bags["myapp"])
	}
	if s := subjects(t, got.ByRelation["receive-ca-cert:3"]); !slices.Equal(s, []string{"Fixture Root CA A", "Fixture Root CA B"}) {
		t.Errorf("relation 3: %v", s)
	}
	if s := subjects(t, got.ByRelation["receive-ca-cert:5"]); !slices.Equal(s, []string{"Fixture Root CA A"}) {
		t.Errorf("relation 5: %v", s)
	}
	if len(got.All()) != 2 || len(got.Named()) != 3 {
		t.Errorf("All %d, Named %v", len(got.All()), keys(got.Named()))
	}
	if _, ok := got.Named()["p5-5-0"]; !ok {
		t.Errorf("Named %v", keys(got.Named()))
	}

	// Steady: nothing written.
	if _, err := m.sync(t, "myapp/0"); err != nil || slices.Contains(m.calls, "relation-set") {
		t.Fatalf("steady hook: %v %v", err, m.calls)
	}
	t.Logf("hook-tool calls of a steady leader hook with 2 relations: %d %v", len(m.calls), m.calls)

	// A non-leader reads and writes nothing of its own app.
	m.bags["p5/0"] = fallback.Databags.Unit
	got, err = m.sync(t, "myapp/1")
	if err != nil || slices.Contains(m.calls, "relation-set") {
		t.Fatalf("non-leader: %v %v", err, m.calls)
	}
	if s := subjects(t, got.ByRelation["receive-ca-cert:5"]); len(s) != 2 {
		t.Errorf("v0 fallback from a v1 provider: %v", s)
	}

	// Relation 5 being broken: its CAs are gone.
	m.hook, m.relID = "receive-ca-cert-relation-broken", "receive-ca-cert:5"
	got, err = m.sync(t, "myapp/0")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.ByRelation["receive-ca-cert:5"]; ok || len(got.ByRelation) != 1 {
		t.Errorf("broken relation still read: %v", keys(got.Named()))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRequirerReadsProviderFixtures reads every provider fixture through
// Sync and gets the CAs the Python requirers got; the v0 library's leaf is
// left out of the trust set.
func TestRequirerReadsProviderFixtures(t *testing.T) {
	both := []string{"Fixture Root CA A", "Fixture Root CA B"}
	tests := []struct {
		file string
		want []string
	}{
		{"ct-v1p15-provider-app.json", both},
		{"ct-v1p15-provider-v0-fallback-unit.json", both},
		{"ct-v0p11-provider-unit.json", []string{"Fixture Root CA A"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f := readRqFixture(t, tt.file)
			m := newFakeCT()
			m.bags["p3"], m.bags["p3/0"] = f.Databags.App, f.Databags.Unit
			got, err := m.sync(t, "myapp/0")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Problems) != 0 {
				t.Errorf("problems %v", got.Problems)
			}
			if s := subjects(t, got.All()); !slices.Equal(s, tt.want) {
				t.Errorf("CAs %v, want %v", s, tt.want)
			}
			for _, p := range got.All() {
				if strings.HasSuffix(p, "\n") {
					t.Error("PEM with a trailing newline")
				}
			}
		})
	}
}

func TestRequirerBadRemoteData(t *testing.T) {
	f := readRqFixture(t, "ct-v1p15-provider-app.json")
	m := newFakeCT()
	m.bags["p3"] = map[string]string{"certificates": `["junk"]`}
	m.bags["p3/0"] = map[string]string{"ca": "nope", "chain": "{"}
	got, err := m.sync(t, "myapp/0")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.All()) != 0 || len(got.Problems) < 2 {
		t.Fatalf("CAs %d problems %v", len(got.All()), got.Problems)
	}
	m.bags["p3"] = f.Databags.App
	if got, err = m.sync(t, "myapp/0"); err != nil || len(got.All()) != 2 {
		t.Fatalf("%v %d", err, len(got.All()))
	}
}
