package charm

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/interfaces/tlscertificates"
)

// requestCacheDir holds, in the leader's charm directory, one file per certificates relation with every remote
// databag of that relation as the leader last read it.
//
// Juju runs a relation-changed hook on this unit for every change of a remote unit's databag or of the remote
// application's, and joined and departed hooks for every change of membership. A leader that applies each of its
// relation hooks to the file therefore knows every request without reading the relation again, and a hook that
// must look at a hundred relations (config fixed after a blocked spell, a CA rotation re-issuing everything)
// reads no requirer databag at all: a thousand relation-get calls fewer, each a process start and an RPC.
//
// The file holds remote state only, so a hook that fails after writing it leaves nothing wrong: Juju's rollback
// concerns this unit's writes, not what the requirers wrote. It is trusted only while this unit has been the leader
// through every hook since it was written: a non-leader removes the directory (it skips relation hooks' reads), and
// leader-elected, upgrade-charm and start begin without it (a new leader, a new charm version or a new pod, a
// restarted charm container), so those hooks read every relation in full and write the files again.
//
// A new pod (deleted, evicted, refreshed) starts with an empty charm directory: the directory lives on the pod's
// emptyDir. Its first hook is upgrade-charm, or, when the old pod died under a hook, that hook again or an action
// (Juju restores the interrupted hook). Whatever it is, a relation missing from the cache is read in full.
const requestCacheDir = ".tls-authority-requests"

// requestCacheVersion changes when the file format does; a file of another version is read as missing.
const requestCacheVersion = 1

// coldHooks start without the request cache.
var coldHooks = map[string]bool{"leader-elected": true, "upgrade-charm": true, "start": true}

// relationBags is every remote databag of one certificates relation.
type relationBags struct {
	Version  int                          `json:"version"`
	Relation string                       `json:"relation"`
	App      string                       `json:"app"`   // the remote application ("" when not known: no units, not this hook's relation)
	Units    map[string]map[string]string `json:"units"` // remote unit -> its databag
	AppBag   map[string]string            `json:"app-bag,omitempty"`
	// Joining are units goal-state lists that have not joined on this unit yet, read ahead of their
	// relation-joined (readJoining): their requests are served with the members'. A unit leaves it when it joins.
	Joining map[string]map[string]string `json:"joining,omitempty"`
}

// unitNames is the remote units in relation-list's order (string-sorted), whatever the source, with the joining
// units read ahead among them.
func (b *relationBags) unitNames() []string {
	names := slices.Collect(maps.Keys(b.Units))
	for u := range b.Joining {
		if _, ok := b.Units[u]; !ok {
			names = append(names, u)
		}
	}
	slices.Sort(names)
	return names
}

// has tells whether the unit is a member or a joining unit read ahead.
func (b *relationBags) has(unit string) bool {
	_, member := b.Units[unit]
	_, joining := b.Joining[unit]
	return member || joining
}

// bag is a remote unit's databag, a member's or a joining unit's.
func (b *relationBags) bag(unit string) map[string]string {
	if bag, ok := b.Units[unit]; ok {
		return bag
	}
	return b.Joining[unit]
}

// requestCache is the per-hook view of the cache directory; safe for concurrent use (relations are read in
// parallel).
type requestCache struct {
	dir string // "" when nothing is kept (no charm directory, not the leader)
	mu  sync.Mutex
	mem map[string]*relationBags
}

// openRequestCache gives the cache this hook may use, removing what must not be trusted (see requestCacheDir).
func openRequestCache(env hooktool.Env, leader bool) (*requestCache, error) {
	c := &requestCache{mem: map[string]*relationBags{}}
	if env.CharmDir == "" {
		return c, nil
	}
	dir := filepath.Join(env.CharmDir, requestCacheDir)
	if !leader || coldHooks[env.HookName] {
		if _, err := os.Lstat(dir); err == nil {
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("cannot remove the request cache: %w", err)
			}
		}
		if !leader {
			return c, nil
		}
	}
	c.dir = dir
	return c, nil
}

func (c *requestCache) path(id string) string {
	return filepath.Join(c.dir, strings.ReplaceAll(id, ":", "-")+".json")
}

// load gives the relation's bags as last stored, or nil when they are not known.
func (c *requestCache) load(id string) *relationBags {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.mem[id]; ok {
		return b
	}
	if c.dir == "" {
		return nil
	}
	data, err := os.ReadFile(c.path(id))
	if err != nil {
		return nil
	}
	var b relationBags
	if json.Unmarshal(data, &b) != nil || b.Version != requestCacheVersion || b.Relation != id || b.Units == nil {
		return nil // unreadable: read the relation again
	}
	c.mem[id] = &b
	return &b
}

// store keeps the relation's bags for this hook and the next ones. A file that cannot be written is removed, so
// no later hook trusts an older one.
func (c *requestCache) store(b *relationBags) error {
	b.Version = requestCacheVersion
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mem[b.Relation] = b
	if c.dir == "" {
		return nil
	}
	err := writeFileAtomic(c.path(b.Relation), mustJSON(b))
	if err == nil {
		return nil
	}
	if rmErr := os.Remove(c.path(b.Relation)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		return fmt.Errorf("cannot update the request cache (%v), nor remove its stale file: %w", err, rmErr)
	}
	return nil
}

// drop forgets a relation (broken).
func (c *requestCache) drop(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mem, id)
	if c.dir == "" {
		return nil
	}
	if err := os.Remove(c.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove the request cache of %s: %w", id, err)
	}
	return nil
}

// writeFileAtomic replaces path with data, so that a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// observeRequests applies this hook of a certificates relation to the request cache: the one databag the hook is
// about is read again, a departed unit is forgotten, a broken relation's file removed. A relation not in the cache
// is read in full. It runs on the leader whatever the config, so that requests that arrive while the authority is
// blocked are known, without another read, when it can sign them.
func (r *reconciler) observeRequests() error {
	env := r.hc.Env
	if !r.leader || env.RelationName != CertificatesEndpoint || env.RelationID == "" {
		return nil
	}
	id := env.RelationID
	event := strings.TrimPrefix(env.HookName, CertificatesEndpoint+"-relation-")
	if event == "broken" {
		return r.requests.drop(id)
	}
	b := r.requests.load(id)
	if b == nil {
		_, err := r.relationBags(id)
		return err
	}
	b = b.clone()
	// goal-state runs beside the joined unit's relation-get: a join waits for one tool process, not two.
	var gs chan goalStateResult
	if event == "joined" {
		gs = make(chan goalStateResult, 1)
		go func() {
			st, err := r.hc.GoalState()
			gs <- goalStateResult{st, err}
		}()
	}
	switch {
	case event == "departed" && env.RemoteUnit != "":
		delete(b.Units, env.RemoteUnit)
		delete(b.Joining, env.RemoteUnit)
	case env.RemoteUnit != "": // joined, changed
		bag, err := r.hc.UnitData(id, env.RemoteUnit)
		if err != nil {
			return err
		}
		b.Units[env.RemoteUnit] = bag
		delete(b.Joining, env.RemoteUnit)
	case event == "changed" && env.RemoteApp != "": // the remote app's databag changed
		bag, err := r.hc.AppData(id, env.RemoteApp)
		if err != nil {
			return err
		}
		b.AppBag = bag
	default:
		return nil
	}
	if env.RemoteApp != "" {
		b.App = env.RemoteApp
	}
	if gs != nil {
		res := <-gs
		if res.err != nil {
			return res.err
		}
		if err := r.readJoining(b, id, res.gs); err != nil {
			return err
		}
	}
	return r.requests.store(b)
}

type goalStateResult struct {
	gs  *hooktool.GoalState
	err error
}

// readJoining reads ahead the units of a burst (issue 21). A relation-joined hook means units are arriving; Juju
// brings them to the leader one relation-joined at a time, but goal-state lists them all as soon as they exist, and
// the uniter facade lets the leader read the databag of any unit in the relation's scope (ReadRemoteSettings;
// docs/JUJU-FIDELITY.md). So each joined hook serves, besides the unit that joined, every listed unit whose
// requests are readable now, and writes the relation once: a burst of a hundred units costs a handful of writes,
// not a hundred, and no request waits. A unit not in scope yet has no databag (an error, skipped: it is read in a
// later hook). The cost is one goal-state call per joined hook, and one read per listed unit not yet read with
// requests (once per hook at most): one at a time, that is a single extra call per join.
func (r *reconciler) readJoining(b *relationBags, id string, gs *hooktool.GoalState) error {
	if b.App == "" {
		return nil
	}
	listed := map[string]bool{}
	for name, st := range gs.Relations[CertificatesEndpoint] {
		if app, _, ok := strings.Cut(name, "/"); ok && app == b.App && st.Status != "dying" {
			listed[name] = true
		}
	}
	// A joining unit no longer listed is gone without having joined: no departed hook will say so.
	maps.DeleteFunc(b.Joining, func(u string, _ map[string]string) bool { return !listed[u] })
	var todo []string
	for u := range listed {
		if _, member := b.Units[u]; member {
			continue
		}
		if bag, ok := b.Joining[u]; ok && hasRequests(bag) {
			continue // read with its requests already: served; its own hooks bring any change
		}
		todo = append(todo, u)
	}
	if len(todo) == 0 {
		return nil
	}
	bags := make([]map[string]string, len(todo))
	tasks := make([]func() error, len(todo))
	for i, u := range todo {
		tasks[i] = func() error {
			bag, err := r.hc.UnitData(id, u)
			if err == nil {
				bags[i] = bag
			}
			return nil // not in scope yet (no settings): read in a later hook
		}
	}
	if err := parallel(len(tasks), tasks); err != nil {
		return err
	}
	for i, u := range todo {
		if bags[i] == nil {
			continue
		}
		if b.Joining == nil {
			b.Joining = map[string]map[string]string{}
		}
		b.Joining[u] = bags[i]
	}
	return nil
}

// hasRequests tells whether a requirer's unit databag holds certificate requests: the key is there (the Python
// requirers delete it when they have none). Not parsed here: the provider parses every request once, when it plans.
func hasRequests(bag map[string]string) bool {
	return strings.TrimSpace(bag[tlscertificates.KeyCSRs]) != ""
}

// clone copies b for an update; the databags themselves are never modified, so they are shared.
func (b *relationBags) clone() *relationBags {
	c := *b
	c.Units = maps.Clone(b.Units)
	c.Joining = maps.Clone(b.Joining)
	return &c
}

// relationBags gives every remote databag of a certificates relation: from the cache when it is known there, else
// read in full (relation-list, each unit's databag, the remote app's) and stored.
func (r *reconciler) relationBags(id string) (*relationBags, error) {
	if b := r.requests.load(id); b != nil {
		return b, nil
	}
	hc := r.hc
	units, err := hc.RelationUnits(id)
	if err != nil {
		return nil, err
	}
	app, err := hc.RemoteApp(id)
	if err != nil {
		return nil, err
	}
	// Every databag at once: the hook context bounds the calls in flight.
	bags := make([]map[string]string, len(units)+1)
	tasks := make([]func() error, 0, len(units)+1)
	for i, u := range units {
		tasks = append(tasks, func() (err error) { bags[i], err = hc.UnitData(id, u); return err })
	}
	if app != "" {
		tasks = append(tasks, func() (err error) { bags[len(units)], err = hc.AppData(id, app); return err })
	}
	if err := parallel(len(tasks), tasks); err != nil {
		return nil, err
	}
	b := &relationBags{Relation: id, App: app, Units: make(map[string]map[string]string, len(units)), AppBag: bags[len(units)]}
	for i, u := range units {
		b.Units[u] = bags[i]
	}
	return b, r.requests.store(b)
}
