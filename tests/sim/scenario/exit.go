package scenario

import (
	"errors"

	"github.com/canonical/pebble/client"
)

// exitCode extracts a Pebble exec's exit code, or -1.
func exitCode(err error) int {
	var ee *client.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
