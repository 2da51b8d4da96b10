package sim_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoalStateListsUnitsBeforeTheyJoin pins goal-state as Juju 3.6 answers it (uniter facade GoalStates,
// goalStateUnits, goalStateRelations; jujuc/goal-state.go) and what relation-get gives of the units it lists:
//   - goal-state lists, under the local endpoint, the remote application with the relation's status and every one of
//     its units with its workload status (waiting until its charm sets one), whether or not relation-joined for it
//     has run on this unit; its own units under "units"; dead units nowhere; yaml by default, json on request;
//   - relation-get of a listed unit that entered the relation's scope reads its settings (ReadRemoteSettings checks
//     only that the unit's application is related; the settings exist from scope entry), before its relation-joined
//     runs here, and afresh in each hook (the relation cache keeps non-members for one hook only: cache.go Prune).
//     A listed unit not yet in scope has no settings: "settings not found".
func TestGoalStateListsUnitsBeforeTheyJoin(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	if err := m.App("b").SetConfig(map[string]any{"script": `case "$JUJU_HOOK_NAME" in start) relation-set -r "$(relation-ids backend)" v="$JUJU_UNIT_NAME";; esac; true`}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0 := unit(t, m, "a/0")
	// In each of a/0's joined hooks: the members, then every b unit goal-state lists with what relation-get gives.
	// b/1's joined hook fails until "go" exists: the b units meanwhile enter scope and write, as in a burst where
	// they run ahead of the leader.
	script(t, a0, `[ "$JUJU_HOOK_NAME" = db-relation-joined ] || exit 0
[ "$JUJU_REMOTE_UNIT" = b/1 ] && [ ! -f go ] && exit 1
goal-state --format=json > "gs-$(echo "$JUJU_REMOTE_UNIT" | tr / -).json"
line="$JUJU_REMOTE_UNIT members=$(relation-list | tr '\n' ,)"
for u in b/0 b/1 b/2 b/3; do line="$line $u=$(relation-get -r "$JUJU_RELATION_ID" v "$u" 2>&1 | tr -d '\n')"; done
echo "$line" >> reads.log`)
	if err := m.App("b").Scale(4); err != nil {
		t.Fatal(err)
	}
	if err := settleErr(s); err == nil {
		t.Fatal("a/0's joined hook for b/1 did not fail")
	}
	if err := os.WriteFile(filepath.Join(a0.CharmDir(), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a0.Resolve(true); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var gs struct {
		Units     map[string]struct{ Status string } `json:"units"`
		Relations map[string]map[string]struct {
			Status string `json:"status"`
		} `json:"relations"`
	}
	if err := json.Unmarshal([]byte(readFile(t, a0, "gs-b-1.json")), &gs); err != nil {
		t.Fatal(err)
	}
	if len(gs.Units) != 1 || gs.Units["a/0"].Status == "" {
		t.Errorf("units = %v, want a/0 only", gs.Units)
	}
	db := gs.Relations["db"]
	if db["b"].Status != "joined" || len(gs.Relations) != 1 {
		t.Errorf("relations = %v, want db with b joined", gs.Relations)
	}
	for _, u := range []string{"b/0", "b/1", "b/2", "b/3"} {
		if db[u].Status == "" {
			t.Errorf("goal-state in b/1's joined hook does not list %s: %v", u, db)
		}
	}
	// Reads of units goal-state listed that were not members: settings when in scope, else settings not found.
	early := 0
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, a0, "reads.log")), "\n") {
		f := strings.Fields(line)
		members := strings.TrimPrefix(f[1], "members=")
		for _, kv := range f[2:] {
			u, v, _ := strings.Cut(kv, "=")
			if strings.Contains(members, u+",") {
				continue
			}
			switch {
			case v == u:
				early++
			case v == "": // in scope, nothing written yet
			case strings.Contains(line, u+"=ERROR"):
				if !strings.Contains(line, "settings not found") {
					t.Errorf("%s: reading %s, not in scope: %q", f[0], u, line)
				}
			default:
				t.Errorf("%s: read %s = %q", f[0], u, v)
			}
		}
	}
	if early == 0 {
		t.Errorf("no unit's settings were read before its relation-joined ran on a/0:\n%s", readFile(t, a0, "reads.log"))
	}
	t.Logf("reads:\n%s", readFile(t, a0, "reads.log"))
	// yaml by default; no arguments.
	if out := sh(t, a0, "goal-state"); !strings.Contains(out, "units:\n  a/0:\n    status: ") || !strings.Contains(out, "relations:\n  db:\n") {
		t.Errorf("goal-state (yaml) = %q", out)
	}
	if out := sh(t, a0, "goal-state x 2>&1; echo rc=$?"); !strings.Contains(out, `unrecognized args: ["x"]`) || !strings.Contains(out, "rc=2") {
		t.Errorf("goal-state x = %q", out)
	}
}
