package sim

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Endpoint is one relation endpoint declared in metadata.yaml.
type Endpoint struct {
	Name      string
	Role      string // "provider", "requirer" or "peer"
	Interface string
	Limit     int
}

// ContainerMeta is one workload container declared in metadata.yaml.
type ContainerMeta struct {
	Name     string
	Resource string
}

// ConfigOption is one option from config.yaml.
type ConfigOption struct {
	Type    string
	Default any
}

// ActionMeta is one action from actions.yaml.
type ActionMeta struct {
	Params               map[string]map[string]any
	Required             []string
	AdditionalProperties bool
}

// Charm is the parsed metadata of a charm directory.
type Charm struct {
	Name       string
	Endpoints  map[string]Endpoint
	Containers []ContainerMeta
	Config     map[string]ConfigOption
	Actions    map[string]ActionMeta
}

type rawEndpoint struct {
	Interface string `yaml:"interface"`
	Limit     int    `yaml:"limit"`
}

type rawMeta struct {
	Name       string                 `yaml:"name"`
	Provides   map[string]rawEndpoint `yaml:"provides"`
	Requires   map[string]rawEndpoint `yaml:"requires"`
	Peers      map[string]rawEndpoint `yaml:"peers"`
	Containers map[string]struct {
		Resource string `yaml:"resource"`
	} `yaml:"containers"`
}

// ReadCharm parses metadata.yaml, config.yaml and actions.yaml in a charm directory.
func ReadCharm(dir string) (*Charm, error) {
	var meta rawMeta
	if err := readYAML(filepath.Join(dir, "metadata.yaml"), &meta, true); err != nil {
		return nil, err
	}
	if meta.Name == "" {
		return nil, fmt.Errorf("cannot read charm in %s: metadata.yaml has no name", dir)
	}
	ch := &Charm{Name: meta.Name, Endpoints: map[string]Endpoint{}, Config: map[string]ConfigOption{}, Actions: map[string]ActionMeta{}}
	for role, eps := range map[string]map[string]rawEndpoint{"provider": meta.Provides, "requirer": meta.Requires, "peer": meta.Peers} {
		for name, ep := range eps {
			ch.Endpoints[name] = Endpoint{Name: name, Role: role, Interface: ep.Interface, Limit: ep.Limit}
		}
	}
	for name, c := range meta.Containers {
		ch.Containers = append(ch.Containers, ContainerMeta{Name: name, Resource: c.Resource})
	}
	sort.Slice(ch.Containers, func(i, j int) bool { return ch.Containers[i].Name < ch.Containers[j].Name })

	var cfg struct {
		Options map[string]struct {
			Type    string `yaml:"type"`
			Default any    `yaml:"default"`
		} `yaml:"options"`
	}
	if err := readYAML(filepath.Join(dir, "config.yaml"), &cfg, false); err != nil {
		return nil, err
	}
	for name, o := range cfg.Options {
		t := o.Type
		if t == "" {
			t = "string"
		}
		def := o.Default
		if def != nil {
			v, err := coerceConfig(t, def)
			if err != nil {
				return nil, fmt.Errorf("cannot read config.yaml: option %q default: %w", name, err)
			}
			def = v
		}
		ch.Config[name] = ConfigOption{Type: t, Default: def}
	}

	var acts map[string]struct {
		Params               map[string]map[string]any `yaml:"params"`
		Required             []string                  `yaml:"required"`
		AdditionalProperties *bool                     `yaml:"additionalProperties"`
	}
	if err := readYAML(filepath.Join(dir, "actions.yaml"), &acts, false); err != nil {
		return nil, err
	}
	for name, a := range acts {
		// Juju's default for additionalProperties is true, but charmcraft-era charms set false and
		// the brief asks for unknown params to fail; we honour an explicit true only.
		add := a.AdditionalProperties != nil && *a.AdditionalProperties
		ch.Actions[name] = ActionMeta{Params: a.Params, Required: a.Required, AdditionalProperties: add}
	}
	return ch, nil
}

func readYAML(path string, v any, required bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if !required && os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("cannot read charm file: %w", err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cannot parse %s: %w", filepath.Base(path), err)
	}
	return nil
}

// installCharm copies a charm directory, or unpacks a .charm archive, into dst keeping file
// modes: each unit gets its own copy, as each Juju unit agent unpacks the charm itself.
func installCharm(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("cannot install charm: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("cannot install charm: %w", err)
	}
	if st.IsDir() {
		err = copyDir(src, dst)
	} else {
		err = unzip(src, dst)
	}
	if err != nil {
		return fmt.Errorf("cannot install charm from %s: %w", src, err)
	}
	if d := filepath.Join(dst, "dispatch"); fileExists(d) {
		// A zip made without unix modes loses the exec bit; Juju always runs dispatch.
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("cannot install charm: %w", err)
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			return copyFile(p, target, info.Mode().Perm())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func unzip(src, dst string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		name := filepath.Clean(f.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("bad path %q in archive", f.Name)
		}
		target := filepath.Join(dst, name)
		mode := f.Mode()
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		if mode&fs.ModeSymlink != 0 {
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			if err := os.Symlink(string(b), target); err != nil {
				return err
			}
			continue
		}
		perm := mode.Perm()
		if perm == 0 {
			perm = 0o644
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
		if err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(out, rc)
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
