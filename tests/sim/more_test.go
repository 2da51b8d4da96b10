package sim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim"
)

func TestInstallHasNoRelationsInContext(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	a := deploy(t, m, "a", 1, nil)
	_ = a
	script(t, unit(t, m, "a/0"), "")
	// script.sh is written before the first Settle, so install already sources it.
	script(t, unit(t, m, "a/0"), `case "$JUJU_HOOK_NAME" in install|peers-relation-created|start) echo "$JUJU_HOOK_NAME $(relation-ids peers --format=json)" >> ids.txt;; esac`)
	settle(t, s)
	eq(t, "relation-ids", readFile(t, unit(t, m, "a/0"), "ids.txt"), "install []\npeers-relation-created [\"peers:0\"]\nstart [\"peers:0\"]")
}

func TestTrustChangeFiresConfigChanged(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	a := deploy(t, m, "a", 1, nil)
	settle(t, s)
	n := len(unit(t, m, "a/0").HookNames())
	a.SetTrust(true)
	settle(t, s)
	eq(t, "trust", hooksSince(unit(t, m, "a/0"), n), []string{"config-changed"})
}

func TestLeaderSetFiresLeaderSettingsChanged(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	eq(t, "non-leader leader-set", sh(t, a1, "leader-set k=v 2>&1; echo rc=$?"), "ERROR cannot write settings: not the leader\nrc=1")
	n0, n1 := len(a0.HookNames()), len(a1.HookNames())
	sh(t, a0, "leader-set k=v")
	settle(t, s)
	eq(t, "non-leader hook", hooksSince(a1, n1), []string{"leader-settings-changed"})
	eq(t, "leader no hook", hooksSince(a0, n0), nil)
	eq(t, "leader-get", sh(t, a1, "leader-get k; leader-get --format=json"), "v\n{\"k\":\"v\"}")
}

func TestSecretChangedForPeerReadersOfAppSecret(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	uri := strings.TrimSpace(sh(t, a0, "secret-add foo=v1"))
	eq(t, "peer read", sh(t, a1, "secret-get "+uri+" foo"), "v1")
	n0, n1 := len(a0.HookNames()), len(a1.HookNames())
	sh(t, a0, "secret-set "+uri+" foo=v2")
	settle(t, s)
	eq(t, "non-leader peer", hooksSince(a1, n1), []string{"secret-changed"})
	// The peer tracks the revision it read (juju/juju#16598): revision 1 stays until it refreshes.
	eq(t, "owner leader", hooksSince(a0, n0), []string(nil))
	eq(t, "peer reads the revision it tracks", sh(t, a1, "secret-get "+uri+" foo"), "v1")
	eq(t, "peer refresh", sh(t, a1, "secret-get --refresh "+uri+" foo"), "v2")
	settle(t, s)
	eq(t, "owner leader after the refresh", hooksSince(a0, n0), []string{"secret-remove"})
}

func TestSecretExpiredAndRotate(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 1, nil)
	settle(t, s)
	a0 := unit(t, m, "a/0")
	uri := strings.TrimSpace(sh(t, a0, "secret-add --label exp --expire 1h --rotate daily foo=v1"))
	info := sh(t, a0, "secret-info-get "+uri)
	if !strings.Contains(info, "rotation: daily") || !strings.Contains(info, "expiry: ") {
		t.Errorf("info:\n%s", info)
	}
	n := len(a0.HookNames())
	if _, err := s.Advance(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateSecret(uri); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "hooks", hooksSince(a0, n), []string{"secret-expired", "secret-rotate"})
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "secret-expired rel= remote= app= departing= secret="+uri+" label=exp rev=1") {
		t.Errorf("env:\n%s", ev)
	}
}

func TestLegacyHooksDirAndNoDispatch(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	dir := filepath.Join(t.TempDir(), "legacy")
	os.MkdirAll(filepath.Join(dir, "hooks"), 0o755)
	os.WriteFile(filepath.Join(dir, "metadata.yaml"), []byte("name: legacy\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hooks", "start"), []byte("#!/bin/sh\nstatus-set active legacy\n"), 0o755)
	if _, err := m.Deploy("l", dir, nil); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	u := unit(t, m, "l/0")
	eq(t, "hooks without an executable succeed", u.HookNames(), []string{"install", "leader-elected", "config-changed", "start"})
	eq(t, "hooks/start ran", u.Status().String(), "active: legacy")
}

func TestCharmArchiveDeploy(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	zipPath := filepath.Join(t.TempDir(), "testcharm.charm")
	if err := zipDir(charmDir(t), zipPath); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Deploy("z", zipPath, &sim.DeployOptions{Units: 1}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	st, err := os.Stat(filepath.Join(unit(t, m, "z/0").CharmDir(), "dispatch"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("dispatch mode: %v %v", st, err)
	}
	eq(t, "ran", unit(t, m, "z/0").HookNames()[0], "install")
}

// TestDeployRefusesInvalidApplicationNames pins juju deploy's name check (names.IsValidApplication): every
// dash-separated part after the first needs a letter. A test that deploys "req-00" would pass here and fail on Juju.
func TestDeployRefusesInvalidApplicationNames(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"req-a00", true}, {"app2", true}, {"tls-authority", true},
		{"req-00", false}, {"ca-rsa-2048", false}, {"2app", false}, {"App", false}, {"a--b", false}, {"a-", false},
	} {
		_, err := m.Deploy(tc.name, charmDir(t), nil)
		if (err == nil) != tc.ok {
			t.Errorf("deploy %q: err=%v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
