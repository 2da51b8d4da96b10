package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Model is a Juju model: applications, relations, offers and consumed offers (SAAS).
type Model struct {
	sim       *Sim
	name      string
	uuid      string
	index     int
	dir       string
	apps      []*App
	relations []*Relation
	relSeq    int
	actionSeq int
	offers    map[string]*offer
	saas      map[string]*saas
}

type offer struct {
	name     string
	app      *App
	endpoint string
}

// saas is a consumed offer, known in the consuming model under its alias.
type saas struct {
	name  string
	from  *Model
	offer *offer
}

// Name returns the model name.
func (m *Model) Name() string { return m.name }

// UUID returns the model UUID.
func (m *Model) UUID() string { return m.uuid }

// DeployOptions configures Deploy.
type DeployOptions struct {
	Units  int            // default 1
	Config map[string]any // validated against config.yaml
	// Resources maps a resource name to a host directory used as the image of the container(s)
	// declaring that resource.
	Resources map[string]string
	Trust     bool
}

// App is a deployed application.
type App struct {
	model          *Model
	name           string
	charm          *Charm
	charmPath      string
	index          int
	units          []*Unit
	unitSeq        int
	podSeq         int // pods re-created (ChurnPod, Refresh): each takes a new address
	leader         *Unit
	config         map[string]any
	configVersion  int
	status         *Status
	version        string
	trust          bool
	leaderSettings map[string]string // leader-set (deprecated, still supported)
	// leaderSettingsWrites counts leader-set commits that changed leaderSettings.
	leaderSettingsWrites int64
	resources            map[string]string
	dying                bool
	svc                  *service // the application's Kubernetes service
}

// Name returns the application name.
func (a *App) Name() string { return a.name }

// Charm returns the parsed charm metadata.
func (a *App) Charm() *Charm { return a.charm }

// Deploy deploys a charm (a .charm archive or a charm directory) as application app.
func (m *Model) Deploy(app, charmPath string, o *DeployOptions) (*App, error) {
	if o == nil {
		o = &DeployOptions{}
	}
	// juju deploy refuses a name juju/names does not accept (cmd/juju/application/deploy.go; names.IsValidApplication):
	// every dash-separated part after the first needs a letter, so "req-00" is refused and "req-a00" is not.
	if !validAppName.MatchString(app) {
		return nil, fmt.Errorf("invalid application name %q", app)
	}
	abs, err := filepath.Abs(charmPath)
	if err != nil {
		return nil, fmt.Errorf("cannot deploy %q: %w", app, err)
	}
	// Parse once from a scratch copy so archives and directories read the same way.
	scratch := filepath.Join(m.dir, ".charms", app)
	os.RemoveAll(scratch)
	if err := installCharm(abs, scratch); err != nil {
		return nil, fmt.Errorf("cannot deploy %q: %w", app, err)
	}
	ch, err := ReadCharm(scratch)
	if err != nil {
		return nil, fmt.Errorf("cannot deploy %q: %w", app, err)
	}
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.findApp(app) != nil || m.saas[app] != nil {
		return nil, fmt.Errorf("cannot deploy %q: application already exists", app)
	}
	a := &App{model: m, name: app, charm: ch, charmPath: scratch, index: s.nextAppIndex(), config: map[string]any{}, configVersion: 1, trust: o.Trust, resources: o.Resources}
	a.svc = newService(a)
	for k, v := range o.Config {
		if err := a.setConfigLocked(k, v); err != nil {
			return nil, fmt.Errorf("cannot deploy %q: %w", app, err)
		}
	}
	m.apps = append(m.apps, a)
	// Peer relations exist from the start.
	for _, name := range sortedKeys(ch.Endpoints) {
		ep := ch.Endpoints[name]
		if ep.Role == "peer" {
			m.addRelationLocked([]*relEnd{{app: a, ep: ep}}, nil)
		}
	}
	n := o.Units
	if n == 0 {
		n = 1
	}
	for i := 0; i < n; i++ {
		if _, err := a.addUnitLocked(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (m *Model) findApp(name string) *App {
	for _, a := range m.apps {
		if a.name == name {
			return a
		}
	}
	return nil
}

// Apps returns the model's applications in deploy order.
func (m *Model) Apps() []*App {
	m.sim.mu.Lock()
	defer m.sim.mu.Unlock()
	return append([]*App(nil), m.apps...)
}

// App returns the application with that name, or nil.
func (m *Model) App(name string) *App {
	m.sim.mu.Lock()
	defer m.sim.mu.Unlock()
	return m.findApp(name)
}

// Unit returns the unit "app/N" in this model, or nil.
func (m *Model) Unit(name string) *Unit {
	m.sim.mu.Lock()
	defer m.sim.mu.Unlock()
	return m.findUnit(name)
}

func (m *Model) findUnit(name string) *Unit {
	app, _, _ := strings.Cut(name, "/")
	a := m.findApp(app)
	if a == nil {
		return nil
	}
	for _, u := range a.units {
		if u.name == name {
			return u
		}
	}
	return nil
}

func (a *App) addUnitLocked() (*Unit, error) {
	m := a.model
	num := a.unitSeq
	a.unitSeq++
	u := &Unit{
		app: a, num: num, name: fmt.Sprintf("%s/%d", a.name, num),
		addr:          fmt.Sprintf("127.%d.%d.%d", m.sim.netOctet, a.index, num+1),
		state:         map[string]string{},
		ports:         map[string]bool{},
		rels:          map[*Relation]*unitRel{},
		containers:    map[string]*unitContainer{},
		leaderPending: true,
		workload:      Status{Status: "waiting", Message: "waiting for agent initialization to finish"},
		agent:         Status{Status: "allocating"},
	}
	u.addrSeen = u.addr
	u.dir = filepath.Join(m.dir, "units", fmt.Sprintf("%s-%d", a.name, num))
	u.charmDir = filepath.Join(u.dir, "charm")
	if err := installCharm(a.charmPath, u.charmDir); err != nil {
		return nil, fmt.Errorf("cannot add unit %s: %w", u.name, err)
	}
	if err := os.MkdirAll(filepath.Join(u.dir, "charm-container"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot add unit %s: %w", u.name, err)
	}
	// Pebble sockets must fit in a unix socket path (108 bytes) whatever the work dir, so the
	// containers live in a short dir next to the agent socket; <unit dir>/containers links to it.
	m.sim.unitSeq++
	u.containersDir = filepath.Join(filepath.Dir(m.sim.sock), fmt.Sprintf("u%d", m.sim.unitSeq))
	if err := os.MkdirAll(u.containersDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot add unit %s: %w", u.name, err)
	}
	if err := os.Symlink(u.containersDir, filepath.Join(u.dir, "containers")); err != nil {
		return nil, fmt.Errorf("cannot add unit %s: %w", u.name, err)
	}
	a.units = append(a.units, u)
	if a.leader == nil {
		a.leader = u
	}
	u.pendingContainers = true
	return u, nil
}

// Refresh upgrades the application to another charm (a .charm or a charm dir), as juju refresh
// does on Kubernetes: the provisioner rewrites the pod spec and the StatefulSet replaces every
// pod (juju/juju#13003). Each unit's old pod runs stop with the old charm; the new pod gets the
// new charm in a fresh charm dir (nothing the charm wrote survives, .unit-state.db included), a
// new address and fresh containers, and runs upgrade-charm, config-changed, start,
// leader-settings-changed (non-leaders) and <container>-pebble-ready, as after ChurnPod.
func (a *App) Refresh(charmPath string) error {
	m := a.model
	abs, err := filepath.Abs(charmPath)
	if err != nil {
		return fmt.Errorf("cannot refresh %q: %w", a.name, err)
	}
	scratch := filepath.Join(m.dir, ".charms", fmt.Sprintf("%s-%s", a.name, randomHex(4)))
	if err := installCharm(abs, scratch); err != nil {
		return fmt.Errorf("cannot refresh %q: %w", a.name, err)
	}
	ch, err := ReadCharm(scratch)
	if err != nil {
		return fmt.Errorf("cannot refresh %q: %w", a.name, err)
	}
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range a.units {
		u.podPending = true
	}
	a.charm, a.charmPath = ch, scratch
	for k := range a.config {
		if _, ok := ch.Config[k]; !ok {
			delete(a.config, k)
		}
	}
	a.configVersion++
	return nil
}

// newPodAddrLocked gives a re-created pod its new IP. Units take 127.<r>.<k>.<N+1> (N < 128);
// re-created pods take the host numbers from 254 down, cycling through 128-254, so that a new
// pod's address differs from every unit's first one and from the pod it replaces.
func (a *App) newPodAddrLocked() string {
	host := 254 - a.podSeq%127
	a.podSeq++
	return fmt.Sprintf("127.%d.%d.%d", a.model.sim.netOctet, a.index, host)
}

// SetTrust grants or revokes trust; a change fires config-changed, as in Juju.
func (a *App) SetTrust(trust bool) {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.trust != trust {
		a.trust = trust
		a.configVersion++
	}
}

// Scale sets the number of live units: new units are added; the highest-numbered are removed
// (their teardown hooks run on the next Settle).
func (a *App) Scale(n int) error {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	var live []*Unit
	for _, u := range a.units {
		if !u.dying {
			live = append(live, u)
		}
	}
	for i := len(live); i < n; i++ {
		if _, err := a.addUnitLocked(); err != nil {
			return fmt.Errorf("cannot scale %s: %w", a.name, err)
		}
	}
	for i := len(live) - 1; i >= n && i >= 0; i-- {
		live[i].dying = true
	}
	a.electLocked()
	return nil
}

// electLocked picks a new leader when there is none: dying units never take leadership. A dying
// leader keeps the lease until the unit is gone (removeUnitLocked): its agent keeps claiming it, so
// is-leader answers true in its own teardown hooks (runner/context/leader.go IsLeader asks the lease;
// leadership/resolver.go NextOp only resigns locally, with no hook and no lease release).
func (a *App) electLocked() {
	if a.leader != nil {
		return
	}
	a.leader = nil
	for _, u := range a.units {
		if !u.dying {
			a.setLeaderLocked(u)
			return
		}
	}
}

// setLeaderLocked moves the lease; the agents see it on their next resolver pass (leadershipHook).
func (a *App) setLeaderLocked(u *Unit) {
	a.leader = u
}

// SetLeader moves leadership to unit ("app/N"): leader-elected runs on it and
// leader-settings-changed on every other unit.
func (m *Model) SetLeader(unit string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	u := m.findUnit(unit)
	if u == nil || u.dying {
		return fmt.Errorf("cannot set leader: unit %q not found", unit)
	}
	if u.app.leader == u {
		return nil
	}
	u.app.setLeaderLocked(u)
	return nil
}

// RemoveApp removes an application: its relations and units are torn down on the next Settle.
func (m *Model) RemoveApp(name string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	a := m.findApp(name)
	if a == nil {
		return fmt.Errorf("cannot remove application: application %q not found", name)
	}
	a.dying = true
	for _, u := range a.units {
		u.dying = true
	}
	for _, r := range s.allRelations() {
		if r.involves(a) && !r.peer() {
			r.dying = true
		}
	}
	return nil
}

// SetConfig changes application config; "" or nil resets an option to its default.
func (a *App) SetConfig(cfg map[string]any) error {
	s := a.model.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	before := fmt.Sprint(a.effectiveConfig())
	for _, k := range sortedKeys(cfg) {
		if err := a.setConfigLocked(k, cfg[k]); err != nil {
			return fmt.Errorf("cannot set config of %s: %w", a.name, err)
		}
	}
	if fmt.Sprint(a.effectiveConfig()) != before {
		a.configVersion++
	}
	return nil
}

func (a *App) setConfigLocked(k string, v any) error {
	opt, ok := a.charm.Config[k]
	if !ok {
		return fmt.Errorf("unknown option %q", k)
	}
	if v == nil || v == "" {
		delete(a.config, k)
		return nil
	}
	cv, err := coerceConfig(opt.Type, v)
	if err != nil {
		return fmt.Errorf("option %q: %w", k, err)
	}
	// A secret option holds a secret URI (apiserver/facades/client/application validateSecretConfig); whether the
	// application may read it is not checked: the charm finds out when it reads it.
	if opt.Type == "secret" {
		if err := parseSecretURI(cv.(string)); err != nil {
			return fmt.Errorf("invalid secret URI for option %q: %w", k, err)
		}
	}
	a.config[k] = cv
	return nil
}

// effectiveConfig is what config-get shows: set keys plus keys with a default.
func (a *App) effectiveConfig() map[string]any {
	out := map[string]any{}
	for k, o := range a.charm.Config {
		if o.Default != nil {
			out[k] = o.Default
		}
	}
	for k, v := range a.config {
		out[k] = v
	}
	return out
}

func coerceConfig(typ string, v any) (any, error) {
	switch typ {
	case "string", "secret":
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		}
	case "int":
		switch x := v.(type) {
		case int:
			return int64(x), nil
		case int64:
			return x, nil
		case float64:
			if x == float64(int64(x)) {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
	case "float":
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
	default:
		return nil, fmt.Errorf("unknown option type %q", typ)
	}
	return nil, fmt.Errorf("expected %s, got %T(%v)", typ, v, v)
}

// Offer offers app's endpoint to other models as offerName.
func (m *Model) Offer(app, endpoint, offerName string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	a := m.findApp(app)
	if a == nil {
		return fmt.Errorf("cannot offer: application %q not found", app)
	}
	ep, ok := a.charm.Endpoints[endpoint]
	if !ok || ep.Role == "peer" {
		return fmt.Errorf("cannot offer: application %q has no endpoint %q to offer", app, endpoint)
	}
	if offerName == "" {
		offerName = app
	}
	m.offers[offerName] = &offer{name: offerName, app: a, endpoint: endpoint}
	return nil
}

// Consume makes the offer offerName of model from known in m as alias (the SAAS name).
func (m *Model) Consume(from *Model, offerName, alias string) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	of := from.offers[offerName]
	if of == nil {
		return fmt.Errorf("cannot consume: offer %q not found in model %q", offerName, from.name)
	}
	if alias == "" {
		alias = offerName
	}
	if m.findApp(alias) != nil || m.saas[alias] != nil {
		return fmt.Errorf("cannot consume: application %q already exists", alias)
	}
	m.saas[alias] = &saas{name: alias, from: from, offer: of}
	return nil
}

func (s *Sim) allRelations() []*Relation {
	seen := map[*Relation]bool{}
	var out []*Relation
	for _, m := range s.models {
		for _, r := range m.relations {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// Integrate relates two endpoints, each "app:endpoint" or "app" when only one endpoint pair
// matches (same interface, provider with requirer), as juju integrate does. A name may be a SAAS
// alias from Consume.
func (m *Model) Integrate(a, b string) (*Relation, error) {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	type cand struct {
		app  *App
		name string // as named in this model
		sa   *saas
		eps  []Endpoint
	}
	resolve := func(spec string) (*cand, error) {
		name, epName, _ := strings.Cut(spec, ":")
		c := &cand{name: name}
		if app := m.findApp(name); app != nil {
			c.app = app
			for _, en := range sortedKeys(app.charm.Endpoints) {
				ep := app.charm.Endpoints[en]
				if ep.Role != "peer" && (epName == "" || epName == en) {
					c.eps = append(c.eps, ep)
				}
			}
		} else if sa := m.saas[name]; sa != nil {
			c.app, c.sa = sa.offer.app, sa
			ep := sa.offer.app.charm.Endpoints[sa.offer.endpoint]
			if epName == "" || epName == ep.Name {
				c.eps = append(c.eps, ep)
			}
		} else {
			return nil, fmt.Errorf("application %q not found", name)
		}
		if len(c.eps) == 0 {
			return nil, fmt.Errorf("application %q has no %q relation", name, epName)
		}
		return c, nil
	}
	ca, err := resolve(a)
	if err != nil {
		return nil, fmt.Errorf("cannot integrate: %w", err)
	}
	cb, err := resolve(b)
	if err != nil {
		return nil, fmt.Errorf("cannot integrate: %w", err)
	}
	if ca.sa != nil && cb.sa != nil {
		return nil, fmt.Errorf("cannot integrate: both %q and %q are remote", ca.name, cb.name)
	}
	var pairs [][2]Endpoint
	for _, ea := range ca.eps {
		for _, eb := range cb.eps {
			if ea.Interface == eb.Interface && ((ea.Role == "provider" && eb.Role == "requirer") || (ea.Role == "requirer" && eb.Role == "provider")) {
				pairs = append(pairs, [2]Endpoint{ea, eb})
			}
		}
	}
	switch {
	case len(pairs) == 0:
		return nil, fmt.Errorf("cannot integrate: no relations found")
	case len(pairs) > 1:
		var alts []string
		for _, p := range pairs {
			alts = append(alts, fmt.Sprintf("%q", ca.name+":"+p[0].Name+" "+cb.name+":"+p[1].Name))
		}
		return nil, fmt.Errorf("cannot integrate: ambiguous relation: %q could refer to %s", a+" "+b, strings.Join(alts, "; "))
	}
	for _, r := range s.allRelations() {
		if r.involves(ca.app) && r.involves(cb.app) && !r.dying && r.endFor(ca.app).ep.Name == pairs[0][0].Name && r.endFor(cb.app).ep.Name == pairs[0][1].Name {
			return nil, fmt.Errorf("cannot integrate: relation %s:%s %s:%s already exists", ca.name, pairs[0][0].Name, cb.name, pairs[0][1].Name)
		}
	}
	ends := []*relEnd{{app: ca.app, ep: pairs[0][0]}, {app: cb.app, ep: pairs[0][1]}}
	var cmr *cmrInfo
	if ca.sa != nil || cb.sa != nil {
		sa := ca.sa
		if sa == nil {
			sa = cb.sa
		}
		cmr = &cmrInfo{saasName: sa.name, consumer: m, offerer: sa.from, token: randomHex(16)}
	}
	return m.addRelationLocked(ends, cmr), nil
}

func (m *Model) addRelationLocked(ends []*relEnd, cmr *cmrInfo) *Relation {
	r := &Relation{
		ids: map[*Model]int{}, ends: ends, cmr: cmr,
		unitData: map[*Unit]map[string]string{}, unitVer: map[*Unit]int64{},
		appData: map[*App]map[string]string{}, appVer: map[*App]int64{},
		scope: map[*Unit]bool{},
	}
	for _, e := range ends {
		mm := e.app.model
		if _, ok := r.ids[mm]; !ok {
			r.ids[mm] = mm.relSeq
			mm.relSeq++
			mm.relations = append(mm.relations, r)
		}
	}
	return r
}

// RemoveRelation removes a relation: departed and broken hooks run on the next Settle.
func (m *Model) RemoveRelation(r *Relation) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.peer() {
		return fmt.Errorf("cannot remove relation: peer relations cannot be removed")
	}
	r.dying = true
	return nil
}

// SuspendRelation suspends a cross-model relation, as juju suspend-relation does (the offerer's
// SetRelationsSuspended; only relations to an offer can be suspended). Every unit of both sides sees the
// relation as broken (relation/resolver.go relationsResolver.NextOp: Suspended is remoteBroken): departed for
// each remote unit it knows, with JUJU_DEPARTING_UNIT the remote unit, then relation-broken, after which the unit
// leaves the relation's scope and forgets it (relation/statetracker.go CommitHook: the relationer goes with
// relation-broken). Relation data stays in the controller.
func (m *Model) SuspendRelation(r *Relation) error {
	return m.setSuspended(r, true)
}

// ResumeRelation resumes a suspended relation (juju resume-relation): every unit enters its scope again as for a
// new relation (statetracker.go SynchronizeScopes, joinRelation), its settings overwritten with its addresses
// (state/relationunit.go EnterScope "create or overwrite"), and runs relation-created, then relation-joined and
// relation-changed for each remote unit; the application databags are kept.
func (m *Model) ResumeRelation(r *Relation) error {
	return m.setSuspended(r, false)
}

func (m *Model) setSuspended(r *Relation, suspended bool) error {
	s := m.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.cmr == nil {
		return fmt.Errorf("cannot set the suspended status of relation %v: not a cross-model relation", r.ids[m])
	}
	if r.dying || r.removed {
		return fmt.Errorf("cannot set the suspended status of relation %v: relation is not alive", r.ids[m])
	}
	r.suspended = suspended
	return nil
}

// Relations returns the model's relations, ordered by id.
func (m *Model) Relations() []*Relation {
	m.sim.mu.Lock()
	defer m.sim.mu.Unlock()
	out := append([]*Relation(nil), m.relations...)
	sort.Slice(out, func(i, j int) bool { return out[i].ids[m] < out[j].ids[m] })
	return out
}
