package sim

import (
	"fmt"
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
	Model     string         `json:"model"`
	Unit      string         `json:"unit"`
	Seq       int            `json:"seq"` // order of the run in the whole controller
	Name      string         `json:"name"`
	Kind      string         `json:"kind"` // "hook" or "action"
	Relation  string         `json:"relation,omitempty"`
	Remote    string         `json:"remote-unit,omitempty"`
	Duration  time.Duration  `json:"duration"`
	CPU       time.Duration  `json:"cpu,omitempty"` // user and system time of the hook process and the tools it ran
	ExitCode  int            `json:"exit-code"`
	Killed    bool           `json:"killed,omitempty"`
	ToolCalls map[string]int `json:"tool-calls,omitempty"`
	Stdout    string         `json:"stdout,omitempty"`
	Stderr    string         `json:"stderr,omitempty"`
	Logs      []string       `json:"logs,omitempty"`
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

	installed         bool
	started           bool
	stopped           bool
	dying             bool
	removed           bool
	configSeen        int
	churn             bool // pod churn requested: stop, new Pebbles, start
	upgradePending    bool // charm refreshed: stop, upgrade-charm, config-changed, ...
	lscAfterConfig    bool
	restartContainers bool
	leaderPending     bool
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

	failed  *pendingHook
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

// CharmDir returns the unit's charm directory (persists between hooks).
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

// ChurnPod simulates Kubernetes recreating the unit's pod: the old pod runs stop; the new one
// gets new Pebbles (new boot ids) and runs start, then <container>-pebble-ready; no install.
// The charm dir and unit address are kept.
func (u *Unit) ChurnPod() {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	u.churn = true
}

// Resolve clears the unit's error: with retry the failed hook runs again on the next Settle,
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
