package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Relation is one relation between two application endpoints (or one peer endpoint). A
// cross-model relation is one object shared by both models: each side sees the other under the
// name Juju shows it (the SAAS alias on the consumer side, remote-<token> on the offerer side),
// so the databags need no replication.
type Relation struct {
	ids     map[*Model]int
	ends    []*relEnd
	cmr     *cmrInfo
	dying   bool
	removed bool
	// suspended: juju suspend-relation (SuspendRelation); units see it as broken, and leave its scope.
	suspended bool
	// leftScope holds units that left the scope of a suspended relation: entering it again overwrites their
	// settings (enterScope).
	leftScope map[*Unit]bool
	unitData  map[*Unit]map[string]string
	unitVer   map[*Unit]int64
	appData   map[*App]map[string]string
	appVer    map[*App]int64
	// scope holds units that entered scope: an installed, alive unit's agent enters the scope of
	// every alive relation of its application as soon as it sees it, before its relation-created
	// runs (synchronizeScopes). A unit stays a visible member while in scope and not dying.
	scope map[*Unit]bool
}

type relEnd struct {
	app *App
	ep  Endpoint
}

type cmrInfo struct {
	saasName string
	consumer *Model
	offerer  *Model
	token    string
}

// unitRel is what one unit's agent knows about one relation (the uniter's relation state). It
// exists from scope entry (Juju's relationer) until the relation is dropped.
type unitRel struct {
	// created is set when relation-created succeeded.
	created bool
	broken  bool
	// members maps each remote unit this unit has run joined for to the settings version it has
	// seen; -1 means joined ran and its relation-changed is still due.
	members map[*Unit]int64
	appSeen int64
	// cache is the agent's relation cache of member settings (runner/context/cache.go RelationCache.members):
	// a member's settings, once read, are served from it in later hooks too, until a hook for that member
	// invalidates them (contextfactory.go HookContext: InvalidateMember, RemoveMember on departed). Lost with the
	// agent (a new pod).
	cache map[*Unit]map[string]string
}

func (r *Relation) peer() bool { return len(r.ends) == 1 }

func (r *Relation) involves(a *App) bool {
	for _, e := range r.ends {
		if e.app == a {
			return true
		}
	}
	return false
}

func (r *Relation) endFor(a *App) *relEnd {
	for _, e := range r.ends {
		if e.app == a {
			return e
		}
	}
	return nil
}

// other returns the remote end as seen from app a (its own end for peers).
func (r *Relation) other(a *App) *relEnd {
	for _, e := range r.ends {
		if e.app != a {
			return e
		}
	}
	return r.ends[0]
}

// idFor returns the relation id in the viewer's model.
func (r *Relation) idFor(viewer *App) int { return r.ids[viewer.model] }

// key returns "endpoint:id" as the viewer's agent shows it.
func (r *Relation) key(viewer *App) string {
	return fmt.Sprintf("%s:%d", r.endFor(viewer).ep.Name, r.idFor(viewer))
}

// appName returns target's name as seen by viewer.
func (r *Relation) appName(viewer, target *App) string {
	if target.model == viewer.model || r.cmr == nil {
		return target.name
	}
	if viewer.model == r.cmr.consumer {
		return r.cmr.saasName
	}
	return "remote-" + r.cmr.token
}

func (r *Relation) unitName(viewer *App, u *Unit) string {
	if u == nil {
		return ""
	}
	return fmt.Sprintf("%s/%d", r.appName(viewer, u.app), u.num)
}

// lookupUnit resolves a unit name as the viewer sees it (own units included for peers).
func (r *Relation) lookupUnit(viewer *App, name string) *Unit {
	for _, e := range r.ends {
		for u := range r.scope {
			if u.app == e.app && r.unitName(viewer, u) == name {
				return u
			}
		}
		for _, u := range e.app.units {
			if r.unitName(viewer, u) == name {
				return u
			}
		}
	}
	// Departed units' data stays readable while the relation lives.
	for u := range r.unitData {
		if r.unitName(viewer, u) == name {
			return u
		}
	}
	return nil
}

func (r *Relation) lookupApp(viewer *App, name string) *App {
	for _, e := range r.ends {
		if r.appName(viewer, e.app) == name {
			return e.app
		}
	}
	return nil
}

// members returns the remote units u currently sees in the relation.
func (r *Relation) members(u *Unit) map[*Unit]bool {
	out := map[*Unit]bool{}
	if r.dying || r.suspended || u.dying || !r.scope[u] {
		return out
	}
	other := r.other(u.app).app
	for m := range r.scope {
		if m == u || m.dying || m.app != other {
			continue
		}
		out[m] = true
	}
	return out
}

// synchronizeScopes enters u, installed and alive, into the scope of every alive relation of its
// application it is not in yet, as the uniter's SynchronizeScopes does on every resolver pass
// (worker/uniter/relation/statetracker.go SynchronizeScopes, joinRelation; relationer.go Join:
// "causes the unit to enter its relation scope, allowing its counterpart units to detect its
// presence"). That comes before relation-created: remote units may run relation-joined for u, and
// read its address-prefilled bag, before u's relation-created has run. Called with s.mu held.
func (s *Sim) synchronizeScopes(u *Unit) {
	for _, r := range s.relationsOf(u.app) {
		if r.dying || r.suspended || u.rels[r] != nil {
			continue
		}
		u.rels[r] = &unitRel{members: map[*Unit]int64{}}
		r.enterScope(u)
	}
}

// enterScope puts u in the relation's scope, creating its settings first (createSettings).
func (r *Relation) enterScope(u *Unit) {
	if r.scope[u] {
		return
	}
	r.scope[u] = true
	if r.leftScope[u] {
		// Back in the scope of a resumed relation: EnterScope overwrites the unit's settings with its addresses.
		delete(r.leftScope, u)
		delete(r.unitData, u)
		r.unitVer[u]++
	}
	r.createSettings(u)
}

// leaveScope takes u out of a suspended relation after its relation-broken: its agent forgets the relation
// (relation/statetracker.go CommitHook deletes the relationer and its relation-created record).
func (r *Relation) leaveScope(u *Unit) {
	delete(u.rels, r)
	delete(r.scope, u)
	if r.leftScope == nil {
		r.leftScope = map[*Unit]bool{}
	}
	r.leftScope[u] = true
}

// createSettings creates the unit's bag with its addresses, as the uniter facade's EnterScope
// (apiserver/facades/agent/uniter/uniter.go) passes them to state RelationUnit.EnterScope:
// private-address and ingress-address (the first ingress address), egress-subnets. The uniter
// enters scope before relation-created runs, so a bag that already exists is the unit's own (left
// as it is).
func (r *Relation) createSettings(u *Unit) {
	if r.unitData[u] == nil {
		r.unitData[u] = u.ingressSettings()
	}
}

// sortUnits orders units the way Juju orders member names: as strings ("a/10" < "a/2").
func (r *Relation) sortUnits(viewer *App, us []*Unit) {
	sort.Slice(us, func(i, j int) bool { return r.unitName(viewer, us[i]) < r.unitName(viewer, us[j]) })
}

// ID returns the relation id in the model of its first endpoint (the one named first to
// Integrate); a cross-model relation has an id in each model (IDIn).
func (r *Relation) ID() int {
	return r.ids[r.ends[0].app.model]
}

// IDIn returns the relation id in model m (-1 if the relation is not in m).
func (r *Relation) IDIn(m *Model) int {
	if id, ok := r.ids[m]; ok {
		return id
	}
	return -1
}

// Endpoints returns "app:endpoint" for each end, with real application names.
func (r *Relation) Endpoints() []string {
	var out []string
	for _, e := range r.ends {
		out = append(out, e.app.name+":"+e.ep.Name)
	}
	return out
}

// AppData returns a copy of the committed application databag of app (its real name).
func (r *Relation) AppData(app string) map[string]string {
	for _, e := range r.ends {
		if e.app.name == app {
			s := e.app.model.sim
			s.mu.Lock()
			defer s.mu.Unlock()
			return copyMap(r.appData[e.app])
		}
	}
	return nil
}

// UnitData returns a copy of the committed databag of unit (its real name "app/N").
func (r *Relation) UnitData(unit string) map[string]string {
	s := r.ends[0].app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for u, d := range r.unitData {
		if u.name == unit {
			return copyMap(d)
		}
	}
	return nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// parseRelationID accepts "N" or "ep:N"; only the number counts, as in Juju.
func parseRelationID(s string) (int, bool) {
	if i := strings.LastIndex(s, ":"); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// knownRelations returns the relations the unit's agent knows (entered the scope of: Juju's
// relationers, which the hook context lists too), sorted by id.
func (u *Unit) knownRelations() []*Relation {
	var out []*Relation
	for r := range u.rels {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idFor(u.app) < out[j].idFor(u.app) })
	return out
}

// resolverRelations is the order the relations resolver visits the unit's relations in
// (internal/worker/uniter/relation/resolver.go relationsResolver.NextOp): every non-peer relation
// first, then the peer relations ("Processing them last ensures that upon application removal, the
// hooks for other relations can rely on the peer relations still being present"). Juju visits each
// group in map order; the simulator in id order.
func (u *Unit) resolverRelations() []*Relation {
	var out, peers []*Relation
	for _, r := range u.knownRelations() {
		if r.peer() {
			peers = append(peers, r)
		} else {
			out = append(out, r)
		}
	}
	return append(out, peers...)
}

// RelationMembers lists the remote units u's agent knows in r, named as u sees them and sorted: what relation-list
// prints in a hook of u that is not about r, once the settle is done.
func (u *Unit) RelationMembers(r *Relation) []string {
	s := u.app.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return u.memberNamesLocked(r, nil, nil)
}

// relationHook picks the next hook u's agent runs for one relation it knows, as the uniter's
// relationsResolver.nextHookForRelation (worker/uniter/relation/resolver.go) does:
//  1. the relation-changed a relation-joined queued for its unit (ChangedPending) comes first,
//     before anything else, even when the unit has departed or the relation is dying since;
//  2. relation-departed for each known member no longer in the relation, string-sorted. When u
//     or its application is dying JUJU_DEPARTING_UNIT is u itself, otherwise the remote unit
//     (a removed relation, or a remote unit leaving);
//  3. relation-broken once the relation is dying, or u is (never for peers: a dying unit
//     departs its peers and breaks nothing);
//  4. app-level relation-changed when the remote application's bag version moved (never for a
//     bag never written, version 0);
//  5. relation-joined for a new member, string-sorted ("a/10" < "a/2"), queuing (1);
//  6. relation-changed for each member whose bag version moved, string-sorted.
//
// When the relation or u is dying the remote side is seen as empty (resolver.go NextOp:
// remoteBroken), so no app-level changed, joined or changed is chosen then.
func (s *Sim) relationHook(u *Unit, r *Relation) *pendingHook {
	st := u.rels[r]
	if st.broken {
		return nil
	}
	ep := r.endFor(u.app).ep.Name
	var known []*Unit
	for m := range st.members {
		known = append(known, m)
	}
	r.sortUnits(u.app, known)
	for _, m := range known {
		if st.members[m] == -1 {
			m := m
			v := r.unitVer[m]
			return &pendingHook{name: ep + "-relation-changed", rel: r, remote: m, remoteApp: m.app, onSuccess: func() { st.members[m] = v }}
		}
	}
	cur := r.members(u)
	for _, m := range known {
		if !cur[m] {
			m := m
			departing := m
			if u.dying || u.app.dying {
				departing = u
			}
			return &pendingHook{name: ep + "-relation-departed", rel: r, remote: m, remoteApp: m.app, departing: departing, onSuccess: func() { delete(st.members, m) }}
		}
	}
	if r.dying || r.suspended || u.dying {
		if r.peer() {
			return nil
		}
		return &pendingHook{name: ep + "-relation-broken", rel: r, remoteApp: r.other(u.app).app, onSuccess: func() {
			if r.suspended && !r.dying && !u.dying {
				r.leaveScope(u)
				return
			}
			st.broken = true
		}}
	}
	// The leader runs no app-level relation-changed on a peer relation: the bag is its own
	// (nextHookForRelation: "if !isPeer || !leader"). The version it has not seen stays due, so it
	// runs once the unit no longer leads.
	other := r.other(u.app).app
	if v := r.appVer[other]; v != st.appSeen && !(r.peer() && u.app.leader == u) {
		return &pendingHook{name: ep + "-relation-changed", rel: r, remoteApp: other, onSuccess: func() { st.appSeen = v }}
	}
	var fresh []*Unit
	for m := range cur {
		if _, ok := st.members[m]; !ok {
			fresh = append(fresh, m)
		}
	}
	r.sortUnits(u.app, fresh)
	if len(fresh) > 0 {
		m := fresh[0]
		return &pendingHook{name: ep + "-relation-joined", rel: r, remote: m, remoteApp: m.app, onSuccess: func() { st.members[m] = -1 }}
	}
	for _, m := range known {
		if v := r.unitVer[m]; v != st.members[m] {
			m := m
			return &pendingHook{name: ep + "-relation-changed", rel: r, remote: m, remoteApp: m.app, onSuccess: func() { st.members[m] = v }}
		}
	}
	return nil
}

// pruneRelationCachesLocked readies the relation cache for a new hook as the uniter's context factory does
// (runner/context/contextfactory.go getContextRelations and HookContext): every relation's member cache is
// pruned to the units the agent knows, and a relation hook drops what it caches of its remote unit (departed:
// the unit leaves the cache; any other hook: its settings are read afresh). The per-hook caches of non-members
// and applications start empty (c.others, c.appCache).
func (s *Sim) pruneRelationCachesLocked(c *hookContext) {
	u, h := c.unit, c.hook
	for r, st := range u.rels {
		for m := range st.cache {
			if _, ok := st.members[m]; !ok && !(r == h.rel && m == h.remote) {
				delete(st.cache, m)
			}
		}
		if r == h.rel && h.remote != nil {
			delete(st.cache, h.remote)
		}
	}
}

// cachedSettingsLocked is RelationCache.Settings for a remote unit m of r: a member's settings come from the
// agent's cache when it holds them, else from read (the controller), and are kept; a non-member's are kept
// for this hook only.
func (c *hookContext) cachedSettingsLocked(r *Relation, m *Unit, read func() map[string]string) map[string]string {
	st := c.unit.rels[r]
	if st == nil {
		return read()
	}
	_, member := st.members[m]
	if member || (r == c.hook.rel && m == c.hook.remote && !strings.HasSuffix(c.hook.name, "-relation-departed")) {
		if d, ok := st.cache[m]; ok {
			return copyMap(d)
		}
		d := read()
		if st.cache == nil {
			st.cache = map[*Unit]map[string]string{}
		}
		st.cache[m] = d
		return copyMap(d)
	}
	if d, ok := c.others[r][m]; ok {
		return copyMap(d)
	}
	d := read()
	if c.others[r] == nil {
		c.others[r] = map[*Unit]map[string]string{}
	}
	c.others[r][m] = d
	return copyMap(d)
}
