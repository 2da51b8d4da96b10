// Package scenario runs YAML scenario files on the Juju model simulator (tests/sim): a list of
// steps (deploy, integrate, offer/consume, config, scale, leader change, actions, settle,
// failure injection, Pebble execs, HTTP gets, the clock, waits) and expectations, with a
// readable transcript.
//
// File format (every step is a one-key map; "model" defaults to the last `model:` step):
//
//	name: example
//	containers: true            # start Pebble for workload containers (default true)
//	steps:
//	  - model: m
//	  - deploy: {app: a, charm: ../testcharm, units: 2, config: {greeting: hi}, resources: {img: ./image}}
//	  - integrate: {a: "a:db", b: "b:backend"}
//	  - offer: {app: a, endpoint: db, name: dbo}
//	  - consume: {model: other, from: m, offer: dbo, alias: mydb}
//	  - config: {app: a, values: {greeting: hello}}
//	  - scale: {app: a, units: 3}
//	  - leader: {unit: a/1}
//	  - remove-relation: {a: "a:db", b: "b:backend"}
//	  - remove-app: {app: b}
//	  - refresh: {app: a, charm: ../build/new.charm}    # upgrade-charm
//	  - churn: {unit: a/0}                              # pod recreated: stop, start, pebble-ready
//	  - restart-container: {unit: a/0, container: workload}
//	  - trust: {app: a, trust: true}
//	  - settle: {expect-error: "a/0"}          # or `settle: {}`; fails on units in error unless expected
//	  - update-status: {}
//	  - inject-failure: {unit: a/0, hook: update-status, after: 2}
//	  - resolve: {unit: a/0, retry: true}
//	  - action: {unit: a/0, name: echo, params: {message: x}, expect: {status: completed, results-contain: {message: x}}, save-as: r1}
//	  - exec: {unit: a/0, container: workload, command: "cat /etc/hostname", expect: {exit: 0, stdout-contains: a-0}, save-as: h}
//	  - exec: {unit: a/0, container: workload, command: "make-db", timeout: 5m}  # Pebble kills it after 5m (default 1m): exit -1
//	  - advance-clock: {by: 61m}       # the controller clock moves on; secret-expired for the revisions due by then
//	  - wait: {for: 2s}                                       # real time passes (the workload runs meanwhile)
//	  - wait: {timeout: 30s, interval: 1s, until: {status: {a/0: active}}}  # settle and check until they hold
//	  - http-get: {unit: a/0, port: 8080, path: /, expect-status: 200, body-contains: x, save-as: body}
//	  - http-get: {unit: a/0, port: 8443, scheme: https, ca: ca-pem, server-name: a-0.a-endpoints.m.svc.cluster.local}
//	  - http-get: {unit: a/0, port: 8443, scheme: https, ca: root, server-name: a.m.svc.cluster.local, handshake: "client to a"}
//	  - http-get: {unit: a/0, port: 8443, scheme: https, ca: other, expect-error: "unknown authority"}  # must be refused
//	  - same: [r1, body]
//	  - include: common.yaml                # the steps of another file (its `steps:`), paths relative to it
//	  - certificate: {unit: a/0, mode: unit, params: {scope: unit}}   # record a certificate for the final table
//	  - certificate: {unit: ca/0, mode: CA, action: get-ca-certificate, holder: ca}
//	  - exec: {unit: a/0, container: workload, command: "curl ...", handshake: "a/0 to a-1:9443, mutual TLS"}
//	  - exec: {model: m2, unit: c/0, container: w, command: "curl --resolve x.example:443:{{address m b/0}} ..."}  # b/0's address
//	  - action: {unit: a/0, name: get-url, params: {url: "https://..."}, handshake: "a/0 from its charm container"}
//	  - expect:
//	      status: {a/0: active, a: "active: ready"}      # "status" or "status: message prefix"
//	      agent-status: {a/0: idle}
//	      leader: {a: a/0}
//	      relation-data:
//	        - {relation: "a:db", unit: a/0, contains: {k: v}, absent: [x]}
//	        - {relation: "a:db", app: a, contains: {k: v}}
//	      hooks: {a/0: [install, start, db-relation-joined(b/0)]}  # a subsequence of the unit's hooks
//
// Relative charm and resource paths are relative to the scenario file that holds the step (an included file's own).
//
// The summary. A run that recorded certificates or handshakes ends with two tables. Certificates: each `certificate`
// step runs an action (default get-certificate) on a unit and records its result's certificate (or
// ca-certificate) and chain (or ca-chain) under a holder and a mode; the table shows each one's names, its issuer
// and the root it chains to (both named by the holder that recorded them, among the recorded certificates), and
// the result of `openssl verify -CAfile <root> [-untrusted <intermediates>]` run on it; a certificate that chains
// to no recorded root, or that openssl does not verify, is a failed expectation. Handshakes: every https
// http-get, and every exec or action with a `handshake` label, with whether it went as expected (a handshake expected to
// fail, such as a client trusting an unrelated CA, passes when it fails). Transcript lines are cut at 200
// characters; the full results are in the state file and the saved values.
//
// Time. The simulator has no timers of its own (tests/sim/doc.go): time-driven hooks fire only in steps:
// update-status, and advance-clock, which moves the controller clock (the wall clock plus every advance so far, so
// advances add up) and runs Juju's secret expiry worker up to it (worker/secretexpire): each secret revision whose
// expiry has come gets secret-expired on its owner unit (the leader for an application secret) with JUJU_SECRET_ID,
// JUJU_SECRET_LABEL and JUJU_SECRET_REVISION, as real requirer charms (the Python tls-certificates library) expect
// before renewing; a revision the charm neither removes nor gives a new expiry gets it again every 5 minutes
// (ExpireRetryDelay), and one step over several retries queues it once. Expiry is per revision: `--expire 1h` in
// the secret-expired hook expires the new revision an hour after the clock then. `wait: {for}` lets real time pass
// (so `advance-clock: {}` then fires what expired meanwhile); `wait: {until}` re-evaluates
// an expect block (settling first, which also turns new Pebble notices and check changes into hooks) every
// interval (default 250ms) until all of it holds or the timeout (default 1m) passes; only the last evaluation
// counts. Durations are Go's ("90s", "1h30m").
package scenario

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/tests/sim"
)

// Scenario is a parsed scenario file.
type Scenario struct {
	Name       string `yaml:"name"`
	Containers *bool  `yaml:"containers"`
	Steps      []Step `yaml:"steps"`
	dir        string
}

// maxIncludeDepth bounds nested includes (a file that includes itself).
const maxIncludeDepth = 8

// Step is one step: exactly one field is set.
type Step struct {
	Model          string        `yaml:"model"`
	Deploy         *DeployStep   `yaml:"deploy"`
	Integrate      *RelationStep `yaml:"integrate"`
	Offer          *OfferStep    `yaml:"offer"`
	Consume        *ConsumeStep  `yaml:"consume"`
	Config         *ConfigStep   `yaml:"config"`
	Scale          *ScaleStep    `yaml:"scale"`
	Leader         *UnitStep     `yaml:"leader"`
	RemoveRelation *RelationStep `yaml:"remove-relation"`
	RemoveApp      *ScaleStep    `yaml:"remove-app"`
	Settle         *SettleStep   `yaml:"settle"`
	UpdateStatus   *struct{}     `yaml:"update-status"`
	InjectFailure  *InjectStep   `yaml:"inject-failure"`
	Resolve        *ResolveStep  `yaml:"resolve"`
	Action         *ActionStep   `yaml:"action"`
	Exec           *ExecStep     `yaml:"exec"`
	HTTPGet        *HTTPGetStep  `yaml:"http-get"`
	Refresh        *DeployStep   `yaml:"refresh"`
	Churn          *UnitStep     `yaml:"churn"`
	RestartCont    *ExecStep     `yaml:"restart-container"`
	Trust          *TrustStep    `yaml:"trust"`
	Same           []string      `yaml:"same"`
	Expect         *Expect       `yaml:"expect"`
	AdvanceClock   *AdvanceStep  `yaml:"advance-clock"`
	Wait           *WaitStep     `yaml:"wait"`
	Include        string        `yaml:"include"`
	Certificate    *CertStep     `yaml:"certificate"`
	// dir is the directory of the file the step came from: its relative paths are relative to it.
	dir string
}

// CertStep records a certificate for the summary: the result of an action on a unit.
type CertStep struct {
	Model  string         `yaml:"model"`
	Unit   string         `yaml:"unit"`
	Action string         `yaml:"action"` // default get-certificate
	Params map[string]any `yaml:"params"`
	Holder string         `yaml:"holder"` // default: the unit
	Mode   string         `yaml:"mode"`   // what the table says it is: unit, app, CA
}

// AdvanceStep moves the controller clock forward By (0: not at all) and fires the timers due by then.
type AdvanceStep struct {
	By Duration `yaml:"by"`
}

// WaitStep waits for a duration (For), or until its expectations hold (Until, polled every Interval, at most
// Timeout).
type WaitStep struct {
	For      Duration `yaml:"for"`
	Until    *Expect  `yaml:"until"`
	Timeout  Duration `yaml:"timeout"`
	Interval Duration `yaml:"interval"`
}

// Duration is a time.Duration written as Go writes one ("90s", "2h30m").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("cannot parse duration %q on line %d: want a positive Go duration such as 90s or 2h", n.Value, n.Line)
	}
	*d = Duration(v)
	return nil
}

// DeployStep deploys a charm.
type DeployStep struct {
	Model     string            `yaml:"model"`
	App       string            `yaml:"app"`
	Charm     string            `yaml:"charm"`
	Units     int               `yaml:"units"`
	Config    map[string]any    `yaml:"config"`
	Resources map[string]string `yaml:"resources"`
	Trust     bool              `yaml:"trust"`
}

// RelationStep names a relation by its two ends.
type RelationStep struct {
	Model string `yaml:"model"`
	A     string `yaml:"a"`
	B     string `yaml:"b"`
}

// OfferStep offers an endpoint.
type OfferStep struct {
	Model    string `yaml:"model"`
	App      string `yaml:"app"`
	Endpoint string `yaml:"endpoint"`
	Name     string `yaml:"name"`
}

// ConsumeStep consumes an offer of model From into Model under Alias.
type ConsumeStep struct {
	Model string `yaml:"model"`
	From  string `yaml:"from"`
	Offer string `yaml:"offer"`
	Alias string `yaml:"alias"`
}

// ConfigStep sets application config.
type ConfigStep struct {
	Model  string         `yaml:"model"`
	App    string         `yaml:"app"`
	Values map[string]any `yaml:"values"`
}

// ScaleStep scales (or removes) an application.
type ScaleStep struct {
	Model string `yaml:"model"`
	App   string `yaml:"app"`
	Units int    `yaml:"units"`
}

// TrustStep grants or revokes trust.
type TrustStep struct {
	Model string `yaml:"model"`
	App   string `yaml:"app"`
	Trust bool   `yaml:"trust"`
}

// UnitStep names a unit.
type UnitStep struct {
	Model string `yaml:"model"`
	Unit  string `yaml:"unit"`
}

// SettleStep runs hooks until nothing is pending.
type SettleStep struct {
	ExpectError string `yaml:"expect-error"`
}

// InjectStep kills a hook after N tool calls.
type InjectStep struct {
	Model string `yaml:"model"`
	Unit  string `yaml:"unit"`
	Hook  string `yaml:"hook"`
	After int    `yaml:"after"`
}

// ResolveStep resolves a unit in error.
type ResolveStep struct {
	Model string `yaml:"model"`
	Unit  string `yaml:"unit"`
	Retry *bool  `yaml:"retry"`
}

// ActionStep runs an action.
type ActionStep struct {
	Model  string         `yaml:"model"`
	Unit   string         `yaml:"unit"`
	Name   string         `yaml:"name"`
	Params map[string]any `yaml:"params"`
	Expect *struct {
		Status         string            `yaml:"status"`
		Message        string            `yaml:"message"`
		ResultsContain map[string]string `yaml:"results-contain"`
	} `yaml:"expect"`
	// SaveAs stores the results as JSON; SaveResult stores one result key instead.
	SaveAs     string `yaml:"save-as"`
	SaveResult string `yaml:"save-result"`
	// Handshake, when set, lists the action in the summary's handshakes under this label (an action that makes
	// a request from the charm container); Trusting is what the summary says it trusts (default: the charm
	// container's trust store).
	Handshake string `yaml:"handshake"`
	Trusting  string `yaml:"trusting"`
}

// ExecStep runs a command in a workload container through Pebble.
type ExecStep struct {
	Model     string `yaml:"model"`
	Unit      string `yaml:"unit"`
	Container string `yaml:"container"`
	// Command is a string (run by /bin/sh -c) or a list. "{{address <model> <unit>}}" in it becomes that unit's
	// address (a unit of another model, which the container's hosts file does not list, as a name outside the
	// cluster DNS that the caller resolves itself).
	Command any `yaml:"command"`
	// Timeout is how long the command may run before Pebble kills it (default 1m); a killed command's exit is -1.
	Timeout Duration `yaml:"timeout"`
	Expect  *struct {
		Exit           *int   `yaml:"exit"`
		StdoutContains string `yaml:"stdout-contains"`
	} `yaml:"expect"`
	SaveAs string `yaml:"save-as"`
	// Handshake, when set, lists the exec in the summary's handshakes under this label.
	Handshake string `yaml:"handshake"`
	// Trusting is what the summary says the command trusts (default: its container's trust store).
	Trusting string `yaml:"trusting"`
}

// HTTPGetStep fetches http://<unit address>:<port><path> from the host.
type HTTPGetStep struct {
	Model        string `yaml:"model"`
	Unit         string `yaml:"unit"`
	Host         string `yaml:"host"` // default: the unit's address
	Port         int    `yaml:"port"`
	Scheme       string `yaml:"scheme"`      // http (default) or https
	CA           string `yaml:"ca"`          // https: trust this saved value (PEM) instead of the host's roots
	ServerName   string `yaml:"server-name"` // https: name to verify (default: the unit's FQDN)
	Insecure     bool   `yaml:"insecure"`    // https: skip verification
	Path         string `yaml:"path"`
	ExpectStatus int    `yaml:"expect-status"`
	BodyContains string `yaml:"body-contains"`
	SaveAs       string `yaml:"save-as"`
	Handshake    string `yaml:"handshake"` // https: the label of the handshake in the summary (default: the URL)
	// ExpectError: the request must fail with an error containing this (a handshake that must be refused).
	ExpectError string `yaml:"expect-error"`
}

// Expect holds assertions on the model.
type Expect struct {
	Model        string              `yaml:"model"`
	Status       map[string]string   `yaml:"status"`
	AgentStatus  map[string]string   `yaml:"agent-status"`
	Leader       map[string]string   `yaml:"leader"`
	RelationData []RelationDataCheck `yaml:"relation-data"`
	Hooks        map[string][]string `yaml:"hooks"`
}

// RelationDataCheck asserts on one databag.
type RelationDataCheck struct {
	Relation string            `yaml:"relation"` // "app:endpoint"
	App      string            `yaml:"app"`
	Unit     string            `yaml:"unit"`
	Contains map[string]string `yaml:"contains"`
	Absent   []string          `yaml:"absent"`
}

// Load reads a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load scenario: %w", err)
	}
	var sc Scenario
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("cannot load scenario %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("cannot load scenario: %w", err)
	}
	sc.dir = abs
	if sc.Steps, err = expand(sc.Steps, abs, 0); err != nil {
		return nil, fmt.Errorf("cannot load scenario %s: %w", path, err)
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return &sc, nil
}

// expand replaces each include step by the steps of its file, recursively, and marks every step with the
// directory of the file it came from.
func expand(steps []Step, dir string, depth int) ([]Step, error) {
	var out []Step
	for _, st := range steps {
		st.dir = dir
		if st.Include == "" {
			out = append(out, st)
			continue
		}
		if depth >= maxIncludeDepth {
			return nil, fmt.Errorf("cannot include %s: more than %d nested includes", st.Include, maxIncludeDepth)
		}
		file := st.Include
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("cannot include: %w", err)
		}
		var inc struct {
			Steps []Step `yaml:"steps"`
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&inc); err != nil {
			return nil, fmt.Errorf("cannot include %s: %w", file, err)
		}
		sub, err := expand(inc.Steps, filepath.Dir(file), depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// Options configures Run.
type Options struct {
	Dir    string    // work dir (models, units, containers)
	BinDir string    // shared bin dir for jujuc/pebble/nsexec
	Out    io.Writer // transcript
}

// Result is the outcome of a run.
type Result struct {
	Passed, Failed int
	Failures       []string // what each failed expectation or step said
	State          *sim.State
	Duration       time.Duration
	// Certificates and Handshakes are the rows of the final tables.
	Certificates []CertificateRow
	Handshakes   []HandshakeRow
}

// CertificateRow is one certificate a `certificate` step recorded, as the summary verified it.
type CertificateRow struct {
	Holder, Mode, Names, Issuer, Root string
	// Verified is openssl verify's verdict ("OK ..." when it verified the certificate up to Root).
	Verified string
	OK       bool
}

// HandshakeRow is one handshake the scenario made.
type HandshakeRow struct {
	From, To, Trusting, Result string
	// OK: it went as expected; ExpectFail: it was expected to be refused.
	OK, ExpectFail bool
}

type runner struct {
	sc    *Scenario
	s     *sim.Sim
	out   io.Writer
	model string
	saved map[string]string
	res   *Result
	ctx   context.Context
	dir   string // of the step being run
	sum   summary
}

// Run runs a scenario. It returns an error only when the scenario cannot run (a step fails to
// apply); failed expectations are counted in Result.Failed.
func Run(ctx context.Context, sc *Scenario, o *Options) (*Result, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	s, err := sim.New(&sim.Options{Dir: o.Dir, BinDir: o.BinDir, Log: out, NoContainers: sc.Containers != nil && !*sc.Containers})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r := &runner{sc: sc, s: s, out: out, saved: map[string]string{}, res: &Result{}, ctx: ctx}
	fmt.Fprintf(out, "scenario %s\n", sc.Name)
	var runErr error
	for i, st := range sc.Steps {
		r.dir = st.dir
		if err := r.step(i+1, &st); err != nil {
			runErr = fmt.Errorf("cannot run step %d: %w", i+1, err)
			fmt.Fprintf(out, "✗ step %d: %v\n", i+1, err)
			r.res.Failed++
			r.res.Failures = append(r.res.Failures, fmt.Sprintf("step %d: %v", i+1, err))
			break
		}
	}
	if runErr == nil {
		r.summarize()
	}
	r.res.State = s.State()
	r.res.Duration = time.Since(start)
	fmt.Fprintf(out, "%d expectations passed, %d failed in %v\n", r.res.Passed, r.res.Failed, r.res.Duration.Round(time.Millisecond))
	return r.res, runErr
}

// result is one evaluated expectation.
type result struct {
	ok  bool
	msg string
}

func (r *runner) record(rs []result) {
	for _, x := range rs {
		r.check(x.ok, "%s", x.msg)
	}
}

func (r *runner) check(ok bool, format string, args ...any) {
	mark := "✓"
	if ok {
		r.res.Passed++
	} else {
		mark = "✗"
		r.res.Failed++
		r.res.Failures = append(r.res.Failures, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(r.out, "%s %s\n", mark, short(fmt.Sprintf(format, args...)))
}

// maxLine is where transcript lines are cut: a certificate or an action's JSON results make lines of kilobytes.
const maxLine = 200

// short cuts s to maxLine characters, on a rune boundary, saying how much it left out.
func short(s string) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) <= maxLine {
		return s
	}
	cut := maxLine
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}

func (r *runner) modelNamed(name string) (*sim.Model, error) {
	if name == "" {
		name = r.model
	}
	m := r.s.Model(name)
	if m == nil {
		return nil, fmt.Errorf("model %q not found", name)
	}
	return m, nil
}

func (r *runner) unit(model, name string) (*sim.Unit, error) {
	m, err := r.modelNamed(model)
	if err != nil {
		return nil, err
	}
	u := m.Unit(name)
	if u == nil {
		return nil, fmt.Errorf("unit %q not found in model %q", name, m.Name())
	}
	return u, nil
}

func (r *runner) app(model, name string) (*sim.App, error) {
	m, err := r.modelNamed(model)
	if err != nil {
		return nil, err
	}
	a := m.App(name)
	if a == nil {
		return nil, fmt.Errorf("application %q not found in model %q", name, m.Name())
	}
	return a, nil
}

func (r *runner) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	dir := r.dir
	if dir == "" {
		dir = r.sc.dir
	}
	return filepath.Join(dir, p)
}

// settleQuietly settles before reading state; units in error are reported by expectations.
func (r *runner) settleQuietly() {
	if err := r.s.Settle(r.ctx); err != nil {
		fmt.Fprintf(r.out, "  (settle: %v)\n", err)
	}
}

func (r *runner) step(n int, st *Step) error {
	switch {
	case st.Deploy != nil:
		d := st.Deploy
		m, err := r.modelNamed(d.Model)
		if err != nil {
			return err
		}
		res := map[string]string{}
		for k, v := range d.Resources {
			res[k] = r.path(v)
		}
		fmt.Fprintf(r.out, "--- deploy %s (%s) units=%d\n", d.App, d.Charm, max(d.Units, 1))
		_, err = m.Deploy(d.App, r.path(d.Charm), &sim.DeployOptions{Units: d.Units, Config: d.Config, Resources: res, Trust: d.Trust})
		return err
	case st.Integrate != nil:
		m, err := r.modelNamed(st.Integrate.Model)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- integrate %s %s\n", st.Integrate.A, st.Integrate.B)
		_, err = m.Integrate(st.Integrate.A, st.Integrate.B)
		return err
	case st.Offer != nil:
		m, err := r.modelNamed(st.Offer.Model)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- offer %s:%s as %s\n", st.Offer.App, st.Offer.Endpoint, st.Offer.Name)
		return m.Offer(st.Offer.App, st.Offer.Endpoint, st.Offer.Name)
	case st.Consume != nil:
		c := st.Consume
		m, err := r.modelNamed(c.Model)
		if err != nil {
			return err
		}
		from, err := r.modelNamed(c.From)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- consume %s.%s as %s in %s\n", c.From, c.Offer, c.Alias, m.Name())
		return m.Consume(from, c.Offer, c.Alias)
	case st.Config != nil:
		a, err := r.app(st.Config.Model, st.Config.App)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- %s\n", short(fmt.Sprintf("config %s %v", st.Config.App, st.Config.Values)))
		return a.SetConfig(st.Config.Values)
	case st.Scale != nil:
		a, err := r.app(st.Scale.Model, st.Scale.App)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- scale %s to %d\n", st.Scale.App, st.Scale.Units)
		return a.Scale(st.Scale.Units)
	case st.Leader != nil:
		m, err := r.modelNamed(st.Leader.Model)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- leader %s\n", st.Leader.Unit)
		return m.SetLeader(st.Leader.Unit)
	case st.RemoveRelation != nil:
		return r.removeRelation(st.RemoveRelation)
	case st.RemoveApp != nil:
		m, err := r.modelNamed(st.RemoveApp.Model)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- remove-application %s\n", st.RemoveApp.App)
		return m.RemoveApp(st.RemoveApp.App)
	case st.Settle != nil:
		fmt.Fprintf(r.out, "--- settle\n")
		err := r.s.Settle(r.ctx)
		switch {
		case st.Settle.ExpectError != "":
			r.check(err != nil && strings.Contains(err.Error(), st.Settle.ExpectError), "settle fails with %q (got %v)", st.Settle.ExpectError, err)
		case err != nil:
			r.check(false, "settle: %v", err)
		}
		return nil
	case st.UpdateStatus != nil:
		fmt.Fprintf(r.out, "--- update-status\n")
		r.s.UpdateStatus()
		return nil
	case st.InjectFailure != nil:
		f := st.InjectFailure
		fmt.Fprintf(r.out, "--- inject failure: kill %s %s after %d tool calls\n", f.Unit, f.Hook, f.After)
		r.s.InjectFailure(f.Unit, f.Hook, f.After)
		return nil
	case st.Resolve != nil:
		u, err := r.unit(st.Resolve.Model, st.Resolve.Unit)
		if err != nil {
			return err
		}
		retry := st.Resolve.Retry == nil || *st.Resolve.Retry
		fmt.Fprintf(r.out, "--- resolve %s retry=%v\n", st.Resolve.Unit, retry)
		return u.Resolve(retry)
	case st.Action != nil:
		return r.action(st.Action)
	case st.Exec != nil:
		return r.exec(st.Exec)
	case st.HTTPGet != nil:
		return r.httpGet(st.HTTPGet)
	case st.Refresh != nil:
		a, err := r.app(st.Refresh.Model, st.Refresh.App)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- refresh %s to %s\n", st.Refresh.App, st.Refresh.Charm)
		return a.Refresh(r.path(st.Refresh.Charm))
	case st.Churn != nil:
		u, err := r.unit(st.Churn.Model, st.Churn.Unit)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- pod churn %s\n", st.Churn.Unit)
		u.ChurnPod()
		return nil
	case st.RestartCont != nil:
		u, err := r.unit(st.RestartCont.Model, st.RestartCont.Unit)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- restart container %s/%s\n", st.RestartCont.Unit, st.RestartCont.Container)
		return u.RestartContainer(st.RestartCont.Container)
	case st.Trust != nil:
		a, err := r.app(st.Trust.Model, st.Trust.App)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- trust %s %v\n", st.Trust.App, st.Trust.Trust)
		a.SetTrust(st.Trust.Trust)
		return nil
	case st.Same != nil:
		var vals []string
		for _, k := range st.Same {
			v, ok := r.saved[k]
			if !ok {
				return fmt.Errorf("nothing saved as %q", k)
			}
			vals = append(vals, v)
		}
		same := true
		for _, v := range vals[1:] {
			same = same && v == vals[0]
		}
		r.check(same, "same %v", st.Same)
		return nil
	case st.Expect != nil:
		rs, err := r.evalExpect(st.Expect)
		r.record(rs)
		return err
	case st.AdvanceClock != nil:
		// Juju's secretexpire worker (worker/secretexpire, Worker.expire) sends each owner the revisions whose
		// expiry time has come, and the uniter runs secret-expired with JUJU_SECRET_REVISION for each
		// (worker/uniter/secrets); the simulator has no timers, so this step is the clock moving on and the
		// timers due by then firing (sim.Advance).
		at, err := r.s.Advance(time.Duration(st.AdvanceClock.By))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.out, "--- advance clock by %v to %s\n", time.Duration(st.AdvanceClock.By), at.UTC().Format(time.RFC3339))
		return nil
	case st.Wait != nil:
		return r.wait(st.Wait)
	case st.Certificate != nil:
		return r.certificate(st.Certificate)
	case st.Model != "":
		r.model = st.Model
		if r.s.Model(st.Model) != nil {
			return nil
		}
		fmt.Fprintf(r.out, "--- add-model %s\n", st.Model)
		_, err := r.s.AddModel(st.Model)
		return err
	}
	return fmt.Errorf("step %d: empty or unknown step", n)
}

func (r *runner) removeRelation(rs *RelationStep) error {
	m, err := r.modelNamed(rs.Model)
	if err != nil {
		return err
	}
	want := []string{rs.A, rs.B}
	for _, rel := range m.Relations() {
		eps := rel.Endpoints()
		if matchEnds(eps, want) {
			fmt.Fprintf(r.out, "--- remove-relation %s %s\n", rs.A, rs.B)
			return m.RemoveRelation(rel)
		}
	}
	return fmt.Errorf("relation %s %s not found", rs.A, rs.B)
}

// matchEnds matches "app" or "app:ep" specs against a relation's real "app:ep" ends.
func matchEnds(eps, want []string) bool {
	if len(eps) != 2 {
		return false
	}
	m := func(ep, spec string) bool { return ep == spec || strings.HasPrefix(ep, spec+":") }
	return (m(eps[0], want[0]) && m(eps[1], want[1])) || (m(eps[0], want[1]) && m(eps[1], want[0]))
}

func (r *runner) action(a *ActionStep) error {
	u, err := r.unit(a.Model, a.Unit)
	if err != nil {
		return err
	}
	params := map[string]any{}
	for k, v := range a.Params {
		if str, ok := v.(string); ok {
			if v, err = r.addresses(str); err != nil {
				return err
			}
		}
		params[k] = v
	}
	fmt.Fprintf(r.out, "--- %s\n", short(fmt.Sprintf("action %s on %s %v", a.Name, a.Unit, params)))
	res, err := u.RunActionContext(r.ctx, a.Name, params)
	if res == nil {
		return err
	}
	if err != nil {
		fmt.Fprintf(r.out, "  (settle: %v)\n", err)
	}
	want, ok := "completed", true
	if a.Expect != nil {
		if a.Expect.Status != "" {
			want = a.Expect.Status
		}
		ok = res.Status == want
		r.check(ok, "action %s on %s: status %s (want %s) %s", a.Name, a.Unit, res.Status, want, res.Message)
		if a.Expect.Message != "" {
			found := strings.HasPrefix(res.Message, a.Expect.Message)
			ok = ok && found
			r.check(found, "action %s message %q starts with %q", a.Name, res.Message, a.Expect.Message)
		}
		for _, k := range sortedKeys(a.Expect.ResultsContain) {
			got := lookup(res.Results, k)
			found := strings.Contains(got, a.Expect.ResultsContain[k])
			ok = ok && found
			r.check(found, "action %s result %s=%q contains %q", a.Name, k, got, a.Expect.ResultsContain[k])
		}
	}
	if a.Handshake != "" {
		result := res.Status
		if line := lastLine(res.Message); line != "" {
			result += ": " + line
		} else if a.Expect != nil && len(a.Expect.ResultsContain) > 0 && ok {
			var found []string
			for _, k := range sortedKeys(a.Expect.ResultsContain) {
				found = append(found, a.Expect.ResultsContain[k])
			}
			result += ": " + strings.Join(found, ", ")
		}
		trusting := a.Trusting
		if trusting == "" {
			trusting = "charm container's trust store"
		}
		r.sum.handshakes = append(r.sum.handshakes, handshake{from: a.Unit + " (charm)", to: a.Handshake, trusting: trusting, result: result, ok: ok, expectFail: want != "completed"})
	}
	if a.SaveAs != "" {
		if a.SaveResult != "" {
			r.saved[a.SaveAs] = lookup(res.Results, a.SaveResult)
		} else {
			b, _ := json.Marshal(res.Results)
			r.saved[a.SaveAs] = string(b)
		}
	}
	return nil
}

var addressRE = regexp.MustCompile(`\{\{address ([^ }]+) ([^ }]+)\}\}`)

// addresses replaces each "{{address <model> <unit>}}" in s by that unit's address.
func (r *runner) addresses(s string) (string, error) {
	var err error
	out := addressRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := addressRE.FindStringSubmatch(m)
		u, e := r.unit(sub[1], sub[2])
		if e != nil {
			err = e
			return m
		}
		return u.Address()
	})
	return out, err
}

// lookup reads a dotted key from nested results.
func lookup(m map[string]any, key string) string {
	var cur any = m
	for _, p := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	if cur == nil {
		return ""
	}
	if s, ok := cur.(string); ok {
		return s
	}
	b, _ := json.Marshal(cur)
	return string(b)
}

func (r *runner) exec(e *ExecStep) error {
	r.settleQuietly()
	u, err := r.unit(e.Model, e.Unit)
	if err != nil {
		return err
	}
	c := u.Container(e.Container)
	if c == nil {
		return fmt.Errorf("unit %s has no running container %q", e.Unit, e.Container)
	}
	var argv []string
	switch cmd := e.Command.(type) {
	case string:
		if cmd, err = r.addresses(cmd); err != nil {
			return err
		}
		argv = []string{"/bin/sh", "-c", cmd}
	case []any:
		for _, a := range cmd {
			arg, err := r.addresses(fmt.Sprint(a))
			if err != nil {
				return err
			}
			argv = append(argv, arg)
		}
	default:
		return fmt.Errorf("exec: command must be a string or a list")
	}
	timeout := time.Minute
	if e.Timeout > 0 {
		timeout = time.Duration(e.Timeout)
	}
	stdout, stderr, err := c.Exec(timeout, argv...)
	code := 0
	if err != nil {
		code = -1
		if ee := exitCode(err); ee >= 0 {
			code = ee
		} else if stderr == "" {
			stderr = err.Error() // not run, or killed at the timeout: say why
		}
	}
	fmt.Fprintf(r.out, "--- %s\n", short(fmt.Sprintf("exec %s/%s %q: exit %d", e.Unit, e.Container, argv, code)))
	want := 0
	if e.Expect != nil && e.Expect.Exit != nil {
		want = *e.Expect.Exit
	}
	what := fmt.Sprintf("%q", argv)
	if e.Handshake != "" {
		what = e.Handshake
	}
	ok := code == want
	r.check(ok, "exec %s exit %d (want %d) %s", what, code, want, strings.TrimSpace(stderr))
	if e.Expect != nil && e.Expect.StdoutContains != "" {
		found := strings.Contains(stdout, e.Expect.StdoutContains)
		ok = ok && found
		r.check(found, "exec %s stdout contains %q", what, e.Expect.StdoutContains)
	}
	if e.Handshake != "" {
		result := fmt.Sprintf("exit %d", code)
		out := stdout
		if code != 0 {
			out = stderr
		}
		line := lastLine(out)
		if code == 0 && e.Expect != nil && e.Expect.StdoutContains != "" && strings.Contains(stdout, e.Expect.StdoutContains) {
			line = e.Expect.StdoutContains // what the step looked for, rather than a trailer such as openssl's "closed"
		}
		if line != "" {
			result += ": " + line
		}
		r.sum.handshakes = append(r.sum.handshakes, handshake{from: e.Unit, to: e.Handshake, trusting: e.Trusting, result: result, ok: ok, expectFail: want != 0})
	}
	if e.SaveAs != "" {
		r.saved[e.SaveAs] = stdout
	}
	return nil
}

func (r *runner) httpGet(h *HTTPGetStep) error {
	r.settleQuietly()
	host, serverName := h.Host, h.ServerName
	if host == "" {
		u, err := r.unit(h.Model, h.Unit)
		if err != nil {
			return err
		}
		host = u.Address()
		if serverName == "" {
			serverName = u.FQDN()
		}
	}
	scheme := h.Scheme
	if scheme == "" {
		scheme = "http"
	}
	url := fmt.Sprintf("%s://%s:%d%s", scheme, host, h.Port, h.Path)
	hs := handshake{from: "client", to: fmt.Sprintf("https://%s:%d%s", serverName, h.Port, h.Path), trusting: h.CA}
	if h.Handshake != "" {
		hs.to = h.Handshake
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	if scheme == "https" {
		cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: h.Insecure}
		if h.CA != "" {
			pem, ok := r.saved[h.CA]
			if !ok {
				return fmt.Errorf("nothing saved as %q", h.CA)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(pem)) {
				return fmt.Errorf("saved value %q holds no PEM certificate", h.CA)
			}
			cfg.RootCAs = pool
		}
		cl.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	var resp *http.Response
	var err error
	// The workload may still be starting its server: retry connection errors briefly (until the expected error).
	for i := 0; i < 20; i++ {
		if resp, err = cl.Get(url); err == nil || (h.ExpectError != "" && strings.Contains(err.Error(), h.ExpectError)) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if h.ExpectError != "" {
		failed := err != nil && strings.Contains(err.Error(), h.ExpectError)
		got := "no error"
		if err != nil {
			got = err.Error()
		} else {
			resp.Body.Close()
		}
		r.check(failed, "GET %s fails with %q (got %s)", url, h.ExpectError, got)
		if scheme == "https" {
			hs.trusting = h.CA
			if hs.trusting == "" {
				hs.trusting = "host roots"
			}
			r.sum.handshakes = append(r.sum.handshakes, handshake{from: "client", to: hs.to, trusting: hs.trusting, result: got, ok: failed, expectFail: true})
		}
		return nil
	}
	if hs.trusting == "" {
		hs.trusting = "host roots"
		if h.Insecure {
			hs.trusting = "nothing (insecure)"
		}
	}
	if err != nil {
		r.check(false, "GET %s: %v", url, err)
		if scheme == "https" {
			hs.result = err.Error()
			r.sum.handshakes = append(r.sum.handshakes, hs)
		}
		return nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := h.ExpectStatus
	if want == 0 {
		want = 200
	}
	hs.ok = resp.StatusCode == want
	r.check(hs.ok, "GET %s: %d (want %d)", url, resp.StatusCode, want)
	if h.BodyContains != "" {
		found := strings.Contains(string(body), h.BodyContains)
		hs.ok = hs.ok && found
		r.check(found, "GET %s body contains %q", url, h.BodyContains)
	}
	if scheme == "https" {
		hs.result = fmt.Sprintf("%d %s", resp.StatusCode, lastLine(string(body)))
		if b := resp.Header.Get("X-Backend"); b != "" {
			hs.result = fmt.Sprintf("%d via %s: %s", resp.StatusCode, b, lastLine(string(body)))
		}
		r.sum.handshakes = append(r.sum.handshakes, hs)
	}
	if h.SaveAs != "" {
		r.saved[h.SaveAs] = string(body)
	}
	return nil
}

// evalExpect settles, then evaluates e's expectations without recording them.
func (r *runner) evalExpect(e *Expect) ([]result, error) {
	r.settleQuietly()
	m, err := r.modelNamed(e.Model)
	if err != nil {
		return nil, err
	}
	var out []result
	check := func(ok bool, format string, args ...any) {
		out = append(out, result{ok: ok, msg: fmt.Sprintf(format, args...)})
	}
	for _, name := range sortedKeys(e.Status) {
		want := e.Status[name]
		var got sim.Status
		if strings.Contains(name, "/") {
			u := m.Unit(name)
			if u == nil {
				check(false, "status %s: unit not found", name)
				continue
			}
			got = u.Status()
		} else {
			a := m.App(name)
			if a == nil {
				check(false, "status %s: application not found", name)
				continue
			}
			got = a.Status()
		}
		check(statusMatches(got, want), "status %s = %q (want %q)", name, got.String(), want)
	}
	for _, name := range sortedKeys(e.AgentStatus) {
		u := m.Unit(name)
		if u == nil {
			check(false, "agent-status %s: unit not found", name)
			continue
		}
		got := u.AgentStatus()
		check(statusMatches(got, e.AgentStatus[name]), "agent-status %s = %q (want %q)", name, got.String(), e.AgentStatus[name])
	}
	for _, app := range sortedKeys(e.Leader) {
		a := m.App(app)
		got := ""
		if a != nil && a.Leader() != nil {
			got = a.Leader().Name()
		}
		check(got == e.Leader[app], "leader of %s = %q (want %q)", app, got, e.Leader[app])
	}
	for _, c := range e.RelationData {
		var rel *sim.Relation
		for _, x := range m.Relations() {
			for _, ep := range x.Endpoints() {
				if ep == c.Relation {
					rel = x
				}
			}
			if rel != nil {
				break
			}
		}
		if rel == nil {
			check(false, "relation %s not found", c.Relation)
			continue
		}
		var data map[string]string
		what := ""
		if c.Unit != "" {
			data, what = rel.UnitData(c.Unit), "unit "+c.Unit
		} else {
			data, what = rel.AppData(c.App), "app "+c.App
		}
		for _, k := range sortedKeys(c.Contains) {
			got, ok := data[k]
			check(ok && strings.Contains(got, c.Contains[k]), "relation %s %s: %s=%q contains %q", c.Relation, what, k, truncate(got), c.Contains[k])
		}
		for _, k := range c.Absent {
			_, ok := data[k]
			check(!ok, "relation %s %s: %s absent", c.Relation, what, k)
		}
	}
	for _, name := range sortedKeys(e.Hooks) {
		u := m.Unit(name)
		if u == nil {
			check(false, "hooks of %s: unit not found", name)
			continue
		}
		got := u.HookNames()
		check(isSubsequence(e.Hooks[name], got), "hooks of %s include %v in order", name, e.Hooks[name])
	}
	return out, nil
}

// wait sleeps for w.For, or polls w.Until (settling each time, as a real model keeps running hooks) until every
// expectation holds or w.Timeout passes; then the last evaluation is recorded.
func (r *runner) wait(w *WaitStep) error {
	if (w.For > 0) == (w.Until != nil) {
		return fmt.Errorf("wait: want exactly one of for and until")
	}
	if w.Until == nil {
		fmt.Fprintf(r.out, "--- wait %v\n", time.Duration(w.For))
		select {
		case <-time.After(time.Duration(w.For)):
			return nil
		case <-r.ctx.Done():
			return fmt.Errorf("wait: %w", r.ctx.Err())
		}
	}
	timeout, interval := time.Duration(w.Timeout), time.Duration(w.Interval)
	if timeout == 0 {
		timeout = time.Minute
	}
	if interval == 0 {
		interval = 250 * time.Millisecond
	}
	fmt.Fprintf(r.out, "--- wait up to %v until the expectations hold\n", timeout)
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		rs, err := r.evalExpect(w.Until)
		if err != nil {
			return err
		}
		failed := 0
		for _, x := range rs {
			if !x.ok {
				failed++
			}
		}
		if failed == 0 || time.Now().After(deadline) {
			if failed > 0 {
				fmt.Fprintf(r.out, "  (timed out after %v)\n", timeout)
			} else {
				fmt.Fprintf(r.out, "  (held after %v)\n", time.Since(start).Round(time.Millisecond))
			}
			r.record(rs)
			return nil
		}
		select {
		case <-time.After(interval):
		case <-r.ctx.Done():
			return fmt.Errorf("wait: %w", r.ctx.Err())
		}
	}
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

func statusMatches(got sim.Status, want string) bool {
	st, msg, hasMsg := strings.Cut(want, ":")
	if got.Status != strings.TrimSpace(st) {
		return false
	}
	return !hasMsg || strings.HasPrefix(got.Message, strings.TrimSpace(msg))
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		// A bare hook name also matches "<hook>(<remote unit>)".
		if i < len(want) && (g == want[i] || strings.HasPrefix(g, want[i]+"(")) {
			i++
		}
	}
	return i == len(want)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
