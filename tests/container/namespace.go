package container

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// HostEntry is one line of the container's /etc/hosts.
type HostEntry struct {
	IP    string
	Names []string
}

// Namespace describes a container's private view of the host filesystem.
type Namespace struct {
	Root     string      // host dir; the private dirs live under Root/rootfs/<path>
	Hostname string      // e.g. "tls-authority-0"
	Hosts    []HostEntry // written to Root/hosts, bind-mounted on /etc/hosts (plus 127.0.0.1 localhost)
	Image    string      // optional host dir laid out as the rock's root filesystem; see ImagePath
	// Keep lists host paths the container must still reach although a scratch dir hides them (its Pebble state
	// dir and socket, the binaries it runs, a socket it talks to): each is bind-mounted back at the same path.
	Keep []string
}

// ImageBinDir is the one directory of an image a container sees, read-only, as an image layer is: where the rocks
// (rockcraft.yaml, tests/requirer/server/rockcraft.yaml) put their binaries.
const ImageBinDir = "/usr/local/bin"

// ImagePath is where an image directory holds the file a container sees at the absolute path p. An image directory
// is laid out as the rock's root filesystem (`make image` writes build/image/usr/local/bin/tls-authority-agent), so
// the simulator runs the files at the paths the rock has them.
func ImagePath(image, p string) string {
	return filepath.Join(image, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

// privateDirs are the container paths that get a private directory under
// Root/rootfs: everything update-ca-certificates and the charm write to.
var privateDirs = []string{
	"/etc/ssl/certs",
	"/usr/local/share/ca-certificates",
	"/etc/ca-certificates/update.d", // empty: no Java keystore hook
	"/var/lib",
}

// scratchDirs get an empty tmpfs of their own in every namespace, as a container's writable layer is its own:
// what an exec, a service or a hook writes to /tmp (os.CreateTemp, openssl's output), HOME (/root) or /run lives
// and dies with the namespace and never lands on the host or in another container. Unlike privateDirs they start
// empty and are not kept across a restart, as Kubernetes gives a restarted container a fresh writable layer.
var scratchDirs = []nsTmpfs{
	{Target: "/tmp", Mode: "1777"},
	{Target: "/var/tmp", Mode: "1777"},
	{Target: "/dev/shm", Mode: "1777"},
	{Target: "/root", Mode: "700"},
	{Target: "/run", Mode: "755"},
}

// hostCertsDir is the host's trust store, copied once into each container.
var hostCertsDir = "/etc/ssl/certs"

// Rootfs is the host directory holding the container's private files.
func (ns *Namespace) Rootfs() string { return filepath.Join(ns.Root, "rootfs") }

// HostsPath is the host file bind-mounted on the container's /etc/hosts.
func (ns *Namespace) HostsPath() string { return filepath.Join(ns.Root, "hosts") }

// Prepare creates Root/rootfs/... (seeding etc/ssl/certs with a copy of the
// host's /etc/ssl/certs, symlinks kept) once, and (re)writes Root/hosts. It is
// idempotent: the seeded trust store is never overwritten, so what the
// container installed survives restarts.
func (ns *Namespace) Prepare() error {
	if ns.Root == "" {
		return fmt.Errorf("cannot prepare namespace: no root directory")
	}
	rootfs := ns.Rootfs()
	for _, p := range privateDirs {
		if err := os.MkdirAll(filepath.Join(rootfs, p), 0o755); err != nil {
			return fmt.Errorf("cannot create private %s: %w", p, err)
		}
	}
	marker := filepath.Join(ns.Root, ".certs-seeded")
	if _, err := os.Stat(marker); os.IsNotExist(err) {
		if err := copyTree(hostCertsDir, filepath.Join(rootfs, hostCertsDir)); err != nil {
			return fmt.Errorf("cannot seed trust store: %w", err)
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return fmt.Errorf("cannot mark trust store seeded: %w", err)
		}
	}
	if err := os.WriteFile(ns.HostsPath(), []byte(ns.hostsFile()), 0o644); err != nil {
		return fmt.Errorf("cannot write hosts file: %w", err)
	}
	return nil
}

func (ns *Namespace) hostsFile() string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n")
	for _, h := range ns.Hosts {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Names, " "))
	}
	return b.String()
}

// copyTree copies a directory tree, keeping symlinks as symlinks (the trust
// store is mostly links into /usr/share/ca-certificates and hash links).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			os.Remove(target)
			return os.Symlink(link, target)
		case info.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		}
		return nil // sockets, devices: nothing a trust store holds
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// nsConfig mirrors tests/cmd/nsexec's Config.
type nsConfig struct {
	Hostname string    `json:"hostname,omitempty"`
	Binds    []nsBind  `json:"binds,omitempty"`
	Tmpfs    []nsTmpfs `json:"tmpfs,omitempty"`
	Keep     []string  `json:"keep,omitempty"`
	Proc     bool      `json:"proc,omitempty"`
}

type nsTmpfs struct {
	Target string `json:"target"`
	Mode   string `json:"mode"`
}

type nsBind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read-only,omitempty"`
}

func (ns *Namespace) binds() []nsBind {
	var binds []nsBind
	for _, p := range privateDirs {
		binds = append(binds, nsBind{Source: filepath.Join(ns.Rootfs(), p), Target: p})
	}
	binds = append(binds, nsBind{Source: ns.HostsPath(), Target: "/etc/hosts"})
	if ns.Image != "" {
		binds = append(binds, nsBind{Source: ImagePath(ns.Image, ImageBinDir), Target: ImageBinDir, ReadOnly: true})
	}
	return binds
}

// keep is Keep plus what the host's /etc/resolv.conf points to (systemd-resolved links it into /run).
func (ns *Namespace) keep() []string {
	keep := append([]string(nil), ns.Keep...)
	if p, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && p != "/etc/resolv.conf" {
		keep = append(keep, p)
	}
	return keep
}

// Command returns an exec.Cmd that runs argv inside a fresh mount and UTS
// namespace with ns's mounts and hostname (call Prepare first). The child is
// cloned into the namespaces and runs nsexec, which sets up the mounts and
// execs argv. It gets its own process group so that it can be killed whole.
func (ns *Namespace) Command(nsexecPath string, argv ...string) *exec.Cmd {
	return ns.command(nsexecPath, false, argv)
}

// command is Command with, given newPID, a PID namespace of its own whose init is argv (Pebble, as
// in a Kubernetes container): when that process dies, however it dies, the kernel kills every process left in
// the namespace, so a service or an exec never outlives its container, not even a test binary killed before its
// cleanup ran (Pebble gets SIGKILL with it, Pdeathsig). The namespace gets its own /proc, so that a process finds
// itself there by its pid.
func (ns *Namespace) command(nsexecPath string, newPID bool, argv []string) *exec.Cmd {
	cfg := nsConfig{Hostname: ns.Hostname, Binds: ns.binds(), Tmpfs: scratchDirs, Keep: ns.keep(), Proc: newPID}
	data, err := json.Marshal(cfg)
	if err != nil {
		panic(fmt.Sprintf("cannot marshal nsexec config: %v", err)) // plain strings: cannot happen
	}
	args := append([]string{"--config", string(data), "--"}, argv...)
	cmd := exec.Command(nsexecPath, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Setpgid:    true,
	}
	if newPID {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWPID
	}
	return cmd
}
