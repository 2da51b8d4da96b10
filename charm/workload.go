package charm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/canonical/pebble/client"
	"gopkg.in/yaml.v3"

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

// Workload is what the authority container should hold: public files, and the unit's own serving key (never a CA
// key).
type Workload struct {
	Files map[string]string // name in DataDir -> content
	// Private are files only the agent reads (mode 0600): the serving key of this unit (serving.go).
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
`, AgentBinary, DataDir, w.Host, AgentPort, w.Host, AgentTLSPort, w.Host, AgentPort, w.Host, AgentPort)
}

// manifest is a digest of everything the charm put in the container. One Pull of it tells a steady hook that
// nothing needs pushing, instead of pulling every file. A new pod's container is empty (no manifest, a Pebble
// without the layer), so its first hook that reaches the container pushes everything and adds the layer.
func (w *Workload) manifest() string {
	h := sha256.New()
	add := func(kind string, m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00", kind, k, len(m[k]), m[k])
		}
	}
	add("file", w.Files)
	add("private", w.Private)
	add("trust", w.Trust)
	return hex.EncodeToString(h.Sum(nil))
}

// SyncResult says what a sync did.
type SyncResult struct {
	Pushed        bool // files or trust changed
	TrustUpdated  bool // update-ca-certificates ran
	LayerReplaced bool
}

// ErrContainerNotReady is returned when the container's Pebble cannot be reached yet.
var ErrContainerNotReady = errors.New("workload container not ready")

// SyncWorkload makes the container hold w: files, trust store and the agent's layer, touching only what differs.
func SyncWorkload(c *client.Client, w *Workload) (*SyncResult, error) {
	res := &SyncResult{}
	want := w.manifest()
	var have bytes.Buffer
	err := c.Pull(&client.PullOptions{Path: manifestPath, Target: &have})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("%w: %w", ErrContainerNotReady, err)
	}
	if err != nil || strings.TrimSpace(have.String()) != want {
		names := make([]string, 0, len(w.Files))
		for name := range w.Files {
			names = append(names, name)
		}
		sort.Strings(names)
		// The private files first: the agent serves its previous key pair until a new key and certificate match.
		for _, name := range slices.Sorted(maps.Keys(w.Private)) {
			if err := pushMode(c, path.Join(DataDir, name), w.Private[name], 0o600); err != nil {
				return nil, err
			}
		}
		for _, name := range names {
			if err := push(c, path.Join(DataDir, name), w.Files[name]); err != nil {
				return nil, err
			}
		}
		inst := &trust.Installer{Client: c, Prefix: trustPrefix}
		ran, err := inst.Sync(w.Trust)
		if err != nil {
			return nil, fmt.Errorf("cannot install CAs in the %s container: %w", Container, err)
		}
		// The manifest goes last: a hook killed before this point re-pushes next time.
		if err := push(c, manifestPath, want); err != nil {
			return nil, err
		}
		res.Pushed, res.TrustUpdated = true, ran
	}
	replaced, err := ensureLayer(c, w.agentLayer())
	if err != nil {
		return nil, err
	}
	res.LayerReplaced = replaced
	return res, nil
}

func push(c *client.Client, p, content string) error { return pushMode(c, p, content, 0o644) }

func pushMode(c *client.Client, p, content string, mode os.FileMode) error {
	err := c.Push(&client.PushOptions{Source: strings.NewReader(content), Path: p, MakeDirs: true, Permissions: mode})
	if err != nil {
		return fmt.Errorf("cannot push %s: %w", p, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var pe *client.Error
	return errors.As(err, &pe) && pe.Kind == client.ErrorKindNotFound
}

type planServices struct {
	Services map[string]struct {
		Command string `yaml:"command"`
	} `yaml:"services"`
	Checks map[string]yaml.Node `yaml:"checks"`
}

// ensureLayer adds the agent layer and replans when the plan does not run our command yet: on a new Pebble (pod
// start) or after a charm upgrade changed the layer. A steady hook costs one PlanBytes.
func ensureLayer(c *client.Client, layer string) (bool, error) {
	data, err := c.PlanBytes(nil)
	if err != nil {
		return false, fmt.Errorf("%w: cannot read the Pebble plan: %w", ErrContainerNotReady, err)
	}
	var plan, ours planServices
	if err := yaml.Unmarshal(data, &plan); err != nil {
		return false, fmt.Errorf("cannot parse the Pebble plan: %w", err)
	}
	if err := yaml.Unmarshal([]byte(layer), &ours); err != nil {
		return false, fmt.Errorf("cannot parse the agent layer: %w", err)
	}
	if plan.Services["agent"].Command == ours.Services["agent"].Command && len(plan.Checks) == len(ours.Checks) {
		return false, nil
	}
	if err := c.AddLayer(&client.AddLayerOptions{Combine: true, Label: "tls-authority", LayerData: []byte(layer)}); err != nil {
		return false, fmt.Errorf("cannot add the agent layer: %w", err)
	}
	changeID, err := c.Replan(&client.ServiceOptions{})
	if err != nil {
		return false, fmt.Errorf("cannot replan: %w", err)
	}
	if _, err := c.WaitChange(changeID, &client.WaitChangeOptions{}); err != nil {
		return false, fmt.Errorf("cannot wait for replan: %w", err)
	}
	return true, nil
}
