package sim_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/container"
	"github.com/tls-authority/tls-authority/tests/sim"
)

// containerCharm is the test charm: it declares a "workload" container backed by the
// "workload-image" resource.
func containerCharm(t *testing.T) string { return charmDir(t) }

func newContainerSim(t *testing.T) *sim.Sim {
	if os.Geteuid() != 0 {
		t.Skip("containers need root (mount namespaces)")
	}
	s, err := sim.New(&sim.Options{Dir: t.TempDir(), BinDir: binDir(), Log: testLog{t}, HookTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPebbleReadyAndNamespaces(t *testing.T) {
	s := newContainerSim(t)
	m := addModel(t, s, "m")
	image := t.TempDir()
	os.MkdirAll(container.ImagePath(image, container.ImageBinDir), 0o755)
	os.WriteFile(container.ImagePath(image, "/usr/local/bin/hello"), []byte("#!/bin/sh\necho hello from image\n"), 0o755)
	_, err := m.Deploy("a", containerCharm(t), &sim.DeployOptions{Units: 2, Resources: map[string]string{"workload-image": image}})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	eq(t, "leader hooks", a0.HookNames(), []string{
		"install", "peers-relation-created", "leader-elected", "config-changed", "start", "workload-pebble-ready",
		"peers-relation-joined(a/1)", "peers-relation-changed(a/1)",
	})
	if ev := readFile(t, a0, "events.log"); !strings.Contains(ev, "workload-pebble-ready rel= remote= app= departing= secret= label= rev= workload=workload") {
		t.Errorf("JUJU_WORKLOAD_NAME:\n%s", ev)
	}
	// The charm reaches Pebble at $SIM_CONTAINERS_DIR/<name>/pebble.socket and runs in its own
	// namespace: hostname a-1, hosts of the whole model.
	out := sh(t, a1, `test -S "$SIM_CONTAINERS_DIR/workload/pebble.socket" && echo socket; hostname; grep a-0 /etc/hosts`)
	eq(t, "charm container", out, "socket\na-1\n"+a0.Address()+"\ta-0.a-endpoints.m.svc.cluster.local a-0")
	c := a1.Container("workload")
	if c == nil {
		t.Fatal("no container")
	}
	stdout, _, err := c.Exec(10*time.Second, "/bin/sh", "-c", "hostname; hello; getent hosts a-0.a-endpoints.m.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "workload container", stdout, "a-1\nhello from image\n"+fmt.Sprintf("%-15s", a0.Address())+" a-0.a-endpoints.m.svc.cluster.local a-0")
	// A workload restart brings a new boot id: pebble-ready again.
	n := len(a1.HookNames())
	if err := a1.RestartContainer("workload"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	eq(t, "after restart", hooksSince(a1, n), []string{"workload-pebble-ready"})
	// Scale up: the new unit appears in every container's /etc/hosts.
	if err := m.App("a").Scale(3); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	stdout, _, err = c.Exec(10*time.Second, "getent", "hosts", "a-2")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "hosts updated", strings.Fields(stdout)[0], unit(t, m, "a/2").Address())
}

// TestContainersHavePrivateTmp pins that a unit's charm container and workload containers each have their own /tmp
// and HOME, as a pod's containers each have their own filesystem: what a hook or an exec writes there is not on the
// host nor in the other containers, and a hook tool still reads a --file the hook wrote to its /tmp.
func TestContainersHavePrivateTmp(t *testing.T) {
	s := newContainerSim(t)
	m := addModel(t, s, "m")
	if _, err := m.Deploy("a", containerCharm(t), &sim.DeployOptions{Units: 2}); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	a0, a1 := unit(t, m, "a/0"), unit(t, m, "a/1")
	name := fmt.Sprintf("private-%d-%d", os.Getpid(), time.Now().UnixNano())
	// The hook writes state-set's --file in its /tmp, and its HOME: jujuc (in the same container) reads the file.
	out := sh(t, a0, `printf 'k: from-tmp\n' > /tmp/`+name+` && echo x > /root/`+name+` && state-set --file /tmp/`+name+` && state-get k`)
	eq(t, "state-get", strings.TrimSpace(out), "from-tmp")
	eq(t, "charm container keeps its /tmp", strings.TrimSpace(sh(t, a0, "cat /tmp/"+name)), "k: from-tmp")
	eq(t, "the other unit's charm container", strings.TrimSpace(sh(t, a1, "test -e /tmp/"+name+" || test -e /root/"+name+" || echo none")), "none")
	c := a0.Container("workload")
	if c == nil {
		t.Fatal("no container")
	}
	if _, _, err := c.Exec(10*time.Second, "test", "!", "-e", "/tmp/"+name); err != nil {
		t.Errorf("the workload container sees the charm container's /tmp: %v", err)
	}
	if _, _, err := c.Exec(10*time.Second, "/bin/sh", "-c", "echo w > /tmp/w-"+name+" && echo w > /root/w-"+name); err != nil {
		t.Fatal(err)
	}
	eq(t, "the charm container sees the workload's /tmp", strings.TrimSpace(sh(t, a0, "test -e /tmp/w-"+name+" || test -e /root/w-"+name+" || echo none")), "none")
	for _, p := range []string{"/tmp/" + name, "/root/" + name, "/tmp/w-" + name, "/root/w-" + name} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			os.Remove(p)
			t.Errorf("host has %s (%v)", p, err)
		}
	}
}
