package integration

import (
	"github.com/juju/juju/rpc/params"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSkipsWithoutController pins the skip line: without the variables every test says which to set, in one line.
func TestSkipsWithoutController(t *testing.T) {
	msg := SkipMessage([]string{"TLS_AUTHORITY_CONTROLLER"})
	for _, v := range append(envVars, envFileVar) {
		if !strings.Contains(msg, v) {
			t.Errorf("skip line %q does not name %s", msg, v)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("skip line %q is more than one line", msg)
	}
}

// TestEnvFile: the env file stands in for unset variables, a set variable wins, and JUJU_DATA from the file points
// the client store at tests/juju's.
func TestEnvFile(t *testing.T) {
	for _, v := range append(envVars, "JUJU_MODEL", "TLS_AUTHORITY_KEEP_MODELS") {
		t.Setenv(v, "")
	}
	t.Setenv("JUJU_DATA", "")
	os.Unsetenv("JUJU_DATA")
	path := filepath.Join(t.TempDir(), "env")
	// tests/juju's names: JUJU_CONTROLLER, TLSA_AUTHORITY_IMAGE.
	content := "# tests/juju\nexport JUJU_CONTROLLER=local\nTLS_AUTHORITY_CHARM='/b/tls-authority_amd64.charm'\n\n" +
		"export TLSA_AUTHORITY_IMAGE=\"ghcr.io/x/tls-authority-agent:dev\"\nTLS_REQUIRER_CHARM=/b/r.charm\nJUJU_DATA=/s/juju\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envFileVar, path)
	t.Setenv("TLS_REQUIRER_IMAGE", "from-env")
	t.Setenv("TLS_AUTHORITY_CHARM", "from-env.charm")
	env, missing, err := EnvFromOS()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 {
		t.Errorf("missing %v", missing)
	}
	want := Env{Controller: "local", Charm: "from-env.charm", Image: "ghcr.io/x/tls-authority-agent:dev",
		RequirerCharm: "/b/r.charm", RequirerImage: "from-env", ModelPrefix: "tls-it"}
	if *env != want {
		t.Errorf("env %+v, want %+v", *env, want)
	}
	if got := os.Getenv("JUJU_DATA"); got != "/s/juju" {
		t.Errorf("JUJU_DATA %q, want /s/juju", got)
	}
	if err := os.WriteFile(path, []byte("no equals sign\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnvFromOS(); err == nil {
		t.Error("a line without = was accepted")
	}
}

// TestReadLocalCharm: Juju's own reader (core/charm NewCharmAtPath, what the CLI's deploy uses) accepts a charm
// packed by cmd/pack-charm, and the origin Deploy gives it names the manifest's base and architecture. It needs no
// controller: it builds and packs the bulk requirer.
func TestReadLocalCharm(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build the bulk requirer")
	}
	ch, curl, origin, err := ReadLocalCharm(buildBulkRequirer(t))
	if err != nil {
		t.Fatal(err)
	}
	if curl.Name != "bulk-requirer" || curl.Schema != "local" || ch.Meta().Name != "bulk-requirer" {
		t.Errorf("charm %s (schema %s), meta name %s", curl.Name, curl.Schema, ch.Meta().Name)
	}
	if origin.Source != "local" || origin.Base.OS != "ubuntu" || origin.Base.Channel.Track != "24.04" || origin.Architecture != "amd64" {
		t.Errorf("origin %+v, want local, ubuntu@24.04, amd64", origin)
	}
}

// TestActiveIdleSeesErrorsBehindWaitingUnits: a unit in error is reported even when a unit sorted before it is
// still waiting (seen on Juju 4.1-beta2: app-a/1 waiting hid authority-a/0's failed hook until the deadline).
func TestActiveIdleSeesErrorsBehindWaitingUnits(t *testing.T) {
	st := &params.FullStatus{Applications: map[string]params.ApplicationStatus{
		"app-a": {Units: map[string]params.UnitStatus{"app-a/0": {
			WorkloadStatus: params.DetailedStatus{Status: "waiting"}, AgentStatus: params.DetailedStatus{Status: "idle"}}}},
		"authority-a": {Units: map[string]params.UnitStatus{"authority-a/0": {
			WorkloadStatus: params.DetailedStatus{Status: "error", Info: "hook failed"}, AgentStatus: params.DetailedStatus{Status: "idle"}}}},
	}}
	if ok, why := activeIdle(st); ok || !strings.HasPrefix(why, "error: authority-a/0") {
		t.Errorf("activeIdle = %v, %q; want the error of authority-a/0", ok, why)
	}
	st.Applications["authority-a"].Units["authority-a/0"] = params.UnitStatus{
		WorkloadStatus: params.DetailedStatus{Status: "active"}, AgentStatus: params.DetailedStatus{Status: "idle"}}
	if ok, why := activeIdle(st); ok || why != "app-a/0 is waiting/idle: " {
		t.Errorf("activeIdle = %v, %q; want app-a/0 waiting", ok, why)
	}
}
