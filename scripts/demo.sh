#!/usr/bin/env bash
# `make demo`: serve scenarios/demo.yaml on flux-sim's embedded Kubernetes API with the
# notification-controller emulation, look at it through the real kubectl and through
# `kubectl flux-monitor status`, `events` and `check`, then stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/debug"
tmp=$(mktemp -d)
sim_pid=""
cleanup() {
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
