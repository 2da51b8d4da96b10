// Command scenario runs a YAML scenario file on the Juju model simulator and writes the final
// model state as JSON:
//
//	scenario run FILE.yaml [--out state.json] [--dir workdir] [--bin-dir dir]
//
// It prints a transcript (one line per hook with its duration and hook-tool calls, ✓/✗ per
// expectation) and exits 1 when any expectation fails, 2 on usage errors. The format is
// documented in package tests/sim/scenario.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/tls-authority/tls-authority/tests/sim/scenario"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) < 1 || args[0] != "run" {
		fmt.Fprintln(os.Stderr, "usage: scenario run FILE.yaml [--out state.json] [--dir workdir] [--bin-dir dir]")
		return 2
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("out", "", "write the final state JSON here")
	dir := fs.String("dir", "", "work directory (default: a temporary directory, removed afterwards)")
	binDir := fs.String("bin-dir", filepath.Join(os.TempDir(), "tls-authority-test-bin"), "where jujuc, pebble and nsexec are built (cached)")
	// Accept the file before or after the flags.
	rest := args[1:]
	var file string
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		file, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" {
		fmt.Fprintln(os.Stderr, "usage: scenario run FILE.yaml [--out state.json] [--dir workdir]")
		return 2
	}
	sc, err := scenario.Load(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		return 2
	}
	work := *dir
	if work == "" {
		tmp, err := os.MkdirTemp("", "scenario")
		if err != nil {
			fmt.Fprintln(os.Stderr, "ERROR", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, runErr := scenario.Run(ctx, sc, &scenario.Options{Dir: work, BinDir: *binDir, Out: os.Stdout})
	if res != nil && *out != "" {
		b, err := json.MarshalIndent(res.State, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ERROR cannot write state:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "ERROR", runErr)
		return 1
	}
	if res.Failed > 0 {
		return 1
	}
	return 0
}
