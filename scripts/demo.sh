#!/usr/bin/env bash
# `make demo`: serve scenarios/demo.yaml on flux-sim's embedded Kubernetes API, look at it through
# the real kubectl and through `kubectl flux-monitor status`, then stop everything.
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
# fleet with history (a stale object, a release suspended for an hour).
"$bin/flux-sim" serve --scenario scenarios/demo.yaml --start-at 1h \
  --kubeconfig-out "$tmp/kubeconfig" --endpoints-out "$tmp/endpoints.json" &
sim_pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/endpoints.json" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "demo: flux-sim serve exited early" >&2; exit 1; }
  sleep 0.1
done
[ -s "$tmp/endpoints.json" ] || { echo "demo: flux-sim serve did not start within 10s" >&2; exit 1; }
sleep 1 # let the controllers take their first look

export KUBECONFIG="$tmp/kubeconfig"
export PATH="$bin:$PATH"
show() { printf '\n$ %s\n' "$*"; "$@"; }
show kubectl get gitrepositories,ocirepositories,helmrepositories -A
show kubectl get kustomizations -A
show kubectl get helmreleases -A
status_rc=0
show kubectl flux-monitor status -A || status_rc=$?
printf '\n(kubectl flux-monitor status exited %s: 0 healthy, 1 problems found, 2 could not tell)\n' "$status_rc"
check_rc=0
show kubectl flux-monitor check || check_rc=$?
printf '\n(kubectl flux-monitor check exited %s: 0 all checks pass, 1 a check failed, 2 could not tell)\n' "$check_rc"
