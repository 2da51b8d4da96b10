package e2e

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/tls-authority/tls-authority/hooktrace/otlptest"
	"github.com/tls-authority/tls-authority/interfaces/tracing"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// TestTracing relates tls-authority to a Tempo stand-in whose otlp_http receiver is a real OTLP/HTTP server: the
// leader asks for otlp_http, every unit's hooks then arrive there as spans named after the hook, with the unit's
// topology; a steady hook makes the same hook-tool calls as without the relation; after relation-broken no hook
// sends anything.
func TestTracing(t *testing.T) {
	rcv := otlptest.New()
	defer rcv.Close()
	s := newSim(t)
	m, err := s.AddModel("obs")
	if err != nil {
		t.Fatal(err)
	}
	app := deployAuthority(t, m, "tls-authority", 2, nil)
	_, file, _, _ := runtime.Caller(0)
	if _, err := m.Deploy("tempo", filepath.Join(filepath.Dir(file), "testdata", "tempo-stand-in"), &sim.DeployOptions{Units: 1, Config: map[string]any{"url": rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	steadyCalls := func() map[string]int {
		t.Helper()
		s.UpdateStatus()
		settle(t, s)
		calls := map[string]int{}
		for _, u := range app.Units() {
			h := u.Hooks()
			r := h[len(h)-1]
			if r.Name != "update-status" || r.ExitCode != 0 {
				t.Fatalf("%s: last hook %s exit %d", u.Name(), r.Name, r.ExitCode)
			}
			calls[u.Name()] = r.Calls()
		}
		return calls
	}
	before := steadyCalls()
	if n := len(rcv.Spans()); n != 0 {
		t.Fatalf("%d spans before the relation", n)
	}
	rel, err := m.Integrate("tls-authority:tracing", "tempo:tracing")
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var asked []string
	if err := json.Unmarshal([]byte(rel.AppData("tls-authority")[tracing.KeyReceivers]), &asked); err != nil || !slices.Equal(asked, []string{"otlp_http"}) {
		t.Fatalf("tls-authority asked for %q (%v), want [\"otlp_http\"]", rel.AppData("tls-authority")[tracing.KeyReceivers], err)
	}
	mark := len(rcv.Spans())
	after := steadyCalls()
	for u, n := range after {
		if n != before[u] {
			t.Errorf("%s: update-status made %d hook-tool calls with tracing, %d without", u, n, before[u])
		}
	}
	got := map[string]bool{}
	for _, sp := range rcv.Spans()[mark:] {
		if sp.Name != "update-status" || sp.Resource["service.name"] != "tls-authority" || sp.Resource["juju_model"] != "obs" || sp.End <= sp.Start {
			t.Errorf("span %q resource %v %d..%d", sp.Name, sp.Resource, sp.Start, sp.End)
		}
		got[sp.Resource["juju_unit"]] = true
	}
	for _, u := range app.Units() {
		if !got[u.Name()] {
			t.Errorf("no update-status span from %s (spans: %+v)", u.Name(), rcv.Spans()[mark:])
		}
		for _, r := range u.Hooks() {
			if r.Stderr != "" && r.ExitCode == 0 {
				t.Logf("%s %s stderr: %s", u.Name(), r.Name, r.Stderr)
			}
		}
	}
	// The relation's own hooks were traced too, the leader's first among them once it knew the URL.
	hooks := map[string]bool{}
	for _, sp := range rcv.Spans()[:mark] {
		hooks[sp.Name] = true
	}
	if !hooks["tracing-relation-changed"] {
		t.Errorf("no tracing-relation-changed span; spans named %v", slices.Sorted(maps.Keys(hooks)))
	}
	if err := m.RemoveRelation(rel); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	mark = len(rcv.Spans())
	steadyCalls()
	if extra := rcv.Spans()[mark:]; len(extra) != 0 {
		t.Errorf("%d spans after the relation was removed: %+v", len(extra), extra)
	}
}
