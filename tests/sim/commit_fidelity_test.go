package sim_test

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// A commit applies the secret calls one after the other, then relation settings, state and ports in one
// transaction (apiserver/facades/agent/uniter/uniter.go commitHookChangesForOneUnit): a failure of that transaction
// leaves the secrets changed and nothing else.
func TestCommitFailureAfterSecretsKeepsThem(t *testing.T) {
	s, m, r := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --label kept foo=v1"))
	s.InjectCommitFailure("a/0", "run", 1)
	// A hook with no secret change does not count.
	sh(t, a0, "relation-set -r db:"+itoa(r.ID())+" plain=1")
	res, err := a0.RunAction("run", map[string]any{"cmd": "secret-add --label made foo=bar >/dev/null; secret-set " + uri + " foo=v2; " +
		"relation-set -r db:" + itoa(r.ID()) + " after=1; state-set k=v; open-port 8080"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "action status", res.Status, "failed")
	if rec := lastRecord(s, "a/0", "run"); !strings.Contains(rec.Stderr, "ERROR state changing too fast; try again soon") || rec.SecretChanges != 2 {
		t.Errorf("record: secret changes %d, stderr %q", rec.SecretChanges, rec.Stderr)
	}
	st := s.State()
	var labels []string
	for _, sc := range st.Secrets {
		labels = append(labels, sc.Label)
	}
	sort.Strings(labels)
	eq(t, "secrets created and updated", strings.Join(labels, ","), "kept,made")
	c, _ := s.SecretContentForTest(uri, 0)
	eq(t, "secret-set applied", c["foo"], "v2")
	eq(t, "relation data not written", r.UnitData("a/0")["after"], "")
	eq(t, "earlier write kept", r.UnitData("a/0")["plain"], "1")
	eq(t, "state not written", sh(t, a0, "state-get k 2>&1"), "")
	eq(t, "port not opened", sh(t, a0, "opened-ports"), "")
	// The injection fired once: the same writes commit now, the label taken by the partial commit refused at once.
	eq(t, "retry", sh(t, a0, "secret-add --label made foo=bar 2>&1; relation-set -r db:"+itoa(r.ID())+" after=1; state-set k=v"),
		`ERROR secret with label "made" already exists`)
	eq(t, "relation data now", r.UnitData("a/0")["after"], "1")
}

// A relation's settings are one MongoDB document: a commit that leaves a bag over the limit fails the hook and
// writes no relation data (one transaction), after the secret calls.
func TestRelationDocumentLimit(t *testing.T) {
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, HookTimeout: 30 * time.Second,
		RelationDocLimit: 64 * 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	deploy(t, m, "b", 1, nil)
	settle(t, s)
	r := integrate(t, m, "a:db", "b:backend")
	settle(t, s)
	a0 := unit(t, m, "a/0")
	rel := "-r db:" + itoa(r.ID())
	// 40 KiB twice fits one document each, not together in one.
	big := `$(head -c 40960 /dev/zero | tr '\0' x)`
	sh(t, a0, "relation-set "+rel+" --app one="+big)
	res, err := a0.RunAction("run", map[string]any{"cmd": "secret-add --label s foo=bar >/dev/null; relation-set " + rel + " --app two=" + big + "; relation-set " + rel + " small=1"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "over the limit", res.Status, "failed")
	if rec := lastRecord(s, "a/0", "run"); !strings.Contains(rec.Stderr, "ERROR Resulting document after update is larger than 65536") {
		t.Errorf("stderr %q", rec.Stderr)
	}
	eq(t, "no relation data", r.UnitData("a/0")["small"], "")
	eq(t, "app bag unchanged", len(r.AppData("a")["two"]), "0")
	eq(t, "the secret was created", len(s.State().Secrets), "1")
	// Replacing a value keeps the document under the limit.
	sh(t, a0, "relation-set "+rel+" --app one= two="+big)
	eq(t, "replaced", len(r.AppData("a")["two"]), "40960")
}

// An owner's units read a secret as a consumer does since juju/juju#16598 (3.1.7, 3.3.1, 3.4+, so 3.6 and 4):
// the revision each last read, until --refresh; the first read tracks the latest. A revision stays until no unit,
// owner or consumer, tracks it.
func TestOwnerReadsTrackedRevision(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	if !a0.IsLeader() {
		a0, a1 = a1, a0
	}
	uri := strings.TrimSpace(sh(t, a0, "secret-add --label ca foo=v1"))
	eq(t, "leader first read", sh(t, a0, "secret-get --label ca foo"), "v1")
	eq(t, "peer first read", sh(t, a1, "secret-get --label ca foo"), "v1")
	sh(t, a0, "secret-set "+uri+" foo=v2")
	eq(t, "leader pinned by label", sh(t, a0, "secret-get --label ca foo"), "v1")
	eq(t, "leader pinned by uri", sh(t, a0, "secret-get "+uri+" foo"), "v1")
	eq(t, "peer pinned", sh(t, a1, "secret-get --label ca foo"), "v1")
	eq(t, "peer peek", sh(t, a1, "secret-get --label ca --peek foo"), "v2")
	eq(t, "peer still pinned", sh(t, a1, "secret-get --label ca foo"), "v1")
	na := len(a0.HookNames())
	eq(t, "leader refresh", sh(t, a0, "secret-get --label ca --refresh foo"), "v2")
	eq(t, "leader tracks v2", sh(t, a0, "secret-get --label ca foo"), "v2")
	settle(t, s)
	eq(t, "revision 1 still tracked by a peer: no secret-remove", hooksSince(a0, na), []string(nil))
	eq(t, "peer refresh", sh(t, a1, "secret-get --label ca --refresh foo"), "v2")
	settle(t, s)
	eq(t, "secret-remove once no unit tracks revision 1", hooksSince(a0, na), []string{"secret-remove"})
	// secret-get --refresh of the hook's own pending secret-set tracks the revision it makes (TrackLatest).
	eq(t, "refresh a pending set", sh(t, a0, "secret-set "+uri+" foo=v3; secret-get "+uri+" --refresh foo"), "v3")
	eq(t, "tracked after the commit", sh(t, a0, "secret-get --label ca foo"), "v3")
	eq(t, "a plain read of a pending set shows the tracked revision", sh(t, a0, "secret-set "+uri+" foo=v4; secret-get "+uri+" foo"), "v3")
	eq(t, "and tracks it still", sh(t, a0, "secret-get "+uri+" foo"), "v3")
}

// Options.OwnersReadLatest: an owner reads the latest revision whatever the flags, as before juju/juju#16598.
func TestOwnersReadLatestOption(t *testing.T) {
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, HookTimeout: 30 * time.Second,
		OwnersReadLatest: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --label ca foo=v1"))
	eq(t, "first read", sh(t, a0, "secret-get --label ca foo"), "v1")
	sh(t, a0, "secret-set "+uri+" foo=v2")
	eq(t, "latest", sh(t, a0, "secret-get --label ca foo"), "v2")
}

func lastRecord(s *sim.Sim, unit, name string) sim.HookRecord {
	recs := s.Records()
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Unit == unit && recs[i].Name == name {
			return recs[i]
		}
	}
	return sim.HookRecord{}
}

func itoa(n int) string { return strconv.Itoa(n) }
