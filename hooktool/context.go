package hooktool

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Context is one hook's view of Juju. Its methods may be called concurrently (Juju serves concurrent hook-tool
// calls; a charm reading many databags overlaps them). It is not safe for use after the hook ends: its cache is only valid while
// nothing but this hook writes, which Juju guarantees for the hook's duration (others' writes land after it).
type Context struct {
	Env    Env
	runner Runner
	ctx    context.Context

	mu    sync.Mutex // guards calls
	calls map[string]int
	// slots bounds the tools running at once: a charm may start many goroutines that read or write databags.
	slots chan struct{}
	// cacheMu guards the caches below, so a charm may read several databags at once. It is never held while a
	// tool runs.
	cacheMu sync.Mutex
	leader  *bool
	config  map[string]any
	relIDs  map[string][]string          // endpoint -> ids
	units   map[string][]string          // relation id -> remote units
	apps    map[string]string            // relation id -> remote app
	bags    map[string]map[string]string // relation id + "\x00" + unit-or-app -> databag
}

// New returns a Context that runs tools through r. It starts the hook by removing the secret content files a
// previous hook, killed inside secret-add or secret-set, left in the charm's secret directory.
func New(env Env, r Runner) *Context {
	c := &Context{
		Env: env, runner: r, ctx: context.Background(),
		calls:  map[string]int{},
		slots:  make(chan struct{}, MaxConcurrentCalls),
		relIDs: map[string][]string{},
		units:  map[string][]string{},
		apps:   map[string]string{},
		bags:   map[string]map[string]string{},
	}
	removeStaleSecretFiles(c.SecretDir())
	return c
}

// Calls returns how many times each tool ran in this hook.
func (c *Context) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// MaxConcurrentCalls is how many hook tools one hook runs at once: enough to overlap process starts, few enough
// not to swamp the unit's machine or the controller.
const MaxConcurrentCalls = 8

func (c *Context) run(tool string, stdin []byte, args ...string) ([]byte, error) {
	c.mu.Lock()
	c.calls[tool]++
	c.mu.Unlock()
	c.slots <- struct{}{}
	defer func() { <-c.slots }()
	return c.runner.Run(c.ctx, tool, args, stdin)
}

func (c *Context) runJSON(tool string, out any, args ...string) error {
	b, err := c.run(tool, nil, append(args, "--format=json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("cannot parse %s output %q: %w", tool, truncate(b), err)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// IsLeader tells whether this unit holds the application's leadership.
func (c *Context) IsLeader() (bool, error) {
	c.cacheMu.Lock()
	cached := c.leader
	c.cacheMu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	var v bool
	if err := c.runJSON("is-leader", &v); err != nil {
		return false, fmt.Errorf("cannot read leadership: %w", err)
	}
	c.cacheMu.Lock()
	c.leader = &v
	c.cacheMu.Unlock()
	return v, nil
}

// Config returns the charm's config: set keys and keys with defaults.
func (c *Context) Config() (map[string]any, error) {
	c.cacheMu.Lock()
	cachedCfg := c.config
	c.cacheMu.Unlock()
	if cachedCfg != nil {
		return cachedCfg, nil
	}
	cfg := map[string]any{}
	if err := c.runJSON("config-get", &cfg); err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	c.cacheMu.Lock()
	c.config = cfg
	c.cacheMu.Unlock()
	return cfg, nil
}

// RelationIDs lists the ids ("ep:N") of the endpoint's live relations.
func (c *Context) RelationIDs(endpoint string) ([]string, error) {
	c.cacheMu.Lock()
	ids, ok := c.relIDs[endpoint]
	c.cacheMu.Unlock()
	if ok {
		return ids, nil
	}
	if err := c.runJSON("relation-ids", &ids, endpoint); err != nil {
		return nil, fmt.Errorf("cannot list %s relations: %w", endpoint, err)
	}
	sort.Slice(ids, func(i, j int) bool { return RelationNumber(ids[i]) < RelationNumber(ids[j]) })
	c.cacheMu.Lock()
	c.relIDs[endpoint] = ids
	c.cacheMu.Unlock()
	return ids, nil
}

// PrefetchRelationIDs lists the relations of several endpoints side by side, for a hook that is about to list each
// of them in turn: RelationIDs then answers from what was listed. An endpoint whose listing failed is listed again
// (and fails again) when asked for.
func (c *Context) PrefetchRelationIDs(endpoints ...string) {
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.RelationIDs(ep)
		}()
	}
	wg.Wait()
}

// RelationNumber is the numeric part of a relation id "ep:N" (or "N"); -1 if there is none.
func RelationNumber(id string) int {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	n, err := strconv.Atoi(id)
	if err != nil {
		return -1
	}
	return n
}

// RelationUnits lists the remote units in the relation, sorted.
func (c *Context) RelationUnits(relID string) ([]string, error) {
	c.cacheMu.Lock()
	u, ok := c.units[relID]
	c.cacheMu.Unlock()
	if ok {
		return u, nil
	}
	var units []string
	if err := c.runJSON("relation-list", &units, "-r", relID); err != nil {
		return nil, fmt.Errorf("cannot list units of relation %s: %w", relID, err)
	}
	c.cacheMu.Lock()
	c.units[relID] = units
	c.cacheMu.Unlock()
	return units, nil
}

// RemoteApp is the name of the application at the other end of the relation.
func (c *Context) RemoteApp(relID string) (string, error) {
	c.cacheMu.Lock()
	a, ok := c.apps[relID]
	c.cacheMu.Unlock()
	if ok {
		return a, nil
	}
	// A remote unit's name says its application ("app/3"): once the units were listed, no call is needed.
	c.cacheMu.Lock()
	units := c.units[relID]
	c.cacheMu.Unlock()
	if len(units) > 0 {
		if app, _, ok := strings.Cut(units[0], "/"); ok && app != "" {
			c.cacheMu.Lock()
			c.apps[relID] = app
			c.cacheMu.Unlock()
			return app, nil
		}
	}
	// The hook's own relation names its remote app in the environment: no call needed.
	if relID == c.Env.RelationID && c.Env.RemoteApp != "" {
		c.cacheMu.Lock()
		c.apps[relID] = c.Env.RemoteApp
		c.cacheMu.Unlock()
		return c.Env.RemoteApp, nil
	}
	var app string
	if err := c.runJSON("relation-list", &app, "-r", relID, "--app"); err != nil {
		return "", fmt.Errorf("cannot read remote application of relation %s: %w", relID, err)
	}
	c.cacheMu.Lock()
	c.apps[relID] = app
	c.cacheMu.Unlock()
	return app, nil
}

// UnitData reads a unit's databag in the relation (this unit's own or a remote one).
func (c *Context) UnitData(relID, unit string) (map[string]string, error) {
	return c.relationGet(relID, unit, false)
}

// AppData reads an application's databag in the relation: this app's own (leader, or any unit on a peer
// relation) or the remote app's.
func (c *Context) AppData(relID, app string) (map[string]string, error) {
	return c.relationGet(relID, app, true)
}

func (c *Context) relationGet(relID, name string, app bool) (map[string]string, error) {
	key := relID + "\x00" + name
	c.cacheMu.Lock()
	bag, ok := c.bags[key]
	c.cacheMu.Unlock()
	if ok {
		return bag, nil
	}
	args := []string{"-r", relID}
	if app {
		args = append(args, "--app")
	}
	args = append(args, "-", name)
	bag = map[string]string{}
	if err := c.runJSON("relation-get", &bag, args...); err != nil {
		return nil, fmt.Errorf("cannot read %s databag in relation %s: %w", name, relID, err)
	}
	c.cacheMu.Lock()
	c.bags[key] = bag
	c.cacheMu.Unlock()
	return bag, nil
}

// SetUnitData writes this unit's databag in the relation. Keys with an empty value are deleted, as relation-set does.
func (c *Context) SetUnitData(relID string, data map[string]string) error {
	return c.relationSet(relID, c.Env.UnitName, false, data)
}

// SetAppData writes this application's databag in the relation (leader only).
func (c *Context) SetAppData(relID string, data map[string]string) error {
	return c.relationSet(relID, c.Env.AppName(), true, data)
}

func (c *Context) relationSet(relID, name string, app bool, data map[string]string) error {
	if len(data) == 0 {
		return nil
	}
	args := []string{"-r", relID}
	if app {
		args = append(args, "--app")
	}
	var stdin []byte
	if kv, ok := settingArgs(data); ok {
		// key=value arguments: Juju splits them at the first "=" and trims both sides, no YAML to parse on its side.
		args = append(args, kv...)
	} else {
		// JSON is YAML: relation-set --file - reads it from stdin (yaml.v2 into strings, untrimmed), so values of
		// any size or content pass untouched.
		body, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("cannot encode relation data: %w", err)
		}
		stdin = body
		args = append(args, "--file", "-")
	}
	if _, err := c.run("relation-set", stdin, args...); err != nil {
		return fmt.Errorf("cannot write %s databag in relation %s: %w", name, relID, err)
	}
	// Reads later in this hook see the write, as Juju's do.
	key := relID + "\x00" + name
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if bag, ok := c.bags[key]; ok {
		nb := make(map[string]string, len(bag)+len(data))
		for k, v := range bag {
			nb[k] = v
		}
		for k, v := range data {
			if v == "" {
				delete(nb, k)
			} else {
				nb[k] = v
			}
		}
		c.bags[key] = nb
	}
	return nil
}

// maxSettingArgs bounds what relation-set takes as arguments, all of them together, so the whole command line
// stays within what one argument may hold (MaxArg); more goes through --file.
const maxSettingArgs = MaxArg

// settingArgs gives data as relation-set's key=value arguments, sorted by key, when they fit on a command line and
// survive Juju's parsing of them (juju/utils keyvalues.Parse: split at the first "=", key and value trimmed): no NUL
// byte, no "=" in a key, no key that reads as an option, no space at either end of a key or value (a PEM's final
// newline would be lost), all within maxSettingArgs.
func settingArgs(data map[string]string) ([]string, bool) {
	keys := make([]string, 0, len(data))
	size := 0
	for k, v := range data {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "-") || strings.ContainsRune(v, 0) ||
			strings.TrimSpace(k) != k || strings.TrimSpace(v) != v {
			return nil, false
		}
		size += len(k) + 1 + len(v) + 1
		keys = append(keys, k)
	}
	if size > maxSettingArgs {
		return nil, false
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + data[k]
	}
	return out, true
}

// Status is a workload status.
type Status string

// Workload statuses a charm may set.
const (
	StatusActive      Status = "active"
	StatusBlocked     Status = "blocked"
	StatusWaiting     Status = "waiting"
	StatusMaintenance Status = "maintenance"
)

// MaxMessage bounds a status or log message. status-set and juju-log take it as one argument and have no --file:
// Linux refuses an argument of 128 KiB (MAX_ARG_STRLEN), so a longer message is cut (at a character boundary) and
// marked rather than failing the hook.
const MaxMessage = 32 << 10

const truncatedMark = " [truncated]"

// messageArg returns msg within MaxMessage bytes.
func messageArg(msg string) string {
	if len(msg) <= MaxMessage {
		return msg
	}
	cut := MaxMessage - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + truncatedMark
}

// SetStatus sets this unit's workload status. "--" ends the options: Juju parses options anywhere on the command
// line, so a message starting with "-" would otherwise be taken for one.
func (c *Context) SetStatus(s Status, msg string) error {
	if _, err := c.run("status-set", nil, "--", string(s), messageArg(msg)); err != nil {
		return fmt.Errorf("cannot set unit status: %w", err)
	}
	return nil
}

// SetAppStatus sets the application's status (leader only).
func (c *Context) SetAppStatus(s Status, msg string) error {
	if _, err := c.run("status-set", nil, "--application=true", "--", string(s), messageArg(msg)); err != nil {
		return fmt.Errorf("cannot set application status: %w", err)
	}
	return nil
}

// LogLevel is a juju-log level.
type LogLevel string

// Levels juju-log accepts.
const (
	LevelDebug   LogLevel = "DEBUG"
	LevelInfo    LogLevel = "INFO"
	LevelWarning LogLevel = "WARNING"
	LevelError   LogLevel = "ERROR"
)

// Log writes one line to the unit's Juju log (cut to MaxMessage; "--" so that a message may start with "-").
func (c *Context) Log(level LogLevel, format string, args ...any) error {
	if _, err := c.run("juju-log", nil, "--log-level", string(level), "--", messageArg(fmt.Sprintf(format, args...))); err != nil {
		return fmt.Errorf("cannot log: %w", err)
	}
	return nil
}

// SetApplicationVersion sets the version shown by juju status.
func (c *Context) SetApplicationVersion(v string) error {
	if _, err := c.run("application-version-set", nil, "--", v); err != nil {
		return fmt.Errorf("cannot set application version: %w", err)
	}
	return nil
}

// OpenPort opens a port ("8080" or "8080/tcp") on the application's service.
func (c *Context) OpenPort(port string) error {
	if _, err := c.run("open-port", nil, port); err != nil {
		return fmt.Errorf("cannot open port %s: %w", port, err)
	}
	return nil
}

// GoalState is what goal-state says of one endpoint: every unit and remote application it lists, with its status.
type GoalState struct {
	Units     map[string]GoalStatus            `json:"units"`
	Relations map[string]map[string]GoalStatus `json:"relations"`
}

// GoalStatus is one entry of goal-state.
type GoalStatus struct {
	Status string `json:"status"`
}

// GoalState runs goal-state: the units of this application and, by local endpoint, the related applications and
// their units, including units that have not joined the relation on this unit yet.
func (c *Context) GoalState() (*GoalState, error) {
	var gs GoalState
	if err := c.runJSON("goal-state", &gs); err != nil {
		return nil, fmt.Errorf("cannot read goal state: %w", err)
	}
	return &gs, nil
}
