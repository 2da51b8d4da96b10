package charm

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

// getRunner answers relation-get with an empty databag, and counts the units it was asked about.
type getRunner struct{ asked []string }

func (f *getRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	if tool != "relation-get" {
		return nil, nil
	}
	for _, a := range args {
		if strings.HasPrefix(a, "req/") {
			f.asked = append(f.asked, a)
		}
	}
	return []byte("{}"), nil
}

// TestUnlistedUnits: the units the authority issued to that are neither members nor joining units read ahead
// (goal-state) are read by name, once each; a member, a joining unit, the departing unit and the remote app are not.
func TestUnlistedUnits(t *testing.T) {
	run := &getRunner{}
	env := hooktool.Env{UnitName: "tls-authority/0", HookName: "certificates-relation-departed", RelationID: "certificates:3", RemoteUnit: "req/3"}
	p := &provider{r: &reconciler{hc: hooktool.New(env, run)}, invByID: map[string][]InventoryEntry{"certificates:3": {
		{Unit: "req/0"}, {Unit: "req/1"}, {Unit: "req/2"}, {Unit: "req/2"}, {Unit: "req/3"}, {Unit: "req"},
	}}}
	b := &relationBags{App: "req", Units: map[string]map[string]string{"req/0": nil}, Joining: map[string]map[string]string{"req/1": {}}}
	out, err := p.unlistedUnits("certificates:3", b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(run.asked, []string{"req/2"}) || len(out) != 1 || out["req/2"] == nil {
		t.Fatalf("asked about %v, read %v; want req/2 alone, once", run.asked, out)
	}
}
