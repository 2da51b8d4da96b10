// Command dispatch is the tls-authority charm's entry point: Juju runs it for every hook and action, with the event
// in JUJU_DISPATCH_PATH. It builds the hook context and hands over to the charm; nothing else lives here.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/tls-authority/tls-authority/charm"
	"github.com/tls-authority/tls-authority/hooktool"
)

func main() {
	// A hook lives for milliseconds to seconds and holds little: collecting garbage four times less often saves a
	// signing hook several percent of its CPU for a few megabytes more.
	debug.SetGCPercent(400)
	hc := hooktool.New(hooktool.EnvFromOS(), hooktool.ExecRunner{Timeout: time.Minute})
	if err := charm.Run(hc, nil); err != nil {
		// Juju logs stderr at WARNING and puts the unit in error; the hook is retried.
		fmt.Fprintf(os.Stderr, "ERROR %s: %v\n", hc.Env.DispatchPath, err)
		os.Exit(1)
	}
}
