// Package container simulates a Kubernetes sidecar container for tests: the
// real Pebble daemon running as PID 1 of a private mount, UTS and PID namespace, where the
// trust store (/etc/ssl/certs, /usr/local/share/ca-certificates,
// /etc/ca-certificates/update.d), /var/lib, /etc/hosts, the hostname and
// optionally /usr/local/bin are the container's own, so pushes, execs and
// update-ca-certificates never touch the host.
//
// It needs root (mount namespaces). Pebble's state and socket live under
// Options.Dir on the host, outside every path the namespace mounts over, so the
// charm (or a test) reaches the socket from the host.
package container

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/canonical/pebble/client"
)

// Options configures a Container.
type Options struct {
	Dir          string    // host dir for pebble-state, pebble.socket, pebble.log (and rootfs if Namespace.Root is empty)
	Name         string    // container name, for messages
	PebbleBinary string    // from Binaries
	NSExecBinary string    // from Binaries
	Namespace    Namespace // the container's private view; Root defaults to Dir
	Env          []string  // extra environment for Pebble (and so its services and execs), KEY=VALUE
	Log          io.Writer // optional: also receives Pebble's output
}

// Container is a running (or stopped) simulated container.
type Container struct {
	opts Options

	mu    sync.Mutex
	run   *run   // nil when stopped
	mntNS string // the namespace's /proc/<pid>/ns/mnt link, to find every process in it
}

// run is one Pebble process.
type run struct {
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when cmd has been waited for
	nsFile  *os.File      // the mount namespace, held open so its number is not reused before Stop ends
	err     error         // cmd.Wait's result, set before done is closed
}

// startTimeout bounds how long Start waits for Pebble's socket to answer.
var startTimeout = 5 * time.Second

// stopTimeout is how long Stop lets Pebble shut down after SIGTERM.
var stopTimeout = 3 * time.Second

// Start runs `pebble run --create-dirs --hold --verbose` in the container's
// namespace and waits until its socket answers SysInfo.
func Start(o *Options) (*Container, error) {
	c := &Container{opts: *o}
	if c.opts.Dir == "" || c.opts.PebbleBinary == "" || c.opts.NSExecBinary == "" {
		return nil, fmt.Errorf("cannot start container %q: Dir, PebbleBinary and NSExecBinary are required", o.Name)
	}
	if c.opts.Namespace.Root == "" {
		c.opts.Namespace.Root = c.opts.Dir
	}
	// Pebble's state, socket and log, and the Pebble binary itself, are host paths that are often below /tmp.
	c.opts.Namespace.Keep = append(c.opts.Namespace.Keep[:len(c.opts.Namespace.Keep):len(c.opts.Namespace.Keep)], c.opts.Dir, filepath.Dir(c.opts.PebbleBinary))
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

// SocketPath is the host path of Pebble's API socket.
func (c *Container) SocketPath() string { return filepath.Join(c.opts.Dir, "pebble.socket") }

// StateDir is the host path of $PEBBLE.
func (c *Container) StateDir() string { return filepath.Join(c.opts.Dir, "pebble-state") }

// LogPath is the host path of Pebble's output.
func (c *Container) LogPath() string { return filepath.Join(c.opts.Dir, "pebble.log") }

// Rootfs is the host path of the container's private files, for tests to scan:
// the container's /var/lib/x is Rootfs()/var/lib/x.
func (c *Container) Rootfs() string { return c.opts.Namespace.Rootfs() }

// Namespace is the container's namespace description (with Root filled in).
func (c *Container) Namespace() Namespace { return c.opts.Namespace }

// Client returns a Pebble client on the container's socket.
func (c *Container) Client() (*client.Client, error) {
	cl, err := client.New(&client.Config{Socket: c.SocketPath()})
	if err != nil {
		return nil, fmt.Errorf("cannot create Pebble client for container %q: %w", c.opts.Name, err)
	}
	return cl, nil
}

// BootID is Pebble's boot id, which changes on every Start/Restart as it
// would when Kubernetes recreates the pod.
func (c *Container) BootID() (string, error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
	info, err := cl.SysInfo()
	if err != nil {
		return "", fmt.Errorf("cannot get boot id of container %q: %w", c.opts.Name, err)
	}
	return info.BootID, nil
}

// PID is Pebble's process id, or 0 when stopped.
func (c *Container) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run == nil {
		return 0
	}
	return c.run.cmd.Process.Pid
}

// Restart stops and starts Pebble (pod churn): a new boot id, no services
// running; the rootfs and Pebble's state dir are kept.
func (c *Container) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.start()
}

func (c *Container) start() error {
	c.mu.Lock()
	running := c.run != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("cannot start container %q: already running", c.opts.Name)
	}
	ns := &c.opts.Namespace
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("cannot create container dir: %w", err)
	}
	if err := ns.Prepare(); err != nil {
		return fmt.Errorf("cannot start container %q: %w", c.opts.Name, err)
	}
	// A socket left by a killed Pebble would make it fail to listen.
	os.Remove(c.SocketPath())

	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open Pebble log: %w", err)
	}
	// Pebble is the init of the container's PID namespace, as in a pod: when it dies, all it ran dies with it, and
	// its boot id is a new random one at each start (Pebble's rule for PID 1), so a restart looks like a new pod.
	cmd := ns.command(c.opts.NSExecBinary, true, []string{c.opts.PebbleBinary, "run", "--create-dirs", "--hold", "--verbose"})
	cmd.Dir = "/"
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LANG=C.UTF-8",
		"PEBBLE=" + c.StateDir(),
		"PEBBLE_SOCKET=" + c.SocketPath(),
	}, c.opts.Env...)
	if c.opts.Log != nil {
		w := io.MultiWriter(logFile, c.opts.Log)
		cmd.Stdout, cmd.Stderr = w, w
		cmd.WaitDelay = time.Second // don't hang on a pipe a leftover child holds
	} else {
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	// If the test binary dies without cleanup, Pebble dies with it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cannot start Pebble in container %q: %w", c.opts.Name, err)
	}
	r := &run{cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	// The clone already put the child in its new namespace: remember it, and hold it open. Linux reuses a
	// namespace's number as soon as its last reference goes; the open file is a reference, so until Stop closes
	// it, "mnt:[N]" names this container's namespace and no other (killNamespace must never hit a stranger).
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid)
	mntNS, _ := os.Readlink(nsPath)
	r.nsFile, _ = os.Open(nsPath)
	c.mu.Lock()
	c.run, c.mntNS = r, mntNS
	c.mu.Unlock()
	if err := c.waitReady(r); err != nil {
		c.Stop()
		return err
	}
	return nil
}

// waitReady polls the socket until SysInfo answers (Pebble takes ~20 ms). It
// dials the socket itself first: the Pebble client retries failed GETs every
// 250 ms for 5 s, far too slow to poll with and blind to Pebble exiting.
func (c *Container) waitReady(r *run) error {
	deadline := time.Now().Add(startTimeout)
	delay := time.Millisecond
	for {
		select {
		case <-r.done:
			return fmt.Errorf("cannot start container %q: Pebble exited early (%v), see %s", c.opts.Name, r.err, c.LogPath())
		default:
		}
		conn, err := net.Dial("unix", c.SocketPath())
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot start container %q: Pebble not listening after %s: %w", c.opts.Name, startTimeout, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if _, err := cl.SysInfo(); err != nil {
		return fmt.Errorf("cannot start container %q: %w", c.opts.Name, err)
	}
	return nil
}

// Stop stops Pebble: SIGTERM (Pebble stops its services), then after 3 s
// SIGKILL to its process group. Any process still in the container's
// namespace (a service in its own group, an exec'd child) is then killed, so
// nothing leaks. Stopping a stopped container does nothing.
func (c *Container) Stop() error {
	c.mu.Lock()
	r, mntNS := c.run, c.mntNS
	c.run = nil
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	pid := r.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(stopTimeout):
	}
	// The group too: anything Pebble started without a group of its own.
	syscall.Kill(-pid, syscall.SIGKILL)
	<-r.done
	err := killNamespace(mntNS)
	if r.nsFile != nil {
		r.nsFile.Close()
	}
	r.logFile.Close()
	if err != nil {
		return fmt.Errorf("cannot stop container %q: %w", c.opts.Name, err)
	}
	return nil
}

// NamespaceProcesses lists the pids of processes in the mount namespace whose
// /proc/<pid>/ns/mnt link is mntNS.
func NamespaceProcesses(mntNS string) []int {
	if mntNS == "" {
		return nil
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	if mntNS == self {
		return nil // never the host's (or our own) namespace
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && link == mntNS {
			pids = append(pids, pid)
		}
	}
	return pids
}

// MountNamespace is the container's mount namespace link ("mnt:[N]") of its
// last start.
func (c *Container) MountNamespace() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mntNS
}

func killNamespace(mntNS string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		pids := NamespaceProcesses(mntNS)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot kill processes %v", pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// DefaultBinDir is where tests share the binaries Binaries builds.
func DefaultBinDir() string { return filepath.Join(os.TempDir(), "tls-authority-test-bin") }

// Exec runs argv in the container through Pebble's exec API (as `pebble exec`
// would) and returns its stdout and stderr. A non-zero exit is an error
// (*client.ExitError, with errors.As).
func (c *Container) Exec(timeout time.Duration, argv ...string) (stdout, stderr string, err error) {
	cl, err := c.Client()
	if err != nil {
		return "", "", err
	}
	var out, errOut strings.Builder
	p, err := cl.Exec(&client.ExecOptions{Command: argv, Timeout: timeout, Stdout: &out, Stderr: &errOut})
	if err != nil {
		return "", "", fmt.Errorf("cannot exec %q in container %q: %w", argv, c.opts.Name, err)
	}
	if err := p.Wait(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("cannot run %q in container %q: %w (stderr: %s)", argv, c.opts.Name, err, errOut.String())
	}
	return out.String(), errOut.String(), nil
}
