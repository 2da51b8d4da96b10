// Command hooktrace sends one hook's span, read as JSON (hooktrace.Hook) on stdin, to the OTLP/HTTP traces URL
// given as its argument. The charm's dispatch runs it at the end of a hook when the tracing relation has given an
// endpoint; it exits 1 with one line on stderr when the export fails, which dispatch logs without failing the hook.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tls-authority/tls-authority/hooktrace"
	"github.com/tls-authority/tls-authority/hooktrace/otlp"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hooktrace <otlp-http-traces-url> < hook.json")
		os.Exit(2)
	}
	var h hooktrace.Hook
	if err := json.NewDecoder(os.Stdin).Decode(&h); err != nil {
		fmt.Fprintf(os.Stderr, "cannot read the hook's record: %v\n", err)
		os.Exit(1)
	}
	if err := otlp.Export(context.Background(), os.Args[1], h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
