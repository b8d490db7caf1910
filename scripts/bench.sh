#!/usr/bin/env bash
# `make bench`: scale figures on release builds, printed, not asserted.
#  1. flux-sim serve with 10,000 generated objects and 30m of simulated history (--start-at, so
#     the controllers are settled, as a live cluster is): start-up time (until the endpoints file is
#     written: API seeded and controllers started) and peak memory (VmHWM).
#  2. Listing every Flux object through the real kubectl.
#  3. `kubectl flux-monitor status -A -o json` against `kubectl get <every Flux kind> -A -o json`
#     on the same server: wall time and peak memory of both, and their ratio (goal: <= 0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release"
objects="${BENCH_OBJECTS:-10000}"
tmp=$(mktemp -d)
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then kill -INT "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
now_ms() { date +%s%3N; }
# peak RSS in MiB of a command: GNU time's %M (KiB) when available, else /proc polling is not needed
peak_of() { # peak_of OUTFILE CMD...
  local out=$1; shift
  if command -v /usr/bin/time >/dev/null; then
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$out" || true # status exits 1 on problems
    read -r secs kib < <(tail -n 1 "$tmp/time")
    echo "$secs $((kib / 1024))"
  else
    local s; s=$(now_ms); "$@" >"$out"; echo "$(( ($(now_ms) - s) ))e-3 ?"
  fi
}

"$bin/flux-sim" generate --objects "$objects" --seed 7 >"$tmp/scale.yaml"
echo "generated scenario: $(grep -c '^    - kind:' "$tmp/scale.yaml") objects"

start=$(now_ms)
"$bin/flux-sim" serve --scenario "$tmp/scale.yaml" --start-at "${BENCH_START_AT:-30m}" --kubeconfig-out "$tmp/kubeconfig" --endpoints-out "$tmp/endpoints.json" >/dev/null &
sim_pid=$!
until [ -s "$tmp/endpoints.json" ]; do
  kill -0 "$sim_pid" 2>/dev/null || { echo "bench: flux-sim serve exited" >&2; exit 1; }
  sleep 0.02
done
startup=$(( $(now_ms) - start ))
sleep 5 # let the initial reconciles settle
echo "flux-sim serve, $objects objects: start-up ${startup} ms; peak memory $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$sim_pid/status)"

export KUBECONFIG="$tmp/kubeconfig"
export PATH="$bin:$PATH"
kinds=$(kubectl api-resources -o name | grep 'fluxcd.io' | paste -sd, -)
read -r k_secs k_mib < <(peak_of "$tmp/kubectl.json" kubectl get "$kinds" -A -o json)
listed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$tmp/kubectl.json")
echo "kubectl get <every Flux kind> -A -o json: ${k_secs} s, peak ${k_mib} MiB, ${listed} objects"
echo "flux-sim serve peak memory after kubectl list: $(awk '/VmHWM/ {printf "%d MiB", $2/1024}' /proc/$sim_pid/status)"

if "$bin/kubectl-flux_monitor" status --help >/dev/null 2>&1; then
  read -r p_secs p_mib < <(peak_of "$tmp/status.json" kubectl flux-monitor status -A -o json)
  rows=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$tmp/status.json")
  ratio=$(python3 -c "print(f'{float(\"$p_secs\")/max(float(\"$k_secs\"),1e-9):.2f}')")
  echo "kubectl flux-monitor status -A -o json: ${p_secs} s, peak ${p_mib} MiB, ${rows} objects judged"
  echo "wall-time ratio status/kubectl: ${ratio} (goal <= 0.50)"
fi
cleanup; bash scripts/bench-drill.sh "$bin" # drill latency per hop against the theoretical minimum (after the 10,000-object server is gone)
