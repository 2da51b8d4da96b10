package sim

// leadershipHook follows the uniter's leadership resolver (worker/uniter/leadership/resolver.go
// NextOp) and the remote state watcher (worker/uniter/remotestate/watcher.go leadershipChanged,
// leaderSettingsChanged), for an installed unit with no hook in error:
//   - a leader the agent has not accepted yet runs leader-elected (operation/leader.go
//     acceptLeadership); a dying unit never accepts;
//   - a unit that accepted and is no longer the leader, or is dying, resigns with no hook
//     (resignLeadership: leader-deposed never runs). Resigning is local to the agent: a dying
//     leader keeps the lease, and is-leader true, until the unit is gone (App.electLocked);
//   - a non-leader runs leader-settings-changed when the leader settings version it saw differs
//     from the watcher's. The watcher's version starts at 1 (its initial event) and moves only
//     with leader-set changes, never with a leadership change: a new leader's other units run
//     nothing, while the deposed leader, which ran no leader-settings-changed while it led, runs
//     one if the version moved since it last did (always, for the unit that led from deploy).
//     leaderPending (an agent restart resets the version it saw) forces one.
//
// A dying or stopped unit runs no leader-settings-changed, nor does a new pod's agent before its start
// (State.Stopped from the old pod's stop). Called with s.mu held.
func (s *Sim) leadershipHook(u *Unit) *pendingHook {
	leads := u.app.leader == u
	if leads && !u.leaderAccepted && !u.dying {
		return &pendingHook{name: "leader-elected", onSuccess: func() { u.leaderAccepted = true }}
	}
	if u.leaderAccepted && (!leads || u.dying) {
		u.leaderAccepted = false
	}
	// A dying unit runs no leader-settings-changed: it may have resigned locally, but the model still
	// has it as the (dying) leader (leadership/resolver.go NextOp: remoteState.Life != life.Dying).
	if u.leaderAccepted || u.stopped || u.podStopped || u.dying {
		return nil
	}
	v := u.app.leaderSettingsVersion()
	if u.leaderSettingsSeen == v && !u.leaderPending {
		return nil
	}
	return &pendingHook{name: "leader-settings-changed", onSuccess: func() {
		u.leaderSettingsSeen = v
		u.leaderPending = false
	}}
}

// leaderSettingsVersion is the version a unit agent's watcher reports: 1 for its initial event,
// plus one per leader-set that changed the settings.
func (a *App) leaderSettingsVersion() int64 { return a.leaderSettingsWrites + 1 }
