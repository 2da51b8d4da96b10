// Package hooktooltest helps tests that fake Juju behind a hooktool.Runner: it decodes hook-tool calls the way
// Juju would read them. It is for tests only; the charm never imports it.
package hooktooltest

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v2"
)

// RelationSetData decodes what a relation-set call was given, in either form hooktool uses, as jujuc relation-set.go
// reads it: key=value arguments through juju/utils keyvalues.Parse(args, true) (split at the first "=", key and value
// trimmed, empty arguments skipped, a repeated key refused), then the --file - content (stdin) as a YAML map with
// gopkg.in/yaml.v2 into strings, not trimmed, the arguments overriding its keys. "" values mean delete.
func RelationSetData(args []string, stdin []byte) (map[string]string, error) {
	overrides := map[string]string{}
	file := false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-r":
			i++
		case a == "--file":
			file = true
			i++
		case a == "--app", a == "":
		default:
			k, v, ok := strings.Cut(a, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("relation-set: expected \"key=value\", got %q", a)
			}
			if _, dup := overrides[k]; dup {
				return nil, fmt.Errorf("relation-set: key %q specified more than once", k)
			}
			overrides[k] = v
		}
	}
	data := map[string]string{}
	if file {
		if err := yaml.Unmarshal(stdin, data); err != nil {
			return nil, fmt.Errorf("relation-set: cannot parse settings: %w", err)
		}
	}
	for k, v := range overrides {
		data[k] = v
	}
	return data, nil
}
