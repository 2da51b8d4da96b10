// Package pebbleconn connects a sidecar charm to a workload container's Pebble, as Juju exposes it to the charm
// container: <containers dir>/<container>/pebble.socket (/charm/containers in Juju; the simulator gives its own
// directory through hooktool.Env.ContainersDir).
package pebbleconn

import (
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/canonical/pebble/client"
)

// Socket is the path of a container's Pebble socket.
func Socket(containersDir, container string) string {
	return filepath.Join(containersDir, container, "pebble.socket")
}

// probeTimeout bounds the check that Pebble answers at all.
const probeTimeout = 500 * time.Millisecond

// Connect returns a client for the container's Pebble, or an error at once when nothing listens on its socket.
// The Pebble client itself retries a refused connection for 5 s: a container that is not up yet (before
// pebble-ready, during a restart) must cost a hook milliseconds, not seconds.
func Connect(containersDir, container string) (*client.Client, error) {
	sock := Socket(containersDir, container)
	conn, err := net.DialTimeout("unix", sock, probeTimeout)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Pebble at %s: %w", sock, err)
	}
	conn.Close()
	return client.New(&client.Config{Socket: sock})
}
