#!/usr/bin/env python3
"""API latency probe for `make bench`: waits until the API at URL answers, then for SECONDS
alternates a GET of one Kustomization and a LIST of the first 500 Kustomizations (kubectl's page
size) on one keep-alive connection, and writes p50/p99/max of each, in ms, as JSON to OUT.
Usage: bench-probe.py URL SECONDS OUT START_MS"""
import http.client
import json
import sys
import time
import urllib.parse

url, seconds, out, start_ms = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
host = urllib.parse.urlsplit(url).netloc
TIMEOUT = 120


def connect():
    return http.client.HTTPConnection(host, timeout=TIMEOUT)


def request(conn, path):
    conn.request("GET", path, headers={"Accept": "application/json"})
    response = conn.getresponse()
    body = response.read()
    return response.status, body


conn = connect()
deadline = time.time() + 600
base = None
while time.time() < deadline:
    try:
        status, body = request(conn, "/apis/kustomize.toolkit.fluxcd.io")
        if status == 200:
            version = json.loads(body)["preferredVersion"]["version"]
            base = f"/apis/kustomize.toolkit.fluxcd.io/{version}"
            break
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        conn.close()
        conn = connect()
    time.sleep(0.05)
if base is None:
    json.dump({"probe_error": "the API never answered"}, open(out, "w"))
    sys.exit(0)
answered_ms = int(time.time() * 1000) - start_ms

lat = {"list": [], "get": []}
errors = 0
target = None
end = time.time() + seconds
while time.time() < end:
    for verb in ("list", "get"):
        if verb == "get" and target is None:
            continue
        path = f"{base}/kustomizations?limit=500" if verb == "list" else target
        t0 = time.perf_counter()
        try:
            status, body = request(conn, path)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = connect()
            errors += 1
            continue
        lat[verb].append((time.perf_counter() - t0) * 1000)
        if status != 200:
            errors += 1
        elif verb == "list" and target is None:
            items = json.loads(body).get("items") or []
            if items:
                meta = items[0]["metadata"]
                target = f"{base}/namespaces/{meta['namespace']}/kustomizations/{meta['name']}"
    time.sleep(0.05)


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 1)


result = {"api_answered_ms": answered_ms, "probe_errors": errors}
for verb, values in lat.items():
    result[f"{verb}_n"] = len(values)
    result[f"{verb}_p50_ms"] = pct(values, 50)
    result[f"{verb}_p99_ms"] = pct(values, 99)
    result[f"{verb}_max_ms"] = round(max(values), 1) if values else None
json.dump(result, open(out, "w"))
