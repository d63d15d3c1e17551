#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench (governance part), release build, loopback: memory_search over 100,000 notes and
reports_run cycle_time over 10,000 stories with a year of status history, each called one at a
time through jive-mcp (POST /mcp/invoke: token, rate limit, row-level security, audit; the read
cache off so every call reaches Postgres), next to the same run's plain SQL of the same query
through pgbench (one client, the owner, no HTTP), the ceiling. p50 and p99 of each.
Prints one JSON object; --write FILE appends a Markdown section to FILE."""
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/integration"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("JIVE_BUILD", "build")

import conftest  # noqa: E402
import jwt  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from benchlib import finish, stop, machine, start_service, start_stack  # noqa: E402

NOTES = int(os.environ.get("BENCH_NOTES", "100000"))
STORIES = int(os.environ.get("BENCH_STORIES", "10000"))
CALLS = int(os.environ.get("BENCH_GOV_CALLS", "300"))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(len(v) * p / 100.0)) - 1))]


def pgbench_latencies(pg, tmp, sql, n):
    """Runs sql n times from one pgbench client; per-transaction latencies in ms."""
    script = tmp / "q.sql"
    script.write_text(sql + ";\n")
    logdir = tmp / "pgb"
    logdir.mkdir(exist_ok=True)
    subprocess.run([f"{pg.bindir}/pgbench", "-n", "-c", "1", "-t", str(n), "-f", str(script),
                    "-l", "--log-prefix", str(logdir / "log"), "-h", "127.0.0.1", "-p",
                    str(pg.port), "-U", "jive", "jive"], check=True, capture_output=True)
    lat = []
    for f in logdir.glob("log*"):
        for line in f.read_text().splitlines():
            lat.append(int(line.split()[2]) / 1000.0)  # microseconds
        f.unlink()
    return lat


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-bench-gov-"))
    pg, rd = conftest.Postgres(), conftest.Redis()
    procs = []
    try:
        port = conftest.free_port()
        env = start_stack(pg, rd, JIVE_JWT_SECRET=conftest.JWT_SECRET,
                          JIVE_JWT_ISSUER=conftest.JWT_ISSUER,
                          JIVE_JWT_AUDIENCE=conftest.JWT_AUDIENCE, JIVE_LOG_LEVEL="warn",
                          JIVE_BIND="127.0.0.1", JIVE_MCP_CACHE_TTL_MS="0",
                          JIVE_RATE_LIMIT_PER_MINUTE="1000000", JIVE_MEMORY_QUOTA="1000000")
        proc, url = start_service("jive-mcp", dict(env, PORT=str(port),
                                                   JIVE_AUDIT_SPOOL=str(tmp / "spool")), tmp)
        procs.append(proc)
        db = psycopg.connect(env["DATABASE_URL"], autocommit=True)
        org = str(db.execute("INSERT INTO orgs (slug, name) VALUES ('gov', 'gov') RETURNING id").fetchone()[0])
        pid = str(db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) VALUES "
                             "(%s, 'g', 'https://github.com/gov/g', repeat('s', 20)) RETURNING id",
                             (org,)).fetchone()[0])
        # notes: generated sentences from a 2,000-word vocabulary, tags from a few
        db.execute(
            "INSERT INTO memory_notes (org_id, project_id, author_id, story_key, tags, body) "
            "SELECT %s, %s, 'agent-' || (i %% 20), (i %% 500 / 10 + 1) || '.' || (i %% 10 + 1), "
            "ARRAY['t' || (i %% 7), 't' || (i %% 11)], (SELECT string_agg('word' || "
            "((i * 7919 + k * 104729) %% 2000), ' ') FROM generate_series(1, 30) k) || "
            "CASE WHEN i %% 97 = 0 THEN ' the auth client uses the v2 token refresh' ELSE '' END "
            "FROM generate_series(1, %s) i", (org, pid, NOTES))
        # history: STORIES stories over the last year, Draft → Approved → InProgress → Done
        db.execute(
            "INSERT INTO story_status_history (org_id, project_id, story_key, path, to_status, "
            "changed_at) SELECT %s, %s, (i / 100 + 1) || '.' || (i %% 100 + 1), 'docs/stories/' "
            "|| i || '.md', s.status, now() - interval '364 days' + (i * interval '50 minutes') "
            "+ s.off * interval '1 day' + (i %% 17) * interval '3 hours' FROM generate_series(0, "
            "%s - 1) i, (VALUES ('Draft', 0), ('Approved', 1), ('InProgress', 2), ('Done', 5)) "
            "AS s(status, off)", (org, pid, STORIES))
        db.execute("ANALYZE memory_notes")
        db.execute("ANALYZE story_status_history")
        now = int(time.time())
        tok = jwt.encode({"iss": conftest.JWT_ISSUER, "aud": conftest.JWT_AUDIENCE, "sub": "bench",
                          "name": "bench", "org": "gov", "org_id": org,
                          "scope": "memory:read reports:read", "iat": now, "exp": now + 3600},
                         conftest.JWT_SECRET, algorithm="HS256")
        s = requests.Session()
        h = {"Authorization": "Bearer " + tok}

        def timed(body):
            out = []
            for _ in range(CALLS):
                t0 = time.perf_counter()
                r = s.post(url + "/mcp/invoke", json=body, headers=h, timeout=30)
                out.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
            return out

        search = {"tool": "memory_search", "arguments": {"project_id": pid,
                                                         "query": "auth client", "limit": 10}}
        hits = s.post(url + "/mcp/invoke", json=search, headers=h).json()["notes"]
        assert len(hits) == 10, hits
        mem = timed(search)
        cycle = {"tool": "reports_run", "arguments": {"project_id": pid, "report": "cycle_time",
                                                      "weeks": 52}}
        res = s.post(url + "/mcp/invoke", json=cycle, headers=h).json()["result"]
        assert len(res["stories"]) == 500 and res["truncated"] is True
        rep = timed(cycle)
        # the ceilings: the same SQL, plain, one pgbench client
        mem_sql = pgbench_latencies(pg, tmp, (
            f"SELECT id, body, tags, story_key, ts_rank_cd(tsv, q) AS rank FROM memory_notes, "
            f"websearch_to_tsquery('english', 'auth client') q WHERE project_id = '{pid}' AND "
            f"tsv @@ q ORDER BY rank DESC, created_at DESC, id DESC LIMIT 10"), CALLS)
        rep_sql = pgbench_latencies(pg, tmp, (
            f"WITH h AS (SELECT story_key, to_status, changed_at FROM story_status_history WHERE "
            f"project_id = '{pid}' AND story_key IS NOT NULL), s AS (SELECT story_key, "
            f"min(changed_at) FILTER (WHERE to_status = 'Approved') AS approved_at FROM h GROUP "
            f"BY story_key), d AS (SELECT s.story_key, s.approved_at, min(h.changed_at) AS done_at "
            f"FROM s JOIN h ON h.story_key = s.story_key AND h.to_status = 'Done' AND "
            f"h.changed_at >= s.approved_at GROUP BY s.story_key, s.approved_at) SELECT count(*), "
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY done_at - approved_at) FROM d WHERE "
            f"done_at IS NOT NULL"), max(20, CALLS // 10))
        return {"machine": machine(), "notes": NOTES, "stories": STORIES, "calls": CALLS,
                "memory_p50_ms": statistics.median(mem), "memory_p99_ms": pct(mem, 99),
                "memory_sql_p50_ms": statistics.median(mem_sql), "memory_sql_p99_ms": pct(mem_sql, 99),
                "report_p50_ms": statistics.median(rep), "report_p99_ms": pct(rep, 99),
                "report_sql_p50_ms": statistics.median(rep_sql),
                "report_sql_p99_ms": pct(rep_sql, 99)}
    finally:
        stop(procs, pg, rd)


def markdown(r):
    return f"""
## jive-mcp: memory search and reports

Release build, {r['machine']}, loopback, one call at a time ({r['calls']} each), the read cache
off so every call reaches Postgres; next to the same run's plain SQL of the same query (pgbench,
one client, no HTTP, no token, no row-level security, no audit) as the ceiling.

| | through jive-mcp p50 / p99 | plain SQL p50 / p99 | p50 : ceiling |
|---|---|---|---|
| `memory_search` "auth client", {r['notes']:,} notes | {r['memory_p50_ms']:.1f} / {r['memory_p99_ms']:.1f} ms | {r['memory_sql_p50_ms']:.1f} / {r['memory_sql_p99_ms']:.1f} ms | **{r['memory_p50_ms'] / r['memory_sql_p50_ms']:.2f}×** |
| `reports_run` cycle_time, {r['stories']:,} stories, a year of history | {r['report_p50_ms']:.1f} / {r['report_p99_ms']:.1f} ms | {r['report_sql_p50_ms']:.1f} / {r['report_sql_p99_ms']:.1f} ms | **{r['report_p50_ms'] / r['report_sql_p50_ms']:.2f}×** |

The report's SQL ceiling computes the same cycle times but returns only their count and median;
through jive-mcp the answer also carries the first 500 stories and the per-epic figures as JSON.

Reproduce: `make bench`, or `/usr/bin/python3 tests/bench/bench_governance.py`.
"""


if __name__ == "__main__":
    finish("governance", main(), markdown)
