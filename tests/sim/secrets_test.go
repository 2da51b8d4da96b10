package sim_test

import (
	"regexp"
	"strings"
	"testing"
)

var secretURIRE = regexp.MustCompile(`^secret://[0-9a-f-]{36}/[0-9a-v]{20}$`)

// addSecret creates an app secret on a/0 granted to the db relation and returns its URI.
func addGrantedSecret(t *testing.T, a0interface interface{ Name() string }, run func(string) string) string {
	t.Helper()
	uri := strings.TrimSpace(run(`secret-add --label mine foo=v1`))
	if !secretURIRE.MatchString(uri) {
		t.Fatalf("secret-add printed %q", uri)
	}
	run(`secret-grant ` + uri + ` -r db:2`)
	return uri
}

func TestSecretRevisionsPeekRefreshPinning(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	uri := addGrantedSecret(t, a0, func(c string) string { return sh(t, a0, c) })
	id := uri[strings.LastIndex(uri, "/")+1:]
	eq(t, "first read pins latest", sh(t, b0, "secret-get "+uri+" foo"), "v1")
	nb := len(b0.HookNames())
	sh(t, a0, "secret-set "+uri+" foo=v2")
	settle(t, s)
	eq(t, "secret-changed to the consumer", hooksSince(b0, nb), []string{"secret-changed"})
	if ev := readFile(t, b0, "events.log"); !strings.Contains(ev, "secret-changed rel= remote= app= departing= secret="+uri) {
		t.Errorf("secret-changed env:\n%s", ev)
	}
	eq(t, "pinned", sh(t, b0, "secret-get "+uri+" foo"), "v1")
	eq(t, "peek", sh(t, b0, "secret-get --peek "+uri+" foo"), "v2")
	eq(t, "peek does not move the pin", sh(t, b0, "secret-get "+uri+" foo"), "v1")
	eq(t, "owner reads latest", sh(t, a0, "secret-get "+uri+" foo"), "v2")
	na := len(a0.HookNames())
	eq(t, "refresh", sh(t, b0, "secret-get --refresh "+uri+" foo"), "v2")
	eq(t, "after refresh", sh(t, b0, "secret-get "+uri+" --format=json"), `{"foo":"v2"}`)
	settle(t, s)
	eq(t, "secret-remove for the untracked revision", hooksSince(a0, na), []string{"secret-remove"})
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "secret-remove rel= remote= app= departing= secret="+uri+" label=mine rev=1") {
		t.Errorf("secret-remove env:\n%s", ev)
	}
	eq(t, "both flags", sh(t, b0, "secret-get --peek --refresh "+uri+" 2>&1; echo rc=$?"), "ERROR specify one of --peek or --refresh but not both\nrc=2")
	// Same content: no new revision.
	sh(t, a0, "secret-set "+uri+" foo=v2")
	eq(t, "no new revision for same content", sh(t, a0, "secret-info-get "+uri+" --format=json"), `{"`+id+`":{"access":[{"role":"view","scope":"relation-db:2","target":"application-b"}],"label":"mine","owner":"application","revision":2}}`)
	// Several secret-set in one hook coalesce into one revision.
	sh(t, a0, "secret-set "+uri+" foo=v3; secret-set "+uri+" foo=v4")
	c, _ := s.SecretContentForTest(uri, 0)
	eq(t, "coalesced", c["foo"], "v4")
	if st := s.State(); st.Secrets[0].Revision != 3 {
		t.Errorf("revision %d, want 3", st.Secrets[0].Revision)
	}
}

func TestSecretConsumerLabel(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	uri := addGrantedSecret(t, a0, func(c string) string { return sh(t, a0, c) })
	eq(t, "unknown label", sh(t, b0, "secret-get --label theirs 2>&1; echo rc=$?"), `ERROR consumer label "theirs" not found`+"\nrc=1")
	eq(t, "set consumer label", sh(t, b0, "secret-get "+uri+" --label theirs foo"), "v1")
	eq(t, "read by consumer label", sh(t, b0, "secret-get --label theirs foo"), "v1")
	nb := len(b0.HookNames())
	sh(t, a0, "secret-set "+uri+" foo=v2")
	settle(t, s)
	eq(t, "hook", hooksSince(b0, nb), []string{"secret-changed"})
	if ev := readFile(t, b0, "events.log"); !strings.Contains(ev, "label=theirs") {
		t.Errorf("JUJU_SECRET_LABEL must be the consumer label:\n%s", ev)
	}
}

func TestSecretAccessAndErrors(t *testing.T) {
	_, m, _ := twoApps(t, 2, 2)
	a0, a1, b0 := unit(t, m, "a/0"), unit(t, m, "a/1"), unit(t, m, "b/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --label mine --description d foo=v1"))
	id := uri[strings.LastIndex(uri, "/")+1:]
	eq(t, "no grant", sh(t, b0, "secret-get "+uri+" 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	eq(t, "unknown id", sh(t, b0, "secret-get secret://x/d2lbkgfmp25c77ao4nb0 2>&1; echo rc=$?"), `ERROR secret "d2lbkgfmp25c77ao4nb0" not found`+"\nrc=1")
	eq(t, "non-leader app owner add", sh(t, a1, "secret-add foo=bar 2>&1; echo rc=$?"), "ERROR this unit is not the leader\nrc=1")
	eq(t, "non-leader unit owner add", strings.HasPrefix(sh(t, a1, "secret-add --owner unit foo=bar"), "secret://"), "true")
	eq(t, "non-leader of owning app reads latest", sh(t, a1, "secret-get "+uri+" foo"), "v1")
	eq(t, "non-leader info", sh(t, a1, "secret-info-get "+uri+" 2>&1; echo rc=$?"), `ERROR secret "`+id+`" not found`+"\nrc=1")
	eq(t, "leader info by label", sh(t, a0, "secret-info-get --label mine --format=json"), `{"`+id+`":{"description":"d","label":"mine","owner":"application","revision":1}}`)
	eq(t, "duplicate owner label", sh(t, a0, "secret-add --label mine foo=x 2>&1; echo rc=$?"), `ERROR secret with label "mine" already exists`+"\nrc=1")
	eq(t, "bad key", sh(t, a0, "secret-add Foo=x 2>&1; echo rc=$?"), `ERROR secret key "Foo" not valid`+"\nrc=1")
	eq(t, "short key", sh(t, a0, "secret-add ab=x 2>&1; echo rc=$?"), `ERROR secret key "ab" not valid`+"\nrc=1")
	eq(t, "empty", sh(t, a0, "secret-add 2>&1; echo rc=$?"), "ERROR missing secret value\nrc=1")
	eq(t, "secret-ids", sh(t, a0, "secret-ids --format=json"), `["`+id+`"]`)
	eq(t, "owner-label read", sh(t, a0, "secret-get --label mine foo"), "v1")
	// Unit grant, then only that unit reads.
	sh(t, a0, "secret-grant "+uri+" -r db:2 --unit b/1")
	eq(t, "granted unit", sh(t, unit(t, m, "b/1"), "secret-get "+uri+" foo"), "v1")
	eq(t, "other unit of the app", sh(t, b0, "secret-get "+uri+" foo 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
	// Revoke.
	sh(t, a0, "secret-revoke "+uri+" -r db:2 --unit b/1")
	eq(t, "revoked", sh(t, unit(t, m, "b/1"), "secret-get "+uri+" foo 2>&1; echo rc=$?"), "ERROR permission denied\nrc=1")
}

func TestSecretContentInputs(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	out := sh(t, a0, `printf 'from-file' > f.txt; printf 'one: 1\ntwo: "2"\n' > c.yaml
uri=$(secret-add --owner unit bin#base64=aGVsbG8= doc#file=f.txt)
secret-get $uri --format=json
uri2=$(secret-add --owner unit --file c.yaml)
secret-get $uri2 --format=json
secret-get $uri bin#base64`)
	eq(t, "content", out, `{"bin":"hello","doc":"from-file"}`+"\n"+`{"one":"1","two":"2"}`+"\naGVsbG8=")
}

func TestFailedHookDropsSecretWrites(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	res, err := a0.RunAction("run", map[string]any{"cmd": "secret-add --label x foo=bar; exit 1"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "action failed", res.Status, "failed")
	if n := len(s.State().Secrets); n != 0 {
		t.Errorf("%d secrets committed by a failed action", n)
	}
}

func TestSecretRemoveAndInfo(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add foo=v1"))
	sh(t, a0, "secret-set "+uri+" foo=v2")
	sh(t, a0, "secret-remove "+uri+" --revision 1")
	eq(t, "latest kept", sh(t, a0, "secret-get "+uri+" foo"), "v2")
	sh(t, a0, "secret-remove "+uri)
	eq(t, "removed", sh(t, a0, "secret-get "+uri+" 2>&1; echo rc=$?"), `ERROR secret "`+uri[strings.LastIndex(uri, "/")+1:]+`" not found`+"\nrc=1")
}

func TestSecretAddThenSetInOneHookIsOneRevision(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "u=$(secret-add foo=v1); secret-set $u foo=v2; echo $u"))
	c, err := s.SecretContentForTest(uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "content", c["foo"], "v2")
	eq(t, "revision", s.State().Secrets[0].Revision, "1")
}

func TestFailedSecretChangedIsRetriedOnce(t *testing.T) {
	s, m, _ := twoApps(t, 1, 1)
	a0, b0 := unit(t, m, "a/0"), unit(t, m, "b/0")
	uri := addGrantedSecret(t, a0, func(c string) string { return sh(t, a0, c) })
	sh(t, b0, "secret-get "+uri)
	script(t, b0, `[ "$JUJU_HOOK_NAME" = secret-changed ] && [ ! -f failed ] && { touch failed; exit 1; }; true`)
	if _, err := a0.RunAction("run", map[string]any{"cmd": "secret-set " + uri + " foo=v2"}); err == nil {
		t.Fatal("want secret-changed failure")
	}
	if err := b0.Resolve(true); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var n int
	for _, h := range b0.HookNames() {
		if h == "secret-changed" {
			n++
		}
	}
	eq(t, "one successful secret-changed", n, "1")
}
