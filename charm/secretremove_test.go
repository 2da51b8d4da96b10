package charm

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

// removeRunner answers secret-remove the way Juju 4.1-beta2's commit does once the content is gone from the
// Kubernetes backend: a second removal of a revision fails.
type removeRunner struct {
	removed []string
	peerSet int // relation-set calls on the peer relation
}

func (f *removeRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	switch tool {
	case "secret-remove":
		id := fmt.Sprint(args)
		if slices.Contains(f.removed, id) {
			return nil, fmt.Errorf("cannot delete secret %v from backend: not found", args)
		}
		f.removed = append(f.removed, id)
		return nil, nil
	case "relation-set":
		if slices.Contains(args, "authority:0") {
			f.peerSet++
		}
		return nil, nil
	case "juju-log":
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected %s %v", tool, args)
}

// TestSecretRemoveOnce: a revision one leader removed is not removed again by the next leader when Juju sends it
// secret-remove for the same revision (seen on Juju 4.1-beta2 when the leader changed before Juju's removal job
// was done), whatever form JUJU_SECRET_ID takes; a revision not removed before still is; and the record stays
// bounded.
func TestSecretRemoveOnce(t *testing.T) {
	run := &removeRunner{}
	peer := map[string]string{}
	hook := func(unit, secretID string, rev int) error {
		r := &reconciler{hc: hooktool.New(hooktool.Env{UnitName: unit, HookName: "secret-remove", SecretID: secretID, SecretRevision: rev}, run),
			leader: true, peerID: "authority:0", o: &Options{}, peer: peer}
		sets, removals := run.peerSet, len(run.removed)
		// The hook's tail as reconcile runs it: the plan, the hook's one peer write, the removal last.
		if err := r.planRevisionRemoval(); err != nil {
			return err
		}
		if err := r.flushPeer(); err != nil {
			return err
		}
		if err := r.removeObsoleteRevision(); err != nil {
			return err
		}
		// The record is written in the hook's one peer write, and only by a hook that removes a revision.
		if removedNow := len(run.removed) - removals; run.peerSet-sets != removedNow {
			t.Fatalf("%s: %d peer writes for %d revisions removed, want one write with each removal and none without", unit, run.peerSet-sets, removedNow)
		}
		peer = r.peer
		return nil
	}
	if err := hook("tls-authority/2", "secret:ih6asqvp2eji0tend710", 1); err != nil {
		t.Fatal(err)
	}
	// The old leader is gone; the new one is asked about the same revision, with the ID in its other form.
	if err := hook("tls-authority/0", "ih6asqvp2eji0tend710", 1); err != nil {
		t.Fatalf("the new leader removed revision 1 a second time: %v", err)
	}
	if err := hook("tls-authority/0", "secret:ih6asqvp2eji0tend710", 2); err != nil {
		t.Fatal(err)
	}
	if len(run.removed) != 2 {
		t.Fatalf("secret-remove calls: %v, want revisions 1 and 2 once each", run.removed)
	}
	for rev := 3; rev < 3+2*maxRemovedRevisions; rev++ {
		if err := hook("tls-authority/0", "secret:other", rev); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(peer[peerRemovedRevisions]); n > 40*maxRemovedRevisions {
		t.Fatalf("the record of removed revisions grew to %d bytes", n)
	}
}
