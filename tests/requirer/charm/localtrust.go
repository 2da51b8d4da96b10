package charm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tls-authority/tls-authority/trust"
)

// localTrust installs a CA set into the trust store of the container the hook runs in (the charm container), as a
// COS charm does with its local CA so that the charm itself calls its workload over HTTPS: the files
// <Dir>/<Prefix><name>.crt, then update-ca-certificates, only when the set changed. It mirrors trust.Installer,
// which reaches a workload container through Pebble instead. In the simulator the charm container's trust store is
// private to the unit; on Juju it is the charm container's own filesystem.
type localTrust struct {
	Prefix   string
	Dir      string   // default trust.DefaultDir
	CertsDir string   // default trust.DefaultCertsDir
	Update   []string // default trust.UpdateCommand
}

// Sync makes Dir hold exactly cas among the files with Prefix and runs update-ca-certificates when anything
// changed or a CA's link in CertsDir is missing. It reports whether it ran.
func (l *localTrust) Sync(cas map[string]string) (bool, error) {
	dir, certsDir := l.Dir, l.CertsDir
	if dir == "" {
		dir = trust.DefaultDir
	}
	if certsDir == "" {
		certsDir = trust.DefaultCertsDir
	}
	want := map[string][]byte{}
	names := make([]string, 0, len(cas))
	for name := range cas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := trust.SanitizeName(name)
		if s == "" {
			continue
		}
		content, err := trust.NormalizePEM(cas[name])
		if err != nil {
			return false, fmt.Errorf("cannot install CA %q in the charm container: %w", name, err)
		}
		want[l.Prefix+s+".crt"] = content
	}
	have, err := filepath.Glob(filepath.Join(dir, l.Prefix+"*.crt"))
	if err != nil {
		return false, fmt.Errorf("cannot list %s: %w", dir, err)
	}
	update := false
	for _, file := range have {
		if _, ok := want[filepath.Base(file)]; !ok {
			if err := os.Remove(file); err != nil {
				return false, fmt.Errorf("cannot remove %s: %w", file, err)
			}
			// update-ca-certificates leaves the link of a removed local CA dangling (only --fresh, which
			// rebuilds every link and costs far more, drops it): remove it here.
			link := filepath.Join(certsDir, strings.TrimSuffix(filepath.Base(file), ".crt")+".pem")
			if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
				return false, fmt.Errorf("cannot remove %s: %w", link, err)
			}
			update = true
		}
	}
	for name, content := range want {
		file := filepath.Join(dir, name)
		if old, err := os.ReadFile(file); err != nil || !bytes.Equal(old, content) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return false, fmt.Errorf("cannot create %s: %w", dir, err)
			}
			if err := os.WriteFile(file, content, 0o644); err != nil {
				return false, fmt.Errorf("cannot write %s: %w", file, err)
			}
			update = true
		}
		if _, err := os.Lstat(filepath.Join(certsDir, strings.TrimSuffix(name, ".crt")+".pem")); err != nil {
			update = true
		}
	}
	if !update {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), trust.DefaultUpdateTimeout)
	defer cancel()
	start := time.Now()
	argv := l.Update
	if len(argv) == 0 {
		argv = trust.UpdateCommand
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return true, fmt.Errorf("cannot update the charm container's trust store (after %s): %w: %s", time.Since(start).Round(time.Millisecond), err, strings.TrimSpace(string(out)))
	}
	return true, nil
}
