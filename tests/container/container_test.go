package container_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/container"
)

var pebbleBin, nsexecBin string

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		var err error
		pebbleBin, nsexecBin, err = container.Binaries(container.DefaultBinDir())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount namespaces")
	}
}

// start starts a container in a temp dir and stops it at cleanup.
func start(t *testing.T, ns container.Namespace) *container.Container {
	t.Helper()
	return container.StartForTest(t, t.Name(), ns)
}

func exec(t *testing.T, c *container.Container, argv ...string) string {
	t.Helper()
	out, _, err := c.Exec(30*time.Second, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hostSnapshot is what must not change on the host: its CA bundle and its
// local CA dir.
type hostSnapshot struct {
	bundle []byte
	local  string
}

func snapshotHost(t *testing.T) hostSnapshot {
	t.Helper()
	bundle, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	return hostSnapshot{bundle: bundle, local: dirDigest(t, "/usr/local/share/ca-certificates")}
}

func (s hostSnapshot) check(t *testing.T) {
	t.Helper()
	after := snapshotHost(t)
	if !bytes.Equal(s.bundle, after.bundle) {
		t.Error("host /etc/ssl/certs/ca-certificates.crt changed")
	}
	if s.local != after.local {
		t.Errorf("host /usr/local/share/ca-certificates changed:\n%s\n---\n%s", s.local, after.local)
	}
}

func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		data, _ := os.ReadFile(path)
		lines = append(lines, fmt.Sprintf("%s %v %x", path, info.Mode(), sha256.Sum256(data)))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func newCA(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestHostnameAndHosts(t *testing.T) {
	fqdn := "tls-authority-0.tls-authority-endpoints.m.svc.cluster.local"
	c := start(t, container.Namespace{
		Hostname: "tls-authority-0",
		Hosts: []container.HostEntry{
			{IP: "127.1.0.1", Names: []string{fqdn, "tls-authority-0"}},
			{IP: "127.1.0.2", Names: []string{"other-0"}},
		},
	})
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"hostname"}, "tls-authority-0\n"},
		{[]string{"getent", "hosts", fqdn}, "127.1.0.1"},
		{[]string{"getent", "hosts", "other-0"}, "127.1.0.2"},
		{[]string{"getent", "hosts", "localhost"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		out := exec(t, c, tt.argv...)
		if !strings.HasPrefix(out, tt.want) {
			t.Errorf("%q printed %q, want prefix %q", tt.argv, out, tt.want)
		}
	}
	if host, _ := os.Hostname(); host == "tls-authority-0" {
		t.Errorf("host's hostname changed")
	}
}

func TestTrustStoreIsPrivate(t *testing.T) {
	before := snapshotHost(t)
	c := start(t, container.Namespace{Hostname: "app-0"})
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ca := newCA(t, "container test CA")
	err = cl.Push(&client.PushOptions{Path: "/usr/local/share/ca-certificates/x.crt", Source: bytes.NewReader(ca)})
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Push(&client.PushOptions{Path: "/tmp/" + filepath.Base(c.Rootfs()) + "-x.pem", Source: bytes.NewReader(ca)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/tmp/" + filepath.Base(c.Rootfs()) + "-x.pem") })
	out := exec(t, c, "update-ca-certificates")
	if !strings.Contains(out, "1 added") {
		t.Errorf("update-ca-certificates printed %q, want 1 added", out)
	}
	out = exec(t, c, "openssl", "verify", "-CApath", "/etc/ssl/certs", "/tmp/"+filepath.Base(c.Rootfs())+"-x.pem")
	if !strings.Contains(out, ": OK") {
		t.Errorf("openssl verify printed %q", out)
	}
	bundle := exec(t, c, "cat", "/etc/ssl/certs/ca-certificates.crt")
	if !strings.Contains(bundle, string(ca)) {
		t.Error("container bundle lacks the pushed CA")
	}
	// The container's store is the host dir Rootfs()/etc/ssl/certs.
	private, err := os.ReadFile(filepath.Join(c.Rootfs(), "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || !bytes.Contains(private, ca) {
		t.Errorf("rootfs bundle lacks the pushed CA (%v)", err)
	}
	before.check(t)
	if bytes.Contains(before.bundle, ca) {
		t.Error("host bundle has the CA")
	}
}

func TestVarLibIsPrivate(t *testing.T) {
	c := start(t, container.Namespace{Hostname: "app-0"})
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	name := "x-" + filepath.Base(filepath.Dir(c.Rootfs()))
	err = cl.Push(&client.PushOptions{Path: "/var/lib/" + name + "/f", Source: strings.NewReader("hello"), MakeDirs: true})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(c.Rootfs(), "var/lib", name, "f"))
	if err != nil || string(data) != "hello" {
		t.Errorf("rootfs file = %q, %v; want hello", data, err)
	}
	if _, err := os.Stat("/var/lib/" + name); !os.IsNotExist(err) {
		t.Errorf("host /var/lib/%s exists (%v)", name, err)
	}
}

func TestImageBin(t *testing.T) {
	needRoot(t)
	image := t.TempDir()
	os.MkdirAll(container.ImagePath(image, container.ImageBinDir), 0o755)
	os.WriteFile(container.ImagePath(image, "/usr/local/bin/hello-image"), []byte("#!/bin/sh\necho from image\n"), 0o755)
	c := start(t, container.Namespace{Hostname: "app-0", Image: image})
	if out := exec(t, c, "hello-image"); out != "from image\n" {
		t.Errorf("hello-image printed %q", out)
	}
	// Read-only, as an image layer is.
	if _, _, err := c.Exec(10*time.Second, "touch", "/usr/local/bin/x"); err == nil {
		t.Error("/usr/local/bin is writable")
	}
}

func TestRestartNewBootID(t *testing.T) {
	c := start(t, container.Namespace{Hostname: "app-0"})
	first, err := c.BootID()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if first == strings.TrimSpace(string(host)) {
		t.Error("boot id is the host's")
	}
	cl, _ := c.Client()
	cl.Push(&client.PushOptions{Path: "/var/lib/keep", Source: strings.NewReader("kept")})
	oldPID := c.PID()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	second, err := c.BootID()
	if err != nil {
		t.Fatal(err)
	}
	if first == second || second == "" {
		t.Errorf("boot id %q after restart, was %q", second, first)
	}
	if c.PID() == oldPID {
		t.Error("same Pebble process after restart")
	}
	if out := exec(t, c, "cat", "/var/lib/keep"); out != "kept" {
		t.Errorf("rootfs not kept across restart: %q", out)
	}
}

// startStubborn starts, in a new container, the worst case for stopping it: a service in its own process group
// that ignores SIGTERM, and a long exec. It returns the container and its mount namespace, once the three
// processes (with Pebble) run there.
func startStubborn(t *testing.T) (*container.Container, string) {
	t.Helper()
	c := start(t, container.Namespace{Hostname: "app-0"})
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	layer := `
services:
  stubborn:
    override: replace
    command: /bin/sh -c "trap '' TERM; while true; do sleep 1; done"
    startup: enabled
`
	if err := cl.AddLayer(&client.AddLayerOptions{Label: "l", LayerData: []byte(layer)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Start(&client.ServiceOptions{Names: []string{"stubborn"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Exec(&client.ExecOptions{Command: []string{"sleep", "600"}}); err != nil {
		t.Fatal(err)
	}
	mntNS := c.MountNamespace()
	deadline := time.Now().Add(5 * time.Second)
	for len(container.NamespaceProcesses(mntNS)) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := container.NamespaceProcesses(mntNS); len(pids) < 3 {
		t.Fatalf("want pebble, service and exec running, got %v", pids)
	}
	return c, mntNS
}

func TestStopLeavesNoProcess(t *testing.T) {
	c, mntNS := startStubborn(t)
	pid := c.PID()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := container.NamespaceProcesses(mntNS); len(left) != 0 {
		t.Errorf("processes left: %v", left)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("pebble %d still alive", pid)
	}
	if c.PID() != 0 {
		t.Error("PID after Stop")
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestPebbleDeathTakesItsProcesses: Pebble killed outright (as Pdeathsig kills it when the test binary dies before
// its cleanup runs, so no Stop) leaves nothing behind, not a service in its own process group that ignores SIGTERM,
// not an exec: the kernel kills what is left in the PID namespace whose init Pebble is. Before that, a killed
// simulator's agents went on listening on their addresses.
func TestPebbleDeathTakesItsProcesses(t *testing.T) {
	c, mntNS := startStubborn(t)
	if err := syscall.Kill(c.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := container.NamespaceProcesses(mntNS)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes outlived Pebble: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcIsTheContainers: a container's /proc is its PID namespace's, as in a pod: Pebble is its PID 1 and a
// process reads itself at /proc/self (the agent's process metrics do), which the host's /proc gets wrong.
func TestProcIsTheContainers(t *testing.T) {
	c := start(t, container.Namespace{Hostname: "app-0"})
	if out := exec(t, c, "cat", "/proc/1/comm"); out != "pebble\n" {
		t.Errorf("PID 1 is %q, want pebble", out)
	}
	// read is a builtin: the shell itself opens /proc/self/stat, whose first field is its pid as /proc sees it.
	out := exec(t, c, "/bin/sh", "-c", `read pid rest < /proc/self/stat; echo "$pid $$"`)
	if f := strings.Fields(out); len(f) != 2 || f[0] != f[1] {
		t.Errorf("/proc/self and the shell's own pid differ: %q", out)
	}
}

func TestNamespaceCommand(t *testing.T) {
	needRoot(t)
	ns := container.Namespace{
		Root:     t.TempDir(),
		Hostname: "cmd-0",
		Hosts:    []container.HostEntry{{IP: "127.2.0.1", Names: []string{"cmd-0.example", "cmd-0"}}},
	}
	if err := ns.Prepare(); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Command(nsexecBin, "/bin/sh", "-c", "hostname; cat /etc/hosts").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "cmd-0\n127.0.0.1\tlocalhost\n127.2.0.1\tcmd-0.example cmd-0\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// Prepare again: idempotent, trust store not reseeded over changes.
	marker := filepath.Join(ns.Rootfs(), "etc/ssl/certs/marker")
	os.WriteFile(marker, nil, 0o644)
	if err := ns.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("second Prepare lost the container's files")
	}
}

func TestPrepareSeedsTrustStore(t *testing.T) {
	ns := container.Namespace{Root: t.TempDir()}
	if err := ns.Prepare(); err != nil {
		t.Fatal(err)
	}
	host, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skip("host has no CA bundle")
	}
	got, err := os.ReadFile(filepath.Join(ns.Rootfs(), "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || !bytes.Equal(got, host) {
		t.Errorf("seeded bundle differs from the host's (%v)", err)
	}
	entries, _ := os.ReadDir("/etc/ssl/certs")
	for _, e := range entries {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		want, _ := os.Readlink(filepath.Join("/etc/ssl/certs", e.Name()))
		got, err := os.Readlink(filepath.Join(ns.Rootfs(), "etc/ssl/certs", e.Name()))
		if err != nil || got != want {
			t.Errorf("link %s = %q (%v), want %q", e.Name(), got, err, want)
		}
		break
	}
	for _, d := range []string{"usr/local/share/ca-certificates", "etc/ca-certificates/update.d", "var/lib"} {
		entries, err := os.ReadDir(filepath.Join(ns.Rootfs(), d))
		if err != nil || len(entries) != 0 {
			t.Errorf("%s: %d entries, %v; want empty dir", d, len(entries), err)
		}
	}
}

func TestStartErrors(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		opts container.Options
	}{
		{"no dir", container.Options{PebbleBinary: pebbleBin, NSExecBinary: nsexecBin}},
		{"no pebble", container.Options{Dir: t.TempDir(), NSExecBinary: nsexecBin}},
		{"bad pebble", container.Options{Dir: t.TempDir(), PebbleBinary: "/bin/false", NSExecBinary: nsexecBin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := container.Start(&tt.opts)
			if err == nil {
				c.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), "cannot ") {
				t.Errorf("error %q does not start with cannot", err)
			}
		})
	}
}

// TestScratchDirsArePrivate pins that a container's /tmp, /var/tmp, /dev/shm, HOME (/root) and /run are its own:
// a file written there is neither on the host nor in another container, Pebble push and pull reach it, and a
// restart starts them empty (a restarted Kubernetes container gets a fresh writable layer). The containers' own
// dirs are below the host's /tmp (t.TempDir), so this also pins that Pebble still reaches its state and socket.
func TestScratchDirsArePrivate(t *testing.T) {
	a := start(t, container.Namespace{Hostname: "app-0"})
	b := start(t, container.Namespace{Hostname: "app-1"})
	name := fmt.Sprintf("probe-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, dir := range []string{"/tmp", "/var/tmp", "/dev/shm", "/root", "/run"} {
		t.Run(dir, func(t *testing.T) {
			p := filepath.Join(dir, name)
			exec(t, a, "/bin/sh", "-c", "echo written > "+p)
			if out := exec(t, a, "cat", p); out != "written\n" {
				t.Errorf("%s in the container = %q", p, out)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				os.Remove(p)
				t.Errorf("host has %s (%v)", p, err)
			}
			if _, _, err := b.Exec(10*time.Second, "test", "!", "-e", p); err != nil {
				t.Errorf("the other container sees %s: %v", p, err)
			}
		})
	}
	cl, err := a.Client()
	if err != nil {
		t.Fatal(err)
	}
	pushed := "/tmp/pushed-" + name
	if err := cl.Push(&client.PushOptions{Path: pushed, Source: strings.NewReader("pushed")}); err != nil {
		t.Fatal(err)
	}
	var pulled bytes.Buffer
	if err := cl.Pull(&client.PullOptions{Path: pushed, Target: &pulled}); err != nil || pulled.String() != "pushed" {
		t.Errorf("pull %s = %q, %v", pushed, pulled.String(), err)
	}
	if _, err := os.Stat(pushed); !os.IsNotExist(err) {
		os.Remove(pushed)
		t.Errorf("host has the pushed %s (%v)", pushed, err)
	}
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Exec(10*time.Second, "test", "!", "-e", pushed); err != nil {
		t.Errorf("%s survived a restart: %v", pushed, err)
	}
}

// TestNamespaceCommandKeep pins the charm container's case: a command in a namespace has a private /tmp, yet still
// reaches the host paths it keeps although they are below the host's /tmp.
func TestNamespaceCommandKeep(t *testing.T) {
	needRoot(t)
	kept := t.TempDir() // below /tmp
	os.WriteFile(filepath.Join(kept, "in"), []byte("from host"), 0o644)
	ns := container.Namespace{Root: t.TempDir(), Hostname: "cmd-0", Keep: []string{kept}}
	if err := ns.Prepare(); err != nil {
		t.Fatal(err)
	}
	scratch := fmt.Sprintf("/tmp/scratch-%d-%d", os.Getpid(), time.Now().UnixNano())
	script := "cat " + kept + "/in && echo secret > " + scratch + " && cat " + scratch + " && echo back > " + kept + "/out"
	out, err := ns.Command(nsexecBin, "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if string(out) != "from hostsecret\n" {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		os.Remove(scratch)
		t.Errorf("host has %s (%v)", scratch, err)
	}
	if b, err := os.ReadFile(filepath.Join(kept, "out")); err != nil || string(b) != "back\n" {
		t.Errorf("kept dir not shared with the host: %q, %v", b, err)
	}
}
