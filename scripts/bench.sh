#!/usr/bin/env bash
# `make bench`: scale figures on release builds, printed, not asserted.
# For each size in BENCH_SIZES (default 10000 30000 100000 generated objects), BENCH_RUNS times
# (default 3; min/median/max are printed, as other work shares the machine's cores):
#  1. flux-sim serve on `generate --objects N` with 30m of simulated history (--start-at, so the
#     controllers are settled, as a live cluster is): start-up time (until the endpoints file is
#     written: API seeded, controllers started), peak memory (VmHWM), memory after the start-up
#     storm (VmRSS) and per object.
#  2. API latency while the controllers take their first look: from the moment the API answers,
#     for BENCH_PROBE_SECS (default 30) one client alternates a GET of one Kustomization and a
#     LIST of the first 500 Kustomizations (kubectl's page size); p50/p99/max of each.
#  3. `kubectl flux-monitor status -A -o json` (default --request-timeout, 10s per request)
#     against `kubectl get <every Flux kind> -A -o json` on the same server: wall time and peak
#     memory of both.
# A run whose flux-sim grows past BENCH_MAX_RSS_MIB (default 8192) is stopped and marked.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BENCH_BIN:-$PWD/target/release}"
sizes="${BENCH_SIZES:-10000 30000 100000}"
runs="${BENCH_RUNS:-3}"
probe_secs="${BENCH_PROBE_SECS:-30}"
max_rss_mib="${BENCH_MAX_RSS_MIB:-8192}"
tmp=$(mktemp -d)
sim_pid=""
watch_pid=""
probe_pid=""
stop_children() {
  for pid in "$probe_pid" "$watch_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -INT "$sim_pid"
    for _ in $(seq 100); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  sim_pid="" watch_pid="" probe_pid=""
}
cleanup() { stop_children; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# peak_of OUTFILE CMD...: prints "SECONDS PEAK_MIB EXIT"
peak_of() {
  local out=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$out" 2>"$out.err" || rc=$?
  read -r secs kib < <(tail -n 1 "$tmp/time")
  echo "$secs $((kib / 1024)) $rc"
}
status_field() { awk -v k="$2:" '$1 == k {printf "%d", $2/1024}' "/proc/$1/status" 2>/dev/null || true; }

results="$tmp/results.jsonl"
: >"$results"
for objects in $sizes; do
  "$bin/flux-sim" generate --objects "$objects" --seed 7 >"$tmp/scale.yaml"
  count=$(grep -c '^    - kind:' "$tmp/scale.yaml")
  for run in $(seq "$runs"); do
    rm -f "$tmp/endpoints.json" "$tmp/kubeconfig" "$tmp/probe.json" "$tmp/killed"
    port=$(free_port)
    start=$(now_ms)
    "$bin/flux-sim" serve --scenario "$tmp/scale.yaml" --start-at "${BENCH_START_AT:-30m}" --api-addr "127.0.0.1:$port" \
      --kubeconfig-out "$tmp/kubeconfig" --endpoints-out "$tmp/endpoints.json" >/dev/null 2>"$tmp/serve.log" &
    sim_pid=$!
    python3 scripts/bench-probe.py "http://127.0.0.1:$port" "$probe_secs" "$tmp/probe.json" "$start" &
    probe_pid=$!
    ( while kill -0 "$sim_pid" 2>/dev/null; do
        rss=$(status_field "$sim_pid" VmRSS); rss=${rss:-0}
        if [ "$rss" -gt "$max_rss_mib" ]; then echo "$rss" >"$tmp/killed"; kill -KILL "$sim_pid"; break; fi
        sleep 0.5
      done ) &
    watch_pid=$!
    startup=null
    until [ -s "$tmp/endpoints.json" ]; do
      if ! kill -0 "$sim_pid" 2>/dev/null; then break; fi
      sleep 0.02
    done
    [ -s "$tmp/endpoints.json" ] && startup=$(( $(now_ms) - start ))
    wait "$probe_pid" 2>/dev/null || true
    probe_pid=""
    hwm=$(status_field "$sim_pid" VmHWM); rss=$(status_field "$sim_pid" VmRSS)
    st_secs=null st_mib=null st_rc=null st_rows=null k_secs=null k_mib=null listed=null
    if [ -s "$tmp/endpoints.json" ] && kill -0 "$sim_pid" 2>/dev/null; then
      export KUBECONFIG="$tmp/kubeconfig"
      kinds=$(PATH="$bin:$PATH" kubectl api-resources -o name --request-timeout 120s | grep 'fluxcd.io' | paste -sd, - || true)
      read -r k_secs k_mib _ < <(peak_of "$tmp/kubectl.json" kubectl get "$kinds" -A -o json --request-timeout 120s)
      listed=$(python3 -c 'import json,sys
try: print(len(json.load(open(sys.argv[1]))["items"]))
except Exception: print("null")' "$tmp/kubectl.json")
      read -r st_secs st_mib st_rc < <(peak_of "$tmp/status.json" "$bin/kubectl-flux_monitor" status -A -o json)
      st_rows=$(python3 -c 'import json,sys
try: print(len(json.load(open(sys.argv[1]))["items"]))
except Exception: print("null")' "$tmp/status.json")
      if [ "$st_rc" -gt 1 ] || grep -q 'request-timeout' "$tmp/status.json.err"; then
        echo "bench: status at $objects objects: exit $st_rc: $(head -c 300 "$tmp/status.json.err")" >&2
      fi
      unset KUBECONFIG
      hwm=$(status_field "$sim_pid" VmHWM)
    fi
    killed=$(cat "$tmp/killed" 2>/dev/null || echo null)
    stop_children
    python3 - "$results" "$tmp/probe.json" <<PY
import json, sys
null = None
probe = {}
try:
    probe = json.load(open(sys.argv[2]))
except Exception:
    pass
row = dict(size=$objects, objects=$count, run=$run, startup_ms=$startup, peak_mib=${hwm:-null}, rss_mib=${rss:-null},
           killed_at_mib=$killed, kubectl_s=$k_secs, kubectl_mib=$k_mib, kubectl_items=$listed,
           status_s=$st_secs, status_mib=$st_mib, status_exit=$st_rc, status_items=$st_rows, **probe)
open(sys.argv[1], "a").write(json.dumps(row) + "\n")
PY
    tail -n 1 "$results"
  done
done
python3 scripts/bench-report.py "$results"
[ "${BENCH_DRILL:-1}" = 0 ] || bash scripts/bench-drill.sh "$bin" # drill latency per hop against the theoretical minimum
