// Package integration runs tls-authority on a real Juju controller through github.com/juju/juju/api, the issue-19
// suite: tls-authority (3 units) with the reference requirer (tests/requirer) in UNIT and APP modes and handshakes
// from another pod; certificate_transfer both ways; a CA rotation under a handshake loop; the CA secret across a
// rotation, read by leader and non-leaders; the leader removed and scaled back; the multi-model reference
// architecture of SPEC §1 with intermediates; get-issued-certificates at 300 certificates. Each test adds its own
// models and has its own deadline. It is its own Go module (Juju's dependencies stay out of the root module).
//
// The client is the Juju of the controller tests/juju builds, 4.1-beta2 (github.com/juju/juju@570e41eadd7e), with
// Juju's replace lines (go.mod). The same client serves the GitHub workflow's Juju 3.6 controller on MicroK8s: no
// side checks the other's version at login (4.1 apiserver/admin.go login and stateauthenticator only record the
// client version; the client's api package only records the server's), every facade version this suite calls is
// served by both (Action 7, Application 19-22, ApplicationOffers 5, Charms 7, Client 8, ModelConfig 3,
// ModelManager 10, Resources 3), and the 4.1 client keeps compatibility paths for 3.6 controllers (modelmanager
// CreateModel below ModelManager v11).
//
// The tests skip, with one line naming the variables, unless these are set (see Env), in the environment or in the
// KEY=VALUE file TLS_AUTHORITY_ENV_FILE names (tests/juju writes one; its JUJU_DATA points at its client store):
//
//	TLS_AUTHORITY_CONTROLLER  a controller in the local Juju client store ($JUJU_DATA, else ~/.local/share/juju)
//	TLS_AUTHORITY_CHARM       the packed charm (charmcraft pack or make charm)
//	TLS_AUTHORITY_IMAGE       the authority-image: an OCI image reference the cluster has or can pull; its trust
//	                          store is read with cat (ca-certificates, as the rock has)
//	TLS_REQUIRER_CHARM        the packed reference requirer (make requirer)
//	TLS_REQUIRER_IMAGE        its server-image, with openssl, sh and coreutils (the handshakes from inside pods)
//
// With TLS_AUTHORITY_REQUIRE_CONTROLLER set (.ci/run), a test without them fails instead of skipping.
//
// The tests reach pod addresses directly (the agents' /ca.pem, HTTPS with the pki root): run them where those
// route, e.g. `ip netns exec <the cluster's namespace> go test` on tests/juju's controller. JUJU_MODEL, when set,
// prefixes the models the tests add (default "tls-it"); they are destroyed at the end unless
// TLS_AUTHORITY_KEEP_MODELS is set. TestIssuedCertificatesAtScale builds a charm in the repository's root module,
// so it needs the go command.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/juju/names/v6"

	"github.com/juju/juju/api"
	"github.com/juju/juju/api/client/action"
	"github.com/juju/juju/api/client/application"
	"github.com/juju/juju/api/client/applicationoffers"
	"github.com/juju/juju/api/client/charms"
	apiclient "github.com/juju/juju/api/client/client"
	"github.com/juju/juju/api/client/modelconfig"
	"github.com/juju/juju/api/client/modelmanager"
	"github.com/juju/juju/api/client/resources"
	commoncharm "github.com/juju/juju/api/common/charm"
	"github.com/juju/juju/api/jujuclient"
	"github.com/juju/juju/cmd/juju/application/deployer"
	"github.com/juju/juju/cmd/modelcmd"
	corebase "github.com/juju/juju/core/base"
	corecharm "github.com/juju/juju/core/charm"
	"github.com/juju/juju/core/crossmodel"
	"github.com/juju/juju/core/semversion"
	"github.com/juju/juju/domain/deployment/charm"
	"github.com/juju/juju/environs/config"
	"github.com/juju/juju/juju"
	"github.com/juju/juju/rpc/params"
)

// Env names what the tests deploy and where.
type Env struct {
	Controller    string
	Charm         string
	Image         string
	RequirerCharm string
	RequirerImage string
	ModelPrefix   string
	KeepModels    bool
}

// envVars are the variables every test needs, in Env's order.
var envVars = []string{"TLS_AUTHORITY_CONTROLLER", "TLS_AUTHORITY_CHARM", "TLS_AUTHORITY_IMAGE", "TLS_REQUIRER_CHARM", "TLS_REQUIRER_IMAGE"}

// envFileVar names a file of KEY=VALUE lines (tests/juju's env file) whose values stand in for unset variables.
const envFileVar = "TLS_AUTHORITY_ENV_FILE"

// envAliases are the names tests/juju's env file gives some variables.
var envAliases = map[string]string{
	"TLS_AUTHORITY_CONTROLLER": "JUJU_CONTROLLER",
	"TLS_AUTHORITY_IMAGE":      "TLSA_AUTHORITY_IMAGE",
	"TLS_REQUIRER_IMAGE":       "TLSA_REQUIRER_IMAGE",
}

// EnvFromOS reads Env from the environment, completed from the file TLS_AUTHORITY_ENV_FILE names when it is set
// (under the variables' names or tests/juju's, envAliases; the charms then default to make's build/ outputs);
// missing lists the required variables that are unset.
func EnvFromOS() (env *Env, missing []string, err error) {
	file := map[string]string{}
	if path := os.Getenv(envFileVar); path != "" {
		if file, err = readEnvFile(path); err != nil {
			return nil, nil, err
		}
	}
	get := func(name string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		if v := file[name]; v != "" {
			return v
		}
		if alias := envAliases[name]; alias != "" {
			return file[alias]
		}
		return ""
	}
	// The client store is the juju CLI's: JUJU_DATA from the env file points at tests/juju's.
	if d := file["JUJU_DATA"]; d != "" && os.Getenv("JUJU_DATA") == "" {
		os.Setenv("JUJU_DATA", d)
	}
	v := make([]string, len(envVars))
	for i, name := range envVars {
		if v[i] = get(name); v[i] == "" {
			missing = append(missing, name)
		}
	}
	// With an env file, the charms default to what make charm and make requirer build.
	if len(file) > 0 {
		for i, def := range map[int]string{1: "../../build/tls-authority_amd64.charm", 3: "../../build/tls-requirer_amd64.charm"} {
			if _, err := os.Stat(def); v[i] == "" && err == nil {
				v[i] = def
			}
		}
		missing = missing[:0]
		for i, name := range envVars {
			if v[i] == "" {
				missing = append(missing, name)
			}
		}
	}
	env = &Env{Controller: v[0], Charm: v[1], Image: v[2], RequirerCharm: v[3], RequirerImage: v[4],
		ModelPrefix: get("JUJU_MODEL"), KeepModels: get("TLS_AUTHORITY_KEEP_MODELS") != ""}
	if env.ModelPrefix == "" {
		env.ModelPrefix = "tls-it"
	}
	return env, missing, nil
}

// readEnvFile reads KEY=VALUE lines (an optional "export ", values optionally in single or double quotes); blank
// lines and # comments are skipped.
func readEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the env file %s: %w", path, err)
	}
	out := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("cannot read the env file %s: line %d is not KEY=VALUE", path, n+1)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// SkipMessage is the one line a test skips with when variables are missing.
func SkipMessage(missing []string) string {
	return fmt.Sprintf("no Juju controller: set %s or %s (missing %s)", strings.Join(envVars, ", "), envFileVar, strings.Join(missing, ", "))
}

// Controller is a connection to a controller of the local client store, as the juju CLI makes it.
type Controller struct {
	name    string
	store   jujuclient.ClientStore
	account *jujuclient.AccountDetails
	conn    api.Connection
}

// Dial connects to the named controller with the account the client store holds for it.
func Dial(ctx context.Context, name string) (*Controller, error) {
	store := jujuclient.NewFileClientStore()
	account, err := store.AccountDetails(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read the account of controller %s: %w", name, err)
	}
	conn, err := juju.NewAPIConnection(ctx, juju.NewAPIConnectionParams{
		ControllerName: name, ControllerStore: store, DialOpts: api.DefaultDialOpts(), AccountDetails: account,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to controller %s: %w", name, err)
	}
	return &Controller{name: name, store: store, account: account, conn: conn}, nil
}

// Close closes the controller connection.
func (c *Controller) Close() error { return c.conn.Close() }

// ServerVersion is the controller's version, as its login answered.
func (c *Controller) ServerVersion() string {
	if v, ok := c.conn.ServerVersion(); ok {
		return v.String()
	}
	return "unknown"
}

// Model is a connection to one model.
type Model struct {
	Name  string
	UUID  string
	Owner string
	ctrl  *Controller
	conn  api.Connection
}

// AddModel adds a model on the controller's default cloud and credential, and connects to it.
func (c *Controller) AddModel(ctx context.Context, name string) (*Model, error) {
	info, err := modelmanager.NewClient(c.conn).CreateModel(ctx, name, names.NewUserTag(c.account.User), "", "", names.CloudCredentialTag{}, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot add model %s: %w", name, err)
	}
	m := &Model{Name: name, UUID: info.UUID, Owner: c.account.User, ctrl: c}
	if err := m.dial(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// dial (re)connects to the model.
func (m *Model) dial(ctx context.Context) error {
	c := m.ctrl
	conn, err := juju.NewAPIConnection(ctx, juju.NewAPIConnectionParams{
		ControllerName: c.name, ControllerStore: c.store, DialOpts: api.DefaultDialOpts(), AccountDetails: c.account,
		ModelUUID: m.UUID,
	})
	if err != nil {
		return fmt.Errorf("cannot connect to model %s: %w", m.Name, err)
	}
	m.conn = conn
	return nil
}

// redialIfBroken reconnects when the model's connection broke. Seen on the controller here, under load: a
// model's connection shut down between two status reads ("connection is shutdown before send"), as the juju CLI
// would only notice on its next command, which dials anew.
func (m *Model) redialIfBroken(ctx context.Context) bool {
	if !m.conn.IsBroken(ctx) {
		return false
	}
	m.conn.Close()
	return m.dial(ctx) == nil
}

// Destroy destroys the model with its storage, waiting at most maxWait.
func (m *Model) Destroy(ctx context.Context, maxWait time.Duration) error {
	m.conn.Close()
	yes := true
	err := modelmanager.NewClient(m.ctrl.conn).DestroyModel(ctx, names.NewModelTag(m.UUID), &yes, &yes, &maxWait, &maxWait)
	if err != nil {
		return fmt.Errorf("cannot destroy model %s: %w", m.Name, err)
	}
	return nil
}

// Deploy deploys a local charm archive as the juju CLI does (cmd/juju/application/deployer: AddLocalCharm, the
// pending resources, then Deploy), with config values as strings and resources as OCI image references.
func (m *Model) Deploy(ctx context.Context, app, charmPath string, units int, cfg map[string]string, res map[string]string) error {
	ch, curl, origin, err := ReadLocalCharm(charmPath)
	if err != nil {
		return err
	}
	agentVersion, err := m.agentVersion(ctx)
	if err != nil {
		return err
	}
	local, err := charms.NewLocalCharmClient(m.conn)
	if err != nil {
		return fmt.Errorf("cannot deploy %s: %w", app, err)
	}
	if curl, err = local.AddLocalCharm(curl, ch, false, agentVersion); err != nil {
		return fmt.Errorf("cannot upload charm %s: %w", charmPath, err)
	}
	rev := curl.Revision
	origin.Revision = &rev
	ids, err := deployer.DeployResources(ctx, app, resources.CharmID{URL: curl.String(), Origin: origin}, res,
		ch.Meta().Resources, m.conn, (&modelcmd.FilesystemCommand{}).Filesystem())
	if err != nil {
		return fmt.Errorf("cannot upload the resources of %s: %w", app, err)
	}
	err = application.NewClient(m.conn).Deploy(ctx, application.DeployArgs{
		CharmID:         application.CharmID{URL: curl.String(), Origin: origin},
		CharmOrigin:     origin,
		ApplicationName: app,
		NumUnits:        units,
		Config:          cfg,
		Resources:       ids,
	})
	if err != nil {
		return fmt.Errorf("cannot deploy %s: %w", app, err)
	}
	return nil
}

// ReadLocalCharm reads a charm archive as the juju CLI does, with the origin the CLI gives a local charm
// (cmd/juju/application/utils MakeOrigin): local, and the base and architecture of the charm's manifest.
func ReadLocalCharm(path string) (charm.Charm, *charm.URL, commoncharm.Origin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, commoncharm.Origin{}, fmt.Errorf("cannot read charm %s: %w", path, err)
	}
	ch, curl, err := corecharm.NewCharmAtPath(abs)
	if err != nil {
		return nil, nil, commoncharm.Origin{}, fmt.Errorf("cannot read charm %s: %w", abs, err)
	}
	bases := ch.Manifest().Bases
	if len(bases) == 0 || len(bases[0].Architectures) == 0 {
		return nil, nil, commoncharm.Origin{}, fmt.Errorf("cannot read charm %s: its manifest names no base and architecture", abs)
	}
	base, err := corebase.ParseBase(bases[0].Name, bases[0].Channel.Track)
	if err != nil {
		return nil, nil, commoncharm.Origin{}, fmt.Errorf("cannot read charm %s: %w", abs, err)
	}
	return ch, curl, commoncharm.Origin{Source: commoncharm.OriginLocal, Base: base, Architecture: bases[0].Architectures[0]}, nil
}

// agentVersion is the model's agent version, which AddLocalCharm checks the charm's min-juju-version against.
func (m *Model) agentVersion(ctx context.Context) (semversion.Number, error) {
	attrs, err := modelconfig.NewClient(m.conn).ModelGet(ctx)
	if err != nil {
		return semversion.Zero, fmt.Errorf("cannot read the config of model %s: %w", m.Name, err)
	}
	cfg, err := config.New(config.NoDefaults, attrs)
	if err != nil {
		return semversion.Zero, fmt.Errorf("cannot read the config of model %s: %w", m.Name, err)
	}
	v, ok := cfg.AgentVersion()
	if !ok {
		return semversion.Zero, fmt.Errorf("cannot read the agent version of model %s", m.Name)
	}
	return v, nil
}

// SetConfig sets application config values.
func (m *Model) SetConfig(ctx context.Context, app string, values map[string]string) error {
	if err := application.NewClient(m.conn).SetConfig(ctx, app, "", values); err != nil {
		return fmt.Errorf("cannot configure %s: %w", app, err)
	}
	return nil
}

// Scale sets the number of units of a Kubernetes application.
func (m *Model) Scale(ctx context.Context, app string, n int) error {
	res, err := application.NewClient(m.conn).ScaleApplication(ctx, application.ScaleApplicationParams{ApplicationName: app, Scale: n})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("cannot scale %s to %d: %w", app, n, err)
	}
	return nil
}

// RemoveUnit removes one unit, as `juju remove-unit` does.
func (m *Model) RemoveUnit(ctx context.Context, unit string) error {
	res, err := application.NewClient(m.conn).DestroyUnits(ctx, application.DestroyUnitsParams{Units: []string{unit}})
	if err == nil && len(res) == 1 && res[0].Error != nil {
		err = res[0].Error
	}
	if err != nil {
		return fmt.Errorf("cannot remove %s: %w", unit, err)
	}
	return nil
}

// Integrate relates two endpoints ("app:endpoint").
func (m *Model) Integrate(ctx context.Context, a, b string) error {
	if _, err := application.NewClient(m.conn).AddRelation(ctx, []string{a, b}, nil); err != nil {
		return fmt.Errorf("cannot integrate %s and %s: %w", a, b, err)
	}
	return nil
}

// Offer offers an application's endpoint under a name, and returns the offer's URL.
func (m *Model) Offer(ctx context.Context, app, endpoint, name string) (string, error) {
	results, err := applicationoffers.NewClient(m.ctrl.conn).Offer(ctx, m.UUID, app, []string{endpoint}, m.Owner, name, "")
	if err == nil && len(results) == 1 && results[0].Error != nil {
		err = results[0].Error
	}
	if err != nil {
		return "", fmt.Errorf("cannot offer %s:%s: %w", app, endpoint, err)
	}
	return fmt.Sprintf("%s/%s.%s", m.Owner, m.Name, name), nil
}

// Consume adds the offer at url to this model under alias.
func (m *Model) Consume(ctx context.Context, url, alias string) error {
	details, err := applicationoffers.NewClient(m.ctrl.conn).GetConsumeDetails(ctx, url)
	if err != nil {
		return fmt.Errorf("cannot consume %s: %w", url, err)
	}
	if details.Offer == nil {
		return fmt.Errorf("cannot consume %s: the controller returned no offer", url)
	}
	_, err = application.NewClient(m.conn).Consume(ctx, crossmodel.ConsumeApplicationArgs{
		Offer: *details.Offer, Macaroon: details.Macaroon, ApplicationAlias: alias,
	})
	if err != nil {
		return fmt.Errorf("cannot consume %s: %w", url, err)
	}
	return nil
}

// Status is the model's full status.
func (m *Model) Status(ctx context.Context) (*params.FullStatus, error) {
	st, err := apiclient.NewClient(m.conn, nil).Status(ctx, &apiclient.StatusArgs{})
	if err != nil && m.redialIfBroken(ctx) {
		st, err = apiclient.NewClient(m.conn, nil).Status(ctx, &apiclient.StatusArgs{})
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the status of model %s: %w", m.Name, err)
	}
	return st, nil
}

// Units lists an application's units, sorted, with their status.
func (m *Model) Units(ctx context.Context, app string) (map[string]params.UnitStatus, []string, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return nil, nil, err
	}
	a, ok := st.Applications[app]
	if !ok {
		return nil, nil, fmt.Errorf("cannot find application %s in model %s", app, m.Name)
	}
	var unitNames []string
	for u := range a.Units {
		unitNames = append(unitNames, u)
	}
	sort.Strings(unitNames)
	return a.Units, unitNames, nil
}

// WaitActiveIdle waits until every unit of every application of the model is active with an idle agent, for at
// least two status reads in a row (a hook can start between them), and fails at once on a unit in error.
func (m *Model) WaitActiveIdle(ctx context.Context) error {
	return m.WaitFor(ctx, func(st *params.FullStatus) (bool, string) { return activeIdle(st) })
}

// WaitFor polls the model's status until ok holds for two reads in a row; a why starting "error:" fails at once.
func (m *Model) WaitFor(ctx context.Context, ok func(*params.FullStatus) (bool, string)) error {
	steady := 0
	var last string
	for {
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		good, why := ok(st)
		if strings.HasPrefix(why, "error:") {
			return fmt.Errorf("cannot settle model %s: %s", m.Name, why)
		}
		if good {
			if steady++; steady == 2 {
				return nil
			}
		} else {
			steady, last = 0, why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot settle model %s: %w (last: %s)", m.Name, ctx.Err(), last)
		case <-time.After(5 * time.Second):
		}
	}
}

// activeIdle says whether all units are active and idle, and if not, why: a unit in error anywhere first (one
// waiting unit must not hide another's failed hook), then the first unit not yet active and idle.
func activeIdle(st *params.FullStatus) (bool, string) {
	var apps []string
	for a := range st.Applications {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	why := ""
	for _, a := range apps {
		app := st.Applications[a]
		if len(app.Units) == 0 && why == "" {
			why = a + " has no units yet"
		}
		var units []string
		for u := range app.Units {
			units = append(units, u)
		}
		sort.Strings(units)
		for _, u := range units {
			us := app.Units[u]
			if us.WorkloadStatus.Status == "error" || us.AgentStatus.Status == "error" {
				return false, fmt.Sprintf("error: %s: %s %s", u, us.WorkloadStatus.Info, us.AgentStatus.Info)
			}
			if (us.WorkloadStatus.Status != "active" || us.AgentStatus.Status != "idle") && why == "" {
				why = fmt.Sprintf("%s is %s/%s: %s", u, us.WorkloadStatus.Status, us.AgentStatus.Status, us.WorkloadStatus.Info)
			}
		}
	}
	return why == "", why
}

// RunAction runs an action on a unit and waits for its result; an action that does not complete is an error.
func (m *Model) RunAction(ctx context.Context, unit, name string, args map[string]any) (map[string]any, error) {
	c := action.NewClient(m.conn)
	enq, err := c.EnqueueOperation(ctx, []action.Action{{Receiver: names.NewUnitTag(unit).String(), Name: name, Parameters: args}})
	if err != nil {
		return nil, fmt.Errorf("cannot run %s on %s: %w", name, unit, err)
	}
	res, err := m.wait(ctx, c, enq)
	if err != nil {
		return nil, fmt.Errorf("cannot run %s on %s: %w", name, unit, err)
	}
	if res.Status != "completed" {
		return res.Output, fmt.Errorf("cannot run %s on %s: %s: %s", name, unit, res.Status, res.Message)
	}
	return res.Output, nil
}

// Exec runs a shell command in a workload container of a unit, as `juju ssh --container` would: juju exec runs it
// in the unit's charm container, which reaches the workload's Pebble on its socket with the pebble binary Juju
// mounts at /charm/bin. An empty container runs the command in the charm container itself.
func (m *Model) Exec(ctx context.Context, unit, container, command string, timeout time.Duration) (code int, stdout, stderr string, err error) {
	c := action.NewClient(m.conn)
	script := command
	if container != "" {
		script = fmt.Sprintf("%s exec --timeout %s -- /bin/sh -c %s", pebbleCmd(container), timeout, shellQuote(command))
	}
	enq, err := c.Run(ctx, action.RunParams{Commands: script, Units: []string{unit}, Timeout: timeout + time.Minute})
	if err != nil {
		return 0, "", "", fmt.Errorf("cannot exec in %s/%s: %w", unit, container, err)
	}
	res, err := m.wait(ctx, c, enq)
	if err != nil {
		return 0, "", "", fmt.Errorf("cannot exec in %s/%s: %w", unit, container, err)
	}
	out := res.Output
	stdout, _ = out["stdout"].(string)
	stderr, _ = out["stderr"].(string)
	switch v := out["return-code"].(type) {
	case int:
		code = v
	case float64:
		code = int(v)
	case string: // the uniter stores action results as strings (runner/context UpdateActionResults)
		if code, err = strconv.Atoi(v); err != nil {
			return 0, stdout, stderr, fmt.Errorf("cannot read the exit code %q of the exec in %s/%s", v, unit, container)
		}
	case nil:
		code = 0 // juju exec leaves return-code out when it is 0
	default:
		return 0, stdout, stderr, fmt.Errorf("cannot read the exit code %v of the exec in %s/%s", v, unit, container)
	}
	return code, stdout, stderr, nil
}

// pebbleCmd is the pebble client of a workload container, run from the charm container.
func pebbleCmd(container string) string {
	return fmt.Sprintf("PEBBLE_SOCKET=/charm/containers/%s/pebble.socket /charm/bin/pebble", container)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// wait polls the one enqueued action until it ends.
func (m *Model) wait(ctx context.Context, c *action.Client, enq action.EnqueuedActions) (action.ActionResult, error) {
	if len(enq.Actions) != 1 || enq.Actions[0].Action == nil {
		return action.ActionResult{}, fmt.Errorf("enqueued %d actions, want 1", len(enq.Actions))
	}
	if err := enq.Actions[0].Error; err != nil {
		return action.ActionResult{}, err
	}
	id := enq.Actions[0].Action.ID
	for {
		results, err := c.Actions(ctx, []string{id})
		if err != nil {
			return action.ActionResult{}, err
		}
		if len(results) == 1 {
			r := results[0]
			if r.Error != nil {
				return r, r.Error
			}
			switch r.Status {
			case "completed", "failed", "cancelled", "error", "aborted":
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return action.ActionResult{}, fmt.Errorf("action %s: %w", id, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}
