// Command pack-charm writes a .charm archive from a charm directory and a built dispatch binary.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tls-authority/tls-authority/pack"
)

func main() {
	o := &pack.Options{}
	flag.StringVar(&o.CharmDir, "charm-dir", ".", "directory with metadata.yaml, config.yaml, actions.yaml")
	flag.StringVar(&o.Dispatch, "dispatch", "build/dispatch", "the built dispatch binary")
	flag.StringVar(&o.Out, "o", "build/tls-authority_amd64.charm", "the archive to write")
	flag.StringVar(&o.Base, "base", "ubuntu@24.04", "the base the charm runs on")
	flag.Func("exec", "another built binary, as path-in-charm=file (repeatable), e.g. bin/hooktrace=build/hooktrace", func(v string) error {
		name, file, ok := strings.Cut(v, "=")
		if !ok || name == "" || file == "" {
			return fmt.Errorf("want path-in-charm=file, got %q", v)
		}
		if o.Executables == nil {
			o.Executables = map[string]string{}
		}
		o.Executables[name] = file
		return nil
	})
	flag.Parse()
	if err := pack.Charm(o); err != nil {
		fmt.Fprintln(os.Stderr, "pack-charm:", err)
		os.Exit(1)
	}
	fmt.Println(o.Out)
}
