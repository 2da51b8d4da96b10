// Package fuzz holds run.sh, which runs every fuzz target of the module for make fuzz, and the tests of how it
// tells a failing input from Go's own end-of-fuzztime race.
package fuzz
