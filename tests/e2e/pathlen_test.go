package e2e

import (
	"strings"
	"testing"
)

// TestRootPathLength: the root leaves room for one requirer CA of ca-request-max-path-length and no more (path
// length 1 by default). Changing the option rotates the CA: once the new root signs, its path length is the new
// value plus one; a config change that leaves the option alone does not rotate.
func TestRootPathLength(t *testing.T) {
	s := newSim(t)
	m, err := s.AddModel("pki")
	if err != nil {
		t.Fatal(err)
	}
	authority := deployAuthority(t, m, "tls-authority", 1, nil)
	settle(t, s)
	first := caOf(t, authority)
	if c := parseCert(t, first); c.MaxPathLen != 1 || !c.BasicConstraintsValid {
		t.Fatalf("the root's path length is %d (zero %v), want 1", c.MaxPathLen, c.MaxPathLenZero)
	}
	if err := authority.SetConfig(map[string]any{"certificate-validity": "30d"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	s.UpdateStatus()
	settle(t, s)
	if caOf(t, authority) != first {
		t.Fatal("a change of certificate-validity rotated the CA")
	}
	if err := authority.SetConfig(map[string]any{"ca-request-max-path-length": 2}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	s.UpdateStatus() // phase 2: the new root signs
	settle(t, s)
	noFailedHooks(t, authority)
	second := caOf(t, authority)
	if second == first {
		t.Fatal("a change of ca-request-max-path-length did not rotate the CA")
	}
	if c := parseCert(t, second); c.MaxPathLen != 3 {
		t.Fatalf("the new root's path length is %d, want 3", c.MaxPathLen)
	}
	if err := authority.SetConfig(map[string]any{"ca-request-max-path-length": 5}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := authority.Leader().Status(); st.Status != "blocked" || !strings.Contains(st.Message, "ca-request-max-path-length must be an integer from 0 to 4") {
		t.Fatalf("status %s %q, want blocked naming ca-request-max-path-length", st.Status, st.Message)
	}
}
