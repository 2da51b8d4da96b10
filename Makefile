# tls-authority: `make demo` builds the charm and runs it on the simulated models; `make test` runs every test.
GO        ?= go
BUILD     := build
CHARM     := $(BUILD)/tls-authority_amd64.charm
IMAGE     := $(BUILD)/image
REQUIRER_IMAGE := $(BUILD)/requirer-image
GOFLAGS_B := -trimpath -ldflags=-s
TEST_TIMEOUT ?= 40m
BENCH_TIME   ?= 30x

.PHONY: all deps charm image requirer tools demo test test-short bench fuzz lint clean docs sweep

all: charm image tools

# Debian tools the simulated containers and the tests use: the real update-ca-certificates, openssl, unshare, curl.
DEB_TOOLS := update-ca-certificates:ca-certificates openssl:openssl unshare:util-linux curl:curl git:git
# Debian's prometheus package (the real prometheus and promtool the COS tests run) is unpacked, not installed, so no
# system service starts: tests/cos finds the binaries here.
PROM_DIR  := $(CURDIR)/$(BUILD)/deps/prometheus
deps:
	@missing=""; for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${t%%:*} ] || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run: sudo apt-get install -y$$missing)"; exit 1; fi; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi
	@[ "$$(id -u)" = 0 ] || { echo "the simulator needs root: it gives every container a private mount namespace"; exit 1; }
	@[ -x $(PROM_DIR)/usr/bin/prometheus ] && [ -x $(PROM_DIR)/usr/bin/promtool ] || { \
	  tmp=$$(mktemp -d) && cd $$tmp && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }; } && \
	  cd - >/dev/null && rm -rf $(PROM_DIR) && mkdir -p $(PROM_DIR) && dpkg-deb -x $$tmp/prometheus_*.deb $(PROM_DIR) && rm -rf $$tmp && \
	  echo "unpacked $$($(PROM_DIR)/usr/bin/promtool --version 2>&1 | head -n 1) into $(PROM_DIR)"; }

# The hook binary is static and stripped: it starts on every hook, so its size is its start-up time.
$(BUILD)/dispatch: FORCE
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $@ ./hooks

# The OpenTelemetry exporter, a binary of its own: dispatch runs it only when the tracing relation gives an endpoint,
# so the SDK weighs on no other hook (linked into dispatch it doubled it and added 6 ms to every start).
$(BUILD)/hooktrace: FORCE
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $@ ./hooktrace/cmd/hooktrace

charm: $(BUILD)/dispatch $(BUILD)/hooktrace
	$(GO) run ./cmd/pack-charm -charm-dir . -dispatch $(BUILD)/dispatch -exec bin/hooktrace=$(BUILD)/hooktrace -o $(CHARM)

# The simulated OCI image of the authority container, laid out as the rock (rockcraft.yaml) lays out its root
# filesystem; the simulated container sees its usr/local/bin at /usr/local/bin (tests/packaging checks the paths).
image:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $(IMAGE)/usr/local/bin/tls-authority-agent ./agent/cmd/tls-authority-agent

tools:
	$(GO) build -o $(BUILD)/scenario ./tests/cmd/scenario

# The reference requirer charm (tests/requirer) and its server image, for the TLS demo.
requirer: FORCE
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $(BUILD)/requirer/dispatch ./tests/requirer/hooks
	$(GO) run ./cmd/pack-charm -charm-dir tests/requirer -dispatch $(BUILD)/requirer/dispatch -o $(BUILD)/tls-requirer_amd64.charm
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $(REQUIRER_IMAGE)/usr/local/bin/requirer-server ./tests/requirer/server

# Each scenario ends with a table of the certificates it recorded and the handshakes it made, and fails (so does
# make demo) on any handshake that did not go as expected or any certificate that openssl verify does not verify
# up to its root; the full final state of each run is in build/<scenario>-state.json. multimodel.yaml is the
# multi-model reference architecture (SPEC §1); multimodel-intermediate.yaml, its variant with the model
# authorities as intermediates of pki. cos-tls-full.yaml is TLS in COS (SPEC §1) with internal and external TLS on;
# its three other modes (cos-tls-internal, cos-tls-external, cos-tls-off) run in make test
# (tests/e2e/cos_modes_test.go). demo.yaml and demo-tls.yaml, the earlier single-model demos, run in make test:
# DEMO_SCENARIOS="demo demo-tls" make demo shows them.
# The scenarios run at the same time, each on its own simulated models (most of a run is waiting on hooks and
# update-ca-certificates, not CPU), and their transcripts (build/<scenario>.log) are printed one after the other.
DEMO_SCENARIOS ?= multimodel multimodel-intermediate cos-tls-full
demo: deps charm image requirer tools
	@start=$$(date +%s); echo "make demo: running $(DEMO_SCENARIOS) (transcripts in $(BUILD)/<scenario>.log)"; \
	for s in $(DEMO_SCENARIOS); do \
	  rm -rf $(BUILD)/$$s; \
	  ( $(BUILD)/scenario run tests/scenarios/$$s.yaml --dir $(BUILD)/$$s --out $(BUILD)/$$s-state.json >$(BUILD)/$$s.log 2>&1; \
	    echo $$? >$(BUILD)/$$s.rc ) & \
	done; wait; failed=""; \
	for s in $(DEMO_SCENARIOS); do cat $(BUILD)/$$s.log; [ "$$(cat $(BUILD)/$$s.rc)" = 0 ] || failed="$$failed $$s"; done; \
	took=$$(( $$(date +%s) - start )); \
	if [ -n "$$failed" ]; then echo "make demo: FAILED:$$failed (after $${took}s)"; exit 1; fi; \
	echo "make demo: $(DEMO_SCENARIOS) passed in $${took}s"

test: deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -count=1 -short ./...

# The scale storm at its full size (1,000 joins, three ways) is most of it: about 5 h on the 2-core machine.
bench: charm image
	$(GO) test -run '^$$' -bench . -benchtime $(BENCH_TIME) -timeout 8h ./tests/...

FUZZTIME ?= 60s
# The partial-commit sweep in full: the scenario once per secret-changing commit, each failed after its secrets as
# Juju's commit can fail (make test runs a sample of it).
sweep: deps
	TLS_AUTHORITY_SWEEP=full $(GO) test -count=1 -timeout 60m -run '^TestPartialCommitSweep$$' -v ./tests/e2e

# Every fuzz target for FUZZTIME; tests/fuzz/run.sh says how a failing input is told from Go's own deadline race.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) tests/fuzz/run.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

clean:
	rm -rf $(BUILD)

# The configuration and action reference (docs/reference/config.md, actions.md), generated from config.yaml and
# actions.yaml; make test fails while they are stale (cmd/docgen's test).
docs:
	$(GO) run ./cmd/docgen

FORCE:

# A real Juju controller (4.1-beta2) on a single-node Kubernetes (1.34), all built from source, in a network
# namespace with no route out (tests/juju/README.md). The builds and images are cached in /var/cache/tls-authority-juju
# (JUJU_CACHE) and reused while their inputs do not change; the env file tests/integration sources is
# build/juju/env. juju-down leaves no process, mount, namespace or iptables rule behind.
.PHONY: juju-up juju-down test-integration
juju-up: charm requirer
	tests/juju/up.sh
juju-down:
	tests/juju/down.sh

# tests/integration against the controller juju-up brought up. The namespace has no route to the module proxy, so
# the test binary is built outside and run inside; a test that cannot reach the controller fails, it does not skip.
INTEGRATION_TIMEOUT ?= 120m
# How many integration tests run side by side on the controller (each has models of its own).
INTEGRATION_PARALLEL ?= 7
test-integration: charm requirer
	cd tests/integration && $(GO) test -c -o $(CURDIR)/$(BUILD)/integration.test .
	. $(CURDIR)/$(BUILD)/juju/env && cd tests/integration && $$TLSA_JUJU_EXEC env TLS_AUTHORITY_ENV_FILE=$(CURDIR)/$(BUILD)/juju/env \
	  TLS_AUTHORITY_REQUIRE_CONTROLLER=1 $(CURDIR)/$(BUILD)/integration.test -test.count=1 -test.v -test.timeout $(INTEGRATION_TIMEOUT) -test.parallel $(INTEGRATION_PARALLEL) $(if $(RUN),-test.run '$(RUN)')
