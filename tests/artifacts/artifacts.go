// Package artifacts builds what tests deploy: the packed tls-authority charm and the authority container's image,
// once per test process, from the working tree, exactly as `make charm` and `make image` do.
package artifacts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/tls-authority/tls-authority/hooktrace"
	"github.com/tls-authority/tls-authority/pack"
	"github.com/tls-authority/tls-authority/tests/container"
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	once     sync.Once
	outDir   string
	charm    string
	image    string
	buildErr error
)

// GoBuild builds pkg (a path relative to the repo) into out, static and stripped like the Makefile.
func GoBuild(root, pkg, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func build() {
	root, err := RepoRoot()
	if err != nil {
		buildErr = err
		return
	}
	outDir, err = os.MkdirTemp("", "tls-authority-artifacts-")
	if err != nil {
		buildErr = err
		return
	}
	dispatch := filepath.Join(outDir, "dispatch")
	if buildErr = GoBuild(root, "./hooks", dispatch); buildErr != nil {
		return
	}
	tracer := filepath.Join(outDir, "hooktrace")
	if buildErr = GoBuild(root, "./hooktrace/cmd/hooktrace", tracer); buildErr != nil {
		return
	}
	charm = filepath.Join(outDir, "tls-authority_amd64.charm")
	if buildErr = pack.Charm(&pack.Options{CharmDir: root, Dispatch: dispatch, Executables: map[string]string{hooktrace.Binary: tracer}, Out: charm}); buildErr != nil {
		return
	}
	image = filepath.Join(outDir, "image")
	buildErr = GoBuild(root, "./agent/cmd/tls-authority-agent", container.ImagePath(image, AgentPath))
}

// Charm returns the path of the packed tls-authority charm.
func Charm() (string, error) {
	once.Do(build)
	return charm, buildErr
}

// AgentPath is where the authority's rock (rockcraft.yaml) and `make image` put the agent.
const AgentPath = "/usr/local/bin/tls-authority-agent"

// Image returns the directory of the authority container's image, laid out as the rock's root filesystem: the
// agent is at container.ImagePath(dir, AgentPath).
func Image() (string, error) {
	once.Do(build)
	return image, buildErr
}
