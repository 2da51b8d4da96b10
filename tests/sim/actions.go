package sim

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ActionResult is the outcome of an action, as juju show-operation reports it.
type ActionResult struct {
	ID      string         `json:"id"`
	Unit    string         `json:"unit"`
	Name    string         `json:"name"`
	Status  string         `json:"status"` // "completed" or "failed"
	Message string         `json:"message,omitempty"`
	Results map[string]any `json:"results,omitempty"`
	Logs    []string       `json:"logs,omitempty"`
}

type actionRun struct {
	id      string
	name    string
	params  map[string]any
	results map[string]any
	failMsg *string
	logs    []string
	result  *ActionResult
}

func (a *actionRun) finish(rec *HookRecord, ok bool, runErr error, code int) {
	res := &ActionResult{ID: a.id, Name: a.name, Status: "completed", Logs: a.logs}
	switch {
	case !ok:
		// Non-zero exit: failed, results dropped; the unit itself is not in error.
		res.Status = "failed"
		switch {
		case runErr != nil:
			res.Message = runErr.Error()
		case rec.Killed:
			res.Message = "action terminated"
		default:
			res.Message = fmt.Sprintf("exit status %d", code)
		}
		res.Results = map[string]any{"return-code": code}
	default:
		res.Results = a.results
		if res.Results == nil {
			res.Results = map[string]any{}
		}
		res.Results["return-code"] = code
		if a.failMsg != nil {
			res.Status = "failed"
			res.Message = *a.failMsg
		}
	}
	if rec.Stdout != "" {
		res.Results["stdout"] = rec.Stdout
	}
	if rec.Stderr != "" {
		res.Results["stderr"] = rec.Stderr
	}
	a.result = res
}

// RunAction settles the model, runs action name on the unit with params (validated against
// actions.yaml, defaults filled in) and settles again. Validation errors fail the action before
// any process runs, as Juju does.
func (u *Unit) RunAction(name string, params map[string]any) (*ActionResult, error) {
	return u.RunActionContext(context.Background(), name, params)
}

// RunActionContext is RunAction with a context.
func (u *Unit) RunActionContext(ctx context.Context, name string, params map[string]any) (*ActionResult, error) {
	s := u.app.model.sim
	s.runMu.Lock()
	defer s.runMu.Unlock()
	// Units left in error by this settle do not stop the action: see below.
	_ = s.settle(ctx)
	s.mu.Lock()
	meta, ok := u.app.charm.Actions[name]
	if !ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("cannot run action: action %q not defined on unit %q", name, u.name)
	}
	m := u.app.model
	m.actionSeq++
	run := &actionRun{id: fmt.Sprint(m.actionSeq), name: name}
	full, verr := validateParams(meta, params)
	if verr != nil {
		res := &ActionResult{ID: run.id, Unit: u.name, Name: name, Status: "failed", Message: verr.Error()}
		s.actions = append(s.actions, res)
		s.mu.Unlock()
		return res, nil
	}
	// A unit in a hook error still runs actions (actions/resolver.go NextOp: "We can still run
	// actions if the unit is in a hook error state"); the failed hook stays pending.
	run.params = full
	s.mu.Unlock()
	s.runHook(ctx, u, &pendingHook{name: name, action: run})
	run.result.Unit = u.name
	s.mu.Lock()
	s.actions = append(s.actions, run.result)
	s.mu.Unlock()
	if err := s.settle(ctx); err != nil {
		return run.result, err
	}
	return run.result, nil
}

func validateParams(meta ActionMeta, params map[string]any) (map[string]any, error) {
	full := map[string]any{}
	for k, p := range meta.Params {
		if d, ok := p["default"]; ok {
			full[k] = d
		}
	}
	for k, v := range params {
		p, ok := meta.Params[k]
		if !ok && !meta.AdditionalProperties {
			return nil, fmt.Errorf("validation failed: (root) : additional property %q is not allowed, given {%s}", k, paramList(params))
		}
		if ok {
			if t, _ := p["type"].(string); t != "" && !typeMatches(t, v) {
				return nil, fmt.Errorf("validation failed: (root).%s : invalid type. Expected: %s, given: %T", k, t, v)
			}
		}
		full[k] = v
	}
	for _, r := range meta.Required {
		if _, ok := full[r]; !ok {
			return nil, fmt.Errorf("validation failed: (root) : %s is required", r)
		}
	}
	return full, nil
}

func paramList(p map[string]any) string {
	var out []string
	for _, k := range sortedKeys(p) {
		out = append(out, fmt.Sprintf("%s:%v", k, p[k]))
	}
	return strings.Join(out, ", ")
}

func typeMatches(t string, v any) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		switch x := v.(type) {
		case int, int64:
			return true
		case float64:
			return x == float64(int64(x))
		}
		return false
	case "number":
		switch v.(type) {
		case int, int64, float64:
			return true
		}
		return false
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return true
}

// actionKeyRE is the rule for each dot-separated part of an action-set key: Juju 3.6 checks every part with
// charm.GetActionNameRule() (juju/charm/v12 actions.go actionNameRule), used by
// worker/uniter/runner/jujuc/action-set.go ActionSetCommand.Init.
var actionKeyRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// reservedActionKeys may be no part of a key (action-set.go reservedKeys, checked in Init for every part).
var reservedActionKeys = map[string]bool{"stdout": true, "stdout-encoding": true, "stderr": true, "stderr-encoding": true}

func (s *Sim) toolAction(c *hookContext, req *toolRequest) (string, error) {
	a := c.hook.action
	if a == nil {
		return "", failf("not running an action")
	}
	switch req.Tool {
	case "action-get":
		f, err := parseFlags(req.Tool, req.Args, []string{"format"}, nil)
		if err != nil {
			return "", err
		}
		if len(f.pos) == 0 {
			return format(f, a.params, "smart")
		}
		var cur any = a.params
		for _, part := range strings.Split(f.pos[0], ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		return format(f, cur, "smart")
	case "action-set":
		f, err := parseFlags(req.Tool, req.Args, nil, nil)
		if err != nil {
			return "", err
		}
		type kv struct {
			parts []string
			val   string
		}
		// Every argument is checked before any is set, and a bad one is an Init error: exit code 2
		// (action-set.go ActionSetCommand.Init; juju/cmd Main returns 2 when Init fails). The value is the
		// argument after the first "=", untrimmed.
		var sets []kv
		for _, arg := range f.pos {
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				return "", usagef("argument %q must be of the form key...=value", arg)
			}
			parts := strings.Split(k, ".")
			for _, p := range parts {
				if !actionKeyRE.MatchString(p) {
					return "", usagef("key %q must start and end with lowercase alphanumeric, and contain only lowercase alphanumeric and hyphens", p)
				}
				if reservedActionKeys[p] {
					return "", usagef("cannot set reserved action key %q", p)
				}
			}
			sets = append(sets, kv{parts, v})
		}
		// Results are kept only if the action's process exits 0 (finish drops them otherwise).
		if a.results == nil {
			a.results = map[string]any{}
		}
		for _, e := range sets {
			m := a.results
			for _, p := range e.parts[:len(e.parts)-1] {
				sub, ok := m[p].(map[string]any)
				if !ok {
					sub = map[string]any{}
					m[p] = sub
				}
				m = sub
			}
			m[e.parts[len(e.parts)-1]] = e.val
		}
		return "", nil
	case "action-fail":
		msg := "action failed without reason given, check action for errors"
		if len(req.Args) > 0 {
			msg = strings.Join(req.Args, " ")
		}
		a.failMsg = &msg
		return "", nil
	default: // action-log
		if len(req.Args) == 0 {
			return "", usagef("no message specified")
		}
		line := strings.Join(req.Args, " ")
		a.logs = append(a.logs, line)
		s.logf("    %s action-log %s", c.unit.name, line)
		return "", nil
	}
}
