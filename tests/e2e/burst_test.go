package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// burstMaxWrites bounds the leader's writes of the certificates relation for a burst of burstUnits units: before
// issue 21 it was one per unit (20); reading the joining units ahead (charm/requests.go readJoining) serves the
// burst in a few.
const (
	burstUnits     = 20
	burstMaxWrites = 8
)

// TestBurstServedInFewWrites scales a requirer application (the scale storm's: UNIT mode on the Go requirer library)
// from 0 to 20 units at once, units side by side as Juju runs them, and checks every unit gets its certificate while
// the leader writes the relation at most burstMaxWrites times: a change that loses the batching fails here.
func TestBurstServedInFewWrites(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	dispatch := filepath.Join(out, "dispatch")
	if err := artifacts.GoBuild(root, "./tests/bench/stormrequirer", dispatch); err != nil {
		t.Fatal(err)
	}
	reqCharm := filepath.Join(out, "storm-requirer_amd64.charm")
	if err := pack.Charm(&pack.Options{CharmDir: filepath.Join(root, "tests", "bench", "stormrequirer"), Dispatch: dispatch, Out: reqCharm}); err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, HookTimeout: time.Minute, Concurrency: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, err := s.AddModel("burst")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, nil)
	app, err := m.Deploy("app", reqCharm, &sim.DeployOptions{Units: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Scale(0); err != nil {
		t.Fatal(err)
	}
	rel := integrate(t, m, "app:certificates", "tls-authority:certificates")
	settle(t, s)
	leader := authority.Leader().Name()
	from := len(s.Records())
	if err := app.Scale(burstUnits); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range app.Units() {
		if st := u.Status(); st.Status != "active" {
			t.Errorf("%s is %s: %s", u.Name(), st.Status, st.Message)
		}
	}
	certs, _, _, _ := tlscertificates.ReadProviderBag(rel.AppData("tls-authority"))
	if len(certs) != burstUnits {
		t.Errorf("%d certificates on the relation, want %d", len(certs), burstUnits)
	}
	writes, hooks, calls := 0, 0, 0
	for _, r := range s.Records()[from:] {
		if r.Unit != leader {
			continue
		}
		hooks++
		calls += r.Calls()
		// Any leader hook that writes (the bench's count): the relation's writes and, with them, the peer databag's.
		if r.ToolCalls["relation-set"] > 0 {
			writes++
		}
	}
	t.Logf("burst of %d: %d leader writes of the relation, %d leader hooks, %d leader hook-tool calls", burstUnits, writes, hooks, calls)
	if writes > burstMaxWrites {
		t.Errorf("the leader wrote the relation %d times for a burst of %d units, want at most %d", writes, burstUnits, burstMaxWrites)
	}
}
