package sim_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
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
	eq(t, "bad key", sh(t, a0, "secret-add Foo=x 2>&1; echo rc=$?"), `ERROR key "Foo" not valid`+"\nrc=2")
	eq(t, "short key", sh(t, a0, "secret-add ab=x 2>&1; echo rc=$?"), `ERROR key "ab" not valid`+"\nrc=2")
	eq(t, "empty", sh(t, a0, "secret-add 2>&1; echo rc=$?"), "ERROR missing secret value or filename\nrc=2")
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

// TestSecretGetSeesOwnWritesAsJuju pins what a hook reads back of its own secret writes, case by case after
// Juju's HookContext.GetSecret / getPendingSecretValue (worker/uniter/runner/context/context.go) and its tests
// (context_test.go: assertSecretGetFromPendingChanges, TestSecretGetOwnedSecret*). Each case runs in one hook on
// a/0, which owns the committed secret $S (label "mine", foo=v1); "after" is read in the next hook.
func TestSecretGetSeesOwnWritesAsJuju(t *testing.T) {
	cases := []struct {
		name, hook, want string
		after, wantAfter string
	}{
		// Pending creates are readable by URI or label (TestSecretGetFromPendingCreateChanges, ...FromPendingCreate).
		{name: "create by uri", hook: `u=$(secret-add foo=bar); secret-get $u foo`, want: "bar"},
		{name: "create by label", hook: `secret-add --label new foo=bar >/dev/null; secret-get --label new foo`, want: "bar"},
		{name: "app create by label, peek", hook: `secret-add --label new foo=bar >/dev/null; secret-get --label new --peek foo`, want: "bar"},
		{name: "unit create by label", hook: `secret-add --owner unit --label new foo=bar >/dev/null; secret-get --label new foo`, want: "bar"},
		// secretsChangeRecorder.update merges a secret-set into the pending create.
		{name: "create then set", hook: `u=$(secret-add --label new foo=bar); secret-set $u foo=baz; secret-get --label new foo`, want: "baz"},
		// TestSecretGetOwnedSecretUpdatePendingCreateLabel: a label given with the URI relabels the pending create.
		{name: "create relabelled by read", hook: `u=$(secret-add --label new foo=bar); secret-get $u --label other foo; secret-get --label other foo`,
			want: "bar\nbar", after: `secret-info-get --label other --format=json | grep -o '"label":"[a-z]*"'`, wantAfter: `"label":"other"`},
		// A pending secret-set is not seen without --peek or --refresh: the controller has the committed revision.
		// The read tracks the committed revision for the unit, owner as it is (juju/juju#16598), so the next hook
		// reads it still.
		{name: "set, get by uri", hook: `secret-set $S foo=v2; secret-get $S foo`, want: "v1", after: `secret-get $S foo`, wantAfter: "v1"},
		{name: "set, get by label", hook: `secret-set $S foo=v2; secret-get --label mine foo`, want: "v1"},
		// TestSecretGetOwnedSecretURILookupFromPendingUpdate: the new label resolves, to the committed content.
		{name: "set with label, get by new label", hook: `secret-set $S --label mine2 foo=v2; secret-get --label mine2 foo`, want: "v1"},
		{name: "set, peek by uri", hook: `secret-set $S foo=v2; secret-get $S --peek foo`, want: "v2"},
		// --refresh of the pending revision tracks it once committed (TrackLatest).
		{name: "set, refresh by uri", hook: `secret-set $S foo=v2; secret-get $S --refresh foo`, want: "v2", after: `secret-get $S foo`, wantAfter: "v2"},
		// The label must be one that same secret-set passed: the committed label reads the committed revision.
		{name: "set, peek by committed label", hook: `secret-set $S foo=v2; secret-get --label mine --peek foo`, want: "v1"},
		// TestSecretGetOwnedSecretLabelLookupFromPendingUpdatesPeek / ...Refresh.
		{name: "set with label, peek by it", hook: `secret-set $S --label mine2 foo=v2; secret-get --label mine2 --peek foo`, want: "v2"},
		{name: "set with label, refresh by it", hook: `secret-set $S --label mine2 foo=v2; secret-get --label mine2 --refresh foo`, want: "v2"},
		// TestSecretGetOwnedSecretUpdatePendingLabel: a label given with the URI relabels the pending update.
		{name: "set, peek by uri with label", hook: `secret-set $S foo=v2; secret-get $S --label renamed --peek foo`, want: "v2",
			after: `secret-get --label renamed foo`, wantAfter: "v2"},
		// A metadata-only secret-set has no value to show: the controller answers.
		{name: "description only, peek", hook: `secret-set $S --description d; secret-get $S --peek foo`, want: "v1"},
		// Several secret-set calls coalesce; --peek sees the last.
		{name: "two sets, peek", hook: `secret-set $S foo=v2; secret-set $S foo=v3; secret-get $S --peek foo`, want: "v3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, m, _ := twoApps(t, 1, 1)
			a0 := unit(t, m, "a/0")
			uri := strings.TrimSpace(sh(t, a0, `secret-add --label mine foo=v1`))
			eq(t, "hook", sh(t, a0, "S="+uri+"; "+tc.hook+" 2>&1"), tc.want)
			if tc.after != "" {
				eq(t, "next hook", sh(t, a0, "S="+uri+"; "+tc.after+" 2>&1"), tc.wantAfter)
			}
		})
	}
}

// TestSecretMetadataShowsPendingChanges pins secret-info-get and secret-ids against this hook's writes, after
// Juju's HookContext.SecretMetadata (pending creates and pending metadata in, revision unchanged until commit,
// pending removes out) and secretsChangeRecorder (a secret-set cancels the hook's secret-remove).
func TestSecretMetadataShowsPendingChanges(t *testing.T) {
	cases := []struct{ name, hook, want, after, wantAfter string }{
		{name: "set metadata", hook: `secret-set $S --label mine2 --description d2 --rotate daily foo=v2; secret-info-get --label mine2 --format=json`,
			want: `{"$ID":{"description":"d2","label":"mine2","owner":"application","revision":1,"rotation":"daily"}}`},
		{name: "old label gone", hook: `secret-set $S --label mine2; secret-info-get --label mine 2>&1; true`, want: `ERROR secret "mine" not found`},
		{name: "create", hook: `u=$(secret-add --owner unit --label new foo=bar); secret-info-get --label new --format=json | grep -o '"label":"new","owner":"unit","revision":1'`,
			want: `"label":"new","owner":"unit","revision":1`},
		{name: "no label", hook: `u=$(secret-add foo=bar); secret-info-get $u --format=json | grep -o '"label":""'`, want: `"label":""`},
		{name: "removed", hook: `secret-remove $S; secret-info-get $S 2>&1; secret-ids --format=json`, want: "ERROR secret \"$ID\" not found\nnull"},
		{name: "remove then set", hook: `secret-remove $S; secret-set $S foo=v2; secret-ids --format=json`, want: `["$ID"]`, after: `secret-get $S foo`, wantAfter: "v2"},
		{name: "set then remove", hook: `secret-set $S foo=v2; secret-remove $S; secret-ids --format=json`, want: "null", after: `secret-ids --format=json`, wantAfter: "null"},
		{name: "pending grant", hook: `secret-grant $S -r db:2; secret-info-get $S --format=json | grep -o '"access":[^]]*]'`,
			want: `"access":[{"role":"view","scope":"relation-db:2","target":"application-b"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, m, _ := twoApps(t, 1, 1)
			a0 := unit(t, m, "a/0")
			uri := strings.TrimSpace(sh(t, a0, `secret-add --label mine foo=v1`))
			id := uri[strings.LastIndex(uri, "/")+1:]
			eq(t, "hook", sh(t, a0, "S="+uri+"; "+tc.hook), strings.ReplaceAll(tc.want, "$ID", id))
			if tc.after != "" {
				eq(t, "next hook", sh(t, a0, "S="+uri+"; "+tc.after+" 2>&1"), strings.ReplaceAll(tc.wantAfter, "$ID", id))
			}
		})
	}
}

// TestSecretExpireForms pins --expire as Juju's secretUpsertCommand.Init (worker/uniter/runner/jujuc/secret-add.go)
// reads it.
func TestSecretExpireForms(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	cases := []struct{ expire, want string }{
		{"2030-01-02T03:04:05Z", `"expiry":"2030-01-02T03:04:05Z"`},
		{"2030-01-02T05:04:05+02:00", `"expiry":"2030-01-02T03:04:05Z"`},
		{"2030-01-02T03:04:05", `"expiry":"2030-01-02T03:04:05Z"`}, // no zone: UTC (ops sends this form)
		{"0s", `ERROR negative expire duration "0s" not valid` + "\nrc=2"},
		{"-1h", `ERROR negative expire duration "-1h" not valid` + "\nrc=2"},
		{"soon", `ERROR expire time or duration "soon" not valid` + "\nrc=2"},
		{"2030-01-02", `ERROR expire time or duration "2030-01-02" not valid` + "\nrc=2"},
	}
	for _, tc := range cases {
		for _, tool := range []string{"add", "set"} {
			cmd := `u=$(secret-add --owner unit foo=bar) && secret-info-get $u --format=json | grep -o '"expiry":"[^"]*"'` // set case below
			if tool == "add" {
				cmd = `u=$(secret-add --owner unit --expire ` + tc.expire + ` foo=bar 2>&1) || { echo "$u"; echo rc=2; exit 0; }; secret-info-get $u --format=json | grep -o '"expiry":"[^"]*"'`
			} else {
				cmd = `u=$(secret-add --owner unit foo=bar); secret-set $u --expire ` + tc.expire + ` 2>&1 || { echo rc=$?; exit 0; }; secret-info-get $u --format=json | grep -o '"expiry":"[^"]*"'`
			}
			eq(t, "secret-"+tool+" --expire "+tc.expire, sh(t, a0, cmd), tc.want)
		}
	}
	// A duration counts from now.
	out := sh(t, a0, `u=$(secret-add --owner unit --expire 1h foo=bar); secret-info-get $u --format=json`)
	if !strings.Contains(out, `"expiry":"`+time.Now().Add(time.Hour).UTC().Format("2006-01-02T15")) {
		t.Errorf("--expire 1h: %s", out)
	}
}

// TestSecretSizeLimits pins Juju 3.6's content limits before the 1 MB raise (core/secrets/createsecret.go): 8 KiB a
// value, 64 KiB a secret, and a --file or key#file larger than its limit refused before parsing.
func TestSecretSizeLimits(t *testing.T) {
	_, m, _ := twoApps(t, 1, 1)
	a0 := unit(t, m, "a/0")
	const gen = `gen() { head -c $1 /dev/zero | tr '\0' a; }; `
	cases := []struct{ name, cmd, want string }{
		{"value at the limit", `secret-add --owner unit big=$(gen 8192) >/dev/null && echo ok`, "ok"},
		{"value over", `secret-add --owner unit big=$(gen 8193)`, `ERROR secret content for key "big" too large: 8193 bytes` + "\nrc=2"},
		{"base64 value measured as given", `secret-add --owner unit big#base64=$(gen 8196)`, `ERROR secret content for key "big#base64" too large: 8196 bytes` + "\nrc=2"},
		{"secret over", `secret-add --owner unit $(for k in aaa bbb ccc ddd eee fff ggg hhh iii; do printf '%s=%s ' $k $(gen 8000); done)`,
			`ERROR secret content too large: 72000 bytes` + "\nrc=2"},
		{"key#file over", `gen 8193 > v.txt; secret-add --owner unit big#file=v.txt`, `ERROR secret content in file "v.txt" too large: 8193 bytes` + "\nrc=2"},
		{"--file over", `{ printf '{"big":"'; gen 65530; printf '"}'; } > c.json; secret-add --owner unit --file c.json`,
			`ERROR secret content in file "c.json" too large: 65540 bytes` + "\nrc=2"},
		{"--file value over", `{ printf '{"big":"'; gen 9000; printf '"}'; } > c.json; secret-add --owner unit --file c.json`,
			`ERROR secret content for key "big" too large: 9000 bytes` + "\nrc=2"},
		{"secret-set too", `u=$(secret-add --owner unit foo=bar); secret-set $u big=$(gen 8193)`, `ERROR secret content for key "big" too large: 8193 bytes` + "\nrc=2"},
	}
	for _, tc := range cases {
		eq(t, tc.name, sh(t, a0, gen+tc.cmd+" 2>&1; rc=$?; [ $rc = 0 ] || echo rc=$rc"), tc.want)
	}
}

// newSimAt is newSim with the controller clock stopped at base (it moves only with Advance).
func newSimAt(t *testing.T, base time.Time) *sim.Sim {
	t.Helper()
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, NoContainers: true, HookTimeout: 30 * time.Second,
		Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var clockBase = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

// advance moves the clock by d and settles; it returns the secret-expired hooks run meanwhile, as "label/rev", sorted
// (Juju's worker sends a firing's revisions in map order).
func advance(t *testing.T, s *sim.Sim, u *sim.Unit, d time.Duration) []string {
	t.Helper()
	before := strings.Count(readFile(t, u, "events.log"), "\n")
	if _, err := s.Advance(d); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	var out []string
	lines := strings.Split(readFile(t, u, "events.log"), "\n")
	for _, l := range lines[before:] {
		if m := regexp.MustCompile(`^secret-expired .* label=(\S*) rev=(\d+)`).FindStringSubmatch(l); m != nil {
			out = append(out, m[1]+"/"+m[2])
		}
	}
	sort.Strings(out)
	return out
}

func expiry(t *testing.T, u *sim.Unit, label string) string {
	t.Helper()
	out := sh(t, u, `secret-info-get --label `+label+` --format=json | grep -o '"expiry":"[^"]*"' || echo none`)
	return strings.TrimSpace(out)
}

// TestSecretExpiryPerRevision pins that Juju keeps the expiry per revision (state/secrets.go secretRevisionDoc
// ExpireTime, UpdateSecret): a new revision without --expire has none (secret-info-get shows the latest revision's),
// secret-set --expire without content sets the latest revision's, and an older revision keeps expiring on its own.
func TestSecretExpiryPerRevision(t *testing.T) {
	s := newSimAt(t, clockBase)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --owner unit --label c --expire 1h foo=v1"))
	eq(t, "revision 1", expiry(t, a0, "c"), `"expiry":"2030-01-01T13:00:00Z"`)
	sh(t, a0, "secret-set "+uri+" foo=v2")
	eq(t, "revision 2 without --expire", expiry(t, a0, "c"), "none")
	sh(t, a0, "secret-set "+uri+" --expire 3h")
	eq(t, "revision 2 after --expire alone", expiry(t, a0, "c"), `"expiry":"2030-01-01T15:00:00Z"`)
	eq(t, "revision 1 still expires at 13:00", advance(t, s, a0, time.Hour), []string{"c/1"})
	sh(t, a0, "secret-set "+uri+" foo=v3 --expire 2030-01-01T16:00:00Z")
	eq(t, "a new revision gets the --expire given with it", expiry(t, a0, "c"), `"expiry":"2030-01-01T16:00:00Z"`)
	if st := s.State(); len(st.Secrets) != 1 || st.Secrets[0].Expire != "2030-01-01T16:00:00Z" {
		t.Errorf("state: %+v", st.Secrets)
	}
	eq(t, "revision 2 at 15:00", advance(t, s, a0, 2*time.Hour), []string{"c/1", "c/2"})
}

// TestSecretExpiryRetriesAndGranularity pins Juju's expiry worker (worker/secretexpire, Worker.expire): a revision
// fires once its expiry, truncated to the minute, is not after the firing time, so a timer firing sweeps revisions
// due within that minute; it fires again every ExpireRetryDelay (core/secrets, 5 minutes) while the revision stays
// and keeps its expiry, once per clock step however many retries the step spans (the uniter's pending set); a new
// expiry restarts the schedule and removing the revision stops it.
func TestSecretExpiryRetriesAndGranularity(t *testing.T) {
	s := newSimAt(t, clockBase)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	sh(t, a0, "secret-add --owner unit --label early --expire 2030-01-01T13:00:10Z key=v")
	sh(t, a0, "secret-add --owner unit --label late --expire 2030-01-01T13:00:50Z key=v")
	sh(t, a0, "secret-add --owner unit --label next --expire 2030-01-01T13:01:20Z key=v")
	eq(t, "not due", advance(t, s, a0, time.Hour), nil)
	eq(t, "13:00:10 sweeps the 13:00:50 revision too", advance(t, s, a0, 10*time.Second), []string{"early/1", "late/1"})
	eq(t, "13:01:20", advance(t, s, a0, 70*time.Second), []string{"next/1"})
	eq(t, "retry not yet due", advance(t, s, a0, 3*time.Minute), nil)
	// 13:05:20: early and late retry at 13:05:10 and 13:05:50, the same minute.
	eq(t, "retries after 5 minutes", advance(t, s, a0, time.Minute), []string{"early/1", "late/1"})
	sh(t, a0, `secret-set $(secret-info-get --label late --format=json | grep -o '^{"[^"]*' | cut -c3-) --expire 1h`)
	sh(t, a0, `secret-remove $(secret-info-get --label next --format=json | grep -o '^{"[^"]*' | cut -c3-)`)
	// 13:35:20 spans six retries of early: it runs once; late has a new expiry, next is gone.
	eq(t, "one hook for a step over several retries", advance(t, s, a0, 30*time.Minute), []string{"early/1"})
	eq(t, "the new expiry", advance(t, s, a0, 30*time.Minute), []string{"early/1", "late/1"})
}

// TestSecretExpiryClock pins the controller clock: relative --expire counts from it (Juju's jujuc reads the
// agent's clock), advances add up, and an obsolete revision's schedule restarts from its expiry (marking it
// obsolete updates its record, state/secrets.go markObsoleteRevisionOps, which the expiry watcher sends again).
func TestSecretExpiryClock(t *testing.T) {
	s := newSimAt(t, clockBase)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --owner unit --label c --expire 90m foo=v1"))
	eq(t, "--expire 90m", expiry(t, a0, "c"), `"expiry":"2030-01-01T13:30:00Z"`)
	eq(t, "not yet", advance(t, s, a0, time.Hour), nil)
	eq(t, "advances add up", advance(t, s, a0, 30*time.Minute), []string{"c/1"})
	if now := s.Now(); !now.Equal(clockBase.Add(90 * time.Minute)) {
		t.Errorf("Now() = %v", now)
	}
	eq(t, "relative to the advanced clock", sh(t, a0, "secret-add --owner unit --label d --expire 1h key=v >/dev/null; secret-info-get --label d --format=json | grep -o '\"expiry\":\"[^\"]*\"'"),
		`"expiry":"2030-01-01T14:30:00Z"`)
	eq(t, "nothing due at 13:32", advance(t, s, a0, 2*time.Minute), nil)
	n := len(a0.HookNames())
	sh(t, a0, "secret-set "+uri+" foo=v2")
	// Revision 1 is now obsolete (no consumer): secret-remove for it, and its expiry fires again at once.
	eq(t, "obsolete revision re-fires", advance(t, s, a0, 0), []string{"c/1"})
	eq(t, "hooks", hooksSince(a0, n), []string{"secret-remove", "secret-expired"})
	if _, err := s.Advance(-time.Second); err == nil {
		t.Error("Advance(-1s) accepted")
	}
}
