// Package packaging holds the tests of the files the real tools build from: charmcraft.yaml (the charm) and the
// rockcraft.yaml files (the authority's and the reference requirer's workload images). They read each file as the
// tool does, validate it against the tool's published JSON schema (testdata/schemas, copied with their provenance)
// and the rules the schema leaves to the tool's code, derive from it what the tool would pack, and hold `make
// charm` and `make image` to that layout, so the simulator runs what a real deployment would hold. The hygiene
// tests keep build outputs out of git: .gitignore covers every binary `go build` makes, and no tracked file is an
// executable binary or, outside testdata, over 1 MiB.
package packaging
