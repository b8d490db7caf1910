#!/usr/bin/env bash
# Drill latency per hop at time scale 60 against the theoretical minimum, printed, not asserted.
# Scenario: kustomize-controller goes down (its metrics listener closes at the fault), the
# recommended rule pack's FluxControllerDown (for: 5m -> 5s) and the library's Alertmanager
# config (flux-critical: group_wait 10s -> 167ms). Theoretical minimum from the fault to the
# receiver: scrape interval (1s) + evaluation interval (1s) + scaled `for` + scaled group_wait.
# Harness overhead = (measured - theoretical) / theoretical; goal: under 10 %.
# Usage: scripts/bench-drill.sh [BIN_DIR]   (default target/release; BENCH_DRILL_RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-$PWD/target/release}"
runs="${BENCH_DRILL_RUNS:-3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/kubectl-flux_monitor" rules --flux-version 2.7 -o rule-file >"$tmp/pack.yaml"
mkdir "$tmp/scenarios"
for i in $(seq "$runs"); do
  sed "s/name: drill-controller-down/name: bench-controller-down-$i/" plugin/tests/fixtures/drill/controller-down.yaml >"$tmp/scenarios/$i.yaml"
done
start=$(date +%s%3N)
if ! TMPDIR="$tmp" "$bin/kubectl-flux_monitor" drill --local --scenarios "$tmp/scenarios" --rules "$tmp/pack.yaml" \
  --alertmanager-config scenarios/library/alertmanager.yaml --time-scale 60 -o json >"$tmp/drill.json" 2>"$tmp/drill.log"; then
  echo "bench-drill: the drill failed:" >&2
  cat "$tmp/drill.log" "$tmp/drill.json" >&2
  exit 1
fi
echo "drill --local, $runs x controller-down (8m at time scale 60): $(( $(date +%s%3N) - start )) ms wall in all"
python3 - "$tmp/drill.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
rows = {"fault -> pending": [], "pending -> firing": [], "firing -> Alertmanager": [], "Alertmanager -> receiver": [], "fault -> receiver": []}
theory = None
for s in report["scenarios"]:
    timers = dict(s["timers"])
    case = next(c for c in s["cases"] if c["name"].startswith("alert FluxControllerDown"))
    wall = {h["hop"].split(" ")[0] if h["hop"].startswith(("fault", "delivered")) else h["hop"]: h["wall"] for h in case["hops"]}
    f, p, fi, am, rx = wall["fault"], wall["pending in Prometheus"], wall["firing in Prometheus"], wall["in Alertmanager"], wall["delivered"]
    for key, v in zip(rows, [p - f, fi - p, am - fi, rx - am, rx - f]):
        rows[key].append(v)
    for_s = next(v for k, v in timers.items() if k.startswith("for FluxControllerDown"))
    gw = timers.get("group_wait flux-critical", 0.0)
    theory = {"fault -> pending": 1.0 + 1.0, "pending -> firing": for_s, "firing -> Alertmanager": 0.0,
              "Alertmanager -> receiver": gw, "fault -> receiver": 1.0 + 1.0 + for_s + gw}
mean = lambda xs: sum(xs) / len(xs)
print(f"{'hop':<26} {'measured (mean, s)':>18} {'min..max':>14} {'theoretical (s)':>16}")
for key, xs in rows.items():
    print(f"{key:<26} {mean(xs):>18.3f} {min(xs):>6.3f}..{max(xs):<6.3f} {theory[key]:>16.3f}")
total, t = mean(rows["fault -> receiver"]), theory["fault -> receiver"]
print(f"theoretical minimum: scrape 1s + evaluation 1s + for {theory['pending -> firing']:.3f}s + group_wait {theory['Alertmanager -> receiver']:.3f}s = {t:.3f}s")
print(f"harness overhead: {100 * (total - t) / t:+.1f} % (goal: under 10 %)")
PY
