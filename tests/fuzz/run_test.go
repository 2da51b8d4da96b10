package fuzz

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo is a go command for run.sh: one package (dir) with one target, FuzzA, whose fuzz run prints fuzzOut and
// exits fuzzCode (saving a failing input first when save), and whose corpus replay exits replayCode.
const fakeGo = `#!/bin/sh
case "$*" in
  "list ./...") echo example.com/p ;;
  "list -f {{.Dir}} example.com/p") echo "$PKGDIR" ;;
  "test -list ^Fuzz example.com/p") echo FuzzA; echo "ok example.com/p 0.1s" ;;
  "test -run ^\$ -fuzz ^FuzzA\$ "*)
    printf '%s\n' "$FUZZ_OUT"
    if [ -n "$SAVE" ]; then mkdir -p "$PKGDIR/testdata/fuzz/FuzzA" && echo x >"$PKGDIR/testdata/fuzz/FuzzA/1234"; fi
    exit "$FUZZ_CODE" ;;
  "test -count=1 -run ^FuzzA\$ example.com/p") exit "$REPLAY_CODE" ;;
  *) echo "fake go: unexpected: $*" >&2; exit 9 ;;
esac
`

// TestRunTellsFindingsFromTheRace: run.sh passes a clean run and a bare "context deadline exceeded" whose corpus
// replays clean (go.dev/issue/75804), and fails a saved input, a replay that fails, and any other failure.
func TestRunTellsFindingsFromTheRace(t *testing.T) {
	script, err := filepath.Abs("run.sh")
	if err != nil {
		t.Fatal(err)
	}
	race := "fuzz: elapsed: 20s, execs: 185991 (12112/sec)\n--- FAIL: FuzzA (20.15s)\n    context deadline exceeded\nFAIL"
	for _, tc := range []struct {
		name       string
		out        string
		fuzzCode   string
		save       bool
		replayCode string
		pass       bool
		says       string
	}{
		{"clean", "PASS", "0", false, "0", true, ""},
		{"the race", race, "1", false, "0", true, "the deadline race of go.dev/issue/75804"},
		{"the race's words over a failing corpus", race, "1", false, "1", false, "its corpus fails when replayed"},
		{"a saved input", "--- FAIL: FuzzA\n    x_test.go:9: found\n    Failing input written to testdata/fuzz/FuzzA/1234", "1", true, "0", false, "a failing input, saved under"},
		{"another failure", "--- FAIL: FuzzA\n    fuzzing process hung or terminated unexpectedly: exit status 2", "1", false, "0", false, "failed without saving an input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "go")
			if err := os.WriteFile(bin, []byte(fakeGo), 0o755); err != nil {
				t.Fatal(err)
			}
			save := ""
			if tc.save {
				save = "1"
			}
			cmd := exec.Command("bash", script)
			cmd.Dir = dir // not a git repository: the final check of new inputs finds none
			cmd.Env = append(os.Environ(), "GO="+bin, "FUZZTIME=1s", "PKGDIR="+filepath.Join(dir, "p"), "FUZZ_OUT="+tc.out,
				"FUZZ_CODE="+tc.fuzzCode, "SAVE="+save, "REPLAY_CODE="+tc.replayCode, "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.pass {
				t.Fatalf("run.sh: %v, want pass %v\n%s", err, tc.pass, out)
			}
			if !strings.Contains(string(out), tc.says) {
				t.Fatalf("run.sh did not say %q:\n%s", tc.says, out)
			}
		})
	}
}
