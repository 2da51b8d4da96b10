# tls-authority: `make demo` builds the charm and runs it on the simulated models; `make test` runs every test.
GO        ?= go
BUILD     := build
CHARM     := $(BUILD)/tls-authority_amd64.charm
IMAGE     := $(BUILD)/image
REQUIRER_IMAGE := $(BUILD)/requirer-image
GOFLAGS_B := -trimpath -ldflags=-s
TEST_TIMEOUT ?= 40m
BENCH_TIME   ?= 30x

.PHONY: all deps charm image requirer tools demo test test-short bench fuzz lint clean

all: charm image tools

# Debian tools the simulated containers and the tests use: the real update-ca-certificates, openssl, unshare, curl.
DEB_TOOLS := update-ca-certificates:ca-certificates openssl:openssl unshare:util-linux curl:curl git:git
deps:
	@missing=""; for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${t%%:*} ] || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run: sudo apt-get install -y$$missing)"; exit 1; fi; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi
	@[ "$$(id -u)" = 0 ] || { echo "the simulator needs root: it gives every container a private mount namespace"; exit 1; }

# The hook binary is static and stripped: it starts on every hook, so its size is its start-up time.
$(BUILD)/dispatch: FORCE
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_B) -o $@ ./hooks

charm: $(BUILD)/dispatch
	$(GO) run ./cmd/pack-charm -charm-dir . -dispatch $(BUILD)/dispatch -o $(CHARM)

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

demo: deps charm image requirer tools
	rm -rf $(BUILD)/demo $(BUILD)/demo-tls
	$(BUILD)/scenario run tests/scenarios/demo.yaml --dir $(BUILD)/demo --out $(BUILD)/demo-state.json
	$(BUILD)/scenario run tests/scenarios/demo-tls.yaml --dir $(BUILD)/demo-tls --out $(BUILD)/demo-tls-state.json

test: deps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -count=1 -short ./...

bench: charm image
	$(GO) test -run '^$$' -bench . -benchtime $(BENCH_TIME) -timeout 30m ./tests/...

FUZZTIME ?= 60s
# A fuzz run can end in "context deadline exceeded" when a worker is still busy as the time runs out (worse on a
# loaded machine) without any failing input. A real failure is saved under testdata/fuzz and replayed first by the
# next run, so one retry tells the two apart: it passes only if nothing fails again.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg || \
	    { echo "retrying $$f once"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg; } || exit 1; \
	  done; \
	done
	@new=$$(git status --porcelain -- '*/testdata/fuzz/*'); if [ -n "$$new" ]; then echo "new failing fuzz inputs:"; echo "$$new"; exit 1; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

clean:
	rm -rf $(BUILD)

FORCE:
