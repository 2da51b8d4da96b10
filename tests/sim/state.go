package sim

import (
	"sort"
	"time"
)

// State is a JSON-able snapshot of the controller: what juju status, show-unit, show-operation
// and list-secrets show. Secret content never appears in it.
type State struct {
	Models  []ModelState    `json:"models"`
	Secrets []SecretState   `json:"secrets"`
	Actions []*ActionResult `json:"actions,omitempty"`
}

// ModelState is one model.
type ModelState struct {
	Name      string          `json:"name"`
	UUID      string          `json:"uuid"`
	Apps      []AppState      `json:"applications"`
	Relations []RelationState `json:"relations"`
	Offers    []OfferState    `json:"offers,omitempty"`
	SAAS      []SAASState     `json:"saas,omitempty"`
}

// AppState is one application.
type AppState struct {
	Name    string         `json:"name"`
	Charm   string         `json:"charm"`
	Status  Status         `json:"status"`
	Version string         `json:"version,omitempty"`
	Leader  string         `json:"leader,omitempty"`
	Config  map[string]any `json:"config"`
	Units   []UnitState    `json:"units"`
}

// UnitState is one unit.
type UnitState struct {
	Name      string            `json:"name"`
	Address   string            `json:"address"`
	Leader    bool              `json:"leader,omitempty"`
	Workload  Status            `json:"workload-status"`
	Agent     Status            `json:"agent-status"`
	AgentData map[string]string `json:"agent-status-data,omitempty"`
	Ports     []string          `json:"open-ports,omitempty"`
	State     map[string]string `json:"charm-state,omitempty"`
	Hooks     int               `json:"hooks-run"`
}

// RelationState is one relation with every databag, named as seen from this model.
type RelationState struct {
	ID         int                          `json:"id"`
	Key        string                       `json:"key"`
	Endpoints  []string                     `json:"endpoints"`
	Interface  string                       `json:"interface"`
	CrossModel bool                         `json:"cross-model,omitempty"`
	AppData    map[string]map[string]string `json:"application-data"`
	UnitData   map[string]map[string]string `json:"unit-data"`
}

// OfferState is one offer.
type OfferState struct {
	Name     string `json:"name"`
	App      string `json:"application"`
	Endpoint string `json:"endpoint"`
}

// SAASState is one consumed offer.
type SAASState struct {
	Name  string `json:"name"`
	Model string `json:"model"`
	Offer string `json:"offer"`
}

// SecretState is a secret's metadata.
type SecretState struct {
	ID          string        `json:"id"`
	URI         string        `json:"uri"`
	Owner       string        `json:"owner"`
	Label       string        `json:"label,omitempty"`
	Description string        `json:"description,omitempty"`
	Revision    int           `json:"revision"`
	Revisions   []int         `json:"revisions"`
	Rotate      string        `json:"rotate,omitempty"`
	Expire      string        `json:"expire,omitempty"`
	Grants      []SecretGrant `json:"grants,omitempty"`
	Consumers   []SecretUse   `json:"consumers,omitempty"`
}

// SecretGrant is one grant of a secret.
type SecretGrant struct {
	Relation string `json:"relation"`
	Target   string `json:"target"`
}

// SecretUse is one consumer's tracking of a secret.
type SecretUse struct {
	Unit     string `json:"unit"`
	Label    string `json:"label,omitempty"`
	Revision int    `json:"revision"`
}

// State returns a snapshot of every model, application, unit, relation databag, offer, action
// result and secret's metadata.
func (s *Sim) State() *State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &State{Secrets: []SecretState{}}
	for _, m := range s.models {
		ms := ModelState{Name: m.name, UUID: m.uuid, Apps: []AppState{}, Relations: []RelationState{}}
		for _, a := range m.apps {
			as := AppState{Name: a.name, Charm: a.charm.Name, Status: a.statusLocked(), Version: a.version, Config: a.effectiveConfig(), Units: []UnitState{}}
			if a.leader != nil {
				as.Leader = a.leader.name
			}
			for _, u := range a.units {
				us := UnitState{Name: u.name, Address: u.addr, Leader: a.leader == u, Workload: u.workload, Agent: u.agent, AgentData: copyMap(u.agentData), Ports: u.portList(), Hooks: len(u.hooks)}
				if len(u.state) > 0 {
					us.State = copyMap(u.state)
				}
				as.Units = append(as.Units, us)
			}
			ms.Apps = append(ms.Apps, as)
		}
		rels := append([]*Relation(nil), m.relations...)
		sort.Slice(rels, func(i, j int) bool { return rels[i].ids[m] < rels[j].ids[m] })
		for _, r := range rels {
			// Name everything as this model sees it: pick a local app as the viewer.
			var viewer *App
			for _, e := range r.ends {
				if e.app.model == m {
					viewer = e.app
				}
			}
			rs := RelationState{ID: r.ids[m], Key: r.key(viewer), Interface: r.ends[0].ep.Interface, CrossModel: r.cmr != nil,
				AppData: map[string]map[string]string{}, UnitData: map[string]map[string]string{}}
			for _, e := range r.ends {
				rs.Endpoints = append(rs.Endpoints, r.appName(viewer, e.app)+":"+e.ep.Name)
				if d := r.appData[e.app]; len(d) > 0 {
					rs.AppData[r.appName(viewer, e.app)] = copyMap(d)
				}
			}
			for u, d := range r.unitData {
				rs.UnitData[r.unitName(viewer, u)] = copyMap(d)
			}
			ms.Relations = append(ms.Relations, rs)
		}
		for _, n := range sortedKeys(m.offers) {
			o := m.offers[n]
			ms.Offers = append(ms.Offers, OfferState{Name: n, App: o.app.name, Endpoint: o.endpoint})
		}
		for _, n := range sortedKeys(m.saas) {
			sa := m.saas[n]
			ms.SAAS = append(ms.SAAS, SAASState{Name: n, Model: sa.from.name, Offer: sa.offer.name})
		}
		st.Models = append(st.Models, ms)
	}
	for _, id := range sortedKeys(s.secrets) {
		sc := s.secrets[id]
		ss := SecretState{ID: id, URI: sc.uri(), Label: sc.label, Description: sc.description, Revision: sc.latest().rev, Rotate: sc.rotate}
		switch {
		case sc.ownerModel != nil:
			ss.Owner = "model-" + sc.ownerModel.uuid
		case sc.ownerUnit != nil:
			ss.Owner = "unit-" + sc.ownerUnit.name
		default:
			ss.Owner = "application-" + sc.ownerApp.name
		}
		if e := sc.latest().expire; !e.IsZero() {
			ss.Expire = e.UTC().Format(time.RFC3339)
		}
		for _, r := range sc.revisions {
			ss.Revisions = append(ss.Revisions, r.rev)
		}
		for _, g := range sc.grants {
			if g.rel == nil {
				ss.Grants = append(ss.Grants, SecretGrant{Relation: "model-" + sc.model.uuid, Target: "application-" + g.app.name})
				continue
			}
			viewer := sc.ownerApp
			if viewer == nil {
				viewer = sc.ownerUnit.app
			}
			ss.Grants = append(ss.Grants, SecretGrant{Relation: g.rel.key(viewer), Target: grantTarget(viewer, g.rel, g)})
		}
		for u, cs := range sc.consumers {
			ss.Consumers = append(ss.Consumers, SecretUse{Unit: u.name, Label: cs.label, Revision: cs.rev})
		}
		sort.Slice(ss.Consumers, func(i, j int) bool { return ss.Consumers[i].Unit < ss.Consumers[j].Unit })
		st.Secrets = append(st.Secrets, ss)
	}
	st.Actions = append(st.Actions, s.actions...)
	return st
}
