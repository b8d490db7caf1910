#!/usr/bin/env bash
# `make fuzz`: builds every fuzz target and runs each for FUZZ_SECONDS (default 60), failing on
# the first kind of finding libFuzzer reports: a panic, an input slower than FUZZ_TIMEOUT
# seconds (a hang), or a process above FUZZ_RSS_MB of memory.
#
# Stable Rust is enough: without a sanitizer (Rust code here is memory-safe; what is looked for
# is panics, hangs and unbounded memory) cargo-fuzz needs no nightly flag. cargo-fuzz itself is
# installed from crates.io when missing.
#
# The seeds in fuzz/corpus/<target> are read, never written: what libFuzzer finds interesting
# goes to fuzz/target/corpus/<target> (kept between runs, not committed). A finding is written
# to fuzz/artifacts/<target>/; the summary says how to replay it.
set -euo pipefail

cd "$(dirname "$0")"

SECONDS_EACH=${FUZZ_SECONDS:-60}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}
CARGO=${CARGO:-cargo}
CARGO_FUZZ_VERSION=0.13.2

if ! "$CARGO" fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io"
    "$CARGO" install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

TARGETS=${FUZZ_TARGETS:-$("$CARGO" fuzz list)}

echo "fuzz: building the targets (release, libFuzzer instrumentation, no sanitizer)"
"$CARGO" fuzz build --sanitizer none

mkdir -p target/logs
failed=()
for t in $TARGETS; do
    work="target/corpus/$t"
    mkdir -p "$work" "artifacts/$t"
    log="target/logs/$t.log"
    echo "fuzz: $t for ${SECONDS_EACH}s (seeds: $(ls "corpus/$t" | wc -l) files in fuzz/corpus/$t)"
    if "$CARGO" fuzz run --sanitizer none "$t" "$work" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
        -print_final_stats=1 >"$log" 2>&1; then
        took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $t: no finding in ${took:-?}s of fuzzing: ${runs:-?} inputs, ${cov:-cov: ?} edges, peak RSS ${rss:-?} MB"
    else
        failed+=("$t")
        echo "fuzz: $t: FINDING (log: fuzz/$log)"
        grep -E -A2 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -12 | sed 's/^/    /'
        artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
        if [ -n "$artifact" ]; then
            echo "    replay: cd fuzz && cargo fuzz run --sanitizer none $t $artifact"
        fi
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in: ${failed[*]}"
    exit 1
fi
echo "fuzz: every target ran ${SECONDS_EACH}s without a finding"
