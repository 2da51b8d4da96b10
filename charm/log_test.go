package charm

import "testing"

// Juju's juju-log starts a line with "<endpoint>:<id>: " in a relation hook; the charm names a relation only when
// the line is about another one.
func TestRelationPrefix(t *testing.T) {
	for _, tc := range []struct {
		hookRelation, id, want string
	}{
		{"certificates:1", "certificates:1", ""},
		{"certificates:1", "certificates:12", "certificates:12: "},
		{"certificates:1", "certificates:2", "certificates:2: "},
		{"", "certificates:1", "certificates:1: "}, // not a relation hook: Juju adds nothing
	} {
		if got := relationPrefix(tc.hookRelation, tc.id); got != tc.want {
			t.Errorf("relationPrefix(%q, %q) = %q, want %q", tc.hookRelation, tc.id, got, tc.want)
		}
	}
}
