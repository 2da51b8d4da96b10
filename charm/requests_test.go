package charm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

func TestRequestCacheTrust(t *testing.T) {
	for _, tc := range []struct {
		hook   string
		leader bool
		kept   bool // the stored relation is still known
		usable bool // the hook may keep a cache at all
	}{
		{"certificates-relation-changed", true, true, true},
		{"update-status", true, true, true},
		{"config-changed", true, true, true},
		{"leader-elected", true, false, true},
		{"upgrade-charm", true, false, true},
		{"start", true, false, true},
		{"update-status", false, false, false},
		{"leader-settings-changed", false, false, false},
	} {
		t.Run(tc.hook+map[bool]string{true: "-leader", false: "-follower"}[tc.leader], func(t *testing.T) {
			dir := t.TempDir()
			env := hooktool.Env{CharmDir: dir, HookName: "update-status"}
			c, err := openRequestCache(env, true)
			if err != nil {
				t.Fatal(err)
			}
			want := &relationBags{Relation: "certificates:7", App: "req", Units: map[string]map[string]string{"req/0": {"k": "v"}}}
			if err := c.store(want); err != nil {
				t.Fatal(err)
			}
			env.HookName = tc.hook
			c, err = openRequestCache(env, tc.leader)
			if err != nil {
				t.Fatal(err)
			}
			got := c.load("certificates:7")
			if (got != nil) != tc.kept {
				t.Fatalf("loaded %+v, want kept %v", got, tc.kept)
			}
			if got != nil && (got.App != "req" || got.Units["req/0"]["k"] != "v") {
				t.Fatalf("loaded %+v", got)
			}
			if _, err := os.Stat(filepath.Join(dir, requestCacheDir)); (err == nil) != tc.kept {
				t.Fatalf("directory left %v, want %v", err == nil, tc.kept)
			}
			if (c.dir != "") != tc.usable {
				t.Fatalf("cache usable %v, want %v", c.dir != "", tc.usable)
			}
		})
	}
}

func TestRequestCacheUnreadable(t *testing.T) {
	dir := t.TempDir()
	env := hooktool.Env{CharmDir: dir, HookName: "update-status"}
	c, err := openRequestCache(env, true)
	if err != nil {
		t.Fatal(err)
	}
	path := c.path("certificates:3")
	for name, content := range map[string]string{
		"not JSON":      "{",
		"other version": `{"version":99,"relation":"certificates:3","units":{}}`,
		"other id":      `{"version":1,"relation":"certificates:4","units":{}}`,
		"no units":      `{"version":1,"relation":"certificates:3"}`,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		fresh, _ := openRequestCache(env, true)
		if b := fresh.load("certificates:3"); b != nil {
			t.Errorf("%s: loaded %+v, want unknown", name, b)
		}
	}
	if err := c.drop("certificates:3"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("dropped file still there: %v", err)
	}
	if err := c.drop("certificates:3"); err != nil {
		t.Fatalf("dropping twice: %v", err)
	}
}
