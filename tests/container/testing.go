package container

import (
	"os"
	"testing"
)

// StartForTest starts a container for a test (its directory the test's own, the Pebble and nsexec binaries built
// into DefaultBinDir once) and stops it when the test ends, reporting a Stop that left a process behind. Without
// root, which mount namespaces need, it skips the test.
func StartForTest(t testing.TB, name string, ns Namespace) *Container {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount namespaces")
	}
	pebble, nsexec, err := Binaries(DefaultBinDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(&Options{Dir: t.TempDir(), Name: name, PebbleBinary: pebble, NSExecBinary: nsexec, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}
