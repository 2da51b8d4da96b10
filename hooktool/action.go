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

// SetActionResults sets the action's results: keys may be dotted ("a.b") for nesting.
// Values travel in argv, so they must never hold a secret.
func (c *Context) SetActionResults(results map[string]string) error {
	if len(results) == 0 {
		return nil
	}
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, len(keys))
	for _, k := range keys {
		args = append(args, k+"="+results[k])
	}
	if _, err := c.run("action-set", nil, args...); err != nil {
		return fmt.Errorf("cannot set action results: %w", err)
	}
	return nil
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
