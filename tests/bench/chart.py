#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench, last step: draws the latency percentiles (p50, p75, p90, p99, from wrk --latency)
of every endpoint the benchmarks of this run measured, from build/bench/*.json, as
docs/perf-latency.svg (plain SVG, no plotting library), and with --write FILE appends a section
with the chart and the same numbers as a table to docs/PERFORMANCE.md."""
import json
import pathlib
import sys
from xml.sax.saxutils import escape

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / "build/bench"
SVG = ROOT / "docs/perf-latency.svg"
PCTS = ["50", "75", "90", "99"]
COLOURS = {"50": "#9ecae1", "75": "#6baed6", "90": "#3182bd", "99": "#08519c"}


def load(name):
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def endpoints():
    rows = []
    wh = load("webhook")
    if wh and "lat_ms" in wh:
        rows.append((f"jive-webhook POST /webhooks/github/<id> ({wh['connections']} conns)", wh["lat_ms"]))
    mcp = load("mcp")
    if mcp:
        for era, e in mcp["eras"].items():
            if "lat_ms" in e:
                rows.append((f"jive-mcp tools/call status_get, {era} ({mcp['connections']} conns)",
                             e["lat_ms"]))
        if "ceiling_lat_ms" in mcp:
            rows.append((f"jive-mcp GET /livez, the ceiling ({mcp['connections']} conns)",
                         mcp["ceiling_lat_ms"]))
    return rows


def svg(rows):
    bar, gap, left, width = 11, 14, 430, 440
    top = 40
    height = top + len(rows) * (4 * bar + gap) + 40
    vmax = max(v for _, lat in rows for v in lat.values())
    scale = width / (vmax * 1.1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">Latency percentiles per endpoint '
           '(ms, wrk --latency, one run of make bench)</text>']
    y = top
    for name, lat in rows:
        out.append(f'<text x="10" y="{y + 2 * bar + 4}">{escape(name)}</text>')
        for i, p in enumerate(PCTS):
            v = lat.get(p)
            if v is None:
                continue
            w = max(1.0, v * scale)
            out.append(f'<rect x="{left}" y="{y + i * bar}" width="{w:.1f}" height="{bar - 1}" '
                       f'fill="{COLOURS[p]}"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + i * bar + bar - 2}" font-size="10">'
                       f'p{p} {v:.2f}</text>')
        y += 4 * bar + gap
    for i, p in enumerate(PCTS):
        out.append(f'<rect x="{left + i * 70}" y="{height - 22}" width="10" height="10" fill="{COLOURS[p]}"/>')
        out.append(f'<text x="{left + i * 70 + 14}" y="{height - 13}">p{p}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown(rows):
    table = "\n".join(f"| {n} | " + " | ".join(f"{lat[p]:.2f}" for p in PCTS) + " |" for n, lat in rows)
    return f"""
## Latency percentiles per endpoint

![latency percentiles per endpoint](perf-latency.svg)

| endpoint | p50 ms | p75 ms | p90 ms | p99 ms |
|---|---|---|---|---|
{table}

Drawn by `tests/bench/chart.py` from this run's `build/bench/*.json` (`make bench` runs it last).
"""


def main():
    rows = endpoints()
    if not rows:
        sys.exit("chart.py: no benchmark results in build/bench (run make bench)")
    SVG.write_text(svg(rows))
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2], "a") as f:
            f.write(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
