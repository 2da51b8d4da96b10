package sim

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Status is a workload, agent or application status.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func (s Status) String() string {
	if s.Message == "" {
		return s.Status
	}
	return s.Status + ": " + s.Message
}

// HookRecord describes one hook or action run.
type HookRecord struct {
	Model    string        `json:"model"`
	Unit     string        `json:"unit"`
	Seq      int           `json:"seq"` // order of the run in the whole controller
	Name     string        `json:"name"`
	Kind     string        `json:"kind"` // "hook" or "action"
	Relation string        `json:"relation,omitempty"`
	Remote   string        `json:"remote-unit,omitempty"`
	Duration time.Duration `json:"duration"`
	CPU      time.Duration `json:"cpu,omitempty"` // user and system time of the hook process and the tools it ran
	// SimCPU is the simulator process's CPU while the hook ran: serving its hook-tool calls, as Juju's uniter and
	// controller do on a real deployment. It counts the simulator's other goroutines too, so it is exact only when
	// one hook runs at a time and nothing else does, as in the benchmarks.
	SimCPU    time.Duration  `json:"sim_cpu,omitempty"`
	ExitCode  int            `json:"exit-code"`
	Killed    bool           `json:"killed,omitempty"`
	ToolCalls map[string]int `json:"tool-calls,omitempty"`
	// RelationBytes is what the hook's commit changed in relation databags: the key and new value of every
	// setting it set to something new (a deleted key counts its name). The size of the settings documents a
	// controller writes and sends to every related unit.
	RelationBytes int `json:"relation-bytes,omitempty"`
	// SecretChanges is how many secret changes (creates, updates, grants, revokes, removes) the hook's commit
	// made or tried; InjectCommitFailure counts the commits that have some.
	SecretChanges int      `json:"secret-changes,omitempty"`
	Stdout        string   `json:"stdout,omitempty"`
	Stderr        string   `json:"stderr,omitempty"`
	Logs          []string `json:"logs,omitempty"`
}

// Calls returns the total number of hook-tool calls.
func (h HookRecord) Calls() int {
	n := 0
	for _, c := range h.ToolCalls {
		n += c
	}
	return n
}

// Unit is one unit of an application, with its own charm dir and containers.
type Unit struct {
	app      *App
	num      int
	name     string
	dir      string
	charmDir string
	// containersDir is $SIM_CONTAINERS_DIR: one dir per workload container, with pebble.socket.
	containersDir string
	// charmCtr is the unit's charm container, where its hooks run (see charmContainerLocked).
	charmCtr *charmContainer
	addr     string

	workload    Status
	workloadSet bool
	agent       Status
	agentData   map[string]string // status data of an error: hook, relation-id, remote-unit
	state       map[string]string
	ports       map[string]bool

	installed  bool
	started    bool
	stopped    bool
	dying      bool
	removed    bool
	configSeen int
	// addrSeen is the address config-changed last ran with: Juju keeps an addresses hash in the
	// uniter state (operation/state.go State.AddressesHash) and runs config-changed when the
	// unit's addresses change (uniter/resolver.go nextOp).
	addrSeen string
	// podPending: the pod is being deleted gracefully (ChurnPod, Refresh); the old pod runs stop.
	podPending bool
	// podStopped is Juju's State.Stopped: stop ran on the old pod; start on the new one clears it
	// (operation/runhook.go Commit), and leader-settings-changed waits for it (leadership/resolver.go).
	podStopped bool
	// upgradeQueued: a new pod found no charm dir, so its deploy operation installed the charm
	// and queued upgrade-charm (resolver/loop.go checkCharmInstallUpgrade, operation/deploy.go Commit).
	upgradeQueued bool
	// configQueued: upgrade-charm's commit queued config-changed (operation/runhook.go Commit).
	configQueued bool
	// rebootStart: a sidecar unit agent that (re)starts owes start when the unit had started
	// (uniter.go loop sets rebootDetected for CAAS sidecar; reboot/resolver.go NextOp).
	rebootStart bool
	// newPod: the workload containers are to be replaced by fresh ones (pollContainers).
	newPod        bool
	leaderPending bool
	// leaderAccepted is the agent's local Leader (it ran leader-elected); leaderSettingsSeen the
	// leader settings version its last leader-settings-changed saw (leadership.go).
	leaderAccepted     bool
	leaderSettingsSeen int64
	updateStatus       bool
	rels               map[*Relation]*unitRel
	secretEvents       []*pendingHook
	// workloadEvents are queued Pebble notice and check hooks.
	workloadEvents []*pendingHook

	containers        map[string]*unitContainer
	pendingContainers bool

	failed *pendingHook
	// retry is a failed hook that Resolve(true) asked to run again: it runs next, before anything
	// else (uniter/resolver.go nextOpHookError: ResolvedRetryHooks runs localState.Hook).
	retry   *pendingHook
	retries int
	hooks   []HookRecord
}

// Name returns "app/N".
func (u *Unit) Name() string { return u.name }

// Address returns the unit's address (a distinct 127.x.y.z).
func (u *Unit) Address() string { return u.addr }

// FQDN returns the unit's in-cluster name, resolvable inside the model's containers.
func (u *Unit) FQDN() string {
	return fmt.Sprintf("%s-%d.%s-endpoints.%s.svc.cluster.local", u.app.name, u.num, u.app.name, u.app.model.name)
}

// Hostname returns the pod hostname "<app>-<n>".
func (u *Unit) Hostname() string { return fmt.Sprintf("%s-%d", u.app.name, u.num) }

// CharmDir returns the unit's charm directory: it persists between hooks, not across a new pod.
func (u *Unit) CharmDir() string { return u.charmDir }

// Dir returns the unit's directory.
func (u *Unit) Dir() string { return u.dir }

// Status returns the unit's workload status.
func (u *Unit) Status() Status {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.workload
}

// AgentStatus returns the unit agent's status ("idle", "executing", "error: hook failed: ...").
func (u *Unit) AgentStatus() Status {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.agent
}

// IsLeader reports whether the unit holds leadership.
func (u *Unit) IsLeader() bool {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.app.leader == u
}

// Hooks returns the records of every hook and action the unit ran, oldest first.
func (u *Unit) Hooks() []HookRecord {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]HookRecord(nil), u.hooks...)
}

// HookNames returns the names of the hooks the unit ran successfully (exit 0), in order; for
// relation hooks with a remote unit the name is "<hook>(<remote>)".
func (u *Unit) HookNames() []string {
	var out []string
	for _, h := range u.Hooks() {
		if h.Kind != "hook" || h.ExitCode != 0 || h.Killed {
			continue
		}
		n := h.Name
		if h.Remote != "" {
			n += "(" + h.Remote + ")"
		}
		out = append(out, n)
	}
	return out
}

// StateData returns a copy of the unit's committed charm state (state-set).
func (u *Unit) StateData() map[string]string {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyMap(u.state)
}

// OpenedPorts returns the committed opened ports, sorted.
func (u *Unit) OpenedPorts() []string {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.portList()
}

func (u *Unit) portList() []string {
	var out []string
	for p := range u.ports {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ChurnPod simulates Kubernetes deleting the unit's pod gracefully (kubectl delete pod, eviction)
// and its StatefulSet creating a new one. The old pod runs stop (uniter/resolver.go nextOp:
// Shutdown and Started, not Stopped). The new pod has a fresh charm dir (only the charm's files:
// the charm dir lives on the pod's emptyDir), a new address and fresh containers. Its unit agent
// finds no charm dir and deploys the charm again, which queues upgrade-charm
// (resolver/loop.go checkCharmInstallUpgrade, operation/deploy.go Commit); upgrade-charm queues
// config-changed (operation/runhook.go Commit), which also covers the address change; then the
// reboot resolver runs start (uniter.go loop, reboot/resolver.go), then leader-settings-changed on
// non-leaders (a new agent's leader settings version starts at 0), then <container>-pebble-ready.
// No install.
func (u *Unit) ChurnPod() {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	u.podPending = true
}

// Resolve clears the unit's error: with retry the failed hook runs again first on the next Settle,
// without it the hook is marked done (its writes stay dropped), as juju resolve [--no-retry].
func (u *Unit) Resolve(retry bool) error {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.failed == nil {
		return fmt.Errorf("cannot resolve %s: unit is not in an error state", u.name)
	}
	h := u.failed
	u.failed = nil
	u.retries = 0
	u.agent = Status{Status: "idle"}
	u.agentData = nil
	if retry {
		u.retry = h
	}
	if !retry && h.onSuccess != nil {
		h.onSuccess()
		s.afterHookLocked(u)
	}
	return nil
}

// Status returns the application status: the leader's status-set --application if any, else
// the most severe unit workload status, as Juju derives it.
func (a *App) Status() Status {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.statusLocked()
}

var severity = map[string]int{"error": 6, "blocked": 5, "maintenance": 4, "waiting": 3, "active": 2, "unknown": 1, "terminated": 0}

func (a *App) statusLocked() Status {
	if a.status != nil {
		return *a.status
	}
	best := Status{Status: "unknown"}
	for _, u := range a.units {
		st := u.workload
		if u.failed != nil {
			st = Status{Status: "error", Message: u.agent.Message}
		}
		if severity[st.Status] > severity[best.Status] {
			best = st
		}
	}
	return best
}

// Units returns the application's units (dying ones included until removed).
func (a *App) Units() []*Unit {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Unit(nil), a.units...)
}

// Leader returns the leader unit, or nil.
func (a *App) Leader() *Unit {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.leader
}

// newPodLocked replaces the unit's pod, as a StatefulSet does after a pod is deleted: a new pod
// IP, a fresh charm dir holding only the charm's files (the charm dir lives on the pod's
// emptyDir volume, so nothing the charm wrote survives), a fresh charm container and fresh
// workload containers. What the controller keeps for the unit (uniter state, relation state,
// leadership, secrets tracking, status) is unchanged. The new agent finds no charm dir and
// deploys the charm, which queues upgrade-charm, unless a hook was interrupted: the deploy then
// restores that hook instead (resolver/loop.go checkCharmInstallUpgrade; operation/deploy.go
// Commit, interruptedHook).
func (s *Sim) newPodLocked(u *Unit, interrupted bool) {
	a := u.app
	u.podPending = false
	u.addr = a.newPodAddrLocked()
	if err := os.RemoveAll(u.charmDir); err != nil {
		s.logf("    cannot remove the charm dir of %s: %v", u.name, err)
	}
	if err := installCharm(a.charmPath, u.charmDir); err != nil {
		s.logf("    cannot deploy the charm on the new pod of %s: %v", u.name, err)
	}
	u.charmCtr.stop()
	u.charmCtr = nil
	ctr := filepath.Join(u.dir, "charm-container")
	if err := os.RemoveAll(ctr); err != nil {
		s.logf("    cannot remove the charm container of %s: %v", u.name, err)
	}
	if err := os.MkdirAll(ctr, 0o755); err != nil {
		s.logf("    cannot create the charm container of %s: %v", u.name, err)
	}
	u.newPod = true
	// A new agent starts with an empty relation cache (contextfactory.go NewContextFactory).
	for _, st := range u.rels {
		st.cache = nil
	}
	// The uniter state in the controller says whether the unit had started (reboot resolver).
	u.rebootStart = u.started
	if !interrupted {
		u.upgradeQueued = true
	}
	// A new agent's leader settings version starts at 0, so a non-leader runs
	// leader-settings-changed (leadership/resolver.go NextOp); the leader's Leader flag is part of
	// the stored uniter state, so it gets no second leader-elected.
	if a.leader != u {
		u.leaderPending = true
	}
}

// ingressSettings is what Juju writes of a unit's addresses into its settings of each relation: on a Kubernetes
// model the ingress address is the application's service address, not the pod's (networkinfocaas.go
// ProcessAPIRequest), and private-address is set to it too (apiserver uniter.go EnterScope).
func (u *Unit) ingressSettings() map[string]string {
	addr := u.app.svc.addr
	return map[string]string{"private-address": addr, "ingress-address": addr, "egress-subnets": addr + "/32"}
}

// updateNetworkInfoLocked writes the unit's address into its settings on every relation it is in,
// as the commit of a config-changed hook does (runner/context/context.go doFlush:
// UpdateNetworkInfo; apiserver uniter updateUnitNetworkInfoOperation sets private-address,
// ingress-address and egress-subnets). Only a real change bumps the settings version, so
// remote units see relation-changed only when the address moved.
func (s *Sim) updateNetworkInfoLocked(u *Unit) {
	want := u.ingressSettings()
	for _, r := range s.relationsOf(u.app) {
		if !r.scope[u] || r.removed {
			continue
		}
		have := r.unitData[u]
		changed := false
		for k, v := range want {
			if have[k] != v {
				changed = true
			}
		}
		if !changed {
			continue
		}
		bag := copyMap(have)
		if bag == nil {
			bag = map[string]string{}
		}
		maps.Copy(bag, want)
		r.unitData[u] = bag
		r.unitVer[u]++
	}
}

// App returns the unit's application.
func (u *Unit) App() *App { return u.app }
