package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/canonical/pebble/client"

	"github.com/tls-authority/tls-authority/tests/container"
)

// unitContainer is one workload container of a unit: a real Pebble in a private namespace.
type unitContainer struct {
	name       string
	c          *container.Container
	bootID     string
	seenBootID string
	hosts      string
	err        error     // why it could not start (c is nil)
	seenUntil  time.Time // notices repeated up to here have been turned into hooks
}

// containerRuntime holds the pebble and nsexec binaries, built on first use.
type containerRuntime struct {
	once           sync.Once
	dir            string
	pebble, nsexec string
	nsenter        string // found on first use
	err            error
}

func newContainerRuntime(s *Sim) *containerRuntime {
	return &containerRuntime{dir: s.opts.BinDir}
}

func (r *containerRuntime) binaries() (string, string, error) {
	if r == nil {
		return "", "", fmt.Errorf("containers are disabled")
	}
	r.once.Do(func() { r.pebble, r.nsexec, r.err = container.Binaries(r.dir) })
	return r.pebble, r.nsexec, r.err
}

// hostsLocked lists every unit of the model, as the cluster DNS would resolve them.
func (m *Model) hostsLocked() []container.HostEntry {
	var out []container.HostEntry
	for _, a := range m.apps {
		for _, u := range a.units {
			out = append(out, container.HostEntry{IP: u.addr, Names: []string{u.FQDN(), u.Hostname()}})
		}
	}
	return out
}

func (u *Unit) namespaceLocked(root, image string) container.Namespace {
	return container.Namespace{Root: root, Hostname: u.Hostname(), Hosts: u.app.model.hostsLocked(), Image: image}
}

// commandFor returns the hook command: dispatch run inside the unit's charm container (private trust store,
// hosts and hostname), or directly when containers are disabled. Called with s.mu held.
func (s *Sim) commandFor(u *Unit, dispatch string) *exec.Cmd {
	if s.runtime == nil {
		return exec.Command(dispatch)
	}
	pid, err := s.charmContainerLocked(u)
	if err != nil {
		s.logf("    charm container unavailable, running %s on the host: %v", u.name, err)
		return exec.Command(dispatch)
	}
	// nsenter (util-linux, C) joins the namespace at a fraction of a Go helper's start-up; --wd keeps the charm
	// dir as the working directory, which entering a mount namespace would otherwise reset to /.
	return exec.Command(s.runtime.nsenter, "--target", strconv.Itoa(pid), "--mount", "--uts", "--wd="+u.charmDir, "--", dispatch)
}

// charmContainer is a unit's charm container: one private mount+UTS namespace for the unit's life, as a pod's
// charm container is, held by a sleeping process that every hook joins.
type charmContainer struct {
	holder *exec.Cmd
	done   chan struct{} // closed when the holder has exited
	hosts  string        // the hosts the namespace's /etc/hosts was last written with
}

func (c *charmContainer) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *charmContainer) stop() {
	if c == nil || c.holder.Process == nil {
		return
	}
	syscall.Kill(c.holder.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// charmContainerLocked returns the pid holding u's charm container, creating it on first use and rewriting its
// /etc/hosts (a bind-mounted file, written in place) when the model's units changed.
func (s *Sim) charmContainerLocked(u *Unit) (int, error) {
	_, nsexec, err := s.runtime.binaries()
	if err != nil {
		return 0, err
	}
	if s.runtime.nsenter == "" {
		if s.runtime.nsenter, err = exec.LookPath("nsenter"); err != nil {
			return 0, fmt.Errorf("cannot find nsenter (util-linux): %w", err)
		}
	}
	ns := u.namespaceLocked(filepath.Join(u.dir, "charm-container"), "")
	// The charm container's /tmp and HOME are its own (a hook's temp files stay in it); what a hook runs and talks
	// to stays visible through them: the charm dir, the hook tools and jujuc, the agent socket, the Pebble sockets.
	ns.Keep = []string{u.charmDir, s.toolDir, s.opts.BinDir, s.sock, u.containersDir}
	hosts := fmt.Sprint(ns.Hosts)
	if c := u.charmCtr; c != nil && c.alive() {
		if c.hosts != hosts {
			if err := ns.Prepare(); err != nil {
				return 0, err
			}
			c.hosts = hosts
		}
		return c.holder.Process.Pid, nil
	}
	if err := ns.Prepare(); err != nil {
		return 0, err
	}
	cmd := ns.Command(nsexec, "/bin/sleep", "infinity")
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // never outlive the simulator
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cannot start the charm container of %s: %w", u.name, err)
	}
	c := &charmContainer{holder: cmd, done: make(chan struct{}), hosts: hosts}
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	// nsexec mounts, then execs sleep: only then is the namespace complete, ready to be joined.
	comm := fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, err := os.ReadFile(comm); err == nil && strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if !c.alive() || time.Now().After(deadline) {
			c.stop()
			return 0, fmt.Errorf("cannot start the charm container of %s: its holder did not come up", u.name)
		}
	}
	u.charmCtr = c
	return cmd.Process.Pid, nil
}

// pollContainers starts a new unit's Pebbles, keeps every container's /etc/hosts in line with
// the model, and reads boot ids (a new one queues <container>-pebble-ready).
func (s *Sim) pollContainers(u *Unit) {
	if s.runtime == nil {
		return
	}
	s.mu.Lock()
	if u.removed || u.dying {
		s.mu.Unlock()
		return
	}
	// A new pod: the old workload containers go with their filesystems and Pebble state; the
	// loop below starts fresh ones (new boot ids, so pebble-ready runs again), whose hosts file
	// maps the unit's FQDN to its new address.
	if u.newPod {
		u.newPod = false
		old := u.containers
		u.containers = map[string]*unitContainer{}
		s.mu.Unlock()
		for _, n := range sortedKeys(old) {
			if uc := old[n]; uc.c != nil {
				if err := uc.c.Stop(); err != nil {
					s.logf("    %v", err)
				}
			}
			if err := os.RemoveAll(filepath.Join(u.containersDir, n)); err != nil {
				s.logf("    cannot remove container %s of %s: %v", n, u.name, err)
			}
		}
		s.mu.Lock()
	}
	type job struct {
		name string
		ns   container.Namespace
		uc   *unitContainer
	}
	var jobs []job
	for _, cm := range u.app.charm.Containers {
		image := ""
		if cm.Resource != "" {
			image = u.app.resources[cm.Resource]
		}
		ns := u.namespaceLocked(filepath.Join(u.containersDir, cm.Name), image)
		jobs = append(jobs, job{name: cm.Name, ns: ns, uc: u.containers[cm.Name]})
	}
	s.mu.Unlock()
	for _, j := range jobs {
		hosts := fmt.Sprint(j.ns.Hosts)
		if j.uc != nil {
			if j.uc.c != nil && j.uc.hosts != hosts {
				ns := j.ns
				if err := ns.Prepare(); err == nil {
					j.uc.hosts = hosts
				}
			}
			continue
		}
		pebble, nsexec, err := s.runtime.binaries()
		if err != nil {
			s.logf("    cannot start container %s of %s: %v", j.name, u.name, err)
			continue
		}
		c, err := container.Start(&container.Options{
			Dir: j.ns.Root, Name: u.Hostname() + "/" + j.name, PebbleBinary: pebble, NSExecBinary: nsexec, Namespace: j.ns,
		})
		if err != nil {
			// Not retried: the log says why, and pebble-ready never fires for it.
			s.logf("    cannot start container %s of %s: %v", j.name, u.name, err)
			s.mu.Lock()
			u.containers[j.name] = &unitContainer{name: j.name, hosts: hosts, err: err}
			s.mu.Unlock()
			continue
		}
		boot, err := c.BootID()
		if err != nil {
			s.logf("    %v", err)
		}
		s.mu.Lock()
		u.containers[j.name] = &unitContainer{name: j.name, c: c, bootID: boot, hosts: hosts}
		s.mu.Unlock()
	}
}

// Container returns the unit's running container, or nil.
func (u *Unit) Container(name string) *container.Container {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if uc := u.containers[name]; uc != nil && uc.c != nil {
		return uc.c
	}
	return nil
}

// RestartContainer restarts one container's Pebble (a workload restart): a new boot id, so
// <container>-pebble-ready runs again on the next Settle.
func (u *Unit) RestartContainer(name string) error {
	s := u.app.model.sim
	s.mu.Lock()
	uc := u.containers[name]
	s.mu.Unlock()
	if uc == nil || uc.c == nil {
		return fmt.Errorf("cannot restart container %q of %s: not running", name, u.name)
	}
	if err := uc.c.Restart(); err != nil {
		return fmt.Errorf("cannot restart container %q of %s: %w", name, u.name, err)
	}
	boot, err := uc.c.BootID()
	if err != nil {
		return fmt.Errorf("cannot restart container %q of %s: %w", name, u.name, err)
	}
	s.mu.Lock()
	uc.bootID = boot
	s.mu.Unlock()
	return nil
}

func (u *Unit) stopContainers() error {
	s := u.app.model.sim
	s.mu.Lock()
	charm := u.charmCtr
	u.charmCtr = nil
	s.mu.Unlock()
	charm.stop()
	s.mu.Lock()
	var cs []*unitContainer
	for _, n := range sortedKeys(u.containers) {
		cs = append(cs, u.containers[n])
	}
	s.mu.Unlock()
	var first error
	for _, uc := range cs {
		if uc.c == nil {
			continue
		}
		if err := uc.c.Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// installTools builds jujuc into binDir (cached by its source hash) and links it
// under every hook-tool name in toolDir.
func installTools(binDir, toolDir string) (string, error) {
	// Static (container.BuildTool builds without cgo): a dynamically linked binary pays the loader on every
	// hook-tool call, about 1 ms of the ~2.7 ms each call cost here.
	bin, err := container.BuildTool(binDir, "jujuc-static", "./tests/cmd/jujuc")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(toolDir, 0o755); err != nil {
		return "", fmt.Errorf("cannot create tools dir: %w", err)
	}
	names := append([]string(nil), toolNames...)
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(toolDir, n)
		os.Remove(p)
		if err := os.Symlink(bin, p); err != nil {
			return "", fmt.Errorf("cannot link hook tool %s: %w", n, err)
		}
	}
	return toolDir, nil
}

// pollNotices asks every started unit's Pebbles for notices, as the uniter's Pebble notice
// watcher does, and queues <container>-pebble-custom-notice for new or repeated custom notices
// and -pebble-check-failed / -pebble-check-recovered for perform-check changes ended in Error and
// recover-check changes Done. Settle calls it when nothing else is pending (Juju polls every
// few seconds). It reports whether it queued anything.
func (s *Sim) pollNotices() bool {
	if s.runtime == nil {
		return false
	}
	type target struct {
		u  *Unit
		uc *unitContainer
	}
	var targets []target
	s.mu.Lock()
	for _, m := range s.models {
		for _, a := range m.apps {
			for _, u := range a.units {
				if !u.started || u.dying {
					continue
				}
				for _, n := range sortedKeys(u.containers) {
					if uc := u.containers[n]; uc.c != nil && uc.bootID == uc.seenBootID {
						targets = append(targets, target{u, uc})
					}
				}
			}
		}
	}
	s.mu.Unlock()
	queued := false
	for _, t := range targets {
		cl, err := t.uc.c.Client()
		if err != nil {
			continue
		}
		notices, err := cl.Notices(&client.NoticesOptions{Types: []client.NoticeType{client.CustomNotice, client.ChangeUpdateNotice}, After: t.uc.seenUntil})
		if err != nil {
			continue
		}
		sort.Slice(notices, func(i, j int) bool { return notices[i].LastRepeated.Before(notices[j].LastRepeated) })
		var hooks []*pendingHook
		for _, n := range notices {
			if n.LastRepeated.After(t.uc.seenUntil) {
				t.uc.seenUntil = n.LastRepeated
			}
			switch n.Type {
			case client.CustomNotice:
				hooks = append(hooks, &pendingHook{name: t.uc.name + "-pebble-custom-notice", container: t.uc.name, noticeID: n.ID, noticeType: string(n.Type), noticeKey: n.Key})
			case client.ChangeUpdateNotice:
				// Check changes carry the check name in the notice data (Pebble's
				// NewChangeWithNoticeData); other changes are not Juju events.
				check := n.LastData["check-name"]
				if kind := n.LastData["kind"]; check == "" || (kind != "" && kind != "perform-check" && kind != "recover-check") {
					continue
				}
				chg, err := cl.Change(n.Key)
				if err != nil {
					continue
				}
				switch {
				case chg.Kind == "perform-check" && chg.Status == "Error":
					hooks = append(hooks, &pendingHook{name: t.uc.name + "-pebble-check-failed", container: t.uc.name, checkName: check})
				case chg.Kind == "recover-check" && chg.Status == "Done":
					hooks = append(hooks, &pendingHook{name: t.uc.name + "-pebble-check-recovered", container: t.uc.name, checkName: check})
				}
			}
		}
		if len(hooks) > 0 {
			s.mu.Lock()
			t.u.workloadEvents = append(t.u.workloadEvents, hooks...)
			s.mu.Unlock()
			queued = true
		}
	}
	return queued
}
