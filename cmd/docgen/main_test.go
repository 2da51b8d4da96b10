package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReferenceIsCurrent fails when docs/reference/config.md or actions.md is not what config.yaml and actions.yaml
// make: after changing either file, run `go run ./cmd/docgen`.
func TestReferenceIsCurrent(t *testing.T) {
	stale, err := run("../..", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		t.Errorf("%s is stale: run `go run ./cmd/docgen` from the repository root", p)
	}
}

// TestNewOptionAndActionMakeThePagesStale: a copy of the charm's files with an option and an action added (as
// another change adds them) makes both pages stale, and regenerating lists each new name with its parameters.
func TestNewOptionAndActionMakeThePagesStale(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.yaml", "actions.yaml", "docs/reference/config.md", "docs/reference/actions.md"} {
		b, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if stale, err := run(dir, true); err != nil || len(stale) != 0 {
		t.Fatalf("a copy of the current files: stale %v, %v", stale, err)
	}
	appendTo := func(f, s string) {
		fh, err := os.OpenFile(filepath.Join(dir, f), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := fh.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("config.yaml", "  ca-secret:\n    type: secret\n    description: A secret holding a CA to import.\n")
	appendTo("actions.yaml", "set-ca-certificate:\n  description: |\n    Install the signed CA.\n  params:\n    certificate:\n      type: string\n      description: The CA certificate, PEM.\n  required: [certificate]\n")
	stale, err := run(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"docs/reference/config.md", "docs/reference/actions.md"}; !slices.Equal(stale, want) {
		t.Fatalf("stale %v, want %v", stale, want)
	}
	if _, err := run(dir, false); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "docs/reference/config.md"))
	act, _ := os.ReadFile(filepath.Join(dir, "docs/reference/actions.md"))
	for _, want := range []string{"| [`ca-secret`](#ca-secret) | secret | none | A secret holding a CA to import. |", "\n## ca-secret\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.md lacks %q", want)
		}
	}
	for _, want := range []string{"| [`set-ca-certificate`](#set-ca-certificate) | `certificate` | Install the signed CA. |", "| `certificate` | string, required | none | The CA certificate, PEM. |"} {
		if !strings.Contains(string(act), want) {
			t.Errorf("actions.md lacks %q", want)
		}
	}
	if stale, err := run(dir, true); err != nil || len(stale) != 0 {
		t.Fatalf("after regenerating: stale %v, %v", stale, err)
	}
}

func TestProse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"One line.", "One line.\n"},
		{"Text.\nMore text.\n", "Text.\nMore text.\n"},
		{"Run:\n  juju run x/leader a\n    | jq .\nAfter.\n", "Run:\n\n```sh\njuju run x/leader a\n  | jq .\n```\n\nAfter.\n"},
		{"Ends in code:\n  a b\n", "Ends in code:\n\n```sh\na b\n```\n"},
		{"Names <svc>.<model> & more.\n  echo <x> >y\n", "Names &lt;svc&gt;.&lt;model&gt; &amp; more.\n\n```sh\necho <x> >y\n```\n"},
	} {
		if got := prose(c.in); got != c.want {
			t.Errorf("prose(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
