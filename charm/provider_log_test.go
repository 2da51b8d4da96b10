package charm

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tls-authority/tls-authority/hooktool"
)

// logRunner records juju-log calls.
type logRunner struct{ logs [][]string }

func (l *logRunner) Run(_ context.Context, tool string, args []string, _ []byte) ([]byte, error) {
	if tool == "juju-log" {
		l.logs = append(l.logs, args)
	}
	return nil, nil
}

// TestLogWarnings: a relation's request problems cost one juju-log call however many there are (each call is a
// process and an RPC in Juju), one problem keeps its own line, and a long list is cut with its count.
func TestLogWarnings(t *testing.T) {
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("r/%d: refused certificate request", i)
	}
	for _, tc := range []struct {
		name     string
		warnings []string
		calls    int
		want     []string
		notWant  string
	}{
		{"none", nil, 0, nil, ""},
		{"one", []string{"a/0: skipping certificate request: bad"}, 1, []string{"certificates:3: a/0: skipping certificate request: bad"}, "problems"},
		{"two", []string{"a/0: x", "a/1: y"}, 1, []string{"2 problems with certificate requests: a/0: x; a/1: y"}, "more"},
		{"a storm", many, 1, []string{"1000 problems", "r/19: refused", "and 980 more"}, "r/20:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := &logRunner{}
			hc := hooktool.New(hooktool.Env{UnitName: "tls-authority/0"}, run)
			if err := logWarnings(hc, "certificates:3: ", tc.warnings); err != nil {
				t.Fatal(err)
			}
			if len(run.logs) != tc.calls {
				t.Fatalf("%d juju-log calls, want %d", len(run.logs), tc.calls)
			}
			if tc.calls == 0 {
				return
			}
			line := strings.Join(run.logs[0], " ")
			if !strings.Contains(line, "WARNING") {
				t.Errorf("not a warning: %s", line)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("log %q does not contain %q", line, w)
				}
			}
			if tc.notWant != "" && strings.Contains(line, tc.notWant) {
				t.Errorf("log %q contains %q", line, tc.notWant)
			}
		})
	}
}
