// Package hooktooltest helps tests that fake Juju behind a hooktool.Runner: it decodes hook-tool calls the way
// Juju would read them. It is for tests only; the charm never imports it.
package hooktooltest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RelationSetData decodes what a relation-set call was given, in either form hooktool uses (key=value arguments,
// or JSON settings on stdin with --file -). "" values mean delete.
func RelationSetData(args []string, stdin []byte) (map[string]string, error) {
	data := map[string]string{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-r" || a == "--file":
			i++
		case a == "--app":
		default:
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return nil, fmt.Errorf("relation-set: unexpected argument %q", a)
			}
			data[k] = v
		}
	}
	if len(stdin) > 0 {
		if err := json.Unmarshal(stdin, &data); err != nil {
			return nil, fmt.Errorf("relation-set: cannot parse settings: %w", err)
		}
	}
	return data, nil
}
