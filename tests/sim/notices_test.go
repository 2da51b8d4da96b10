package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/sim"
)

func TestPebbleCustomNoticeAndChecks(t *testing.T) {
	s := newContainerSim(t)
	m := addModel(t, s, "m")
	if _, err := m.Deploy("a", containerCharm(t), &sim.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0 := unit(t, m, "a/0")
	cl, err := a0.Container("workload").Client()
	if err != nil {
		t.Fatal(err)
	}
	n := len(a0.HookNames())
	if _, err := cl.Notify(&client.NotifyOptions{Type: client.CustomNotice, Key: "example.com/ping"}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "custom notice", hooksSince(a0, n), []string{"workload-pebble-custom-notice"})
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "workload=workload notice=custom:example.com/ping") {
		t.Errorf("events:\n%s", ev)
	}

	// A failing check: perform-check ends in Error -> pebble-check-failed.
	layer := `checks:
  chk:
    override: replace
    period: 100ms
    threshold: 1
    exec:
      command: /bin/false
`
	if err := cl.AddLayer(&client.AddLayerOptions{Combine: true, Label: "l", LayerData: []byte(layer)}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, cl, "perform-check", "Error")
	n = len(a0.HookNames())
	settle(t, s)
	eq(t, "check failed", hooksSince(a0, n), []string{"workload-pebble-check-failed"})
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "notice=: check=chk") {
		t.Errorf("events:\n%s", ev)
	}
	if err := cl.AddLayer(&client.AddLayerOptions{Combine: true, Label: "l", LayerData: []byte(strings.Replace(layer, "/bin/false", "/bin/true", 1))}); err != nil {
		t.Fatal(err)
	}
	waitChange(t, cl, "recover-check", "Done")
	n = len(a0.HookNames())
	settle(t, s)
	// The check runs every 100 ms: on a loaded machine /bin/true can miss its deadline once more after the
	// recovery, so a later check-failed may follow; the recovery must have run.
	got := hooksSince(a0, n)
	if len(got) == 0 || got[0] != "workload-pebble-check-recovered" {
		t.Errorf("want check-recovered first, got %v", got)
	}
}

func waitChange(t *testing.T, cl *client.Client, kind, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		chgs, _ := cl.Changes(&client.ChangesOptions{Selector: client.ChangesAll})
		for _, c := range chgs {
			if c.Kind == kind && c.Status == status {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s change in status %s", kind, status)
}
