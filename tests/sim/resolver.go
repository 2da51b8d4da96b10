package sim

import "sort"

// pendingHook is the next thing a unit's agent will run, with the state change to apply when it
// succeeds. Nothing changes in the unit's agent state until then, so a failed or killed hook is
// simply chosen again: that is Juju's "hook stays pending".
type pendingHook struct {
	name      string
	rel       *Relation
	remote    *Unit
	remoteApp *App
	departing *Unit
	// secret hooks
	secret      *secret
	secretLabel string
	secretRev   int
	// workload hooks
	container  string
	noticeID   string
	noticeType string
	noticeKey  string
	checkName  string
	action     *actionRun
	onSuccess  func()
}

// nextHook is resolveHook plus update-status's absorption: every hook the uniter runs records the
// update-status timer version it saw (worker/uniter/resolver/opfactory.go wrapHookOp: "so that the
// update-status hook only fires after the next timer"), so an update-status queued before another
// hook was chosen is dropped when that hook succeeds. Actions are not hooks and keep it. Called
// with s.mu held.
func (s *Sim) nextHook(u *Unit) *pendingHook {
	h := s.resolveHook(u)
	if h == nil || h.action != nil || !u.updateStatus || h.name == "update-status" {
		return h
	}
	done := h.onSuccess
	h.onSuccess = func() {
		if done != nil {
			done()
		}
		u.updateStatus = false
	}
	return h
}

// resolveHook implements the uniter resolver's priorities (JUJU.md §1) for one unit. Called with
// s.mu held.
func (s *Sim) resolveHook(u *Unit) *pendingHook {
	if u.removed {
		return nil
	}
	if u.failed != nil {
		if u.retries < s.opts.AutoRetry {
			u.retries++
			return u.failed
		}
		return nil
	}
	if u.retry != nil {
		h := *u.retry
		done := h.onSuccess
		h.onSuccess = func() {
			u.retry = nil
			if done != nil {
				done()
			}
		}
		return &h
	}
	if u.dying && u.installed {
		// The leadership resolver comes before the dying unit's teardown (internal/worker/uniter/resolver.go
		// NextOp, then nextOp's Dying case): a dying leader resigns locally, with no hook, and a dying unit runs
		// no leader-settings-changed, so this returns nil today; kept for the order.
		if h := s.leadershipHook(u); h != nil {
			return h
		}
		return s.teardownHook(u)
	}
	if u.dying {
		return &pendingHook{name: "remove", onSuccess: func() { s.removeUnitLocked(u) }}
	}
	if !u.installed {
		return &pendingHook{name: "install", onSuccess: func() { u.installed = true }}
	}
	s.synchronizeScopes(u)
	// A pod deleted gracefully: its agent runs stop if the unit had started and not stopped
	// (uniter/resolver.go nextOp, remoteState.Shutdown), then the pod goes and a new one comes.
	if u.podPending {
		if u.started && !u.podStopped {
			return &pendingHook{name: "stop", onSuccess: func() {
				u.podStopped = true
				s.newPodLocked(u, false)
			}}
		}
		s.newPodLocked(u, false)
	}
	// A new sidecar agent owes start, first of all, when the unit had started; it waits while a
	// hook is queued or pending (reboot/resolver.go NextOp: localState.Kind == RunHook).
	if u.rebootStart && !u.upgradeQueued && !u.configQueued {
		return &pendingHook{name: "start", onSuccess: func() {
			u.rebootStart = false
			u.podStopped = false
		}}
	}
	// Queued hooks (operation state RunHook/Queued) run before anything that needs the Continue
	// state: leadership, secrets, actions, relations (uniter/resolver.go NextOp).
	if u.upgradeQueued {
		return &pendingHook{name: "upgrade-charm", onSuccess: func() {
			u.upgradeQueued = false
			u.configQueued = true
		}}
	}
	if u.configQueued {
		return s.configChangedHook(u)
	}
	// relation-created for every alive relation whose scope the unit entered (peers included):
	// relation/resolver.go createdRelationsResolver.
	for _, r := range s.relationsOf(u.app) {
		if st := u.rels[r]; st != nil && !st.created && !r.dying && !r.suspended {
			return &pendingHook{name: r.endFor(u.app).ep.Name + "-relation-created", rel: r, remoteApp: r.other(u.app).app, onSuccess: func() {
				st.created = true
			}}
		}
	}
	if h := s.leadershipHook(u); h != nil {
		return h
	}
	if u.started {
		for _, name := range sortedKeys(u.containers) {
			c := u.containers[name]
			if c.bootID != "" && c.bootID != c.seenBootID {
				boot := c.bootID
				return &pendingHook{name: name + "-pebble-ready", container: name, onSuccess: func() { c.seenBootID = boot }}
			}
		}
	}
	if u.started && len(u.workloadEvents) > 0 {
		h := *u.workloadEvents[0]
		h.onSuccess = func() { u.workloadEvents = u.workloadEvents[1:] }
		return &h
	}
	// Owner-side hooks of an application secret go to the leader: skipped here if this unit
	// no longer leads, and handed to the new leader.
	for len(u.secretEvents) > 0 {
		h := u.secretEvents[0]
		if h.name == "secret-changed" || h.secret.ownerApp == nil || h.secret.ownerApp.leader == u {
			break
		}
		u.secretEvents = u.secretEvents[1:]
		if l := h.secret.ownerApp.leader; l != nil {
			l.secretEvents = append(l.secretEvents, h)
		}
	}
	if i := nextSecretEvent(u.secretEvents); i >= 0 {
		// A copy: the queued event stays as it was if this run fails and is chosen again.
		h := *u.secretEvents[i]
		queued := u.secretEvents[i]
		h.onSuccess = func() { u.secretEvents = removeEvent(u.secretEvents, queued) }
		return &h
	}
	// config-changed on a config or trust change, on an address change, or queued by upgrade-charm
	// (uniter/resolver.go nextOp: ConfigHash, TrustHash, AddressesHash; operation/runhook.go Commit).
	if u.configSeen != u.app.configVersion || u.addrSeen != u.addr {
		return s.configChangedHook(u)
	}
	if !u.started {
		return &pendingHook{name: "start", onSuccess: func() {
			u.started = true
			if !u.workloadSet {
				u.workload = Status{Status: "unknown"}
			}
		}}
	}
	for _, r := range u.resolverRelations() {
		if h := s.relationHook(u, r); h != nil {
			return h
		}
	}
	if u.updateStatus {
		return &pendingHook{name: "update-status", onSuccess: func() { u.updateStatus = false }}
	}
	return nil
}

// configChangedHook runs config-changed on a config or trust change, on an address change, or
// when upgrade-charm queued it (uniter/resolver.go nextOp: ConfigHash, TrustHash, AddressesHash;
// operation/runhook.go Commit). Its commit refreshes the unit's address in its relation settings.
func (s *Sim) configChangedHook(u *Unit) *pendingHook {
	v, addr := u.app.configVersion, u.addr
	return &pendingHook{name: "config-changed", onSuccess: func() {
		u.configSeen, u.addrSeen, u.configQueued = v, addr, false
		s.updateNetworkInfoLocked(u)
	}}
}

func (s *Sim) relationsOf(a *App) []*Relation {
	var out []*Relation
	for _, r := range a.model.relations {
		if r.involves(a) && !r.removed {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idFor(a) < out[j].idFor(a) })
	return out
}

// teardownHook runs a dying unit's hooks (internal/worker/uniter/resolver.go nextOp, Dying): its
// relations first, peers last (relationHook: departed for each member it knows with
// JUJU_DEPARTING_UNIT = itself, broken for non-peers), then stop, then remove.
func (s *Sim) teardownHook(u *Unit) *pendingHook {
	for _, r := range u.resolverRelations() {
		if h := s.relationHook(u, r); h != nil {
			return h
		}
	}
	if !u.stopped {
		return &pendingHook{name: "stop", onSuccess: func() { u.stopped = true }}
	}
	return &pendingHook{name: "remove", onSuccess: func() { s.removeUnitLocked(u) }}
}

// removeUnitLocked drops a unit that finished its remove hook; containers stop afterwards
// (outside the lock) in runHook.
func (s *Sim) removeUnitLocked(u *Unit) {
	u.removed = true
	u.workload = Status{Status: "terminated"}
	a := u.app
	for i, o := range a.units {
		if o == u {
			a.units = append(a.units[:i], a.units[i+1:]...)
			break
		}
	}
	a.syncServiceLocked()
	for r := range u.rels {
		delete(r.scope, u)
	}
	if a.leader == u {
		// The lease goes with the unit: only now does another unit lead (App.electLocked). Owner-side
		// hooks of the application's secrets the dying leader did not run (a dying unit runs no secret
		// hooks: secrets/resolver.go NextOp) go to the new leader, whose watchers report them on taking
		// the lease.
		a.leader = nil
		a.electLocked()
		if l := a.leader; l != nil {
			for _, h := range u.secretEvents {
				if h.name != "secret-changed" && h.secret.ownerApp == a {
					l.secretEvents = append(l.secretEvents, h)
				}
			}
		}
	}
	if a.dying && len(a.units) == 0 {
		a.svc.close()
		m := a.model
		for i, o := range m.apps {
			if o == a {
				m.apps = append(m.apps[:i], m.apps[i+1:]...)
				break
			}
		}
		for _, r := range append([]*Relation(nil), m.relations...) {
			if r.peer() && r.involves(a) {
				s.dropRelationLocked(r)
			}
		}
	}
}

// afterHookLocked removes dying relations every unit has finished with.
func (s *Sim) afterHookLocked(u *Unit) {
	for _, r := range s.allRelations() {
		if !r.dying || r.removed {
			continue
		}
		done := true
		for _, e := range r.ends {
			for _, o := range e.app.units {
				if st := o.rels[r]; st != nil && !st.broken {
					done = false
				}
			}
		}
		if done {
			s.dropRelationLocked(r)
		}
	}
}

func (s *Sim) dropRelationLocked(r *Relation) {
	r.removed = true
	for m := range r.ids {
		for i, o := range m.relations {
			if o == r {
				m.relations = append(m.relations[:i], m.relations[i+1:]...)
				break
			}
		}
	}
	for _, e := range r.ends {
		for _, o := range e.app.units {
			delete(o.rels, r)
		}
	}
	s.revokeRelationGrantsLocked(r)
}

// secretHookOrder is the secrets resolver's order (internal/worker/uniter/secrets/resolver.go NextOp):
// expired revisions first, then rotations, then changes of consumed secrets, then obsolete revisions.
var secretHookOrder = map[string]int{"secret-expired": 0, "secret-rotate": 1, "secret-changed": 2, "secret-remove": 3}

// nextSecretEvent returns the index of the queued secret hook the resolver runs next: the oldest of the
// first kind in secretHookOrder, or -1.
func nextSecretEvent(q []*pendingHook) int {
	best := -1
	for i, h := range q {
		if best < 0 || secretHookOrder[h.name] < secretHookOrder[q[best].name] {
			best = i
		}
	}
	return best
}

func removeEvent(q []*pendingHook, h *pendingHook) []*pendingHook {
	for i, o := range q {
		if o == h {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}
