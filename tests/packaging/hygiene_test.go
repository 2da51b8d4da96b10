package packaging_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedSize is the largest file the repository may track outside a testdata directory: a larger one is a
// build output or a data set committed by mistake (two release binaries of 6.6 and 9.8 MB once were).
const maxTrackedSize = 1 << 20

// binaryMagic are the first bytes of the executable formats a `go build` or a C toolchain writes.
var binaryMagic = []struct {
	name  string
	magic []byte
}{
	{"an ELF executable", []byte("\x7fELF")},
	{"a Mach-O executable", []byte{0xcf, 0xfa, 0xed, 0xfe}},
	{"a Mach-O executable", []byte{0xce, 0xfa, 0xed, 0xfe}},
	{"a Windows executable", []byte("MZ")},
	{"a WebAssembly module", []byte("\x00asm")},
}

// trackedProblem says what is wrong with a tracked file, or "" when nothing is: an executable binary anywhere (a
// file with a binary executable's magic, or with the executable bit and a NUL byte in its first 8 KiB: a script
// has none), or a file over maxTrackedSize outside a testdata directory.
func trackedProblem(path string, size int64, executable bool, head []byte) string {
	for _, m := range binaryMagic {
		if bytes.HasPrefix(head, m.magic) && (m.name != "a Windows executable" || executable || looksBinary(head)) {
			return m.name
		}
	}
	if executable && looksBinary(head) {
		return "an executable binary"
	}
	if size > maxTrackedSize && !underTestdata(path) {
		return fmt.Sprintf("%d bytes, over %d outside testdata", size, maxTrackedSize)
	}
	return ""
}

func looksBinary(head []byte) bool {
	return bytes.IndexByte(head[:min(len(head), 8192)], 0) >= 0
}

func underTestdata(path string) bool {
	return strings.HasPrefix(path, "testdata/") || strings.Contains(path, "/testdata/")
}

func TestTrackedProblem(t *testing.T) {
	text := []byte("#!/bin/sh\necho hello\n")
	for _, c := range []struct {
		name       string
		path       string
		size       int64
		executable bool
		head       []byte
		want       string // a prefix of the problem, "" for none
	}{
		{"a go build at the root", "server", 9 << 20, true, []byte("\x7fELF\x02\x01\x01\x00\x00"), "an ELF executable"},
		{"an ELF without its executable bit", "tools/x", 100, false, []byte("\x7fELF\x02\x01"), "an ELF executable"},
		{"an ELF under testdata is still a binary", "ca/testdata/x", 100, true, []byte("\x7fELF\x02\x01"), "an ELF executable"},
		{"a Mach-O binary", "bin/x", 100, true, []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "a Mach-O executable"},
		{"an executable with NULs", "tools/blob", 100, true, []byte("abc\x00def"), "an executable binary"},
		{"a shell script", "tests/juju/up.sh", int64(len(text)), true, text, ""},
		{"a Go file starting with MZ", "x/mz.go", 10, false, []byte("MZ is a name"), ""},
		{"a big file", "docs/big.json", 2 << 20, false, []byte("{}"), "2097152 bytes"},
		{"a big file under testdata", "tests/packaging/testdata/schemas/big.json", 2 << 20, false, []byte("{}"), ""},
		{"exactly 1 MiB", "docs/edge.txt", 1 << 20, false, []byte("a"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := trackedProblem(c.path, c.size, c.executable, c.head)
			if (c.want == "") != (got == "") || !strings.HasPrefix(got, c.want) {
				t.Errorf("trackedProblem(%s) = %q, want %q", c.path, got, c.want)
			}
		})
	}
}

// gitOrSkip runs git in the repository, skipping the test when this is no git checkout (a source tarball).
func gitOrSkip(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// TestNoBinariesTracked: no tracked file is an executable binary, and none outside testdata is over 1 MiB.
func TestNoBinariesTracked(t *testing.T) {
	out := gitOrSkip(t, "ls-files", "-z")
	n := 0
	for _, path := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		fi, err := os.Lstat(filepath.Join(root, path))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		f, err := os.Open(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 8192)
		k, _ := f.Read(head)
		f.Close()
		n++
		if p := trackedProblem(path, fi.Size(), fi.Mode()&0o111 != 0, head[:k]); p != "" {
			t.Errorf("%s is tracked: %s (git rm --cached it and ignore it in .gitignore)", path, p)
		}
	}
	if n < 100 {
		t.Fatalf("git ls-files listed %d files: not this repository", n)
	}
}

// TestBuildOutputsIgnored: what `make` and a plain `go build` leave in the tree is ignored by .gitignore: the
// binary of every main package, at the root and in its own directory (where `go build ./<pkg>` and `cd <pkg> &&
// go build` put it), and the outputs of make, go test -c, charmcraft and rockcraft.
func TestBuildOutputsIgnored(t *testing.T) {
	gitOrSkip(t, "rev-parse", "--git-dir")
	list := exec.Command("go", "list", "-f", `{{if eq .Name "main"}}{{.Dir}}{{end}}`, "./...")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"build/tls-authority_amd64.charm", "build/image/usr/local/bin/tls-authority-agent",
		"tls-authority_amd64.charm", "tls-authority-agent_0.1_amd64.rock", "tests/requirer/server/tls-requirer-server_0.1_amd64.rock",
		"charm.test", "tests/integration/integration.test", "cover.out", "cpu.prof", "parts/charm/x", "stage/x", "prime/x"}
	mains := 0
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, dir)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(dir)
		mains++
		// A root binary named like a directory cannot be written (go build refuses): ./hooks, ./tests/requirer/hooks.
		if fi, err := os.Stat(filepath.Join(root, base)); err != nil || !fi.IsDir() {
			paths = append(paths, base)
		}
		paths = append(paths, filepath.ToSlash(filepath.Join(rel, base)))
	}
	if mains < 5 {
		t.Fatalf("go list found %d main packages: not this repository", mains)
	}
	for _, p := range paths {
		cmd := exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", p)
		if err := cmd.Run(); err != nil {
			t.Errorf("%s is not ignored by .gitignore (git check-ignore: %v)", p, err)
		}
	}
}
