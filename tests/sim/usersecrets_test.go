package sim_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestUserSecrets follows a user secret through Juju 3.6's life of one: juju add-secret (the model owns it, its URI
// printed as secret:<id>), juju config of a secret option to it, a read refused before the grant, juju grant-secret,
// the consumer's pinned read, juju update-secret and the consumer's secret-changed, juju revoke-secret (no hook, the
// next read refused), and what the unit may not do with a secret it does not own.
func TestUserSecrets(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a, a0 := m.App("a"), unit(t, m, "a/0")
	uri, err := m.AddSecret("creds", map[string]string{"user": "u1", "pass": "p1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^secret:[0-9a-v]{20}$`).MatchString(uri) {
		t.Fatalf("juju add-secret printed %q, want secret:<id>", uri)
	}
	if _, err := m.AddSecret("creds", map[string]string{"user": "x"}, ""); err == nil || !strings.Contains(err.Error(), `secret with name "creds" already exists`) {
		t.Errorf("a second secret named creds: %v", err)
	}
	if _, err := m.AddSecret("other", map[string]string{"tls.crt": "x"}, ""); err == nil {
		t.Error("a key Juju refuses (tls.crt) was accepted")
	}
	// A secret option holds a URI; Juju checks its form only.
	if err := a.SetConfig(map[string]any{"creds": "not-a-uri"}); err == nil || !strings.Contains(err.Error(), `invalid secret URI for option "creds"`) {
		t.Errorf("config creds=not-a-uri: %v", err)
	}
	if err := a.SetConfig(map[string]any{"creds": uri}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "config-get", sh(t, a0, "config-get creds"), uri)
	eq(t, "before the grant", sh(t, a0, "secret-get "+uri+" user 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	if err := m.GrantSecret("creds", "a"); err != nil {
		t.Fatal(err)
	}
	if err := m.GrantSecret(uri, "nosuch"); err == nil || !strings.Contains(err.Error(), `application "nosuch" not found`) {
		t.Errorf("grant to a missing application: %v", err)
	}
	eq(t, "granted, the first read pins", sh(t, a0, "secret-get "+uri+" user"), "u1")
	eq(t, "b has no grant", sh(t, unit(t, m, "b/0"), "secret-get "+uri+" 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	eq(t, "no unit manages it", sh(t, a0, "secret-info-get "+uri+" 2>&1; echo rc=$?; secret-set "+uri+" user=x 2>&1; echo rc=$?"),
		`ERROR secret "`+uri[len("secret:"):]+`" not found`+"\nrc=1\n"+`ERROR secret "`+uri[len("secret:"):]+`" not found`+"\nrc=1")

	n := len(a0.HookNames())
	if err := m.UpdateSecret("creds", map[string]string{"user": "u1", "pass": "p1"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "the same content: no revision, no hook", hooksSince(a0, n), []string(nil))
	if err := m.UpdateSecret(uri, map[string]string{"user": "u2", "pass": "p2"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "secret-changed to the consumer", hooksSince(a0, n), []string{"secret-changed"})
	eq(t, "still pinned", sh(t, a0, "secret-get "+uri+" user"), "u1")
	eq(t, "refresh", sh(t, a0, "secret-get --refresh "+uri+" user"), "u2")

	st := s.State()
	var owner, grants string
	for _, sc := range st.Secrets {
		if sc.URI != "" && strings.HasSuffix(sc.URI, uri[len("secret:"):]) {
			owner = sc.Owner
			for _, g := range sc.Grants {
				grants += g.Relation + " " + g.Target + ";"
			}
		}
	}
	eq(t, "owner", owner, "model-"+m.UUID())
	eq(t, "grant scope", grants, "model-"+m.UUID()+" application-a;")

	n = len(a0.HookNames())
	if err := m.RevokeSecret("creds", "a"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "no hook on revoke", hooksSince(a0, n), []string(nil))
	eq(t, "revoked", sh(t, a0, "secret-get "+uri+" user 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	if err := m.RemoveSecret("creds"); err != nil {
		t.Fatal(err)
	}
	eq(t, "removed", sh(t, a0, "secret-get "+uri+" 2>&1; echo rc=$?"), `ERROR secret "`+uri[len("secret:"):]+`" not found`+"\nrc=1")
}
