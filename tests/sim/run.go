package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// JujuVersion is the version the simulator reports in JUJU_VERSION.
const JujuVersion = "3.6.11"

// hookContext is the server-side state of one running hook or action: what the tools see and
// the writes buffered until the process exits 0.
type hookContext struct {
	id      string
	unit    *Unit
	hook    *pendingHook
	name    string
	cmd     *exec.Cmd
	pid     int // set under s.mu once started: the tool server kills -pid
	calls   map[string]int
	ncalls  int
	logs    []string
	killAt  int
	killOn  string // the tool whose calls killAt counts; "" counts every call
	killed  bool
	killPod bool // the pod dies with the hook (InjectPodKill)
	// commitFault fails the commit after its secret calls (InjectCommitFailure).
	commitFault bool

	relUnit   map[*Relation]map[string]*string
	relApp    map[*Relation]map[string]*string
	state     map[string]*string
	leaderSet map[string]*string
	ports     map[string]bool // port -> open(true)/close(false), in call order by last write
	sec       pendingSecrets

	// The per-hook parts of the relation cache (cache.go RelationCache.others and .applications), pruned at
	// every hook's start (contextfactory.go getContextRelations: Prune).
	others   map[*Relation]map[*Unit]map[string]string
	appCache map[*Relation]map[string]string
}

func (s *Sim) newContextLocked(u *Unit, h *pendingHook) *hookContext {
	s.ctxSeq++
	name := h.name
	if h.action != nil {
		name = h.action.name
	}
	c := &hookContext{
		id: fmt.Sprintf("%s-%s-%d", u.name, name, s.ctxSeq), unit: u, hook: h, name: name,
		calls: map[string]int{}, relUnit: map[*Relation]map[string]*string{}, relApp: map[*Relation]map[string]*string{},
		state: map[string]*string{}, leaderSet: map[string]*string{}, ports: map[string]bool{}, sec: pendingSecrets{updates: map[*secret]*secretUpdate{}, trackLatest: map[*secret]*secretUpdate{}},
		others: map[*Relation]map[*Unit]map[string]string{}, appCache: map[*Relation]map[string]string{},
	}
	for i, f := range s.failures {
		if f.unit == u.name && (f.hook == name || f.hook == "*") {
			c.killAt, c.killOn, c.killPod = f.after, f.tool, f.pod
			s.failures = append(s.failures[:i], s.failures[i+1:]...)
			break
		}
	}
	s.pruneRelationCachesLocked(c)
	if r := h.rel; r != nil && strings.HasSuffix(h.name, "-relation-created") {
		// The uniter enters the relation's scope before it runs relation-created (relation
		// statetracker.go SynchronizeScopes -> joinRelation -> Relationer.Join -> EnterScope), so
		// the unit's bag already holds its addresses when the hook reads or writes it, and its
		// writes land on top of them.
		r.createSettings(u)
	}
	s.contexts[c.id] = c
	return c
}

// hookEnv is the hook's whole environment, built from scratch as runner/context context.go HookVars,
// env.go OSDependentEnvVars and runner.go (JUJU_DISPATCH_PATH) build it for a K8s sidecar unit.
func (s *Sim) hookEnv(c *hookContext) []string {
	u, h := c.unit, c.hook
	m := u.app.model
	dispatch := "hooks/" + h.name
	hookName := h.name
	if h.action != nil {
		dispatch = "actions/" + h.action.name
		hookName = ""
	}
	env := map[string]string{
		"JUJU_DISPATCH_PATH":        dispatch,
		"JUJU_HOOK_NAME":            hookName,
		"JUJU_CHARM_DIR":            u.charmDir,
		"CHARM_DIR":                 u.charmDir,
		"JUJU_CONTEXT_ID":           c.id,
		"JUJU_AGENT_SOCKET_ADDRESS": s.sock,
		"JUJU_AGENT_SOCKET_NETWORK": "unix",
		"JUJU_UNIT_NAME":            u.name,
		"JUJU_MODEL_UUID":           m.uuid,
		"JUJU_MODEL_NAME":           m.name,
		"JUJU_API_ADDRESSES":        "10.152.183.1:17070",
		"JUJU_VERSION":              JujuVersion,
		"JUJU_SLA":                  "unsupported",
		"JUJU_MACHINE_ID":           "",
		"JUJU_PRINCIPAL_UNIT":       "",
		"JUJU_AVAILABILITY_ZONE":    "",
		"CLOUD_API_VERSION":         "1.31.0",
		"JUJU_CHARM_HTTP_PROXY":     "",
		"JUJU_CHARM_HTTPS_PROXY":    "",
		"JUJU_CHARM_FTP_PROXY":      "",
		"JUJU_CHARM_NO_PROXY":       "",
		// runner/context/env.go ubuntuEnv (the charm container runs an Ubuntu base).
		"APT_LISTCHANGES_FRONTEND": "none",
		"DEBIAN_FRONTEND":          "noninteractive",
		"LANG":                     "C.UTF-8",
		"PATH":                     s.toolDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"TERM":                     "tmux-256color",
		"SIM_CONTAINERS_DIR":       u.containersDir,
	}
	if r := h.rel; r != nil {
		env["JUJU_RELATION"] = r.endFor(u.app).ep.Name
		env["JUJU_RELATION_ID"] = r.key(u.app)
		env["JUJU_REMOTE_UNIT"] = r.unitName(u.app, h.remote)
		env["JUJU_REMOTE_APP"] = ""
		if h.remoteApp != nil {
			env["JUJU_REMOTE_APP"] = r.appName(u.app, h.remoteApp)
		}
		if h.departing != nil {
			env["JUJU_DEPARTING_UNIT"] = r.unitName(u.app, h.departing)
		}
	}
	if h.secret != nil {
		env["JUJU_SECRET_ID"] = h.secret.uri()
		env["JUJU_SECRET_LABEL"] = h.secretLabel
		if h.secretRev > 0 {
			env["JUJU_SECRET_REVISION"] = fmt.Sprint(h.secretRev)
		}
	}
	if h.container != "" {
		env["JUJU_WORKLOAD_NAME"] = h.container
	}
	if h.noticeID != "" {
		env["JUJU_NOTICE_ID"] = h.noticeID
		env["JUJU_NOTICE_TYPE"] = h.noticeType
		env["JUJU_NOTICE_KEY"] = h.noticeKey
	}
	if h.checkName != "" {
		env["JUJU_PEBBLE_CHECK_NAME"] = h.checkName
	}
	if a := h.action; a != nil {
		env["JUJU_ACTION_NAME"] = a.name
		env["JUJU_ACTION_UUID"] = a.id
		env["JUJU_ACTION_TAG"] = "action-" + a.id
	}
	var out []string
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// defaultStatusLocked sets the statuses Juju sets around lifecycle hooks.
func defaultStatusLocked(u *Unit, name string) {
	switch name {
	case "install":
		if !u.workloadSet {
			u.workload = Status{Status: "maintenance", Message: "installing charm software"}
		}
	case "stop":
		u.workload = Status{Status: "maintenance", Message: "stopping charm software"}
	case "remove":
		u.workload = Status{Status: "maintenance", Message: "cleaning up prior to charm deletion"}
	}
}

// runHook runs one hook process for u and applies its outcome.
func (s *Sim) runHook(ctx context.Context, u *Unit, h *pendingHook) *HookRecord {
	s.mu.Lock()
	c := s.newContextLocked(u, h)
	if h.action == nil {
		defaultStatusLocked(u, h.name)
	}
	u.agent = Status{Status: "executing", Message: "running " + c.name + " hook"}
	if h.action != nil {
		u.agent.Message = "running action " + c.name
	}
	env := s.hookEnv(c)
	// dispatch if the charm has one, else the legacy hooks/<name> or actions/<name> executable.
	exe := filepath.Join(u.charmDir, "dispatch")
	if !fileExists(exe) {
		exe = filepath.Join(u.charmDir, env0(env, "JUJU_DISPATCH_PATH"))
	}
	noDispatch := !fileExists(exe)
	cmd := s.commandFor(u, exe)
	cmd.Dir = u.charmDir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A daemon the hook leaves behind may hold the pipes: the hook ends when its process does.
	cmd.WaitDelay = time.Second
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	c.cmd = cmd
	s.mu.Unlock()

	start := time.Now()
	simStart := processCPU()
	exitCode, runErr := 0, error(nil)
	if noDispatch {
		// No dispatch and no hooks/<name>: Juju counts that as success.
	} else {
		exitCode, runErr = s.wait(ctx, cmd, func(pid int) {
			s.mu.Lock()
			c.pid = pid
			s.mu.Unlock()
		})
	}
	dur := time.Since(start)
	simCPU := processCPU() - simStart
	var cpu time.Duration
	if ps := cmd.ProcessState; ps != nil {
		// What wait4 reports: the hook process and every hook tool it waited for.
		cpu = ps.UserTime() + ps.SystemTime()
	}

	// Registered before the unlock so that it runs after it: stopping Pebble takes time.
	defer func() {
		if u.removed {
			u.stopContainers()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.contexts, c.id)
	rec := HookRecord{Unit: u.name, Model: u.app.model.name, Seq: s.nextRecordSeq(), Name: c.name, Kind: "hook", Duration: dur, CPU: cpu, SimCPU: simCPU, ExitCode: exitCode, Killed: c.killed, ToolCalls: c.calls,
		Stdout: stdout.String(), Stderr: stderr.String(), Logs: c.logs}
	if h.action != nil {
		rec.Kind = "action"
	}
	if h.rel != nil {
		rec.Relation = h.rel.key(u.app)
		rec.Remote = h.rel.unitName(u.app, h.remote)
	}
	// A hook killed by a signal (pod churn, OOM, or an injected failure) is requeued, not failed.
	var sig *signalError
	if errors.As(runErr, &sig) {
		c.killed = true
		rec.Killed = true
	}
	ok := exitCode == 0 && runErr == nil && !c.killed
	var commitErr error
	if ok {
		rec.SecretChanges = c.secretChanges()
		c.commitFault = rec.SecretChanges > 0 && s.commitFaultLocked(u, c.name)
		if rec.RelationBytes, commitErr = c.commitLocked(s); commitErr != nil {
			ok = false
			rec.Stderr += "ERROR " + commitErr.Error() + "\n"
		}
	}
	u.hooks = append(u.hooks, rec)
	s.records = append(s.records, rec)
	s.logHook(u, &rec, runErr)
	if h.action != nil {
		h.action.finish(&rec, ok, runErr, exitCode)
		u.agent = Status{Status: "idle"}
		return &rec
	}
	switch {
	case c.killed && c.killPod:
		// The pod died with the hook: a new pod restores it as a failed hook (see InjectPodKill).
		setHookErrorLocked(u, h)
		s.newPodLocked(u, true)
	case c.killed:
		// Requeued: the resolver picks the same hook again since nothing was applied.
		u.agent = Status{Status: "idle"}
	case ok:
		u.failed = nil
		u.agentData = nil
		u.retries = 0
		u.agent = Status{Status: "idle"}
		if h.onSuccess != nil {
			h.onSuccess()
		}
		s.afterHookLocked(u)
	default:
		setHookErrorLocked(u, h)
	}
	return &rec
}

// setHookErrorLocked leaves h pending as a failed hook: the unit's agent is in error.
func setHookErrorLocked(u *Unit, h *pendingHook) {
	u.failed = h
	u.agent = Status{Status: "error", Message: fmt.Sprintf("hook failed: %q", h.name)}
	// As juju show-status-log: the failed hook, and its relation and remote unit if any.
	u.agentData = map[string]string{"hook": h.name}
	if h.rel != nil {
		u.agentData["relation-id"] = fmt.Sprint(h.rel.idFor(u.app))
		if h.remote != nil {
			u.agentData["remote-unit"] = h.rel.unitName(u.app, h.remote)
		}
	}
}

func env0(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

// wait starts cmd and waits for it, killing its process group at the hook timeout.
func (s *Sim) wait(ctx context.Context, cmd *exec.Cmd, started func(pid int)) (int, error) {
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("cannot run hook: %w", err)
	}
	started(cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(s.opts.HookTimeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return -1, fmt.Errorf("hook timed out after %v", s.opts.HookTimeout)
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return -1, ctx.Err()
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The process exited 0; only a leftover child still held stdout/stderr.
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, &signalError{ws.Signal()}
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

func (s *Sim) logHook(u *Unit, rec *HookRecord, runErr error) {
	var calls []string
	for _, k := range sortedKeys(rec.ToolCalls) {
		calls = append(calls, fmt.Sprintf("%s=%d", k, rec.ToolCalls[k]))
	}
	name := rec.Name
	if rec.Kind == "action" {
		name = "action " + name
	}
	if rec.Remote != "" {
		name += " (" + rec.Remote + ")"
	}
	outcome := ""
	switch {
	case rec.Killed:
		outcome = " KILLED (requeued)"
	case runErr != nil:
		outcome = " FAILED: " + runErr.Error()
	case rec.ExitCode != 0:
		outcome = fmt.Sprintf(" FAILED exit %d", rec.ExitCode)
	}
	s.logf("%-24s %-44s %7.1fms %2d calls [%s]%s", u.app.model.name+"/"+u.name, name, float64(rec.Duration.Microseconds())/1000, rec.Calls(), strings.Join(calls, " "), outcome)
	if rec.ExitCode != 0 && rec.Stderr != "" {
		for _, l := range strings.Split(strings.TrimRight(rec.Stderr, "\n"), "\n") {
			s.logf("    stderr: %s", l)
		}
	}
}

// commitLocked applies a successful hook's buffered writes, as the uniter's context Flush does
// in one API call. Relation data is diffed so that a write without change bumps nothing.
func (c *hookContext) commitLocked(s *Sim) (relationBytes int, err error) {
	u := c.unit
	// Validate first: a failing commit must leave nothing behind.
	for r := range c.relApp {
		if r.removed {
			continue
		}
		if u.app.leader != u {
			return 0, fmt.Errorf("cannot write relation settings: %s is not the leader", u.name)
		}
	}
	if len(c.leaderSet) > 0 && u.app.leader != u {
		return 0, fmt.Errorf("cannot write settings: not the leader")
	}
	if err := c.commitSecretsLocked(s); err != nil {
		return 0, err
	}
	// Kubernetes models keep secret content in the Kubernetes backend, saved there by the uniter before this call
	// (runner/context/context.go doFlush): that too is done, whatever follows.
	if c.commitFault {
		return 0, errCommitInjected
	}
	// One transaction from here (ApplyOperation): every settings document is checked before any is written.
	limit := s.opts.RelationDocLimit
	if limit <= 0 {
		limit = mongoMaxDocSize
	}
	for _, r := range sortedRels(c.relUnit) {
		if !r.removed {
			if n := settingsDocSize(view(r.unitData[u], c.relUnit[r])); n > limit {
				return 0, docTooLargeError(limit)
			}
		}
	}
	for _, r := range sortedRels(c.relApp) {
		if !r.removed {
			if n := settingsDocSize(view(r.appData[u.app], c.relApp[r])); n > limit {
				return 0, docTooLargeError(limit)
			}
		}
	}
	for _, r := range sortedRels(c.relUnit) {
		if r.removed {
			continue
		}
		relationBytes += changedBytes(r.unitData[u], c.relUnit[r])
		if applyPending(r.unitData, u, c.relUnit[r]) {
			r.unitVer[u]++
		}
	}
	for _, r := range sortedRels(c.relApp) {
		if r.removed {
			continue
		}
		if r.appData[u.app] == nil {
			r.appData[u.app] = map[string]string{}
		}
		before := copyMap(r.appData[u.app])
		relationBytes += changedBytes(before, c.relApp[r])
		applyInto(r.appData[u.app], c.relApp[r])
		if !mapsEqual(before, r.appData[u.app]) {
			// The writer's agent does not record the version it wrote: on a peer relation the leader
			// simply runs no app-level relation-changed (relationHook), and a unit that wrote as leader
			// runs one once it no longer leads, as Juju's uniter does.
			r.appVer[u.app]++
		}
	}
	if len(c.leaderSet) > 0 {
		if u.app.leaderSettings == nil {
			u.app.leaderSettings = map[string]string{}
		}
		before := copyMap(u.app.leaderSettings)
		applyInto(u.app.leaderSettings, c.leaderSet)
		if !mapsEqual(before, u.app.leaderSettings) {
			u.app.leaderSettingsWrites++
		}
	}
	applyInto(u.state, c.state)
	for p, open := range c.ports {
		if open {
			u.ports[p] = true
		} else {
			delete(u.ports, p)
		}
	}
	if len(c.ports) > 0 {
		u.app.syncServiceLocked()
	}
	return relationBytes, nil
}

// mongoMaxDocSize is MongoDB's BSON document limit (BSONObjMaxUserSize), which Juju 3.6's settings collection
// inherits: a relation bag is one settings document (state/settings.go settingsDoc).
const mongoMaxDocSize = 16 * 1024 * 1024

// errCommitInjected is the error of a commit InjectCommitFailure fails: the one mgo/txn gives when the transaction
// keeps aborting (juju/txn ErrExcessiveContention), a failure that can come after the secret calls succeeded.
var errCommitInjected = errors.New("state changing too fast; try again soon")

// docTooLargeError is MongoDB's error 17419 for an update that would leave a document over the limit, as mgo/txn
// passes it up (the server's text, capitalised).
type docTooLargeError int

func (e docTooLargeError) Error() string {
	return fmt.Sprintf("Resulting document after update is larger than %d", int(e))
}

// settingsDocSize is the BSON size of the settings document holding bag: _id ("<model-uuid>:r#<id>#<unit>"), model-uuid,
// the settings map, version, txn-revno and one txn-queue token (state/settings.go settingsDoc; mgo/txn). Keys are
// escaped as Juju stores them ("." and "$" become 3-byte runes: state/settings.go escapeReplacer), each element is a
// type byte, the key and a NUL, and a string value's int32 length, bytes and NUL.
func settingsDocSize(bag map[string]string) int {
	const (
		id       = 1 + len("_id") + 1 + 4 + 36 + 1 + len("r#999#tls-authority-long-app-name/999") + 1
		uuid     = 1 + len("model-uuid") + 1 + 4 + 36 + 1
		version  = 1 + len("version") + 1 + 8
		revno    = 1 + len("txn-revno") + 1 + 8
		txnQueue = 1 + len("txn-queue") + 1 + 4 + (1 + 2 + 4 + 24 + 1 + 8 + 1) + 1
		settings = 1 + len("settings") + 1 + 4 + 1 // the subdocument's header and end
		fixed    = 4 + id + uuid + version + revno + txnQueue + settings + 1
	)
	n := fixed
	for k, v := range bag {
		n += 1 + len(k) + 2*(strings.Count(k, ".")+strings.Count(k, "$")) + 1 + 4 + len(v) + 1
	}
	return n
}

// changedBytes is what applying p to bag changes: each key set to a new value with that value, each key deleted.
func changedBytes(bag map[string]string, p map[string]*string) int {
	n := 0
	for k, v := range p {
		old, had := bag[k]
		switch {
		case v == nil && had:
			n += len(k)
		case v != nil && (!had || old != *v):
			n += len(k) + len(*v)
		}
	}
	return n
}

func sortedRels[V any](m map[*Relation]V) []*Relation {
	var out []*Relation
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

func applyPending(data map[*Unit]map[string]string, u *Unit, p map[string]*string) bool {
	if data[u] == nil {
		data[u] = map[string]string{}
	}
	before := copyMap(data[u])
	applyInto(data[u], p)
	return !mapsEqual(before, data[u])
}

func applyInto(dst map[string]string, p map[string]*string) {
	for k, v := range p {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = *v
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// view returns committed data overlaid with pending writes.
func view(committed map[string]string, p map[string]*string) map[string]string {
	out := copyMap(committed)
	if out == nil {
		out = map[string]string{}
	}
	applyInto(out, p)
	return out
}

// signalError reports a hook process killed by a signal.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "killed by signal " + e.sig.String() }

// processCPU is the user and system time this process (the simulator: the controller side of every hook tool) has
// used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
