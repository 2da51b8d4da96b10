package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/artifacts"
)

// TestDemoScenarios runs the scenarios of `make demo` (tests/scenarios/demo*.yaml), so `make test` proves what the
// demo shows. It builds what they deploy where `make demo` puts it (build/, ignored by git). Afterwards no file that
// a container wrote is left on the host (demo-tls.yaml's execs write /tmp/k.pem and /tmp/other-ca.pem in ingress/0):
// a pod's containers each have their own filesystem.
func TestDemoScenarios(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the simulator needs root")
	}
	root, err := artifacts.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	buildDemo(t, root)
	defer checkNoScratchLeft(t, snapshotScratch())
	for _, name := range []string{"demo.yaml", "demo-tls.yaml"} {
		t.Run(name, func(t *testing.T) {
			res := runScenarioFile(t, root, name)
			t.Logf("%s: %d expectations passed in %v", name, res.Passed, res.Duration.Round(time.Millisecond))
		})
	}
}

// checkNoScratchLeft fails the test when a file a container wrote (containerWrites) is on the host's scratch dirs
// now and was not before. Only what is still there a moment later counts: another process's temp file
// (update-ca-certificates' own, on the host) comes and goes, a leaked one stays.
func checkNoScratchLeft(t *testing.T, before scratchSnapshot) {
	t.Helper()
	first := snapshotScratch()
	time.Sleep(time.Second)
	if left := containerWritten(snapshotScratch().since(before).and(first.since(before))); len(left) > 0 {
		t.Errorf("the scenarios left files on the host (a container's scratch dirs must be its own):\n%s", strings.Join(left, "\n"))
	}
}

// containerWrites are the names that what runs in the scenarios' containers writes to scratch dirs: the demo's
// and the tutorial's execs (demo-tls.yaml, multimodel/checks.yaml, tutorial.yaml) and the hook tools' secret files (hooktool's secret-*.yaml). Only
// those count as leaked: other test packages run beside this one under `go test ./...` and come and go in /tmp
// with names of their own.
var containerWrites = []string{"k.pem", "other-ca.pem", "no-cas", "issuer-before", "issuer-after", "secret-*.yaml", "*.crt", "*.key"}

// containerWritten keeps the paths whose base name is one of containerWrites.
func containerWritten(paths []string) []string {
	var out []string
	for _, p := range paths {
		for _, pat := range containerWrites {
			if ok, _ := filepath.Match(pat, filepath.Base(p)); ok {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// hostScratch are the host dirs a container would write to if its /tmp, /var/tmp, /dev/shm, HOME or /run were the
// host's, each with how deep to look: /root only at its top (a dotfile), since toolchains (Go's caches, telemetry)
// change below it all the time.
var hostScratch = map[string]int{"/tmp": 3, "/var/tmp": 3, "/dev/shm": 3, "/run": 3, "/root": 1}

// scratchNoise are top-level names that the test processes themselves (this one and any other on the machine) and
// the Go toolchain create and change during a run: the simulators' work and socket dirs, shared binaries and
// address locks, Go's build dirs and t.TempDir()s, and the agent tooling's job dirs.
var scratchNoise = []string{"jujusim", "demo-", "scenario", "tls-authority-test-bin", "tls-authority-artifacts-", "tls-requirer-artifacts-", "go-build", "Test", "bash_", ".cache", ".config", "go"}

type scratchSnapshot map[string]string // path -> "dir" or size and mtime

func snapshotScratch() scratchSnapshot {
	snap := scratchSnapshot{}
	for root, depth := range hostScratch {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || path == root {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			parts := strings.Split(rel, string(filepath.Separator))
			for _, n := range scratchNoise {
				if strings.HasPrefix(parts[0], n) {
					return fs.SkipDir
				}
			}
			if d.IsDir() {
				snap[path] = "dir"
				if len(parts) >= depth {
					return fs.SkipDir
				}
				return nil
			}
			if info, err := d.Info(); err == nil {
				snap[path] = fmt.Sprintf("%v %v %d", info.ModTime(), info.Mode(), info.Size())
			}
			return nil
		})
	}
	return snap
}

// changes lists paths, each "new <path>" or "changed <path>".
type changes []string

// since lists what is new or changed in s compared with before.
func (s scratchSnapshot) since(before scratchSnapshot) changes {
	var out changes
	for p, v := range s {
		if old, ok := before[p]; !ok {
			out = append(out, "new "+p)
		} else if old != v {
			out = append(out, "changed "+p)
		}
	}
	sort.Strings(out)
	return out
}

// and keeps the entries of a that are also in b.
func (a changes) and(b changes) changes {
	var out changes
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
