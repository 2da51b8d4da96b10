package sim_test

import (
	"fmt"
	"strings"
	"testing"
)

func fmtAny(v any) string { return fmt.Sprint(v) }

func TestDeployHookOrderLeaderAndNonLeader(t *testing.T) {
	s := newSim(t)
	m := addModel(t, s, "m")
	deploy(t, m, "a", 2, nil)
	settle(t, s)
	eq(t, "leader", unit(t, m, "a/0").HookNames(), []string{
		"install", "peers-relation-created", "leader-elected", "config-changed", "start",
		"peers-relation-joined(a/1)", "peers-relation-changed(a/1)",
	})
	eq(t, "non-leader", unit(t, m, "a/1").HookNames(), []string{
		"install", "peers-relation-created", "leader-settings-changed", "config-changed", "start",
		"peers-relation-joined(a/0)", "peers-relation-changed(a/0)",
	})
	eq(t, "status after start without status-set", unit(t, m, "a/0").Status().String(), "unknown")
	if !strings.Contains(readFile(t, unit(t, m, "a/0"), "events.log"), "install rel= remote=") {
		t.Errorf("events.log missing install: %s", readFile(t, unit(t, m, "a/0"), "events.log"))
	}
}
