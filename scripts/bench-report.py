#!/usr/bin/env python3
"""Summarises `make bench` runs (one JSON object per line) as a Markdown table per size:
min / median / max of each figure over the runs."""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
FIGURES = [
    ("startup_ms", "flux-sim start-up (ms)"),
    ("peak_mib", "flux-sim peak RSS (MiB)"),
    ("rss_mib", "flux-sim RSS after the start-up storm (MiB)"),
    ("rss_kib_per_object", "flux-sim RSS per object (KiB)"),
    ("get_p50_ms", "API GET p50 (ms)"),
    ("get_p99_ms", "API GET p99 (ms)"),
    ("list_p50_ms", "API LIST (500) p50 (ms)"),
    ("list_p99_ms", "API LIST (500) p99 (ms)"),
    ("status_s", "status -A -o json (s)"),
    ("status_mib", "status peak RSS (MiB)"),
    ("kubectl_s", "kubectl get <Flux kinds> -A -o json (s)"),
    ("kubectl_mib", "kubectl peak RSS (MiB)"),
]
for r in rows:
    # Objects served: the generated ones plus what the controllers add (HelmCharts), as listed.
    r["served"] = r.get("kubectl_items") or r.get("objects")
    if r.get("peak_mib") and r.get("served"):
        r["rss_kib_per_object"] = round(r["peak_mib"] * 1024 / r["served"], 1)


def fmt(v):
    return "-" if v is None else (f"{v:g}" if isinstance(v, (int, float)) else str(v))


sizes = sorted({r["size"] for r in rows})
print("| `generate --objects` | " + " | ".join(f"{s:,} ({max(r['served'] for r in rows if r['size'] == s):,} served)"
                                            for s in sizes) + " |")
print("|---|" + "---|" * len(sizes))
for key, label in FIGURES:
    cells = []
    for s in sizes:
        values = [r.get(key) for r in rows if r["size"] == s]
        values = [v for v in values if isinstance(v, (int, float))]
        if not values:
            cells.append("-")
        elif len(values) == 1:
            cells.append(fmt(values[0]))
        else:
            cells.append(f"{fmt(min(values))} / {fmt(round(statistics.median(values), 1))} / {fmt(max(values))}")
    print(f"| {label} | " + " | ".join(cells) + " |")
notes = []
for r in rows:
    if r.get("killed_at_mib"):
        notes.append(f"{r['size']:,} run {r['run']}: flux-sim stopped at {r['killed_at_mib']} MiB")
    if r.get("startup_ms") is None:
        notes.append(f"{r['size']:,} run {r['run']}: flux-sim never finished starting")
    if r.get("status_exit") not in (None, 0, 1):
        notes.append(f"{r['size']:,} run {r['run']}: status exited {r['status_exit']}")
    if r.get("probe_errors"):
        notes.append(f"{r['size']:,} run {r['run']}: {r['probe_errors']} API probe errors")
for n in notes:
    print(f"- {n}")
print(f"(min / median / max over {max((r['run'] for r in rows), default=0)} runs; RSS per object from the peak)")
