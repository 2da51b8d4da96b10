package scenario_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

func scenariosDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scenarios")
}

func binDir() string { return filepath.Join(os.TempDir(), "tls-authority-test-bin") }

func TestExampleScenarios(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("scenarios start containers: need root")
	}
	files, _ := filepath.Glob(filepath.Join(scenariosDir(), "testcharm-*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example scenarios")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := scenario.Run(ctx, sc, &scenario.Options{Dir: t.TempDir(), BinDir: binDir(), Out: &out})
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed > 0 || res.Passed == 0 {
				t.Fatalf("%d passed, %d failed", res.Passed, res.Failed)
			}
		})
	}
}

func TestFailedExpectationsAreCounted(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	charm := filepath.Join(scenariosDir(), "..", "testcharm")
	os.WriteFile(f, []byte(`name: failing
containers: false
steps:
  - model: m
  - deploy: {app: a, charm: `+charm+`}
  - expect:
      status: {a/0: active}
      leader: {a: a/0}
  - action: {unit: a/0, name: echo, expect: {status: completed, results-contain: {message: nope}}}
`), 0o644)
	sc, err := scenario.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := scenario.Run(context.Background(), sc, &scenario.Options{Dir: filepath.Join(dir, "w"), BinDir: binDir(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 2 || res.Passed != 2 {
		t.Errorf("passed %d failed %d, want 2/2:\n%s", res.Passed, res.Failed, out.String())
	}
	if !strings.Contains(out.String(), `✗ status a/0 = "unknown" (want "active")`) {
		t.Errorf("transcript:\n%s", out.String())
	}
}

func TestUnknownStepFieldRejected(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(f, []byte("steps:\n  - deploi: {app: a}\n"), 0o644)
	if _, err := scenario.Load(f); err == nil {
		t.Error("typo in a step accepted")
	}
}

func TestHTTPGetSteps(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello "+r.URL.Path) }))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello "+r.URL.Path) }))
	defer secure.Close()
	port := func(u string) string { return u[strings.LastIndex(u, ":")+1:] }
	f := filepath.Join(t.TempDir(), "s.yaml")
	os.WriteFile(f, []byte(`containers: false
steps:
  - model: m
  - http-get: {host: 127.0.0.1, port: `+port(plain.URL)+`, path: /x, body-contains: hello /x, save-as: a}
  - http-get: {host: 127.0.0.1, port: `+port(secure.URL)+`, scheme: https, insecure: true, path: /x, save-as: b}
  - same: [a, b]
  - http-get: {host: 127.0.0.1, port: `+port(plain.URL)+`, path: /y, expect-status: 404}
`), 0o644)
	sc, err := scenario.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := scenario.Run(context.Background(), sc, &scenario.Options{Dir: t.TempDir(), BinDir: binDir(), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 4 || res.Failed != 1 {
		t.Errorf("passed %d failed %d, want 4/1 (the 404 expectation fails: the server answers 200):\n%s", res.Passed, res.Failed, out.String())
	}
}

// runYAML loads and runs a scenario written in a temp dir.
func runYAML(t *testing.T, text string) (*scenario.Result, string, time.Duration, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	start := time.Now()
	res, err := scenario.Run(context.Background(), sc, &scenario.Options{Dir: filepath.Join(dir, "w"), BinDir: binDir(), Out: &out})
	return res, out.String(), time.Since(start), err
}

// TestAdvanceClockStep pins advance-clock: advances add up (59m then 2m passes the 1h expiry); secret-expired goes
// to the owner with JUJU_SECRET_REVISION once the revision is due, again 5 minutes later while the charm keeps the
// revision, and no more once it is removed.
func TestAdvanceClockStep(t *testing.T) {
	charm := filepath.Join(scenariosDir(), "..", "testcharm")
	res, out, _, err := runYAML(t, `containers: false
steps:
  - model: m
  - deploy:
      app: a
      charm: `+charm+`
      config:
        script: |
          if [ "$JUJU_HOOK_NAME" = secret-expired ]; then
            n=$(( $(cat "$CHARM_DIR/n" 2>/dev/null || echo 0) + 1 )); echo $n >"$CHARM_DIR/n"
            status-set active "expired $JUJU_SECRET_LABEL rev $JUJU_SECRET_REVISION: $n"
            [ $n -lt 2 ] || secret-remove "$JUJU_SECRET_ID" --revision "$JUJU_SECRET_REVISION"
          fi
  - action: {unit: a/0, name: run, params: {cmd: "secret-add --label cert --expire 1h cert=x"}, expect: {status: completed}}
  - advance-clock: {by: 59m}
  - expect: {status: {a/0: unknown}}
  - advance-clock: {by: 2m}
  - expect: {status: {a/0: "active: expired cert rev 1: 1"}, hooks: {a/0: [secret-expired]}}
  - advance-clock: {by: 3m}
  - expect: {status: {a/0: "active: expired cert rev 1: 1"}}
  - advance-clock: {by: 2m}
  - expect: {status: {a/0: "active: expired cert rev 1: 2"}}
  - advance-clock: {by: 1h}
  - settle: {}
`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed > 0 || res.Passed != 6 {
		t.Errorf("passed %d failed %d, want 6/0:\n%s", res.Passed, res.Failed, out)
	}
	if n := strings.Count(out, "secret-expired "); n != 2 {
		t.Errorf("secret-expired ran %d times, want twice (at 1h and 1h05m, not after the removal):\n%s", n, out)
	}
}

// TestWaitSteps pins wait: `for` sleeps; `until` holds at once when its expectations do, and otherwise polls until
// its timeout and records the last evaluation's failures.
func TestWaitSteps(t *testing.T) {
	charm := filepath.Join(scenariosDir(), "..", "testcharm")
	res, out, took, err := runYAML(t, `containers: false
steps:
  - model: m
  - deploy: {app: a, charm: `+charm+`}
  - wait: {for: 300ms}
  - wait: {until: {leader: {a: a/0}}}
  - wait: {timeout: 400ms, interval: 50ms, until: {status: {a/0: active}, leader: {a: a/0}}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 2 || res.Failed != 1 {
		t.Errorf("passed %d failed %d, want 2/1 (the status never becomes active):\n%s", res.Passed, res.Failed, out)
	}
	if took < 700*time.Millisecond {
		t.Errorf("the run took %v, want at least the 300ms wait and the 400ms timeout", took)
	}
	if !strings.Contains(out, "(timed out after 400ms)") || strings.Count(out, "✗ status a/0") != 1 {
		t.Errorf("transcript:\n%s", out)
	}
}

func TestBadTimeStepsRejected(t *testing.T) {
	for _, c := range []struct{ name, step string }{
		{"not a duration", "wait: {for: soon}"},
		{"negative", "advance-clock: {by: -1h}"},
		{"bad exec timeout", "exec: {unit: a/0, container: w, command: x, timeout: 5}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "s.yaml")
			os.WriteFile(f, []byte("steps:\n  - "+c.step+"\n"), 0o644)
			if _, err := scenario.Load(f); err == nil || !strings.Contains(err.Error(), "cannot parse duration") {
				t.Errorf("%s accepted (%v)", c.step, err)
			}
		})
	}
	for _, step := range []string{"wait: {}", "wait: {for: 1s, until: {leader: {a: a/0}}}"} {
		_, _, _, err := runYAML(t, "containers: false\nsteps:\n  - model: m\n  - "+step+"\n")
		if err == nil || !strings.Contains(err.Error(), "exactly one of for and until") {
			t.Errorf("%s: %v", step, err)
		}
	}
}
