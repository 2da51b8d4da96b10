package packaging_test

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tls-authority/tls-authority/charm"
	"github.com/tls-authority/tls-authority/tests/artifacts"
	"github.com/tls-authority/tls-authority/tests/container"
	requirercharm "github.com/tls-authority/tls-authority/tests/requirer/charm"
)

// rockBinaries are the files a rock's parts put in it and where: the go plugin installs commands into
// $CRAFT_PART_INSTALL/bin (craft-parts GoPlugin sets GOBIN there), and each part's `organize` moves them. A command
// left in bin/ would be /bin/<name> in the rock, where neither `make image` nor the charms look for it.
func rockBinaries(rock map[string]any) ([]string, error) {
	parts, _ := rock["parts"].(map[string]any)
	var files []string
	for name, p := range parts {
		part, _ := p.(map[string]any)
		if part["plugin"] != "go" {
			continue
		}
		build, _ := part["override-build"].(string)
		organize, _ := part["organize"].(map[string]any)
		if len(organize) == 0 {
			return nil, fmt.Errorf("cannot place the commands of part %s: it organizes nothing out of bin/", name)
		}
		for src, dst := range organize {
			cmd, ok := strings.CutPrefix(src, "bin/")
			if !ok || !strings.Contains(build, cmd) {
				return nil, fmt.Errorf("cannot place %s of part %s: its build installs no command %q into bin/", src, name, cmd)
			}
			d, _ := dst.(string)
			files = append(files, path.Join("/", d))
		}
	}
	sort.Strings(files)
	return files, nil
}

// imageFiles lists the regular files of an image directory as the container paths they are at, and fails on one
// that is not executable.
func imageFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, "/"+filepath.ToSlash(rel))
		if info.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable (%v)", rel, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// runMake runs a target of the repository's Makefile with variables set, as a user would.
func runMake(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "-C", root}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
}

// TestImageLayout derives each rock's files from its rockcraft.yaml and checks that the image directories the
// simulator runs (`make image`, `make requirer`, and the test builds) hold exactly those files at those paths, and
// that the charms run their workloads from there.
func TestImageLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the images with make")
	}
	build := t.TempDir()
	runMake(t, "image", "requirer", "BUILD="+build)
	testImage, err := artifacts.Image()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		rockcraft string
		images    []string // image directories that must hold the rock's files
		runs      string   // what the charm's Pebble layer runs
		packages  []string // stage-packages the charm needs in the container
	}{
		{"rockcraft.yaml", []string{filepath.Join(build, "image"), testImage}, charm.AgentBinary, []string{"ca-certificates"}},
		{"tests/requirer/server/rockcraft.yaml", []string{filepath.Join(build, "requirer-image")}, requirercharm.ServerBinary, []string{"ca-certificates"}},
	}
	for _, c := range cases {
		t.Run(c.rockcraft, func(t *testing.T) {
			rock := mustYAML(t, filepath.Join(root, c.rockcraft))
			want, err := rockBinaries(rock)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(want, c.runs) {
				t.Errorf("the rock holds %v, but the charm runs %s", want, c.runs)
			}
			for _, f := range want {
				// The simulated container sees one directory of its image.
				if path.Dir(f) != container.ImageBinDir {
					t.Errorf("the rock holds %s, which a simulated container cannot see (it sees %s)", f, container.ImageBinDir)
				}
			}
			for _, dir := range c.images {
				if got := imageFiles(t, dir); !slices.Equal(got, want) {
					t.Errorf("%s holds %v, the rock %v", dir, got, want)
				}
			}
			for _, p := range c.packages {
				found := false
				for _, part := range rock["parts"].(map[string]any) {
					pkgs, _ := part.(map[string]any)["stage-packages"].([]any)
					found = found || slices.Contains(pkgs, any(p))
				}
				if !found {
					t.Errorf("no part stages %s", p)
				}
			}
		})
	}
}

// TestRequirerServerBuildsAlone builds the requirer's server as its rock does: from its own directory, which is all
// the project rockcraft sees, without the repository's go.mod. It fails when the server imports more than the
// standard library.
func TestRequirerServerBuildsAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server")
	}
	src := filepath.Join(root, "tests", "requirer", "server")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			b, err := os.ReadFile(filepath.Join(src, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, n)
		}
	}
	cmd := exec.Command("go", append([]string{"build", "-o", filepath.Join(dir, "bin", "requirer-server")}, files...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the requirer server does not build outside the module (as its rock builds it): %v\n%s", err, out)
	}
}

// charmLayout is what `charmcraft pack` puts in the charm for this charmcraft.yaml: the files its parts prime
// (their `prime` lists), then what charmcraft writes itself (services/package.py write_metadata): manifest.yaml,
// metadata.yaml, and actions.yaml and config.yaml when the project has actions or config, each copied from the
// project's file when there is one.
func charmLayout(t *testing.T, project map[string]any) []string {
	t.Helper()
	files := []string{"manifest.yaml", "metadata.yaml"}
	if project["actions"] != nil {
		files = append(files, "actions.yaml")
	}
	if project["config"] != nil {
		files = append(files, "config.yaml")
	}
	for name, p := range project["parts"].(map[string]any) {
		prime, _ := p.(map[string]any)["prime"].([]any)
		if len(prime) == 0 {
			t.Fatalf("part %s primes everything it installs: list the files in prime so the layout is known", name)
		}
		for _, f := range prime {
			files = append(files, f.(string))
		}
	}
	sort.Strings(files)
	return files
}

// TestCharmLayout checks the archive `make charm` writes against what charmcraft would pack from charmcraft.yaml:
// the same file name, the same files, the project's YAML files unchanged, an executable dispatch, and a
// manifest.yaml with charmcraft's fields for the base and platform.
func TestCharmLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the charm with make")
	}
	project, err := charmcraftProject(root, mustYAML(t, filepath.Join(root, "charmcraft.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	platforms := project["platforms"].(map[string]any)
	if len(platforms) != 1 {
		t.Fatalf("platforms = %v, want one", platforms)
	}
	var platform string
	for p := range platforms {
		platform = p
	}
	build := t.TempDir()
	runMake(t, "charm", "BUILD="+build)
	// charmcraft names the charm <name>_<platform>.charm (services/package.py get_charm_name).
	charmFile := filepath.Join(build, fmt.Sprintf("%s_%s.charm", project["name"], strings.ReplaceAll(platform, ":", "-")))
	zr, err := zip.OpenReader(charmFile)
	if err != nil {
		t.Fatalf("make charm did not write the file charmcraft would: %v", err)
	}
	defer zr.Close()
	content := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content[f.Name], err = io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == "dispatch" && f.Mode().Perm() != 0o755 {
			t.Errorf("dispatch mode = %v, want 0755", f.Mode())
		}
	}
	sort.Strings(names)
	if want := charmLayout(t, project); !slices.Equal(names, want) {
		t.Errorf("the charm holds %v, charmcraft would pack %v", names, want)
	}
	for _, f := range []string{"metadata.yaml", "config.yaml", "actions.yaml"} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if string(content[f]) != string(src) {
			t.Errorf("%s in the charm differs from the project's (charmcraft copies the file)", f)
		}
	}
	var manifest struct {
		Analysis struct {
			Attributes []struct{ Name, Result string }
		}
		Bases []struct {
			Name, Channel string
			Architectures []string
		}
		StartedAt string `yaml:"charmcraft-started-at"`
		Version   string `yaml:"charmcraft-version"`
	}
	var raw map[string]any
	if err := yaml.Unmarshal(content["manifest.yaml"], &raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// models/manifest.py Manifest, dumped without None (no image-info unless CHARMCRAFT_IMAGE_INFO is set).
	if want := []string{"analysis", "bases", "charmcraft-started-at", "charmcraft-version"}; !slices.Equal(keys, want) {
		t.Errorf("manifest.yaml has %v, charmcraft writes %v", keys, want)
	}
	if err := yaml.Unmarshal(content["manifest.yaml"], &manifest); err != nil {
		t.Fatal(err)
	}
	name, channel, _ := strings.Cut(project["base"].(string), "@")
	if len(manifest.Bases) != 1 || manifest.Bases[0].Name != name || manifest.Bases[0].Channel != channel ||
		!slices.Equal(manifest.Bases[0].Architectures, []string{platform}) {
		t.Errorf("manifest bases = %+v, want %s %s [%s]", manifest.Bases, name, channel, platform)
	}
	// linters.py: Language and Framework are "unknown" for a dispatch that does not run Python.
	attrs := map[string]string{}
	for _, a := range manifest.Analysis.Attributes {
		attrs[a.Name] = a.Result
	}
	if attrs["language"] != "unknown" || attrs["framework"] != "unknown" || len(attrs) != 2 {
		t.Errorf("manifest analysis = %v, want language and framework unknown", attrs)
	}
	if manifest.StartedAt == "" || manifest.Version == "" {
		t.Errorf("manifest started-at %q, version %q", manifest.StartedAt, manifest.Version)
	}
}
