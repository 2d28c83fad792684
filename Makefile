# The two commands of the README's first screen are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help run test setup lint test-rust test-node test-sdk test-image image sdk bench bench-smoke fuzz fuzz-smoke soak

help:
	@echo "make run    build and start the relay (embedded store) serving the demo page"
	@echo "make test   every test: lint, Rust unit/integration, Node e2e with wafer2-client-sdk, SDK"
	@echo "make sdk    build the npm package in npm/ (wasm + JS glue, size-checked)"
	@echo "make bench  side-by-side benchmark; writes bench/RESULTS.md and bench/results.json"
	@echo "make image  the relay's container image (static binary, FROM scratch, Podman or Docker)"
	@echo "make fuzz   every fuzz target for FUZZ_SECS (600) s each; TARGETS=\"packet ...\" picks some"
	@echo "make soak   SOAK_SECS (600) s of churn against one relay; writes RESULTS.md's Soak section"

run: setup sdk
	$(CARGO) run --release -p cometa-relay -- --demo $(ARGS)

setup:
	@scripts/setup.sh

test: setup lint test-rust test-node test-sdk test-image bench-smoke fuzz-smoke
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --all --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p cometa-protocol -p cometa-client -p cometa-sdk --target wasm32-unknown-unknown -- -D warnings

test-rust:
	$(CARGO) test

test-node:
	$(CARGO) build -p cometa-relay
	cd tests/node && npm ci --no-audit --no-fund && npm test
	tests/readme.sh

image:
	scripts/image.sh

# Builds the image once, then runs it with Podman: API, tunnel, healthcheck, restart on the
# same volume; and checks the deploy/ manifests parse.
test-image: image
	$(CARGO) test -p cometa-relay --features image-test --test image

sdk:
	scripts/build-sdk.sh

test-sdk: sdk
	$(CARGO) build -p cometa-relay
	scripts/test-sdk.sh

bench:
	scripts/bench.sh

bench-smoke:
	scripts/bench.sh --smoke

# Fuzzing (fuzz/, cargo-fuzz): `make fuzz` runs long, `make fuzz-smoke` briefly (in `make test`).
FUZZ_SECS ?= 600
fuzz: setup
	FUZZ_SECS=$(FUZZ_SECS) scripts/fuzz.sh run $(TARGETS)

fuzz-smoke: setup
	scripts/fuzz.sh smoke

# Minutes of churn against one relay; fails if RSS/fds do not come back or a delivery is lost.
SOAK_SECS ?= 600
soak:
	SOAK_SECS=$(SOAK_SECS) scripts/bench.sh --soak
