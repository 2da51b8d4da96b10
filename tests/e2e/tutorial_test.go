package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/artifacts"
)

// TestTutorial runs the tutorial (docs/tutorial/getting-started.md) as the scenario tests/scenarios/tutorial.yaml:
// the workload serves TLS with the authority's certificates, a client that trusts the authority through
// certificate_transfer reaches it, and keeps reaching it through a CA rotation whose switch it sees (web-0's
// certificate names another authority key after it). tests/docs checks that the tutorial's commands are the
// scenario's steps, so neither can change without the other.
func TestTutorial(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildDemo(t, root)
	// The client's execs write /tmp/issuer-before and /tmp/issuer-after in its own container, never the host's.
	defer checkNoScratchLeft(t, snapshotScratch())
	res := runScenarioFile(t, root, "tutorial.yaml")
	checkRoots(t, res, map[string]string{"web/0": "tutorial-ca", "tutorial-ca": "tutorial-ca"})
	for _, h := range res.Handshakes {
		if !h.OK {
			t.Errorf("handshake %+v did not go as expected", h)
		}
	}
	if len(res.Handshakes) < 4 {
		t.Errorf("%d handshakes recorded, want the tutorial's 4", len(res.Handshakes))
	}
	t.Logf("tutorial: %d expectations passed in %v", res.Passed, res.Duration.Round(time.Millisecond))
}
