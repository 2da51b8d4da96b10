// Package requirer builds the reference requirer charm for tests: the packed
// charm (dispatch from ./tests/requirer/hooks, with this directory's
// metadata.yaml, config.yaml and actions.yaml) and the server container's
// image directory, laid out as its rock (server/rockcraft.yaml) with
// requirer-server in usr/local/bin. Built once per test process, from the
// working tree.
package requirer

import (
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/container"
)

// Names a test deploys with.
const (
	// Resource is the server container's image resource.
	Resource = "server-image"
	// ServerBinaryName is the server's file name in the image's /usr/local/bin.
	ServerBinaryName = "requirer-server"
)

var (
	once     sync.Once
	charm    string
	image    string
	buildErr error
)

func build() {
	root, err := artifacts.RepoRoot()
	if err != nil {
		buildErr = err
		return
	}
	out, err := os.MkdirTemp("", "tls-requirer-artifacts-")
	if err != nil {
		buildErr = err
		return
	}
	dispatch := filepath.Join(out, "dispatch")
	if buildErr = artifacts.GoBuild(root, "./tests/requirer/hooks", dispatch); buildErr != nil {
		return
	}
	charm = filepath.Join(out, "tls-requirer_amd64.charm")
	charmDir := filepath.Join(root, "tests", "requirer")
	if buildErr = pack.Charm(&pack.Options{CharmDir: charmDir, Dispatch: dispatch, Out: charm}); buildErr != nil {
		return
	}
	image = filepath.Join(out, "image")
	buildErr = artifacts.GoBuild(root, "./tests/requirer/server", container.ImagePath(image, path.Join(container.ImageBinDir, ServerBinaryName)))
}

// Build returns the packed charm and the server image directory, building
// them on the first call.
func Build() (charmPath, imageDir string, err error) {
	once.Do(build)
	return charm, image, buildErr
}
