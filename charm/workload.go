package charm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/canonical/pebble/client"
	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/pebbleconn"
	"github.com/tls-authority/tls-authority/trust"
)

// The workload container and what the charm keeps in it.
const (
	Container    = "authority"
	DataDir      = "/var/lib/tls-authority"
	AgentBinary  = "/usr/local/bin/tls-authority-agent"
	AgentPort    = 8080
	manifestPath = DataDir + "/.manifest"
	trustPrefix  = "tls-authority-"
)

// AgentUID and AgentGID are the user and group the agent runs as: the rock's run-user, _daemon_ (rockcraft gives it
// uid and gid 584792). Pebble runs as root (Juju runs the container's entrypoint as root, which
// update-ca-certificates needs); the agent only listens on unprivileged ports and reads what the charm pushes, so it
// runs unprivileged. The layer names the ids, not the name: they need no /etc/passwd entry, so the same layer runs
// in the rock and in a container without that user (the simulator's).
const (
	AgentUID = 584792
	AgentGID = 584792
)

// Workload is what the authority container should hold: public files, and the unit's own serving key (never a CA
// key).
type Workload struct {
	Files map[string]string // name in DataDir -> content, 0644 owned by root: the agent reads them and cannot change them
	// Private are files only the agent reads (mode 0600, owned by AgentUID): the serving key of this unit
	// (serving.go).
	Private map[string]string
	Trust   map[string]string // trust-store name -> PEM bundle
	Host    string            // the pod's hostname, for the agent's health check
}

// agentLayer is the Pebble layer that runs the agent. Its health check asks the agent itself, on the address the
// pod's hostname resolves to, which is where the agent listens.
func (w *Workload) agentLayer() string {
	return fmt.Sprintf(`summary: tls-authority agent
description: Serves the CA bundle, chain, CRL and metrics of this authority.
services:
  agent:
    override: replace
    summary: tls-authority agent
    command: %s --dir %s --listen %s:%d --listen-tls %s:%d
    user-id: %d
    group-id: %d
    startup: enabled
    on-check-failure:
      agent-ready: ignore
checks:
  agent-alive:
    override: replace
    level: alive
    period: 10s
    threshold: 3
    tcp:
      host: %s
      port: %d
  agent-ready:
    override: replace
    level: ready
    period: 10s
    threshold: 3
    http:
      url: http://%s:%d/healthz
`, AgentBinary, DataDir, w.Host, AgentPort, w.Host, AgentTLSPort, AgentUID, AgentGID, w.Host, AgentPort, w.Host, AgentPort)
}

// manifest is a digest of each thing the charm put in the container: one line per file ("file <name> <sha256>",
// "private <name> <sha256>:<owner uid>") and one for the whole trust set ("trust <sha256>"). A private file's line
// names its owner, so a file an older charm pushed owned by root (the agent ran as root) is pushed again to the
// agent's user. One Pull of it tells a steady hook
// that nothing needs pushing, instead of pulling every file, and tells a hook that changed one file (the inventory
// after a signing) which one to push. A new pod's container is empty (no manifest, a Pebble without the layer), so
// its first hook that reaches the container pushes everything and adds the layer.
func (w *Workload) manifest() string {
	var lines []string
	for _, kind := range []struct {
		name  string
		files map[string]string
	}{{"file", w.Files}, {"private", w.Private}} {
		for _, k := range slices.Sorted(maps.Keys(kind.files)) {
			digest := fileDigest(kind.files[k])
			if kind.name == "private" {
				digest += fmt.Sprintf(":%d", AgentUID)
			}
			lines = append(lines, kind.name+" "+k+" "+digest)
		}
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(w.Trust)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", k, len(w.Trust[k]), w.Trust[k])
	}
	lines = append(lines, "trust "+hex.EncodeToString(h.Sum(nil)))
	return strings.Join(lines, "\n")
}

func fileDigest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// manifestLines splits a manifest into its lines, each a key ("file ca.pem", "trust") and its digest. An older
// charm's manifest (one digest of everything) has no such line: every file is then pushed again.
func manifestLines(m string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(m, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

// SyncResult says what a sync did.
type SyncResult struct {
	Pushed        bool     // files or trust changed
	Files         []string // the files pushed (their content changed)
	Removed       []string // the files removed (the charm no longer has them)
	TrustSynced   bool     // the trust set changed and was installed
	TrustUpdated  bool     // update-ca-certificates ran
	LayerReplaced bool
}

// ErrContainerNotReady is returned when the container's Pebble cannot be reached yet.
var ErrContainerNotReady = errors.New("workload container not ready")

// WorkloadState is what a hook reads of the container before it changes anything: the manifest of the files last
// pushed and the Pebble plan. Nothing the hook decides changes them, so the charm reads them while its first hook
// tools run.
type WorkloadState struct {
	manifest string // "" when there is none
	plan     []byte
	err      error
}

// ReadWorkload reads the container's state; an unreachable Pebble is an error wrapping ErrContainerNotReady.
func ReadWorkload(c *client.Client) *WorkloadState {
	st := &WorkloadState{}
	var have bytes.Buffer
	err := c.Pull(&client.PullOptions{Path: manifestPath, Target: &have})
	if err != nil && !isNotFound(err) {
		st.err = fmt.Errorf("%w: cannot pull %s: %w", ErrContainerNotReady, manifestPath, pebbleconn.Clarify(err))
		return st
	}
	if err == nil {
		st.manifest = strings.TrimSpace(have.String())
	}
	if st.plan, err = c.PlanBytes(nil); err != nil {
		st.err = fmt.Errorf("%w: cannot read the Pebble plan: %w", ErrContainerNotReady, pebbleconn.Clarify(err))
	}
	return st
}

// SyncWorkloadFrom makes the container hold w (files, trust store and the agent's layer), touching only what differs
// from st, its state as ReadWorkload read it earlier in the hook.
func SyncWorkloadFrom(c *client.Client, st *WorkloadState, w *Workload) (*SyncResult, error) {
	res, err := syncFiles(c, st, w)
	if err != nil {
		return nil, err
	}
	replaced, err := ensureLayer(c, st.plan, w.agentLayer())
	if err != nil {
		return nil, err
	}
	res.LayerReplaced = replaced
	return res, nil
}

// syncFiles pushes the files and trust set of w that differ from what the manifest st read says the container has,
// then the new manifest.
func syncFiles(c *client.Client, st *WorkloadState, w *Workload) (*SyncResult, error) {
	if st.err != nil {
		return nil, st.err
	}
	res := &SyncResult{}
	want := w.manifest()
	if st.manifest != want {
		have, wantLines := manifestLines(st.manifest), manifestLines(want)
		changed := func(kind string, files map[string]string) []string {
			var names []string
			for _, name := range slices.Sorted(maps.Keys(files)) {
				if key := kind + " " + name; have[key] != wantLines[key] {
					names = append(names, name)
				}
			}
			return names
		}
		// The private files first: the agent serves its previous key pair until a new key and certificate match.
		for _, name := range changed("private", w.Private) {
			if err := pushPrivate(c, path.Join(DataDir, name), w.Private[name]); err != nil {
				return nil, err
			}
		}
		// Then the files that changed, a few at once: each push is a round trip to Pebble.
		names := changed("file", w.Files)
		res.Files = names
		tasks := make([]func() error, len(names))
		for i, name := range names {
			tasks[i] = func() error { return push(c, path.Join(DataDir, name), w.Files[name]) }
		}
		if err := parallel(pushConcurrency, tasks); err != nil {
			return nil, err
		}
		// A file the charm wrote before and no longer has goes (the CRL of a CA that left the bundle), so the agent
		// stops serving it. Only the manifest's own lines name such files: an older manifest removes nothing.
		for _, key := range slices.Sorted(maps.Keys(have)) {
			kind, name, _ := strings.Cut(key, " ")
			if _, keep := wantLines[key]; keep || (kind != "file" && kind != "private") {
				continue
			}
			if err := c.RemovePath(&client.RemovePathOptions{Path: path.Join(DataDir, name)}); err != nil && !isNotFound(err) {
				return nil, fmt.Errorf("cannot remove %s: %w", path.Join(DataDir, name), pebbleconn.Clarify(err))
			}
			res.Removed = append(res.Removed, name)
		}
		if have["trust"] != wantLines["trust"] {
			inst := &trust.Installer{Client: c, Prefix: trustPrefix}
			ran, err := inst.Sync(w.Trust)
			if err != nil {
				return nil, fmt.Errorf("cannot install CAs in the %s container: %w", Container, err)
			}
			res.TrustSynced, res.TrustUpdated = true, ran
		}
		// The manifest goes last: a hook killed before this point pushes what differs again next time.
		if err := push(c, manifestPath, want); err != nil {
			return nil, err
		}
		res.Pushed = true
	}
	return res, nil
}

// pushConcurrency is how many files a hook pushes to Pebble at once.
const pushConcurrency = 4

func push(c *client.Client, p, content string) error {
	return pushOpts(&client.PushOptions{Source: strings.NewReader(content), Path: p, MakeDirs: true, Permissions: 0o644}, c)
}

// pushPrivate pushes a file only the agent reads: 0600, owned by the agent's user.
func pushPrivate(c *client.Client, p, content string) error {
	uid, gid := AgentUID, AgentGID
	return pushOpts(&client.PushOptions{Source: strings.NewReader(content), Path: p, MakeDirs: true, Permissions: 0o600,
		UserID: &uid, GroupID: &gid}, c)
}

func pushOpts(o *client.PushOptions, c *client.Client) error {
	p := o.Path
	if err := c.Push(o); err != nil {
		return fmt.Errorf("cannot push %s: %w", p, pebbleconn.Clarify(err))
	}
	return nil
}

func isNotFound(err error) bool {
	var pe *client.Error
	return errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound
}

type planServices struct {
	Services map[string]planService `yaml:"services"`
	Checks   map[string]yaml.Node   `yaml:"checks"`
}

// planService is what ensureLayer compares of a service: a change to any of it is a new layer to replan.
type planService struct {
	Command string `yaml:"command"`
	UserID  *int   `yaml:"user-id"`
	GroupID *int   `yaml:"group-id"`
}

func (s planService) same(o planService) bool {
	eq := func(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	return s.Command == o.Command && eq(s.UserID, o.UserID) && eq(s.GroupID, o.GroupID)
}

// ensureLayer adds the agent layer and replans when the plan (data, as the hook read it) does not run our command
// as our user yet: on a new Pebble (pod start) or after a charm upgrade changed the layer (an agent an older charm
// runs as root is restarted as AgentUID). A steady hook costs one PlanBytes.
func ensureLayer(c *client.Client, data []byte, layer string) (bool, error) {
	var plan, ours planServices
	if err := yaml.Unmarshal(data, &plan); err != nil {
		return false, fmt.Errorf("cannot parse the Pebble plan: %w", err)
	}
	if err := yaml.Unmarshal([]byte(layer), &ours); err != nil {
		return false, fmt.Errorf("cannot parse the agent layer: %w", err)
	}
	if plan.Services["agent"].same(ours.Services["agent"]) && len(plan.Checks) == len(ours.Checks) {
		return false, nil
	}
	if err := c.AddLayer(&client.AddLayerOptions{Combine: true, Label: "tls-authority", LayerData: []byte(layer)}); err != nil {
		return false, fmt.Errorf("cannot add the agent layer: %w", pebbleconn.Clarify(err))
	}
	changeID, err := c.Replan(&client.ServiceOptions{})
	if err != nil {
		return false, fmt.Errorf("cannot replan: %w", pebbleconn.Clarify(err))
	}
	// Pebble answers a wait within MaxWait, under the client's deadline: a replan stuck longer is an error, not a
	// hung hook.
	if _, err := c.WaitChange(changeID, &client.WaitChangeOptions{Timeout: pebbleconn.MaxWait}); err != nil {
		return false, fmt.Errorf("cannot wait for replan: %w", pebbleconn.Clarify(err))
	}
	return true, nil
}
