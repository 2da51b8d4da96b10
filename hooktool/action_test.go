package hooktool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetActionResultsBudget checks how results are spread over action-set calls: every key once, in key order,
// no argument over MaxActionArg and no call over maxActionSetCall; too large a value or too large a whole fails
// before any call.
func TestSetActionResultsBudget(t *testing.T) {
	big := strings.Repeat("x", MaxActionArg-len("k-00="))
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k-%02d", i)] = big
		}
		return m
	}
	tests := []struct {
		name    string
		results map[string]string
		calls   int
		err     string
	}{
		{"none", nil, 0, ""},
		{"small", map[string]string{"b": "2", "a.x": "1", "a.y": "x=y"}, 1, ""},
		{"one full argument", map[string]string{"k-00": big}, 1, ""},
		{"a call's worth", many(7), 1, ""},
		{"two calls", many(8), 2, ""},
		{"past ARG_MAX", many(24), 4, ""},
		{"argument too long", map[string]string{"k-000": big}, 0, `cannot set action result "k-000": 98305 bytes, more than one argument holds (98304)`},
		{"too much in all", many(86), 0, "bytes in all, more than Juju can keep for an action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scripted{}
			err := New(Env{}, r).SetActionResults(tt.results)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				if len(r.calls) != 0 {
					t.Fatalf("%d calls before failing", len(r.calls))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.calls) != tt.calls {
				t.Fatalf("%d action-set calls, want %d", len(r.calls), tt.calls)
			}
			var keys []string
			got := map[string]string{}
			for _, call := range r.calls {
				args := strings.Split(strings.TrimPrefix(call, "action-set "), " ")
				size := 0
				for _, a := range args {
					if len(a) > MaxActionArg {
						t.Fatalf("argument of %d bytes", len(a))
					}
					size += len(a) + 1 + argvPointer
					k, v, _ := strings.Cut(a, "=")
					keys = append(keys, k)
					got[k] = v
				}
				if size > maxActionSetCall {
					t.Fatalf("a call of %d bytes", size)
				}
			}
			if len(got) != len(tt.results) || len(keys) != len(got) {
				t.Fatalf("set %d keys (%d distinct), want %d", len(keys), len(got), len(tt.results))
			}
			for k, v := range tt.results {
				if got[k] != v {
					t.Fatalf("%s = %.20q, want %.20q", k, got[k], v)
				}
			}
			for i := 1; i < len(keys); i++ {
				if keys[i-1] >= keys[i] {
					t.Fatalf("keys out of order: %q before %q", keys[i-1], keys[i])
				}
			}
		})
	}
}

// TestSetActionResultsExec sets 2.25 MiB of results through a real process: one action-set with every argument would
// pass ARG_MAX and fail with E2BIG; spread over several calls every byte arrives.
func TestSetActionResultsExec(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\" >>%s; done\n", out)
	if err := os.WriteFile(filepath.Join(dir, "action-set"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	want := map[string]string{}
	for i := range 24 {
		want[fmt.Sprintf("part-%02d", i)] = strings.Repeat(string(rune('a'+i)), MaxActionArg-len("part-00="))
	}
	hc := New(Env{}, ExecRunner{})
	if err := hc.SetActionResults(want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d results arrived, want %d", len(lines), len(want))
	}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		if want[k] != v {
			t.Fatalf("%s arrived with %d bytes, want %d", k, len(v), len(want[k]))
		}
	}
	if n := hc.Calls()["action-set"]; n < 3 {
		t.Fatalf("%d action-set calls for 2.25 MiB", n)
	}
}
