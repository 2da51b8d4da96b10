package container

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
)

// moduleRoot is the repository root, found from this source file's location
// so that Binaries works whatever the caller's working directory is.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the tests/container source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Binaries builds (once, cached in dir) the pebble binary from the module's
// pinned Pebble and the nsexec helper, and returns their paths.
//
// pebble is rebuilt only when missing (its version is pinned in go.mod);
// nsexec is named by a hash of its source, so trees at different commits
// (worktrees, branches) sharing dir never run each other's build. Builds hold an
// exclusive lock on dir/.build.lock and rename into place, so test binaries of
// several packages can share one dir.
func Binaries(dir string) (pebble, nsexec string, err error) {
	err = withBuildLock(dir, func(root string) error {
		pebble = filepath.Join(dir, "pebble")
		if !exists(pebble) {
			if err := goBuild(root, pebble, "github.com/canonical/pebble/cmd/pebble"); err != nil {
				return err
			}
		}
		nsexec, err = buildBySource(root, dir, "nsexec", "./tests/cmd/nsexec")
		return err
	})
	return pebble, nsexec, err
}

// BuildTool builds the module's package pkg ("./tests/cmd/jujuc") into dir/name-<source hash> unless that binary
// exists, under the same lock as Binaries, and returns its path. pkg must import nothing of the module but the
// standard library (the hash covers only its own directory), as jujuc and nsexec do.
func BuildTool(dir, name, pkg string) (out string, err error) {
	err = withBuildLock(dir, func(root string) error {
		out, err = buildBySource(root, dir, name, pkg)
		return err
	})
	return out, err
}

// withBuildLock runs build with the module root while holding dir/.build.lock, so test binaries of several
// packages share one dir without building the same file at once.
func withBuildLock(dir string, build func(root string) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open build lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("cannot lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	return build(root)
}

// buildBySource builds pkg into dir/name-<hash of pkg's files> unless it is there already.
func buildBySource(root, dir, name, pkg string) (string, error) {
	sum, err := sourceHash(filepath.Join(root, pkg))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name+"-"+sum)
	if exists(out) {
		return out, nil
	}
	return out, goBuild(root, out, pkg)
}

// sourceHash hashes the names and contents of the files in srcDir (not below it).
func sourceHash(srcDir string) (string, error) {
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %w", srcDir, err)
	}
	names := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(srcDir, n))
		if err != nil {
			return "", fmt.Errorf("cannot hash %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func goBuild(root, out, pkg string) error {
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	// The go on PATH: the toolchain that runs the tests builds their helpers.
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = root
	// Static: a dynamically linked tool pays the loader at every start, and hook tools start on every call.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot build %s: %w\n%s", pkg, err, output)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot install %s: %w", out, err)
	}
	return nil
}
