# Developer commands. `make demo` and `make test` work on a fresh machine (they install what is missing).
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: setup build test demo bench e2e lint clean

setup:
	bash scripts/setup.sh

build:
	$(CARGO) build --workspace --bins

test: setup
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

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
