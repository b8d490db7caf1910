#!/usr/bin/env bash
# Alert-fire drills in CI: create a kind cluster, install Flux and kube-prometheus-stack with the
# project's rule pack and Alertmanager routes, run `kubectl flux-monitor drill --cluster` with a
# JUnit report, and delete the cluster.
#
#   e2e/kind/run.sh [--scenarios PATH] [--junit FILE] [--keep]     # needs docker, kind, kubectl, helm, flux
#   e2e/kind/run.sh --flux-sim [--scenarios PATH] [--junit FILE]   # the same steps against flux-sim
#
# With --flux-sim the cluster is `flux-sim serve` at time scale 60 (its controllers are the Flux
# install), Prometheus and Alertmanager are the Debian binaries started on loopback with the same
# rule pack (each `for` in seconds instead of minutes, to match the time scale) and the same
# routes, and every receiver's webhook is the drill's own sink. The drill command is the same.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
mode=kind
scenarios=""
junit="drill-junit.xml"
keep=false
cluster_name=${KIND_CLUSTER_NAME:-flux-monitor-drill}
# Versions of what the kind path installs (CI pins them).
kube_prometheus_stack_version=${KUBE_PROMETHEUS_STACK_VERSION:-75.15.1}
agnhost_image=${AGNHOST_IMAGE:-registry.k8s.io/e2e-test-images/agnhost:2.53}
# flux2-monitoring-example, the Flux project's monitoring setup (kube-state-metrics' config for
# gotk_resource_info, the controllers' PodMonitor), at a fixed commit.
monitoring_example=${MONITORING_EXAMPLE:-https://raw.githubusercontent.com/fluxcd/flux2-monitoring-example/main/monitoring}

while [ $# -gt 0 ]; do
  case "$1" in
    --flux-sim) mode=flux-sim ;;
    --scenarios) scenarios=$2; shift ;;
    --junit) junit=$2; shift ;;
    --keep) keep=true ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d)
pids=()
log() { printf '==> %s\n' "$*" >&2; }
finish() {
  local rc=$?
  for pid in "${pids[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ] && [ "$mode" = flux-sim ]; then
    for f in "$work"/*.log; do
      [ -s "$f" ] && { echo "--- last lines of $(basename "$f")" >&2; tail -n 5 "$f" >&2; }
    done
  fi
  if [ "$mode" = kind ] && [ "$keep" = false ]; then
    kind delete cluster --name "$cluster_name" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

need() {
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || { echo "run.sh: $c is required for the $mode path" >&2; exit 2; }
  done
}

# A loopback port nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "run.sh: no free port found" >&2
  exit 2
}

wait_http() { # URL WHAT
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: $2 did not answer on $1" >&2
  cat "$work"/*.log >&2 2>/dev/null || true
  exit 1
}

# The Alertmanager routes, every receiver a webhook to $1.
alertmanager_config() { # SINK GROUP_WAIT GROUP_INTERVAL
  sed -e "s|SINK|$1|g" -e "s|GROUP_WAIT|$2|" -e "s|GROUP_INTERVAL|$3|" "$repo/e2e/kind/alertmanager.yaml"
}

if [ "$mode" = kind ]; then
  need docker kind kubectl helm flux curl
  plugin=${FLUX_MONITOR:-$(command -v kubectl-flux_monitor || true)}
  [ -n "$plugin" ] || { echo "run.sh: put kubectl-flux_monitor on PATH (cargo build --release)" >&2; exit 2; }
  scenarios=${scenarios:-$repo/scenarios/cluster}
else
  need jq curl prometheus prometheus-alertmanager
  plugin=${FLUX_MONITOR:-$repo/target/debug/kubectl-flux_monitor}
  flux_sim=${FLUX_SIM:-$repo/target/debug/flux-sim}
  if [ ! -x "$plugin" ] || [ ! -x "$flux_sim" ]; then
    echo "run.sh: build first (cargo build --workspace --bins)" >&2
    exit 2
  fi
  scenarios=${scenarios:-$repo/scenarios/cluster}
fi

create_cluster() {
  if [ "$mode" = kind ]; then
    log "creating kind cluster $cluster_name"
    kind create cluster --name "$cluster_name" --wait 120s
    kubectl cluster-info
  else
    log "starting flux-sim serve as the cluster"
    "$flux_sim" serve --scenario "$repo/e2e/kind/flux-sim-cluster.yaml" --notify --time-scale 60 \
      --kubeconfig-out "$work/kubeconfig" --endpoints-out "$work/endpoints.json" 2>"$work/flux-sim.log" &
    pids+=($!)
    for _ in $(seq 1 200); do [ -s "$work/endpoints.json" ] && break; sleep 0.1; done
    [ -s "$work/endpoints.json" ] || { echo "run.sh: flux-sim did not start" >&2; cat "$work/flux-sim.log" >&2; exit 1; }
    export KUBECONFIG="$work/kubeconfig"
  fi
}

install_flux() {
  if [ "$mode" = kind ]; then
    log "installing Flux"
    flux install
    flux check
  else
    log "Flux: flux-sim's controllers ($(jq -r .fluxVersion "$work/endpoints.json"))"
  fi
}

install_monitoring() {
  if [ "$mode" = kind ]; then
    log "installing an alert sink and kube-prometheus-stack $kube_prometheus_stack_version with the rule pack"
    kubectl create namespace monitoring
    kubectl -n monitoring create deployment alert-sink --image="$agnhost_image" -- /agnhost netexec --http-port=8080
    kubectl -n monitoring expose deployment alert-sink --port=8080
    alertmanager_config http://alert-sink.monitoring.svc:8080 10s 1m >"$work/alertmanager.yaml"
    helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
    helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
      --namespace monitoring --version "$kube_prometheus_stack_version" --wait --timeout 10m \
      -f "$monitoring_example/controllers/kube-prometheus-stack/kube-state-metrics-config.yaml" \
      --set-file alertmanager.stringConfig="$work/alertmanager.yaml" \
      --set grafana.enabled=false \
      --set prometheus.prometheusSpec.scrapeInterval=15s \
      --set prometheus.prometheusSpec.evaluationInterval=15s \
      --set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false \
      --set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false
    kubectl -n monitoring apply -f "$monitoring_example/configs/podmonitor.yaml"
    "$plugin" rules -o yaml | kubectl -n monitoring apply -f -
    kubectl -n monitoring rollout status deployment/alert-sink --timeout=120s
    prom_flags=(--prometheus-service monitoring/kube-prometheus-stack-prometheus:9090
                --alertmanager-service monitoring/kube-prometheus-stack-alertmanager:9093)
    log "waiting for Prometheus to load the pack"
    for _ in $(seq 1 60); do
      kubectl get --raw "/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy/api/v1/rules" \
        | grep -q FluxReconciliationFailure && break
      sleep 5
    done
    # Pods reach the runner through the kind network's gateway: the drill's sink listens there.
    gateway=$(docker network inspect kind -f '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}' | awk '{print $1}')
    sink_flags=(--sink-listen 0.0.0.0:9095 --sink-address "http://$gateway:9095")
  else
    log "starting Prometheus and Alertmanager on loopback with the rule pack"
    local prom_port am_port
    prom_port=$(free_port); am_port=$(free_port); sink_port=$(free_port)
    alertmanager_config "http://127.0.0.1:$sink_port" 1s 5s >"$work/alertmanager.yaml"
    # The pack's `for` values are minutes; at time scale 60 they are as many seconds.
    "$plugin" rules -o rule-file | sed -E 's/^( *for: )([0-9]+)m$/\1\2s/' >"$work/rules.yml"
    {
      printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n'
      printf 'rule_files: ["%s"]\n' "$work/rules.yml"
      printf 'alerting:\n  alertmanagers:\n    - static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$am_port"
      jq -r .prometheusScrapeConfigs "$work/endpoints.json"
    } >"$work/prometheus.yml"
    prometheus-alertmanager --config.file="$work/alertmanager.yaml" --storage.path="$work/am-data" \
      --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$work/alertmanager.log" 2>&1 &
    pids+=($!)
    prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom-data" \
      --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$am_port/-/ready" Alertmanager
    wait_http "http://127.0.0.1:$prom_port/-/ready" Prometheus
    # As kube-prometheus-stack is, once running: its first scrapes done.
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$prom_port/api/v1/query?query=count(gotk_resource_info)" | grep -q '"value"' && break
      sleep 0.1
    done
    prom_flags=(--prometheus-url "http://127.0.0.1:$prom_port" --alertmanager-url "http://127.0.0.1:$am_port")
    sink_flags=(--sink-listen "127.0.0.1:$sink_port")
  fi
}

run_drill() {
  log "drilling: $plugin drill --cluster --scenarios $scenarios"
  local rc=0
  "$plugin" drill --cluster --scenarios "$scenarios" "${prom_flags[@]}" "${sink_flags[@]}" \
    -o text --junit "$junit" || rc=$?
  log "JUnit report: $junit (drill exited $rc)"
  return "$rc"
}

create_cluster
install_flux
install_monitoring
run_drill
