// Package docs holds the tests that keep the repository's documentation (README.md, CONTRIBUTING.md, docs/) true:
// every `juju` command in a shell block names the charm's real options, actions, parameters, endpoints and
// resources (config.yaml, actions.yaml, metadata.yaml); the tutorial's commands are the steps of the scenario that
// `make test` runs (tests/scenarios/tutorial.yaml); every status message the charm sets, every metric the agent
// serves, every alert rule and every endpoint is in the reference; and every relative link leads to a file.
// The generated reference pages have their own test (cmd/docgen).
package docs
