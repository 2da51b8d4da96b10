package charm

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

// idsRunner answers relation-ids from a fixed list per endpoint and counts the calls.
type idsRunner struct {
	ids   map[string][]string
	calls int
}

func (f *idsRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	f.calls++
	if tool != "relation-ids" {
		return nil, fmt.Errorf("unexpected %s %v", tool, args)
	}
	ep := ""
	for _, a := range args {
		if a != "--format=json" && a != "--format" && a != "json" {
			ep = a
		}
	}
	return json.Marshal(f.ids[ep])
}

// TestLeaving: a unit knows it is leaving from JUJU_DEPARTING_UNIT naming itself in relation-departed, or from a
// relation-broken whose relation relation-ids still lists (Juju hides a relation that is itself going away); the
// hooks after (stop, remove, other relations' hooks) know it from the charm directory. A steady hook, a remote
// unit's departure and a removed relation's broken are not leaving, and only relation-broken makes a call.
func TestLeaving(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		name  string
		env   hooktool.Env
		ids   map[string][]string
		want  bool
		calls int
	}{
		{"steady hook", hooktool.Env{HookName: "update-status"}, nil, false, 0},
		{"a remote unit departs", hooktool.Env{HookName: "certificates-relation-departed", RelationName: "certificates", RelationID: "certificates:3", RemoteUnit: "app/1", DepartingUnit: "app/1"}, nil, false, 0},
		{"a removed relation breaks", hooktool.Env{HookName: "issuer-relation-broken", RelationName: "issuer", RelationID: "issuer:4"}, map[string][]string{"issuer": {}}, false, 1},
		{"stop on a pod churn", hooktool.Env{HookName: "stop"}, nil, false, 0},
		{"its own relation-broken on a live relation", hooktool.Env{HookName: "issuer-relation-broken", RelationName: "issuer", RelationID: "issuer:4"}, map[string][]string{"issuer": {"issuer:4"}}, true, 1},
		{"stop after it", hooktool.Env{HookName: "stop"}, nil, true, 0},
	}
	for _, st := range steps {
		st.env.UnitName, st.env.CharmDir = "authority/2", dir
		run := &idsRunner{ids: st.ids}
		r := &reconciler{hc: hooktool.New(st.env, run)}
		got, err := r.leaving()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want || run.calls != st.calls {
			t.Errorf("%s: leaving %v with %d calls, want %v with %d", st.name, got, run.calls, st.want, st.calls)
		}
	}

	// In relation-departed Juju names the unit itself when it (or its application) is dying.
	env := hooktool.Env{HookName: "certificates-relation-departed", RelationName: "certificates", RelationID: "certificates:3",
		RemoteUnit: "app/0", DepartingUnit: "authority/2", UnitName: "authority/2", CharmDir: t.TempDir()}
	run := &idsRunner{}
	r := &reconciler{hc: hooktool.New(env, run)}
	if got, err := r.leaving(); err != nil || !got || run.calls != 0 {
		t.Errorf("own departure: leaving %v (%v) with %d calls", got, err, run.calls)
	}
	env.HookName, env.RelationName, env.RelationID, env.RemoteUnit, env.DepartingUnit = "remove", "", "", "", ""
	if got, err := (&reconciler{hc: hooktool.New(env, run)}).leaving(); err != nil || !got {
		t.Errorf("remove after its own departure: leaving %v (%v)", got, err)
	}
}
