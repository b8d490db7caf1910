#!/usr/bin/env bash
# `make demo`: serve scenarios/demo.yaml on flux-sim's embedded Kubernetes API with the
# notification-controller emulation, look at it through the real kubectl and through
# `kubectl flux-monitor status`, `events` and `check`, drill the alerting chain hop by hop
# (`drill --cluster`, about 30 s), then stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/debug"
tmp=$(mktemp -d)
sim_pid=""
mon_pids=()
cleanup() {
  for pid in "${mon_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -INT "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --start-at 1h: the scenario's first hour is simulated in virtual time, so the demo opens on a
# fleet with history (a stale object, a release suspended for an hour). --notify: the controllers'
# events go to the notification-controller emulation, which delivers them to the Alerts'
# Providers and records what fails as Warning events on the Alerts.
# Its log (the emulation warns of each failed delivery) goes to a file, shown if it fails to start.
"$bin/flux-sim" serve --scenario scenarios/demo.yaml --start-at 1h --notify \
  --kubeconfig-out "$tmp/kubeconfig" --endpoints-out "$tmp/endpoints.json" 2>"$tmp/flux-sim.log" &
sim_pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/endpoints.json" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "demo: flux-sim serve exited early:" >&2; cat "$tmp/flux-sim.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$tmp/endpoints.json" ] || { echo "demo: flux-sim serve did not start within 10s" >&2; exit 1; }
export KUBECONFIG="$tmp/kubeconfig"
export PATH="$bin:$PATH"
show() { printf '\n$ %s\n' "$*"; "$@"; }
# What `flux reconcile kustomization infra-configs` does: the build fails again, its error event
# goes to the on-call Alert, whose Provider's endpoint is down; within the Provider's 3s timeout
# notification-controller gives up and records a NotificationDispatchFailed event on the Alert.
show kubectl annotate --overwrite kustomization infra-configs -n flux-system \
  "reconcile.fluxcd.io/requestedAt=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
sleep 5
show kubectl get gitrepositories,ocirepositories,helmrepositories -A
show kubectl get kustomizations -A
show kubectl get helmreleases -A
status_rc=0
show kubectl flux-monitor status -A || status_rc=$?
printf '\n(kubectl flux-monitor status exited %s: 0 healthy, 1 problems found, 2 could not tell)\n' "$status_rc"
show kubectl flux-monitor events -n flux-system --for Alert/on-call
show kubectl flux-monitor events -n flux-system --for ks/infra-configs
check_rc=0
show kubectl flux-monitor check || check_rc=$?
printf '\n(kubectl flux-monitor check exited %s: 0 all checks pass, 1 a check failed, 2 could not tell)\n' "$check_rc"

# The main job: an alert-fire drill on this cluster. A Prometheus with the rule pack scrapes
# flux-sim's listeners and an Alertmanager routes Flux alerts by severity, every receiver a
# webhook to the drill's own sink (as a cluster's monitoring would, to Slack or PagerDuty). The
# pack's `for` values are read as seconds instead of minutes, so the drill takes about 30 s
# instead of 10 minutes. The drill creates canaries, breaks one, follows the alert hop by hop to
# the receiver and Flux's notification to a Provider, then deletes them.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "demo: no free port" >&2; exit 1
}
prom_port=$(free_port); am_port=$(free_port); sink_port=$(free_port)
sed -e "s|SINK|http://127.0.0.1:$sink_port|g" -e "s|GROUP_WAIT|1s|" -e "s|GROUP_INTERVAL|5s|" \
  e2e/kind/alertmanager.yaml >"$tmp/alertmanager.yaml"
kubectl-flux_monitor rules -o rule-file | sed -E 's/^( *for: )([0-9]+)m$/\1\2s/' >"$tmp/rules.yml"
{
  printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
  printf 'rule_files: ["%s"]\n' "$tmp/rules.yml"
  printf 'alerting:\n  alertmanagers:\n    - static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$am_port"
  jq -r .prometheusScrapeConfigs "$tmp/endpoints.json"
} >"$tmp/prometheus.yml"
prometheus-alertmanager --config.file="$tmp/alertmanager.yaml" --storage.path="$tmp/am-data" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$tmp/alertmanager.log" 2>&1 &
mon_pids+=($!)
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
mon_pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=count(gotk_resource_info)" 2>/dev/null | grep -q '"value"' && break
  sleep 0.2
done
drill_rc=0
show kubectl flux-monitor drill --cluster --scenarios scenarios/cluster/reconciliation-failure.yaml \
  --prometheus-url "http://127.0.0.1:$prom_port" --alertmanager-url "http://127.0.0.1:$am_port" \
  --sink-listen "127.0.0.1:$sink_port" || drill_rc=$?
printf '\n(kubectl flux-monitor drill exited %s: 0 every hop observed and passed, 1 a hop failed or could not be observed, 2 could not drill)\n' "$drill_rc"
