package hooktool

import (
	"fmt"
	"sort"
)

// ActionParams returns the running action's parameters, defaults included.
func (c *Context) ActionParams() (map[string]any, error) {
	params := map[string]any{}
	if err := c.runJSON("action-get", &params); err != nil {
		return nil, fmt.Errorf("cannot read action parameters: %w", err)
	}
	return params, nil
}

// Budgets for action results. Juju's action-set takes results only as key=value arguments (it has no --file:
// worker/uniter/runner/jujuc/action-set.go, ActionSetCommand.SetFlags), and a hook tool is a process: Linux refuses
// one argument over 128 KiB (MAX_ARG_STRLEN, its NUL included) and a command line plus environment over ARG_MAX
// (2 MiB with the usual 8 MiB stack). The controller keeps all of an action's results in one MongoDB document
// (state/action.go, Action.Finish; apiserver/common/action.go, FinishActions sets no limit of its own), and a
// document holds at most 16 MiB.
const (
	// MaxActionArg is the most one key=value argument may hold (MaxArg).
	MaxActionArg = MaxArg
	// MaxActionResults is the most all of an action's results may hold: half of MongoDB's 16 MiB, leaving room for
	// the parameters, the messages, stdout and stderr, and BSON's framing.
	MaxActionResults = 8 << 20
	// maxActionSetCall bounds the arguments of one action-set call: under half of ARG_MAX, so the environment (a
	// hook's is a few KiB) always fits beside them.
	maxActionSetCall = 768 << 10
	// argvPointer is what each argument costs in ARG_MAX beside its bytes and NUL: its pointer in argv.
	argvPointer = 8
)

// ActionResultArgSize is what results[key] = value costs in MaxActionArg: the "key=value" argument.
func ActionResultArgSize(key, value string) int { return len(key) + 1 + len(value) }

// SetActionResults sets the action's results: keys may be dotted ("a.b") for nesting. Each key=value must fit one
// argument (MaxActionArg): a longer value must be split by the caller into several keys, since Juju would keep only
// the last of several action-set calls for one key. The results are spread over as many action-set calls as the
// command-line limits need, in key order, so nesting works as in one call. The results of one call may hold at
// most MaxActionResults in all (an action should set all its results in one call). Values travel in argv, so they must never hold a secret.
func (c *Context) SetActionResults(results map[string]string) error {
	if len(results) == 0 {
		return nil
	}
	keys := make([]string, 0, len(results))
	total := 0
	for k, v := range results {
		n := ActionResultArgSize(k, v)
		if n > MaxActionArg {
			return fmt.Errorf("cannot set action result %q: %d bytes, more than one argument holds (%d)", k, n, MaxActionArg)
		}
		total += n
		keys = append(keys, k)
	}
	if total > MaxActionResults {
		return fmt.Errorf("cannot set action results: %d bytes in all, more than Juju can keep for an action (%d)", total, MaxActionResults)
	}
	sort.Strings(keys)
	for _, args := range packActionArgs(keys, results) {
		if _, err := c.run("action-set", nil, args...); err != nil {
			return fmt.Errorf("cannot set action results: %w", err)
		}
	}
	return nil
}

// packActionArgs groups the key=value arguments, in the order of keys, into calls within maxActionSetCall.
func packActionArgs(keys []string, results map[string]string) [][]string {
	var calls [][]string
	var cur []string
	size := 0
	for _, k := range keys {
		arg := k + "=" + results[k]
		n := len(arg) + 1 + argvPointer
		if len(cur) > 0 && size+n > maxActionSetCall {
			calls = append(calls, cur)
			cur, size = nil, 0
		}
		cur = append(cur, arg)
		size += n
	}
	return append(calls, cur)
}

// FailAction marks the running action failed with msg.
func (c *Context) FailAction(msg string) error {
	if _, err := c.run("action-fail", nil, msg); err != nil {
		return fmt.Errorf("cannot fail action: %w", err)
	}
	return nil
}

// LogAction sends a progress message to the action's caller.
func (c *Context) LogAction(msg string) error {
	if _, err := c.run("action-log", nil, msg); err != nil {
		return fmt.Errorf("cannot log action progress: %w", err)
	}
	return nil
}
