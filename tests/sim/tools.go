package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	yamlv2 "gopkg.in/yaml.v2"
)

// toolRequest is what tests/cmd/jujuc sends for one hook-tool call.
type toolRequest struct {
	Tool    string            `json:"tool"`
	Args    []string          `json:"args"`
	Context string            `json:"context"`
	Dir     string            `json:"dir,omitempty"`
	Stdin   []byte            `json:"stdin,omitempty"`
	Files   map[string][]byte `json:"files,omitempty"`

	// stderr collects what a tool prints on stderr besides its error (deprecation warnings).
	stderr string
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
	if errors.Is(err, errHelp) {
		// juju/cmd Main: --help prints the usage on stdout and exits 0.
		out, err = "Usage: "+req.Tool+" [options]\n", nil
	}
	resp = &toolResponse{Stdout: []byte(out), Stderr: []byte(req.stderr)}
	if err != nil {
		var te *toolError
		code := 1
		if errors.As(err, &te) {
			code = te.code
		}
		// juju/cmd Main and WriteError: "ERROR <msg>"; exit 2 for option and Init errors, 1 for Run errors.
		resp.Stderr = append(resp.Stderr, "ERROR "+err.Error()+"\n"...)
		resp.Code = code
	}
	counted := c.ncalls
	if c.killOn != "" {
		counted = c.calls[c.killOn]
	}
	if c.killAt > 0 && counted >= c.killAt && (c.killOn == "" || req.Tool == c.killOn) && !c.killed && c.pid != 0 {
		c.killed = true
		kill = c.pid
	}
	return resp, kill
}

// flagSet is a hook tool's command line as juju/gnuflag parses it for juju/cmd's Main (FlagKnownAs
// "option", as juju/juju cmd.Info sets it): "--name[=value]" long options, "-abc" single-rune options,
// "-rVALUE" or "-r VALUE", positional arguments interspersed with options, "--" ends the options. A name
// with aliases is written "r|relation"; its value is stored under the first name.
type flagSet struct {
	tool   string
	valued map[string]bool   // option name (without dashes) -> takes a value
	canon  map[string]string // option name -> first name of its alias group
	vals   map[string]string
	set    map[string]bool
	given  map[string]string // canonical name -> the option as written ("-r", "--relation")
	pos    []string
	help   bool
}

// errHelp is --help or -h on a tool that does not define them: juju/cmd prints the usage and exits 0.
var errHelp = errors.New("help requested")

func parseFlags(tool string, args []string, valued []string, bools []string) (*flagSet, error) {
	f := &flagSet{tool: tool, valued: map[string]bool{}, canon: map[string]string{}, vals: map[string]string{}, set: map[string]bool{}, given: map[string]string{}}
	add := func(spec string, takes bool) {
		names := strings.Split(spec, "|")
		for _, n := range names {
			f.valued[n] = takes
			f.canon[n] = names[0]
		}
	}
	for _, v := range valued {
		add(v, true)
	}
	for _, b := range bools {
		add(b, false)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "" || a == "-" || a[0] != '-' {
			f.pos = append(f.pos, a)
			continue
		}
		if a == "--" {
			f.pos = append(f.pos, args[i+1:]...)
			break
		}
		if a[1] == '-' {
			name, val, hasVal := a[2:], "", false
			if k, v, ok := strings.Cut(name, "="); ok {
				if k == "" {
					return nil, usagef("empty option in argument %q", a)
				}
				name, val, hasVal = k, v, true
			}
			if !hasVal && f.valued[name] && i+1 < len(args) {
				i++
				val, hasVal = args[i], true
			}
			if err := f.setOne(name, val, hasVal); err != nil {
				return nil, err
			}
			continue
		}
		// Single-rune options: each rune is one; a valued one takes the rest of the argument or the next.
		rest := a[1:]
		for rest != "" {
			_, n := utf8.DecodeRuneInString(rest)
			name := rest[:n]
			rest = rest[n:]
			if takes, known := f.valued[name]; known && takes {
				val, hasVal := rest, rest != ""
				if !hasVal && i+1 < len(args) {
					i++
					val, hasVal = args[i], true
				}
				if err := f.setOne(name, val, hasVal); err != nil {
					return nil, err
				}
				break
			}
			if err := f.setOne(name, "", false); err != nil {
				return nil, err
			}
		}
	}
	if f.help {
		return f, errHelp
	}
	return f, nil
}

func optionName(name string) string {
	if len(name) > 1 {
		return "--" + name
	}
	return "-" + name
}

// setOne is gnuflag's parseFlagArg: a bool option without "=value" is true; every value goes through the
// option's Set (bools: strconv.ParseBool; --format: one of the formatters).
func (f *flagSet) setOne(name, val string, hasVal bool) error {
	takes, known := f.valued[name]
	if !known {
		if name == "help" || name == "h" {
			f.help = true
			return nil
		}
		return usagef("option provided but not defined: %s", optionName(name))
	}
	c := f.canon[name]
	if !takes {
		if !hasVal {
			val = "true"
		}
		b, err := strconv.ParseBool(val)
		if err != nil {
			return usagef("invalid value %q for option %s: %v", val, optionName(name), err)
		}
		if !b {
			delete(f.set, c)
			return nil
		}
		f.set[c], f.vals[c], f.given[c] = true, val, optionName(name)
		return nil
	}
	if !hasVal {
		return usagef("option needs an argument: %s", optionName(name))
	}
	if c == "format" && formatters[f.tool] {
		if _, ok := formatNames[val]; !ok {
			return usagef("invalid value %q for option %s: unknown format %q", val, optionName(name), val)
		}
	}
	f.set[c], f.vals[c], f.given[c] = true, val, optionName(name)
	return nil
}

// str is the value of the first of names that was given (names may be aliases of one option).
func (f *flagSet) str(names ...string) string {
	for _, n := range names {
		if c := f.canonical(n); f.set[c] {
			return f.vals[c]
		}
	}
	return ""
}

func (f *flagSet) has(names ...string) bool {
	for _, n := range names {
		if f.set[f.canonical(n)] {
			return true
		}
	}
	return false
}

func (f *flagSet) canonical(n string) string {
	if c, ok := f.canon[n]; ok {
		return c
	}
	return n
}

// checkEmpty is juju/cmd CheckEmpty, the Init of every tool that takes no (more) arguments.
func checkEmpty(args []string) error {
	if len(args) != 0 {
		return usagef("unrecognized args: %q", args)
	}
	return nil
}

// formatters lists the tools whose --format is juju/cmd's output formatter; relation-set, juju-log and
// open/close-port keep a deprecated free-form --format that only prints a warning.
var formatters = map[string]bool{
	"relation-ids": true, "relation-list": true, "relation-get": true, "relation-model-get": true, "is-leader": true,
	"config-get": true, "status-get": true, "opened-ports": true, "network-get": true, "state-get": true,
	"secret-get": true, "secret-info-get": true, "secret-ids": true, "action-get": true, "leader-get": true,
	"goal-state": true, "credential-get": true,
}

var formatNames = map[string]bool{"smart": true, "yaml": true, "json": true}

// deprecatedFormat is what relation-set, juju-log and open/close-port print for --format (jujuc
// relation-set.go, juju-log.go, ports.go Run): a warning on stderr without a newline.
func deprecatedFormat(req *toolRequest, f *flagSet) {
	if f.set["format"] && f.vals["format"] != "" {
		req.stderr += fmt.Sprintf("--format flag deprecated for command %q", f.tool)
	}
}

// format renders v in the requested --format as juju/cmd output.go does: json (json.Marshal, nil is null),
// yaml (gopkg.in/yaml.v2, nil prints nothing, one trailing newline) or smart (FormatSmart).
func format(f *flagSet, v any, def string) (string, error) {
	fm := def
	if f.set["format"] {
		fm = f.vals["format"]
	}
	switch fm {
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			return "", failf("%v", err)
		}
		return string(b) + "\n", nil
	case "yaml":
		return formatYAML(v)
	}
	return smart(v)
}

func formatYAML(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := yamlv2.Marshal(v)
	if err != nil {
		return "", failf("%v", err)
	}
	out := strings.TrimRight(string(b), "\n")
	if out == "" {
		return "", nil
	}
	return out + "\n", nil
}

// smart is juju/cmd FormatSmart: strings raw, string lists one per line, bools True/False, nil and ""
// print nothing, anything else (maps, numbers) as YAML.
func smart(v any) (string, error) {
	s := ""
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		s = x
	case []string:
		s = strings.Join(x, "\n")
	case bool:
		s = "False"
		if x {
			s = "True"
		}
	default:
		return formatYAML(v)
	}
	if s == "" {
		return "", nil
	}
	return s + "\n", nil
}

const formatFlag = "format"

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
		// jujuc is-leader.go: no arguments (CommandBase.Init is CheckEmpty).
		f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, nil)
		if err != nil {
			return "", err
		}
		if err := checkEmpty(f.pos); err != nil {
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
		// jujuc application-version-set.go Init: one version, nothing more.
		f, err := parseFlags(req.Tool, req.Args, nil, nil)
		if err != nil {
			return "", err
		}
		if len(f.pos) < 1 {
			return "", usagef("no version specified")
		}
		if err := checkEmpty(f.pos[1:]); err != nil {
			return "", err
		}
		c.unit.app.version = f.pos[0]
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
	case "goal-state":
		return s.toolGoalState(c, req)
	case "leader-get":
		f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, nil)
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

// relation resolves -r (N or ep:N) or the hook's relation, as jujuc's relationIdValue does: the option is
// checked while the command line is parsed, so a bad one is a usage error (exit 2): "invalid relation id"
// for a non-number, "relation not found" (HookContext.Relation) for an id not in the hook's context; and
// no -r outside a relation hook is Init's "no relation id specified", also exit 2.
func (s *Sim) relation(c *hookContext, f *flagSet) (*Relation, error) {
	u := c.unit
	if !f.has("r", "relation") {
		if c.hook.rel == nil {
			return nil, usagef("no relation id specified")
		}
		return c.hook.rel, nil
	}
	raw := f.str("r", "relation")
	opt := f.given[f.canonical("r")]
	if opt == "" {
		opt = f.given[f.canonical("relation")]
	}
	id, ok := parseRelationID(raw)
	if !ok {
		return nil, usagef("invalid value %q for option %s: invalid relation id", raw, opt)
	}
	for _, r := range s.visibleRelations(c, true) {
		if r.idFor(u.app) == id {
			return r, nil
		}
	}
	return nil, usagef("invalid value %q for option %s: relation not found", raw, opt)
}

// visibleRelations are the relations in the unit's context: those whose scope it entered and did
// not break yet, plus the hook's own (created and broken hooks). withBroken keeps a relation whose
// broken already ran when it is the hook's own.
func (s *Sim) visibleRelations(c *hookContext, withBroken bool) []*Relation {
	u := c.unit
	var out []*Relation
	seen := map[*Relation]bool{}
	for _, r := range u.knownRelations() {
		st := u.rels[r]
		if st.broken && !(withBroken && r == c.hook.rel) {
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

// toolRelationIDs is jujuc relation-ids.go: the endpoint defaults to the hook's relation, one argument at
// most, ids of the live relations sorted as strings.
func (s *Sim) toolRelationIDs(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, nil)
	if err != nil {
		return "", err
	}
	ep := ""
	if len(f.pos) > 0 {
		ep = f.pos[0]
		if err := checkEmpty(f.pos[1:]); err != nil {
			return "", err
		}
	} else if c.hook.rel != nil {
		ep = c.hook.rel.endFor(c.unit.app).ep.Name
	} else {
		return "", usagef("no endpoint name specified")
	}
	ids := []string{}
	for _, r := range s.visibleRelations(c, false) {
		if r.endFor(c.unit.app).ep.Name == ep && !contextBroken(c.unit, r) {
			ids = append(ids, r.key(c.unit.app))
		}
	}
	sort.Strings(ids)
	return format(f, ids, "smart")
}

// contextBroken is the hook context's view of a relation about to be broken
// (internal/worker/uniter/runner/context/contextfactory.go getContextRelations): a non-peer
// relation that is dying (or suspended) with no member left in the agent's state. relation-ids
// leaves it out (context.go RelationIds); -r still resolves it. The unit's own life does not count:
// a dying unit's relation-broken on a live relation still lists it.
func contextBroken(u *Unit, r *Relation) bool {
	st := u.rels[r]
	return !r.peer() && (r.dying || r.suspended) && st != nil && len(st.members) == 0
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

// toolRelationList is jujuc relation-list.go: no arguments; --app prints the remote application.
func (s *Sim) toolRelationList(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r|relation"), []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	if err := checkEmpty(f.pos); err != nil {
		return "", err
	}
	if f.has("app") {
		return format(f, r.appName(c.unit.app, r.other(c.unit.app).app), "smart")
	}
	return format(f, s.listMembers(c, r), "smart")
}

// Names as juju/names validates them: an application is lowercase words joined by single dashes, each word
// after the first holding a letter; a unit is <application>/<number without leading zeros>.
var (
	validAppName  = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$`)
	validUnitName = regexp.MustCompile(`^([a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*)/(0|[1-9][0-9]*)$`)
)

// toolRelationGet is jujuc relation-get.go with the uniter facade's ReadRemoteSettings behind it.
//
// Init (exit 2 on error): the first argument is the key ("-" or none: all); the second names the unit or
// application. With --app a unit name is turned into its application; without --app the name is kept as
// given, application or unit. With no name the default is the hook's JUJU_REMOTE_UNIT (whatever -r says),
// else with or without --app its JUJU_REMOTE_APP (which implies --app); else "no unit or application
// specified". More arguments: "unrecognized args".
//
// Run (exit 1 on error), mustReadSettingsFromController: the unit's own name, or its own application's
// name on the leader, read the hook's local view (pending relation-set writes included): the own app bag
// with --app, the own UNIT bag without it (a quirk of Juju: `relation-get - <own-app>` on the leader prints
// the unit's bag). Any other name is read from the controller, committed data only: api/agent/uniter
// RelationUnit.ReadSettings sends a unit tag for a unit name and an application tag for an application
// name (so an application name works without --app), else `"x" is not a valid unit or application`;
// ReadRemoteSettings answers "permission denied" unless the unit's or application's endpoint is related
// to ours (getRemoteRelationAppSettings, checkRemoteUnit: our own application only on a peer relation).
func (s *Sim) toolRelationGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, withFormat("r|relation"), []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	u := c.unit
	args := f.pos
	key := ""
	if len(args) > 0 {
		if key = args[0]; key == "-" {
			key = ""
		}
		args = args[1:]
	}
	isApp := f.has("app")
	remoteUnit := c.hook.rel.unitName(u.app, c.hook.remote)
	remoteApp := ""
	if c.hook.rel != nil && c.hook.remoteApp != nil {
		remoteApp = c.hook.rel.appName(u.app, c.hook.remoteApp)
	}
	name := ""
	switch {
	case len(args) > 0:
		name = args[0]
		args = args[1:]
		if isApp && !validAppName.MatchString(name) {
			if m := validUnitName.FindStringSubmatch(name); m != nil {
				name = m[1]
			} else {
				name = ""
			}
		}
	case isApp:
		if remoteApp == "" {
			return "", usagef("no unit or application specified")
		}
		name = remoteApp
	case remoteUnit != "":
		name = remoteUnit
	case remoteApp != "":
		name, isApp = remoteApp, true
	default:
		return "", usagef("no unit or application specified")
	}
	if err := checkEmpty(args); err != nil {
		return "", err
	}
	var data map[string]string
	switch leader := u.app.leader == u; {
	case name == r.unitName(u.app, u), name == r.appName(u.app, u.app) && leader:
		if isApp {
			data = view(r.appData[u.app], c.relApp[r])
		} else {
			data = view(r.unitData[u], c.relUnit[r])
		}
	default:
		if data, err = s.readRemoteSettings(c, r, name); err != nil {
			return "", err
		}
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

// readRemoteSettings is the controller side of relation-get for any name but the unit's own (and its own
// application's on the leader): uniter facade ReadRemoteSettings, committed data only.
func (s *Sim) readRemoteSettings(c *hookContext, r *Relation, name string) (map[string]string, error) {
	u := c.unit
	related := r.other(u.app).app
	switch {
	case validUnitName.MatchString(name):
		// checkRemoteUnit: never our own unit, and only units of the related endpoint's application.
		app, _, _ := strings.Cut(name, "/")
		if name == r.unitName(u.app, u) || r.lookupApp(u.app, app) != related {
			return nil, failf("permission denied")
		}
		tu := r.lookupUnit(u.app, name)
		d, ok := r.unitData[tu]
		if tu == nil || !ok {
			// state RelationUnit.ReadSettings: the settings doc is created at scope entry.
			return nil, failf("cannot read settings for unit %q in relation %q: unit %q: settings not found", name, r.stateKey(), name)
		}
		// Through the agent's relation cache (cache.go RelationCache.Settings): a member's settings read in an
		// earlier hook are served until a hook for that member invalidates them.
		return c.cachedSettingsLocked(r, tu, func() map[string]string { return nonNil(copyMap(d)) }), nil
	case validAppName.MatchString(name):
		// getRemoteRelationAppSettings: only the related endpoint's application.
		if r.lookupApp(u.app, name) != related {
			return nil, failf("permission denied")
		}
		// RelationCache.ApplicationSettings: read once per hook (Prune empties it at every hook's start).
		if d, ok := c.appCache[r]; ok {
			return copyMap(d), nil
		}
		d := nonNil(copyMap(r.appData[related]))
		c.appCache[r] = d
		return copyMap(d), nil
	}
	return nil, failf("%q is not a valid unit or application", name)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// stateKey is the relation's key as state prints it in errors (state relationKey, epSlice order):
// requirer, then provider, then peer endpoints as "app:endpoint", joined by a space.
func (r *Relation) stateKey() string {
	order := map[string]int{"requirer": 0, "provider": 1, "peer": 2}
	eps := append([]*relEnd(nil), r.ends...)
	sort.Slice(eps, func(i, j int) bool {
		if oi, oj := order[eps[i].ep.Role], order[eps[j].ep.Role]; oi != oj {
			return oi < oj
		}
		return eps[i].app.name+":"+eps[i].ep.Name < eps[j].app.name+":"+eps[j].ep.Name
	})
	names := make([]string, len(eps))
	for i, e := range eps {
		names[i] = e.app.name + ":" + e.ep.Name
	}
	return strings.Join(names, " ")
}

// parseSettings reads relation-set (and state-set, leader-set) input as jujuc relation-set.go does. Init
// (exit 2 on error) parses the key=value arguments with juju/utils keyvalues.Parse(args, true): empty
// arguments are skipped, each is split at its first "=", key and value are trimmed (strings.TrimSpace), an
// empty key or a key given twice is refused. Run then reads the --file YAML map (gopkg.in/yaml.v2 into
// map[string]string; "-" is stdin; the content is not trimmed) and lets the arguments override its keys.
// An empty value deletes the key.
func parseSettings(req *toolRequest, f *flagSet, args []string) (map[string]*string, error) {
	overrides := map[string]string{}
	for _, a := range args {
		if a == "" {
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usagef(`expected "key=value", got %q`, a)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" {
			return nil, usagef(`expected "key=value", got "%s=%s"`, k, v)
		}
		if _, dup := overrides[k]; dup {
			return nil, usagef("key %q specified more than once", k)
		}
		overrides[k] = v
	}
	settings := map[string]string{}
	if f.has("file") {
		var content []byte
		if p := f.str("file"); p == "-" {
			content = req.Stdin
		} else {
			content = req.Files[p]
		}
		if err := yamlv2.Unmarshal(content, settings); err != nil {
			return nil, failf("%v", err)
		}
	}
	for k, v := range overrides {
		settings[k] = v
	}
	out := make(map[string]*string, len(settings))
	for k, v := range settings {
		if v == "" {
			out[k] = nil
		} else {
			out[k] = &v
		}
	}
	return out, nil
}

// toolRelationSet is jujuc relation-set.go: Init checks the relation and the arguments (exit 2); Run
// warns about a --format, reads --file, then refuses --app on a non-leader ("cannot write relation
// settings", exit 1) and buffers the writes for the commit.
func (s *Sim) toolRelationSet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"r|relation", "file", "format"}, []string{"app"})
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	if _, err := parseSettings(req, &flagSet{}, f.pos); err != nil {
		return "", err
	}
	deprecatedFormat(req, f)
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
	f, err := parseFlags(req.Tool, req.Args, withFormat("r|relation"), nil)
	if err != nil {
		return "", err
	}
	r, err := s.relation(c, f)
	if err != nil {
		return "", err
	}
	if err := checkEmpty(f.pos); err != nil {
		return "", err
	}
	return format(f, map[string]string{"uuid": r.other(c.unit.app).app.model.uuid}, "smart")
}

// toolConfigGet is jujuc config-get.go: at most one key, not with --all (exit 2); no key prints every
// option that is set or has a default (--all: every option, null when unset); a key prints its value or
// nothing (null in json) when unset.
func (s *Sim) toolConfigGet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, []string{"a|all"})
	if err != nil {
		return "", err
	}
	a := c.unit.app
	cfg := a.effectiveConfig()
	if len(f.pos) > 0 {
		key := f.pos[0]
		if key != "" && f.has("a") {
			return "", usagef("cannot use argument --all together with key %q", key)
		}
		if err := checkEmpty(f.pos[1:]); err != nil {
			return "", err
		}
		return format(f, cfg[key], "smart")
	}
	if f.has("a") {
		all := map[string]any{}
		for k := range a.charm.Config {
			all[k] = cfg[k]
		}
		return format(f, all, "smart")
	}
	return format(f, cfg, "smart")
}

var validStatus = map[string]bool{"maintenance": true, "blocked": true, "waiting": true, "active": true}

// toolStatusSet is jujuc status-set.go: Init takes <status> [message] and nothing more (exit 2); Run
// sets the unit's status, or with --application the application's on the leader only.
func (s *Sim) toolStatusSet(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, nil, []string{"application"})
	if err != nil {
		return "", err
	}
	if len(f.pos) < 1 {
		return "", usagef("invalid args, require <status> [message]")
	}
	st := f.pos[0]
	if !validStatus[st] {
		return "", usagef("invalid status %q, expected one of [maintenance blocked waiting active]", st)
	}
	msg := ""
	if len(f.pos) > 1 {
		msg = f.pos[1]
		if err := checkEmpty(f.pos[2:]); err != nil {
			return "", err
		}
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
	f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, []string{"include-data", "application"})
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

// logLevels are the levels loggo.ParseLevel knows (WARN is WARNING).
var logLevels = map[string]string{"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}

// toolJujuLog is jujuc juju-log.go: the arguments joined by spaces are the message (none: exit 2); an
// unknown --log-level logs at INFO; in a relation hook the message is prefixed "<endpoint>:<id>: ".
func (s *Sim) toolJujuLog(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{"l|log-level", "format"}, []string{"debug"})
	if err != nil {
		return "", err
	}
	if f.pos == nil {
		return "", usagef("no message specified")
	}
	deprecatedFormat(req, f)
	level := "INFO"
	if l, ok := logLevels[strings.ToUpper(f.str("l"))]; ok {
		level = l
	}
	if f.has("debug") {
		level = "DEBUG"
	}
	msg := strings.Join(f.pos, " ")
	if r := c.hook.rel; r != nil {
		msg = r.key(c.unit.app) + ": " + msg
	}
	line := level + " " + msg
	c.logs = append(c.logs, line)
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
	// jujuc ports.go: Init takes one port or range, lowercased, and nothing more (exit 2).
	f, err := parseFlags(req.Tool, req.Args, []string{"endpoints", "format"}, nil)
	if err != nil {
		return "", err
	}
	if f.pos == nil {
		return "", usagef("no port or range specified")
	}
	p, err := normalizePort(strings.ToLower(f.pos[0]))
	if err != nil {
		return "", usagef("%v", err)
	}
	if err := checkEmpty(f.pos[1:]); err != nil {
		return "", err
	}
	deprecatedFormat(req, f)
	c.ports[p] = req.Tool == "open-port"
	return "", nil
}

func (s *Sim) toolOpenedPorts(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, []string{"endpoints"})
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
	f, err := parseFlags(req.Tool, req.Args, withFormat("r|relation"), []string{"bind-address", "ingress-address", "egress-subnets", "primary-address"})
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
	// networkinfocaas.go ProcessAPIRequest: the pod's address binds; the application's service address is the
	// ingress address, and egress defaults to it (the model sets no egress-subnets).
	ip, svc := u.addr, u.app.svc.addr
	switch {
	case f.has("bind-address", "primary-address"):
		return format(f, ip, "smart")
	case f.has("ingress-address"):
		return format(f, svc, "smart")
	case f.has("egress-subnets"):
		return format(f, []string{svc + "/32"}, "smart")
	}
	return format(f, map[string]any{
		"bind-addresses": []any{map[string]any{
			"mac-address": "", "interface-name": "eth0",
			"addresses":  []any{map[string]any{"hostname": "", "address": ip, "cidr": ip + "/32", "value": ip}},
			"macaddress": "", "interfacename": "eth0",
		}},
		"egress-subnets":    []string{svc + "/32"},
		"ingress-addresses": []string{svc},
	}, "smart")
}

func (s *Sim) toolState(c *hookContext, req *toolRequest) (string, error) {
	u := c.unit
	switch req.Tool {
	case "state-get":
		f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, []string{"strict"})
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

// goalStateStatus is one entry of goal-state's output (jujuc/goal-state.go goalStateStatusContents). Since is left
// out: the simulator keeps no status history (tests/sim/doc.go).
type goalStateStatus struct {
	Status string `json:"status" yaml:"status"`
}

// toolGoalState answers goal-state as Juju 3.6 does (jujuc/goal-state.go Run and formatGoalState; the uniter facade's
// GoalStates, oneGoalState, goalStateUnits, goalStateRelations in apiserver/facades/agent/uniter/uniter.go):
//   - units: every unit of the unit's own application, dead ones left out, each with its workload status, or
//     "dying";
//   - relations: by local endpoint name, every non-peer relation's remote application with the relation's status,
//     and, for an application of this model, every one of its units as above: all of them, whether or not they
//     entered the relation's scope or ran relation-joined anywhere. Relations on one endpoint merge. A cross-model
//     relation shows on the consuming side only, with no units (the facade has no units for a remote application).
//
// Default format yaml; json on request; no arguments.
func (s *Sim) toolGoalState(c *hookContext, req *toolRequest) (string, error) {
	f, err := parseFlags(req.Tool, req.Args, []string{formatFlag}, nil)
	if err != nil {
		return "", err
	}
	if err := checkEmpty(f.pos); err != nil {
		return "", err
	}
	u := c.unit
	type out struct {
		Units     map[string]goalStateStatus            `json:"units" yaml:"units"`
		Relations map[string]map[string]goalStateStatus `json:"relations" yaml:"relations"`
	}
	res := out{Units: goalStateUnits(u.app), Relations: map[string]map[string]goalStateStatus{}}
	for _, r := range s.relationsOf(u.app) {
		if r.peer() {
			continue
		}
		other := r.other(u.app).app
		if r.cmr != nil && u.app.model != r.cmr.consumer {
			continue // the offering side: "don't show anything in goal state for that relation"
		}
		ep := r.endFor(u.app).ep.Name
		m := res.Relations[ep]
		if m == nil {
			m = map[string]goalStateStatus{}
			res.Relations[ep] = m
		}
		m[r.appName(u.app, other)] = goalStateStatus{Status: r.goalStatus()}
		if r.cmr == nil {
			for name, st := range goalStateUnits(other) {
				m[name] = st
			}
		}
	}
	return format(f, res, "yaml")
}

// goalStateUnits is the facade's goalStateUnits: the application's units (dead, i.e. removed, ones left out), each
// with its workload status, or "dying" once dying. A unit whose charm set no status yet has Juju's initial one,
// waiting.
func goalStateUnits(a *App) map[string]goalStateStatus {
	out := map[string]goalStateStatus{}
	for _, x := range a.units {
		if x.removed {
			continue
		}
		st := "waiting"
		if x.workloadSet {
			st = x.workload.Status
		}
		if x.dying {
			st = "dying"
		}
		out[x.name] = goalStateStatus{Status: st}
	}
	return out
}

// goalStatus is the relation's status as state keeps it: joining when added, joined once a unit entered its scope
// (the uniter sets it as it joins: worker/uniter/relation/statetracker.go joinRelation), broken when dying.
func (r *Relation) goalStatus() string {
	switch {
	case r.dying:
		return "broken"
	case len(r.scope) > 0:
		return "joined"
	}
	return "joining"
}
