// Command dispatch is the reference requirer charm's entry point: Juju runs it for every hook and action, with the
// event in JUJU_DISPATCH_PATH. It builds the hook context and hands over to the charm; nothing else lives here.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/tls-authority/tls-authority/hooktool"
	"github.com/tls-authority/tls-authority/tests/requirer/charm"
)

func main() {
	hc := hooktool.New(hooktool.EnvFromOS(), hooktool.ExecRunner{Timeout: time.Minute})
	if err := charm.Run(hc, nil); err != nil {
		// Juju logs stderr at WARNING and puts the unit in error; the hook is retried.
		fmt.Fprintf(os.Stderr, "ERROR %s: %v\n", hc.Env.DispatchPath, err)
		os.Exit(1)
	}
}
