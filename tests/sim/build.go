package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// moduleRoot is the repository root, found from this file's location so that the simulator
// builds its tools whatever the caller's working directory.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the tests/sim source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// buildCached builds pkg (statically, without cgo) into out unless out is newer than every file of the package. A lock
// file lets test binaries of several packages share one bin dir.
func buildCached(root, out, pkg string) error {
	lock, err := os.OpenFile(out+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("cannot build %s: %w", pkg, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("cannot build %s: %w", pkg, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if !stale(out, filepath.Join(root, pkg)) {
		return nil
	}
	// The go on PATH: the toolchain running the tests builds their tools.
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot build %s: %w\n%s", pkg, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("cannot build %s: %w", pkg, err)
	}
	return nil
}

func stale(bin, srcDir string) bool {
	st, err := os.Stat(bin)
	if err != nil {
		return true
	}
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return true
	}
	var newest time.Time
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(newest) {
			newest = info.ModTime()
		}
	}
	return newest.After(st.ModTime())
}
