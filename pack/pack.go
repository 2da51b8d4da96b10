// Package pack builds a .charm archive: a zip that Juju (and github.com/juju/charm/v12) reads as a format-2 charm,
// with the dispatch binary executable and a manifest.yaml naming the bases it runs on.
package pack

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options say what goes into the archive.
type Options struct {
	CharmDir string // holds metadata.yaml, config.yaml, actions.yaml (the last two optional)
	Dispatch string // the built dispatch binary
	// Executables are more built binaries, by their path in the charm ("bin/hooktrace"), packed with mode 0755.
	Executables map[string]string
	Out         string // the .charm file to write
	Base        string // e.g. "ubuntu@24.04"
	Arch        string // e.g. "amd64"
	// StartedAt is the manifest's charmcraft-started-at; zero means now, or SOURCE_DATE_EPOCH when set (a
	// reproducible build).
	StartedAt time.Time
}

// Manifest returns the manifest.yaml charmcraft writes for one base (charmcraft services/package.py
// write_metadata, models/manifest.py Manifest): its analysis attributes are what charmcraft's linters find in a
// charm whose dispatch is a binary (linters.py Language and Framework: "unknown" unless the dispatch runs Python),
// the bases are the one base and architecture the charm was built for, and charmcraft-started-at is the build's
// start, written as Python's str() of a UTC datetime.
func Manifest(base, arch string, startedAt time.Time) string {
	name, channel := "ubuntu", "24.04"
	for i := range base {
		if base[i] == '@' {
			name, channel = base[:i], base[i+1:]
		}
	}
	return fmt.Sprintf(`analysis:
  attributes:
  - name: language
    result: unknown
  - name: framework
    result: unknown
bases:
- architectures:
  - %s
  channel: '%s'
  name: %s
charmcraft-started-at: '%s'
charmcraft-version: %s
`, arch, channel, name, startedAt.UTC().Format("2006-01-02 15:04:05.000000+00:00"), CharmcraftVersion)
}

// DataDirs are the charm directory's folders copied into the archive with everything under them, when present: the
// alert rules and dashboards COS reads from the charm (prometheus_scrape's and grafana_dashboard's default folders).
var DataDirs = []string{"src/prometheus_alert_rules", "src/grafana_dashboards"}

// CharmcraftVersion is the charmcraft release whose packing this package follows (the manifest names it): 4.4.0,
// the tag below commit 15966e9, whose schema tests/packaging checks charmcraft.yaml against.
const CharmcraftVersion = "4.4.0"

// Charm writes the archive.
func Charm(o *Options) error {
	if o.Base == "" {
		o.Base = "ubuntu@24.04"
	}
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.StartedAt.IsZero() {
		o.StartedAt = time.Now()
		if e, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
			o.StartedAt = time.Unix(e, 0)
		}
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("cannot create output directory: %w", err)
	}
	tmp := o.Out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(f)
	add := func(name string, mode os.FileMode, r io.Reader) error {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("cannot add %s: %w", name, err)
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("cannot add %s: %w", name, err)
		}
		return nil
	}
	addFile := func(name, src string, mode os.FileMode, optional bool) error {
		in, err := os.Open(src)
		if optional && os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", src, err)
		}
		defer in.Close()
		return add(name, mode, in)
	}
	steps := []func() error{
		func() error { return addFile("dispatch", o.Dispatch, 0o755, false) },
		func() error {
			for _, name := range slices.Sorted(maps.Keys(o.Executables)) {
				if err := addFile(name, o.Executables[name], 0o755, false); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			return addFile("metadata.yaml", filepath.Join(o.CharmDir, "metadata.yaml"), 0o644, false)
		},
		func() error { return addFile("config.yaml", filepath.Join(o.CharmDir, "config.yaml"), 0o644, true) },
		func() error { return addFile("actions.yaml", filepath.Join(o.CharmDir, "actions.yaml"), 0o644, true) },
		func() error {
			return add("manifest.yaml", 0o644, strings.NewReader(Manifest(o.Base, o.Arch, o.StartedAt)))
		},
	}
	for _, dir := range DataDirs {
		steps = append(steps, func() error {
			root := filepath.Join(o.CharmDir, filepath.FromSlash(dir))
			return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if errors.Is(err, fs.ErrNotExist) && p == root {
					return filepath.SkipDir
				}
				if err != nil {
					return fmt.Errorf("cannot read %s: %w", p, err)
				}
				if !d.Type().IsRegular() {
					return nil
				}
				rel, err := filepath.Rel(o.CharmDir, p)
				if err != nil {
					return err
				}
				return addFile(filepath.ToSlash(rel), p, 0o644, false)
			})
		})
	}
	for _, step := range steps {
		if err := step(); err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("cannot finish %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", o.Out, err)
	}
	return os.Rename(tmp, o.Out)
}
