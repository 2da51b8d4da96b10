package charm

import (
	"fmt"

	"github.com/canonical/pebble/client"
	"gopkg.in/yaml.v3"
)

// layer runs requirer-server; it listens on the address the pod's hostname
// resolves to, ports 8443 (and 9443, mutual TLS), and picks up new
// certificate files by itself. In mode proxy it forwards to the backends.
// plain (no certificates relation, plain-http-without-certificates) serves
// plain HTTP on 8443 instead.
func layer(proxy, plain bool) string {
	cmd := fmt.Sprintf("%s --cert %s --key %s --peer-cert %s --peer-key %s --peer-ca %s",
		ServerBinary, CertPath, KeyPath, PeerCertPath, PeerKeyPath, PeerCAPath)
	if proxy {
		cmd += " --backends " + BackendsPath
	}
	if plain {
		cmd += " --plain"
	}
	return fmt.Sprintf(`summary: tls-requirer server
description: Serves the certificate the charm pushed, over HTTPS.
services:
  server:
    override: replace
    summary: HTTPS server
    command: %s
    startup: enabled
`, cmd)
}

type planServices struct {
	Services map[string]struct {
		Command string `yaml:"command"`
	} `yaml:"services"`
}

// ensureLayer adds the server layer and replans when the plan does not run
// our command yet: a new Pebble (pod start) or an upgrade that changed it. A
// steady hook costs one PlanBytes.
func ensureLayer(c *client.Client, proxy, plain bool) error {
	layer := layer(proxy, plain)
	data, err := c.PlanBytes(nil)
	if err != nil {
		return fmt.Errorf("%w: cannot read the Pebble plan: %w", errNotReady, err)
	}
	var plan, ours planServices
	if err := yaml.Unmarshal(data, &plan); err != nil {
		return fmt.Errorf("cannot parse the Pebble plan: %w", err)
	}
	if err := yaml.Unmarshal([]byte(layer), &ours); err != nil {
		return fmt.Errorf("cannot parse the server layer: %w", err)
	}
	if plan.Services["server"].Command == ours.Services["server"].Command {
		return nil
	}
	if err := c.AddLayer(&client.AddLayerOptions{Combine: true, Label: "tls-requirer", LayerData: []byte(layer)}); err != nil {
		return fmt.Errorf("cannot add the server layer: %w", err)
	}
	changeID, err := c.Replan(&client.ServiceOptions{})
	if err != nil {
		return fmt.Errorf("cannot replan: %w", err)
	}
	if _, err := c.WaitChange(changeID, &client.WaitChangeOptions{}); err != nil {
		return fmt.Errorf("cannot wait for replan: %w", err)
	}
	return nil
}
