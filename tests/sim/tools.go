package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// toolRequest is what tests/cmd/jujuc sends for one hook-tool call.
type toolRequest struct {
	Tool    string            `json:"tool"`
	Args    []string          `json:"args"`
	Context string            `json:"context"`
	Dir     string            `json:"dir,omitempty"`
	Stdin   []byte            `json:"stdin,omitempty"`
	Files   map[string][]byte `json:"files,omitempty"`
}

type toolResponse struct {
	Stdout []byte `json:"stdout,omitempty"`
	Stderr []byte `json:"stderr,omitempty"`
	Code   int    `json:"code"`
}

// toolNames lists every hook tool jujuc is linked as.
var toolNames = []string{
	"relation-ids", "relation-list", "relation-get", "relation-set", "relation-model-get",
	"is-leader", "config-get", "status-set", "status-get", "application-version-set", "juju-log",
	"open-port", "close-port", "opened-ports", "network-get", "state-get", "state-set", "state-delete",
	"secret-add", "secret-get", "secret-set", "secret-remove", "secret-grant", "secret-revoke",
	"secret-info-get", "secret-ids", "action-get", "action-set", "action-fail", "action-log",
	"leader-get", "leader-set", "juju-reboot", "credential-get", "goal-state", "pod-spec-set", "k8s-spec-set",
}

// toolError is a tool failure: printed as "ERROR <msg>" with exit code 1 (2 for usage errors).
type toolError struct {
	msg  string
	code int
}

func (e *toolError) Error() string { return e.msg }

func failf(format string, args ...any) error {
	return &toolError{msg: fmt.Sprintf(format, args...), code: 1}
}
func usagef(format string, args ...any) error {
	return &toolError{msg: fmt.Sprintf(format, args...), code: 2}
}

func (s *Sim) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(conn)
		}()
	}
}

func (s *Sim) handleConn(conn net.Conn) {
	defer conn.Close()
	var req toolRequest
	if err := json.NewDecoder(conn).Decode(&req); err != nil {
		return
	}
	resp, kill := s.handle(&req)
	if resp == nil {
		return
	}
	json.NewEncoder(conn).Encode(resp)
	if kill != 0 {
		// The N-th call has been answered; now the hook dies, like a pod killed mid-hook.
		syscall.Kill(-kill, syscall.SIGKILL)
	}
}

func (s *Sim) handle(req *toolRequest) (resp *toolResponse, kill int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contexts[req.Context]
	if c == nil {
		return &toolResponse{Stderr: []byte("ERROR context " + strconv.Quote(req.Context) + " not found\n"), Code: 1}, 0
	}
	if c.killed {
		// Calls racing the kill of an injected failure are neither answered nor counted.
		return nil, 0
	}
	c.calls[req.Tool]++
	c.ncalls++
	out, err := s.runTool(c, req)
	resp = &toolResponse{Stdout: []byte(out)}
	if err != nil {
		var te *toolError
		code := 1
		if errors.As(err, &te) {
			code = te.code
		}
		resp.Stderr = []byte("ERROR " + err.Error() + "\n")
		resp.Code = code
	}
	if c.killAt > 0 && c.ncalls >= c.killAt && !c.killed && c.pid != 0 {
		c.killed = true
		kill = c.pid
	}
	return resp, kill
}

// flagSet is a tiny getopt: which flags take a value, and what was given.
type flagSet struct {
	tool   string
	valued map[string]bool // flag name (without dashes) -> takes a value
	vals   map[string]string
	set    map[string]bool
	pos    []string
}

func parseFlags(tool string, args []string, valued []string, bools []string) (*flagSet, error) {
	f := &flagSet{tool: tool, valued: map[string]bool{}, vals: map[string]string{}, set: map[string]bool{}}
	for _, v := range valued {
		f.valued[v] = true
	}
	for _, b := range bools {
		f.valued[b] = false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.pos = append(f.pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.pos = append(f.pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = k, v, true
		}
		takes, known := f.valued[name]
		if !known {
			return nil, usagef("option provided but not defined: %s", a)
		}
		if takes && !hasVal {
			if i+1 >= len(args) {
				return nil, usagef("option needs an argument: %s", a)
			}
			i++
			val = args[i]
		}
		if !takes && hasVal {
			if b, err := strconv.ParseBool(val); err == nil && !b {
				continue
			}
		}
		f.set[name] = true
		f.vals[name] = val
	}
	return f, nil
}

func (f *flagSet) str(names ...string) string {
	for _, n := range names {
		if f.set[n] {
			return f.vals[n]
		}
	}
	return ""
}

func (f *flagSet) has(names ...string) bool {
	for _, n := range names {
		if f.set[n] {
			return true
		}
	}
	return false
}

// format renders v in the requested --format (json, yaml, or smart: Juju's usual default).
func format(f *flagSet, v any, def string) (string, error) {
	fm := def
	if f.set["format"] {
		fm = f.vals["format"]
	}
	switch fm {
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			return "", failf("cannot format: %v", err)
		}
		return string(b) + "\n", nil
	case "yaml":
		if v == nil {
			return "", nil
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return "", failf("cannot format: %v", err)
		}
		return string(b), nil
	case "smart":
		return smart(v), nil
	}
	return "", usagef("invalid value %q for option --format: unknown format %q", fm, fm)
}

// smart mirrors juju/cmd FormatSmart: strings raw, lists one per line, bools True/False,
// nil and "" print nothing, maps as YAML.
func smart(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" {
			return ""
		}
		return x + "\n"
	case bool:
		if x {
			return "True\n"
		}
		return "False\n"
	case []string:
		if len(x) == 0 {
			return ""
		}
		return strings.Join(x, "\n") + "\n"
	case int, int64, float64:
		return fmt.Sprint(x) + "\n"
	}
	b, _ := yaml.Marshal(v)
	return string(b)
}

var formatFlag = []string{"format"}

func withFormat(v ...string) []string { return append(v, "format") }

func (s *Sim) runTool(c *hookContext, req *toolRequest) (string, error) {
	switch req.Tool {
	case "relation-ids":
		return s.toolRelationIDs(c, req)
	case "relation-list":
		return s.toolRelationList(c, req)
	case "relation-get":
		return s.toolRelationGet(c, req)
	case "relation-set":
		return s.toolRelationSet(c, req)
	case "relation-model-get":
		return s.toolRelationModelGet(c, req)
	case "is-leader":
		f, err := parseFlags(req.Tool, req.Args, formatFlag, nil)
		if err != nil {
			return "", err
		}
		return format(f, c.unit.app.leader == c.unit, "smart")
	case "config-get":
		return s.toolConfigGet(c, req)
	case "status-set":
		return s.toolStatusSet(c, req)
	case "status-get":
		return s.toolStatusGet(c, req)
	case "application-version-set":
		if len(req.Args) != 1 {
			return "", usagef("no version specified")
		}
		c.unit.app.version = req.Args[0]
		return "", nil
	case "juju-log":
		return s.toolJujuLog(c, req)
	case "open-port", "close-port":
		return s.toolPort(c, req)
	case "opened-ports":
		return s.toolOpenedPorts(c, req)
	case "network-get":
		return s.toolNetworkGet(c, req)
	case "state-get", "state-set", "state-delete":
		return s.toolState(c, req)
	case "secret-add":
		return s.toolSecretAdd(c, req)
	case "secret-get":
		return s.toolSecretGet(c, req)
	case "secret-set":
		return s.toolSecretSet(c, req)
	case "secret-remove":
		return s.toolSecretRemove(c, req)
	case "secret-grant", "secret-revoke":
		return s.toolSecretGrant(c, req)
	case "secret-info-get":
		return s.toolSecretInfoGet(c, req)
	case "secret-ids":
		return s.toolSecretIDs(c, req)
	case "leader-get":
		f, err := parseFlags(req.Tool, req.Args, formatFlag, nil)
		if err != nil {
			return "", err
		}
		data := copyMap(c.unit.app.leaderSettings)
		if c.unit.app.leader == c.unit {
			data = view(c.unit.app.leaderSettings, c.leaderSet)
		}
		if data == nil {
			data = map[string]string{}
		}
		if len(f.pos) > 0 && f.pos[0] != "-" {
			v, ok := data[f.pos[0]]
			if !ok {
				return format(f, nil, "smart")
			}
			return format(f, v, "smart")
		}
		return format(f, data, "smart")
	case "leader-set":
		f, err := parseFlags(req.Tool, req.Args, []string{"file"}, nil)
		if err != nil {
			return "", err
		}
		if c.unit.app.leader != c.unit {
			return "", failf("cannot write settings: not the leader")
		}
		settings, err := parseSettings(req, f, f.pos)
		if err != nil {
			return "", err
		}
		for k, v := range settings {
			c.leaderSet[k] = v
		}
		return "", nil
	case "action-get", "action-set", "action-fail", "action-log":
		return s.toolAction(c, req)
	}
	return "", failf("%s is not supported by the simulator", req.Tool)
}

// relation resolves -r (N or ep:N) or the hook's relation.
func (s *Sim) relation(c *hookContext, f *flagSet) (*Relation, error) {
	u := c.unit
	if !f.set["r"] && !f.set["relation"] {
		if c.hook.rel == nil {
			return nil, failf("no relation id specified")
		}
		return c.hook.rel, nil
	}
	raw := f.str("r", "relation")
	id, ok := parseRelationID(raw)
	if !ok {
		return nil, usagef("invalid value %q for option -r: invalid relation id", raw)
	}
	for _, r := range s.visibleRelations(c, true) {
		if r.idFor(u.app) == id {
			return r, nil
		}
	}
	return nil, failf("relation not found")
}

// visibleRelations are the relations in the unit's context: those it ran relation-created for,
// plus the hook's own (created and broken hooks). withBroken keeps a relation being broken.
func (s *Sim) visibleRelations(c *hookContext, withBroken bool) []*Relation {
	u := c.unit
	var out []*Relation
	seen := map[*Relation]bool{}
	for _, r := range u.knownRelations() {
		st := u.rels[r]
		if st.broken && !(withBroken && r == c.hook.rel) {
			continue
		}
		if !withBroken && r == c.hook.rel && strings.HasSuffix(c.hook.name, "-relation-broken") {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	if r := c.hook.rel; r != nil && !seen[r] && u.rels[r] == nil && strings.HasSuffix(c.hook.name, "-relation-created") {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].idFor(u.app) < out[j].idFor(u.app) })
	return out
}

func (s *Sim) toolRelationIDs(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, formatFlag, nil)
	if err != nil {
		return "", err
	}
	ep := ""
	if len(f.pos) > 0 {
		ep = f.pos[0]
	} else if c.hook.rel != nil {
		ep = c.hook.rel.endFor(c.unit.app).ep.Name
	} else {
		return "", usagef("no endpoint name specified")
	}
	ids := []string{}
	for _, r := range s.visibleRelations(c, false) {
		if r.endFor(c.unit.app).ep.Name == ep {
			ids = append(ids, r.key(c.unit.app))
		}
	}
	sort.Strings(ids)
	return format(f, ids, "smart")
}

// listMembers is relation-list: the members the agent knows, with the joining unit included in
// its joined hook and the departing one excluded in its departed hook.
func (s *Sim) listMembers(c *hookContext, r *Relation) []string {
	u := c.unit
	if r == c.hook.rel && strings.HasSuffix(c.hook.name, "-relation-broken") {
		return []string{}
	}
	var departing, joining *Unit
	if r == c.hook.rel && strings.HasSuffix(c.hook.name, "-relation-departed") {
		departing = c.hook.remote
	}
	if r == c.hook.rel && strings.HasSuffix(c.hook.name, "-relation-joined") {
		joining = c.hook.remote
	}
	return u.memberNamesLocked(r, departing, joining)
}

// memberNamesLocked lists the remote units u's agent knows in r, as u names them, sorted; without departing and
// with joining (the units of a departed or joined hook in progress), either of which may be nil.
func (u *Unit) memberNamesLocked(r *Relation, departing, joining *Unit) []string {
	names := []string{}
	st := u.rels[r]
	if st == nil || st.broken {
		return names
	}
	for m := range st.members {
		if m != departing {
			names = append(names, r.unitName(u.app, m))
		}
	}
	if _, ok := st.members[joining]; joining != nil && !ok {
		names = append(names, r.unitName(u.app, joining))
	}
	sort.Strings(names)
	return names
}

func (s *Sim) toolRelationList(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r", "relation"), []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	if f.has("app") {
		return format(f, r.appName(c.unit.app, r.other(c.unit.app).app), "smart")
	}
	return format(f, s.listMembers(c, r), "smart")
}

func (s *Sim) toolRelationGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r", "relation"), []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	u := c.unit
	key, target := "", ""
	if len(f.pos) > 0 {
		key = f.pos[0]
	}
	if key == "-" {
		key = ""
	}
	if len(f.pos) > 1 {
		target = f.pos[1]
	}
	if len(f.pos) > 2 {
		return "", usagef("unrecognized args: %q", f.pos[2:])
	}
	isApp := f.has("app")
	if target == "" && r == c.hook.rel {
		if isApp && c.hook.remoteApp != nil {
			target = r.appName(u.app, c.hook.remoteApp)
		} else if !isApp && c.hook.remote != nil {
			target = r.unitName(u.app, c.hook.remote)
		}
	}
	if target == "" {
		return "", failf("no unit or application specified")
	}
	if !strings.Contains(target, "/") {
		isApp = true
	}
	var data map[string]string
	if isApp {
		app := r.lookupApp(u.app, target)
		if app == nil {
			return "", failf("cannot read settings for application %q in relation %q: application not found", target, r.key(u.app))
		}
		if app == u.app {
			if u.app.leader != u && !r.peer() {
				return "", failf("permission denied")
			}
			data = view(r.appData[app], c.relApp[r])
		} else {
			data = copyMap(r.appData[app])
		}
	} else {
		tu := r.lookupUnit(u.app, target)
		if tu == nil {
			return "", failf("cannot read settings for unit %q in relation %q: unit %q: settings not found", target, r.key(u.app), target)
		}
		if tu == u {
			data = view(r.unitData[u], c.relUnit[r])
		} else {
			d, ok := r.unitData[tu]
			if !ok {
				return "", failf("cannot read settings for unit %q in relation %q: unit %q: settings not found", target, r.key(u.app), target)
			}
			data = copyMap(d)
		}
	}
	if data == nil {
		data = map[string]string{}
	}
	if key != "" {
		v, ok := data[key]
		if !ok {
			return format(f, nil, "smart")
		}
		return format(f, v, "smart")
	}
	return format(f, data, "smart")
}

// parseSettings reads relation-set/state-set input: --file YAML then key=value args (args win).
func parseSettings(req *toolRequest, f *flagSet, args []string) (map[string]*string, error) {
	out := map[string]*string{}
	if f.set["file"] {
		var content []byte
		if p := f.vals["file"]; p == "-" {
			content = req.Stdin
		} else {
			content = req.Files[p]
		}
		var m map[string]any
		if err := yaml.Unmarshal(content, &m); err != nil {
			return nil, failf("cannot parse settings file: %v", err)
		}
		for k, v := range m {
			sv := ""
			if v != nil {
				sv = fmt.Sprint(v)
			}
			out[k] = &sv
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usagef(`expected "key=value", got %q`, a)
		}
		out[k] = &v
	}
	for k, v := range out {
		if *v == "" {
			out[k] = nil
		}
	}
	return out, nil
}

func (s *Sim) toolRelationSet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"r", "relation", "file", "format"}, []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	settings, err := parseSettings(req, f, f.pos)
	if err != nil {
		return "", err
	}
	u := c.unit
	target := c.relUnit
	if f.has("app") {
		if u.app.leader != u {
			return "", failf("cannot write relation settings")
		}
		target = c.relApp
	}
	if target[r] == nil {
		target[r] = map[string]*string{}
	}
	for k, v := range settings {
		target[r][k] = v
	}
	return "", nil
}

func (s *Sim) toolRelationModelGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r", "relation"), nil)
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	return format(f, map[string]string{"uuid": r.other(c.unit.app).app.model.uuid}, "smart")
}

func (s *Sim) toolConfigGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, formatFlag, []string{"a", "all"})
	if err != nil {
		return "", err
	}
	a := c.unit.app
	cfg := a.effectiveConfig()
	if len(f.pos) > 0 {
		return format(f, cfg[f.pos[0]], "smart")
	}
	if f.has("a", "all") {
		all := map[string]any{}
		for k := range a.charm.Config {
			all[k] = cfg[k]
		}
		return format(f, all, "smart")
	}
	return format(f, cfg, "smart")
}

var validStatus = map[string]bool{"maintenance": true, "blocked": true, "waiting": true, "active": true}

func (s *Sim) toolStatusSet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, nil, []string{"application"})
	if err != nil {
		return "", err
	}
	if len(f.pos) < 1 {
		return "", usagef("invalid args, require <status> [message] [data]")
	}
	st := f.pos[0]
	if !validStatus[st] {
		return "", usagef("invalid status %q, expected one of [maintenance blocked waiting active]", st)
	}
	msg := ""
	if len(f.pos) > 1 {
		msg = f.pos[1]
	}
	u := c.unit
	if f.has("application") {
		if u.app.leader != u {
			return "", failf("this unit is not the leader")
		}
		u.app.status = &Status{Status: st, Message: msg}
		return "", nil
	}
	u.workload = Status{Status: st, Message: msg}
	u.workloadSet = true
	return "", nil
}

func statusMap(st Status) map[string]any {
	return map[string]any{"status": st.Status, "message": st.Message, "status-data": map[string]any{}}
}

func (s *Sim) toolStatusGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, formatFlag, []string{"include-data", "application"})
	if err != nil {
		return "", err
	}
	u := c.unit
	if f.has("application") {
		if u.app.leader != u {
			return "", failf("this unit is not the leader")
		}
		as := statusMap(u.app.statusLocked())
		units := map[string]any{}
		for _, o := range u.app.units {
			units[o.name] = statusMap(o.workload)
		}
		as["units"] = units
		return format(f, map[string]any{"application-status": as}, "smart")
	}
	if f.has("include-data") {
		return format(f, statusMap(u.workload), "smart")
	}
	return format(f, u.workload.Status, "smart")
}

var logLevels = map[string]bool{"TRACE": true, "DEBUG": true, "INFO": true, "WARNING": true, "ERROR": true, "CRITICAL": true}

func (s *Sim) toolJujuLog(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"l", "log-level", "format"}, []string{"debug"})
	if err != nil {
		return "", err
	}
	if len(f.pos) == 0 {
		return "", usagef("no message specified")
	}
	level := strings.ToUpper(f.str("l", "log-level"))
	if f.has("debug") {
		level = "DEBUG"
	}
	if !logLevels[level] {
		level = "INFO"
	}
	msg := strings.Join(f.pos, " ")
	if r := c.hook.rel; r != nil {
		msg = r.key(c.unit.app) + ": " + msg
	}
	line := level + " " + msg
	c.logs = append(c.logs, line)
	if c.hook.action != nil {
		// juju-log in an action is also captured in the unit log only.
		_ = 0
	}
	s.logf("    %s juju-log %s", c.unit.name, line)
	return "", nil
}

func normalizePort(p string) (string, error) {
	if p == "icmp" {
		return "icmp", nil
	}
	rng, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf("invalid protocol %q, expected %q, %q, or %q", proto, "tcp", "udp", "icmp")
	}
	from, to, isRange := strings.Cut(rng, "-")
	check := func(x string) error {
		n, err := strconv.Atoi(x)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be in the range [1, 65535]; got %q", x)
		}
		return nil
	}
	if err := check(from); err != nil {
		return "", err
	}
	if isRange {
		if err := check(to); err != nil {
			return "", err
		}
	}
	return rng + "/" + proto, nil
}

func (s *Sim) toolPort(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"endpoints", "format"}, nil)
	if err != nil {
		return "", err
	}
	if len(f.pos) != 1 {
		return "", usagef("no port or range specified")
	}
	p, err := normalizePort(f.pos[0])
	if err != nil {
		return "", usagef("%v", err)
	}
	c.ports[p] = req.Tool == "open-port"
	return "", nil
}

func (s *Sim) toolOpenedPorts(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, formatFlag, []string{"endpoints"})
	if err != nil {
		return "", err
	}
	set := map[string]bool{}
	for p := range c.unit.ports {
		set[p] = true
	}
	for p, open := range c.ports {
		if open {
			set[p] = true
		} else {
			delete(set, p)
		}
	}
	out := []string{}
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return format(f, out, "smart")
}

func (s *Sim) toolNetworkGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r", "relation"), []string{"bind-address", "ingress-address", "egress-subnets", "primary-address"})
	if err != nil {
		return "", err
	}
	if len(f.pos) != 1 {
		return "", usagef("no endpoint specified")
	}
	u := c.unit
	if _, ok := u.app.charm.Endpoints[f.pos[0]]; !ok && f.pos[0] != "juju-info" {
		return "", failf("undefined for unit charm: endpoint %q not found", f.pos[0])
	}
	ip := u.addr
	switch {
	case f.has("bind-address", "primary-address"):
		return format(f, ip, "smart")
	case f.has("ingress-address"):
		return format(f, ip, "smart")
	case f.has("egress-subnets"):
		return format(f, []string{ip + "/32"}, "smart")
	}
	return format(f, map[string]any{
		"bind-addresses": []any{map[string]any{
			"mac-address": "", "interface-name": "eth0",
			"addresses":  []any{map[string]any{"hostname": "", "address": ip, "cidr": ip + "/32", "value": ip}},
			"macaddress": "", "interfacename": "eth0",
		}},
		"egress-subnets":    []string{ip + "/32"},
		"ingress-addresses": []string{ip},
	}, "smart")
}

func (s *Sim) toolState(c *hookContext, req *toolRequest) (string, error) {
	u := c.unit
	switch req.Tool {
	case "state-get":
		f, err := parseFlags(req.Tool, req.Args, formatFlag, []string{"strict"})
		if err != nil {
			return "", err
		}
		data := view(u.state, c.state)
		if len(f.pos) > 0 {
			v, ok := data[f.pos[0]]
			if !ok {
				if f.has("strict") {
					return "", failf("%q not found", f.pos[0])
				}
				return format(f, nil, "smart")
			}
			return format(f, v, "smart")
		}
		return format(f, data, "smart")
	case "state-set":
		f, err := parseFlags(req.Tool, req.Args, []string{"file"}, nil)
		if err != nil {
			return "", err
		}
		settings, err := parseSettings(req, f, f.pos)
		if err != nil {
			return "", err
		}
		for k, v := range settings {
			c.state[k] = v
		}
		return "", nil
	default:
		f, err := parseFlags(req.Tool, req.Args, nil, nil)
		if err != nil {
			return "", err
		}
		if len(f.pos) != 1 {
			return "", usagef("state-delete requires a key")
		}
		c.state[f.pos[0]] = nil
		return "", nil
	}
}
