#!/usr/bin/env bash
# Installs what the tests and the demo need when it is missing: Prometheus and promtool (Debian
# `prometheus`), Alertmanager and amtool (`prometheus-alertmanager`), kubectl (`kubernetes-client`
# when the machine has none), jq and git. As root it uses apt-get; otherwise it says what to
# install. Go (for scripts/upstream.sh) is optional: without it `make test` runs against Debian's
# Prometheus and Alertmanager only.
set -euo pipefail

missing_pkgs=()
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing_pkgs+=("$2")
}
need prometheus prometheus
need promtool prometheus
need prometheus-alertmanager prometheus-alertmanager
need amtool prometheus-alertmanager
need kubectl kubernetes-client
# Scheduled drills push to a Pushgateway; the kind CI path's script and workflow are linted here
# (shellcheck, actionlint below) and its flux-sim path runs with jq and curl.
need prometheus-pushgateway prometheus-pushgateway
need shellcheck shellcheck
need jq jq
need curl curl
# scripts/upstream.sh reads `go mod edit -json`; the differential test serves git over HTTP.
need jq jq
need git git
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is missing: install Rust with rustup (https://rustup.rs)" >&2; exit 2; }

# actionlint (GitHub Actions workflows) is a Go module, built from the Go module proxy.
actionlint_version=v1.7.12
if ! command -v actionlint >/dev/null 2>&1; then
  gobin=$(command -v go || true)
  [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ] && gobin=/usr/local/go/bin/go
  if [ -n "$gobin" ] && [ "$(id -u)" -eq 0 ]; then
    echo "setup: building actionlint $actionlint_version with go install" >&2
    GOBIN=/usr/local/bin "$gobin" install "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"
  else
    echo "setup: actionlint is missing: go install github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version" >&2
    exit 2
  fi
fi

if [ ${#missing_pkgs[@]} -eq 0 ]; then
  exit 0
fi
# de-duplicate, keep order
mapfile -t pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | awk '!seen[$0]++')
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${pkgs[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The packages' services are not wanted: tests and drills start their own on loopback ports.
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  for svc in prometheus prometheus-alertmanager prometheus-pushgateway; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
else
  echo "setup: missing ${pkgs[*]}: run 'sudo apt-get install ${pkgs[*]}' (Debian/Ubuntu)" >&2
  exit 2
fi
