package hooktool

import (
	"os"
	"strconv"
	"strings"
)

// Env is what Juju tells a hook through its environment.
type Env struct {
	HookName      string // JUJU_HOOK_NAME, empty for actions
	DispatchPath  string // JUJU_DISPATCH_PATH: hooks/<name> or actions/<name>
	UnitName      string // JUJU_UNIT_NAME
	ModelName     string
	ModelUUID     string
	CharmDir      string
	RelationName  string // JUJU_RELATION (endpoint)
	RelationID    string // JUJU_RELATION_ID, "ep:N"
	RemoteUnit    string
	RemoteApp     string
	DepartingUnit string
	ActionName    string
	SecretID      string
	SecretLabel   string
	// SecretRevision is JUJU_SECRET_REVISION, set on secret-expired and secret-remove; 0 when absent.
	SecretRevision int
	WorkloadName   string // JUJU_WORKLOAD_NAME for <container>-pebble-* hooks
	// ContainersDir holds <container>/pebble.socket: $SIM_CONTAINERS_DIR in the simulator, /charm/containers in Juju.
	ContainersDir string
}

// EnvFromOS reads the hook's environment.
func EnvFromOS() Env { return EnvFrom(os.Getenv) }

// EnvFrom reads the hook's environment through getenv, for tests.
func EnvFrom(getenv func(string) string) Env {
	e := Env{
		HookName:      getenv("JUJU_HOOK_NAME"),
		DispatchPath:  getenv("JUJU_DISPATCH_PATH"),
		UnitName:      getenv("JUJU_UNIT_NAME"),
		ModelName:     getenv("JUJU_MODEL_NAME"),
		ModelUUID:     getenv("JUJU_MODEL_UUID"),
		CharmDir:      getenv("JUJU_CHARM_DIR"),
		RelationName:  getenv("JUJU_RELATION"),
		RelationID:    getenv("JUJU_RELATION_ID"),
		RemoteUnit:    getenv("JUJU_REMOTE_UNIT"),
		RemoteApp:     getenv("JUJU_REMOTE_APP"),
		DepartingUnit: getenv("JUJU_DEPARTING_UNIT"),
		ActionName:    getenv("JUJU_ACTION_NAME"),
		SecretID:      getenv("JUJU_SECRET_ID"),
		SecretLabel:   getenv("JUJU_SECRET_LABEL"),
		WorkloadName:  getenv("JUJU_WORKLOAD_NAME"),
		// A malformed revision reads as none: the hook then has nothing to act on.
		SecretRevision: atoiOrZero(getenv("JUJU_SECRET_REVISION")),
		ContainersDir:  getenv("SIM_CONTAINERS_DIR"),
	}
	if e.ContainersDir == "" {
		e.ContainersDir = "/charm/containers"
	}
	// Juju before 2.8 ran hooks/<name> directly with no JUJU_DISPATCH_PATH; derive it so callers see one form.
	if e.DispatchPath == "" && e.HookName != "" {
		e.DispatchPath = "hooks/" + e.HookName
	}
	if e.HookName == "" && strings.HasPrefix(e.DispatchPath, "hooks/") {
		e.HookName = strings.TrimPrefix(e.DispatchPath, "hooks/")
	}
	if e.ActionName == "" && strings.HasPrefix(e.DispatchPath, "actions/") {
		e.ActionName = strings.TrimPrefix(e.DispatchPath, "actions/")
	}
	return e
}

// AppName is the unit's application: the part of the unit name before the slash.
func (e Env) AppName() string {
	app, _, _ := strings.Cut(e.UnitName, "/")
	return app
}

// IsAction tells whether this dispatch runs an action rather than a hook.
func (e Env) IsAction() bool { return e.ActionName != "" }

func atoiOrZero(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
