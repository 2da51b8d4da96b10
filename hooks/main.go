// Command dispatch is the tls-authority charm's entry point: Juju runs it for every hook and action, with the event
// in JUJU_DISPATCH_PATH. It builds the hook context and hands over to the charm; when the tracing relation has given
// an endpoint, it then hands the hook's span to the charm's exporter (hooktrace). Nothing else lives here.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/charm"
	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/hooktrace"
)

func main() {
	start := time.Now()
	// A hook lives for milliseconds to seconds and holds little: collecting garbage four times less often saves a
	// signing hook several percent of its CPU for a few megabytes more.
	debug.SetGCPercent(400)
	hc := hooktool.New(hooktool.EnvFromOS(), hooktool.ExecRunner{Timeout: time.Minute})
	res, err := charm.Dispatch(hc, nil)
	if res.TracingURL != "" {
		trace(hc, res.TracingURL, start, err)
	}
	if err != nil {
		// Juju logs stderr at WARNING and puts the unit in error; the hook is retried.
		fmt.Fprintf(os.Stderr, "ERROR %s: %v\n", hc.Env.DispatchPath, err)
		os.Exit(1)
	}
}

// trace sends the hook's span; a failed export is one line on stderr (Juju logs it at WARNING), never a failed hook.
func trace(hc *hooktool.Context, url string, start time.Time, hookErr error) {
	env := hc.Env
	name := env.HookName
	if env.IsAction() {
		name = "action:" + env.ActionName
	}
	h := hooktrace.Hook{
		Name: name, Dispatch: env.DispatchPath, Unit: env.UnitName, Model: env.ModelName, ModelUUID: env.ModelUUID,
		Charm: charm.CharmName, Start: start, End: time.Now(), ToolCalls: hc.Calls(),
	}
	if hookErr != nil {
		h.Error = hookErr.Error()
	}
	if err := hooktrace.Send(env.CharmDir, url, h); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING %s: %v\n", env.DispatchPath, strings.ReplaceAll(err.Error(), "\n", " "))
	}
}
