# Developer commands. `make demo` and `make test` work on a fresh machine (they install what is missing).
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: setup build test demo bench e2e lint clean upstream differential

setup:
	bash scripts/setup.sh

build:
	$(CARGO) build --workspace --bins

# Upstream programs built from their Go modules (versions in tools/upstream/pins.tsv) that the
# tests run against beside Debian's packages. `make test` builds these groups when Go is present
# and then requires them; see README "Testing against what users run" for the timings behind it.
TEST_UPSTREAM ?= prometheus controlplane
UPSTREAM_GROUPS ?= prometheus

upstream:
	bash scripts/upstream.sh $(UPSTREAM_GROUPS)

test: setup
	$(CARGO) build --workspace --bins
	@if command -v go >/dev/null 2>&1; then \
	  dir=$$(bash scripts/upstream.sh $(TEST_UPSTREAM)) || exit $$?; \
	  echo "make test: against Debian's Prometheus/Alertmanager and the current ones in $$dir"; \
	  export FLUX_MONITOR_UPSTREAM_DIR="$$dir" FLUX_MONITOR_REQUIRE_UPSTREAM=1; \
	  case " $(TEST_UPSTREAM) " in *" controlplane "*) export FLUX_MONITOR_REQUIRE_CONTROLPLANE=1;; esac; \
	  $(CARGO) test --workspace; \
	else \
	  echo "make test: go is not installed: testing against Debian's Prometheus/Alertmanager only" >&2; \
	  $(CARGO) test --workspace; \
	fi
	@# The fuzz targets are a workspace of their own (make fuzz runs them): check they still build.
	$(CARGO) check --manifest-path fuzz/Cargo.toml --bins

# Real Flux controllers against the real control plane, compared with flux-sim (slow: see README).
differential: setup
	$(CARGO) build --workspace --bins
	@dir=$$(bash scripts/upstream.sh prometheus controlplane flux) || exit $$?; \
	  FLUX_MONITOR_UPSTREAM_DIR="$$dir" FLUX_MONITOR_REQUIRE_FLUX=1 $(CARGO) test -p e2e --test differential -- --ignored --nocapture

# The end-to-end tests alone (real binaries, real kubectl).
e2e: setup build
	$(CARGO) test -p e2e

demo: setup build
	bash scripts/demo.sh

bench: setup
	$(CARGO) build --release --workspace --bins
	bash scripts/bench.sh

# Every parser under cargo-fuzz (libFuzzer) for FUZZ_SECONDS each (fuzz/run.sh); fails on a
# panic, a hang or unbounded memory. Not part of `make test`.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) CARGO=$(CARGO) bash fuzz/run.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
