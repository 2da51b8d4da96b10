// Command nsexec enters a simulated container's private view of the host and
// execs a program in it.
//
// It is started by tests/container already cloned into a new mount and UTS
// namespace, and for a Pebble a new PID namespace, where it mounts the
// namespace's own /proc (Go cannot run code between clone and exec, hence this helper). It
// makes every mount private so nothing it does propagates back to the host,
// bind-mounts the container's private directories and files over the host's,
// mounts an empty tmpfs on each scratch dir (/tmp, /root...), brings back the
// host paths the container must still reach below those (its Pebble state dir,
// the binaries it runs), sets the hostname and then replaces itself with the
// program:
//
//	nsexec --config '{"hostname":"app-0","binds":[{"source":"/srv/x","target":"/var/lib"}],
//	  "tmpfs":[{"target":"/tmp","mode":"1777"}],"keep":["/tmp/sim/u1/workload"]}' -- argv...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Config is what tests/container passes in --config (JSON).
type Config struct {
	Hostname string  `json:"hostname,omitempty"`
	Binds    []Bind  `json:"binds,omitempty"`
	Tmpfs    []Tmpfs `json:"tmpfs,omitempty"`
	// Keep lists host paths that stay visible at the same path although a Tmpfs target covers them.
	Keep []string `json:"keep,omitempty"`
	// Proc mounts a proc filesystem of the process's own PID namespace on /proc, as a container has: its
	// processes then find themselves there (/proc/self, /proc/<their pid>), as the Go and process metrics read them.
	Proc bool `json:"proc,omitempty"`
}

// Tmpfs is one empty, private tmpfs: it lives as long as the namespace, so what the container writes there never
// reaches the host.
type Tmpfs struct {
	Target string `json:"target"`
	Mode   string `json:"mode"` // octal, e.g. "1777"
}

// Bind is one bind mount of a host path over another.
type Bind struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read-only,omitempty"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "nsexec: %v\n", err)
		os.Exit(127)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("nsexec", flag.ContinueOnError)
	configJSON := fs.String("config", "", "mounts and hostname, as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("cannot run: no command given")
	}
	var cfg Config
	if *configJSON != "" {
		dec := json.NewDecoder(strings.NewReader(*configJSON))
		// A config this binary does not understand (a stale build) must fail, not silently share the host's /tmp.
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return fmt.Errorf("cannot parse --config: %w", err)
		}
	}
	if err := enter(&cfg); err != nil {
		return err
	}
	// Look the program up only now: /usr/local/bin may just have been replaced.
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("cannot find %q: %w", argv[0], err)
	}
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("cannot exec %q: %w", path, err)
	}
	return nil
}

// enter sets up the mounts and the hostname in the current (already private) namespaces.
func enter(cfg *Config) error {
	// Without this, mounts below would propagate to the host's shared mounts
	// (systemd makes / shared), which is exactly what the namespace must avoid.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("cannot make / private: %w", err)
	}
	// Kept paths are opened before the tmpfs mounts hide them; the open file is then the bind source.
	kept, err := openKept(cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, k := range kept {
			k.file.Close()
		}
	}()
	// Binds first: their sources may lie below a tmpfs target (the container dir is often under /tmp).
	for _, b := range cfg.Binds {
		if err := bind(b); err != nil {
			return err
		}
	}
	for _, t := range cfg.Tmpfs {
		if err := mountTmpfs(t); err != nil {
			return err
		}
	}
	for _, k := range kept {
		if err := bind(Bind{Source: fmt.Sprintf("/proc/self/fd/%d", k.file.Fd()), Target: k.path}); err != nil {
			return fmt.Errorf("cannot keep %s: %w", k.path, err)
		}
	}
	// Last: the kept paths above were bound through the host's /proc/self/fd.
	if cfg.Proc {
		if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("cannot mount /proc: %w", err)
		}
	}
	if cfg.Hostname != "" {
		if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("cannot set hostname %q: %w", cfg.Hostname, err)
		}
	}
	return nil
}

// oPath is Linux's O_PATH (asm-generic value, amd64 and arm64), which package syscall lacks: a handle on the path
// itself, enough to bind-mount it through /proc/self/fd.
const oPath = 0o10000000

type keptPath struct {
	path string
	file *os.File // O_PATH
}

// openKept opens every Keep path that a tmpfs target covers, outermost first, skipping one already inside another
// kept path (binding the outer one brings it back).
func openKept(cfg *Config) ([]keptPath, error) {
	paths := append([]string(nil), cfg.Keep...)
	sort.Strings(paths) // a parent sorts before its children
	var out []keptPath
	for _, p := range paths {
		p = filepath.Clean(p)
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("cannot keep %q: not an absolute path", p)
		}
		covered := false
		for _, t := range cfg.Tmpfs {
			covered = covered || within(p, t.Target)
		}
		for _, k := range out {
			covered = covered && !within(p, k.path)
		}
		if !covered {
			continue
		}
		fd, err := syscall.Open(p, oPath|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot keep %s: %w", p, err)
		}
		out = append(out, keptPath{path: p, file: os.NewFile(uintptr(fd), p)})
	}
	return out, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func mountTmpfs(t Tmpfs) error {
	if err := ensureMountPoint(t.Target, true); err != nil {
		return err
	}
	opts := "mode=" + t.Mode
	if t.Mode == "" {
		opts = "mode=755"
	}
	if err := syscall.Mount("tmpfs", t.Target, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("cannot mount a tmpfs on %s: %w", t.Target, err)
	}
	return nil
}

func bind(b Bind) error {
	src, err := os.Stat(b.Source)
	if err != nil {
		return fmt.Errorf("cannot bind-mount %s: %w", b.Source, err)
	}
	if err := ensureMountPoint(b.Target, src.IsDir()); err != nil {
		return err
	}
	if err := syscall.Mount(b.Source, b.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("cannot bind-mount %s on %s: %w", b.Source, b.Target, err)
	}
	if b.ReadOnly {
		// A bind mount ignores MS_RDONLY; read-only needs a remount of the bind.
		flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
		if err := syscall.Mount("", b.Target, "", flags, ""); err != nil {
			return fmt.Errorf("cannot make %s read-only: %w", b.Target, err)
		}
	}
	return nil
}

// ensureMountPoint creates a missing mount point. Only a missing one: this is
// the host's filesystem, so an existing target is left exactly as it is.
func ensureMountPoint(target string, dir bool) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("cannot create mount point %s: %w", target, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("cannot create mount point %s: %w", target, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create mount point %s: %w", target, err)
	}
	return f.Close()
}
