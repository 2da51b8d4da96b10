// Command nsexec enters a simulated container's private view of the host and
// execs a program in it.
//
// It is started by tests/container already cloned into a new mount and UTS
// namespace (Go cannot run code between clone and exec, hence this helper). It
// makes every mount private so nothing it does propagates back to the host,
// bind-mounts the container's private directories and files over the host's,
// sets the hostname and then replaces itself with the program:
//
//	nsexec --config '{"hostname":"app-0","binds":[{"source":"/tmp/x","target":"/var/lib"}]}' -- argv...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Config is what tests/container passes in --config (JSON).
type Config struct {
	Hostname string `json:"hostname,omitempty"`
	Binds    []Bind `json:"binds,omitempty"`
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
		if err := json.Unmarshal([]byte(*configJSON), &cfg); err != nil {
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
	for _, b := range cfg.Binds {
		if err := bind(b); err != nil {
			return err
		}
	}
	if cfg.Hostname != "" {
		if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("cannot set hostname %q: %w", cfg.Hostname, err)
		}
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
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot create mount point %s: %w", target, err)
	}
	return f.Close()
}
