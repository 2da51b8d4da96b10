// Package hooktrace is what the charm's dispatch knows of tracing: the record of one hook (Hook) and how to hand it
// to the exporter binary the charm ships (bin/hooktrace, built from hooktrace/cmd/hooktrace). It imports nothing of
// OpenTelemetry, so dispatch stays as small and starts as fast as without tracing; the exporter runs only in a hook
// that has an endpoint to send to.
package hooktrace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// Binary is the exporter's path inside the charm directory.
const Binary = "bin/hooktrace"

// Hook is what one dispatch did, as its span shows it; it travels to the exporter as JSON on stdin.
type Hook struct {
	Name      string         `json:"name"`     // the span's name: the hook's or action's ("certificates-relation-joined")
	Dispatch  string         `json:"dispatch"` // JUJU_DISPATCH_PATH
	Unit      string         `json:"unit"`
	Model     string         `json:"model"`
	ModelUUID string         `json:"model-uuid"`
	Charm     string         `json:"charm"`
	Start     time.Time      `json:"start"`
	End       time.Time      `json:"end"`
	Error     string         `json:"error,omitempty"` // the hook's error, if it failed: the span's status
	ToolCalls map[string]int `json:"tool-calls,omitempty"`
}

// Wait bounds the exporter's run: its own timeout (otlp.Timeout, 2 s) and a process start.
const Wait = 3 * time.Second

// Send runs the charm's exporter on h, to endpoint (the OTLP/HTTP traces URL), and waits for it. The hook's span
// has ended before: the export is not part of it.
func Send(charmDir, endpoint string, h Hook) error {
	in, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("cannot encode the hook's trace: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(charmDir, Binary), endpoint)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cannot send the hook's trace: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
