#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench (MCP part): tools/call status_get over Streamable HTTP, as a 2025-11-25 request and
as a 2026-07-28 request, each with full JWT verification, the Redis rate limit (limit set high)
and the audit log, from 64 concurrent connections (wrk) against the release build of jive-mcp.
The same run's ceiling is the same server's no-I/O liveness route GET /livez at the same
concurrency. After the run the audit table must hold exactly one row per answered call.
Prints one JSON object; --write FILE appends a section to docs/PERFORMANCE.md."""
import json
import os
import pathlib
import re
import signal
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
from benchlib import save, machine, parse_wrk, start_service, start_stack  # noqa: E402

CONNS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
MODERN = "2026-07-28"


def token(org_slug, org_id, sub):
    now = int(time.time())
    return jwt.encode({"iss": conftest.JWT_ISSUER, "aud": conftest.JWT_AUDIENCE, "sub": sub,
                       "name": "bench agent", "org": org_slug, "org_id": org_id,
                       "scope": "status:read", "iat": now, "nbf": now, "exp": now + 3600},
                      conftest.JWT_SECRET, algorithm="HS256")


def answered(url):
    """The server's own count of answered POST /mcp calls (wrk stops mid-flight)."""
    text = requests.get(url + "/metrics", timeout=5).text
    return sum(int(float(v)) for v in re.findall(
        r'^jive_http_requests_total\{method="POST",route="/mcp",status="\d+"\} ([\d.e+]+)$', text, re.M))


def lua(tmp, name, tok, pid, modern):
    params = {"name": "status_get", "arguments": {"project_id": pid}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": "Bearer " + tok}
    if modern:
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                           "io.modelcontextprotocol/clientCapabilities": {}}
        headers.update({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call",
                        "Mcp-Name": "status_get"})
    else:
        headers["MCP-Protocol-Version"] = "2025-11-25"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
    (tmp / f"{name}.json").write_text(body)
    script = ['wrk.method = "POST"', f'wrk.body = io.open("{tmp}/{name}.json"):read("*a")',
              'wrk.path = "/mcp"']
    script += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    (tmp / f"{name}.lua").write_text("\n".join(script) + "\n")
    return str(tmp / f"{name}.lua"), headers, body


def wrk(url, script=None, seconds=SECONDS, path=""):
    cmd = ["wrk", "-t2", f"-c{CONNS}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    return subprocess.run(cmd + [url + path], capture_output=True, text=True).stdout


def main():
    pg = conftest.Postgres()
    redis = conftest.Redis()
    svc = None
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-bench-mcp-"))
    try:
        env = start_stack(pg, redis)
        dsn = env["DATABASE_URL"]
        with psycopg.connect(dsn, autocommit=True) as c:
            org = str(c.execute("INSERT INTO orgs (slug, name) VALUES ('bench', 'bench') "
                                "RETURNING id").fetchone()[0])
            pid = str(c.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) "
                                "VALUES (%s, 'b', 'https://github.com/b/b', repeat('s', 20)) "
                                "RETURNING id", (org,)).fetchone()[0])
            # a realistic board: 200 stories over five statuses, a few conflicts and gates
            statuses = ["Draft", "Approved", "InProgress", "Review", "Done"]
            for i in range(200):
                c.execute("INSERT INTO artifacts (org_id, project_id, path, kind, key, title, "
                          "status, content_hash, meta) VALUES (%s, %s, %s, 'story', %s, %s, %s, "
                          "repeat('h', 64), '{}')",
                          (org, pid, f"docs/stories/{i // 10}.{i % 10}.md", f"{i // 10}.{i % 10}",
                           f"Story {i}", statuses[i % 5]))
            for i in range(5):
                c.execute("INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, "
                          "summary) VALUES (%s, %s, 'file_overlap', %s, 'high', 'overlap')",
                          (org, pid, f"file_overlap:{i}"))
        port = conftest.free_port()
        svc_env = dict(env, PORT=str(port), JIVE_BIND="127.0.0.1", JIVE_LOG_LEVEL="warn",
                       JIVE_JWT_SECRET=conftest.JWT_SECRET, JIVE_JWT_ISSUER=conftest.JWT_ISSUER,
                       JIVE_JWT_AUDIENCE=conftest.JWT_AUDIENCE,
                       JIVE_RATE_LIMIT_PER_MINUTE="1000000",
                       JIVE_AUDIT_SPOOL=str(tmp / "spool.jsonl"),
                       JIVE_DB_POOL_SIZE=os.environ.get("BENCH_POOL", "4"))
        svc, url = start_service("jive-mcp", svc_env, tmp)
        results = {}
        for era, modern in (("2025-11-25", False), (MODERN, True)):
            sub = f"bench-{era}"
            _, headers, body = lua(tmp, era + "-check", token("bench", org, "bench-check"), pid, modern)
            check = requests.post(url + "/mcp", data=body, headers=headers, timeout=5).json()
            if check.get("result", {}).get("isError") is not False:
                raise RuntimeError(f"status_get ({era}) does not answer: {check}")
            wrk(url, lua(tmp, era + "-warm", token("bench", org, "bench-warm"), pid, modern)[0], 2)
            script = lua(tmp, era, token("bench", org, sub), pid, modern)[0]
            time.sleep(1)  # the warm-up's last calls finish before the count is taken
            before = answered(url)
            out = wrk(url, script)
            time.sleep(0.5)
            r = parse_wrk(out)
            r["answered_by_server"] = answered(url) - before
            r["sub"] = sub
            r["wrk_output"] = out
            results[era] = r
        ceiling = parse_wrk(wrk(url, path="/livez"))
        # SIGTERM: drain and flush the audit batch, then count the rows
        svc.send_signal(signal.SIGTERM)
        svc.wait(60)
        svc = None
        with psycopg.connect(dsn, autocommit=True) as c:
            for era, r in results.items():
                r["audit_rows"] = c.execute("SELECT count(*) FROM mcp_audit_logs WHERE actor_id = %s",
                                            (r["sub"],)).fetchone()[0]
                r["ratio"] = round(r["rps"] / ceiling["rps"], 3)
        return {"connections": CONNS, "seconds": SECONDS, "eras": results,
                "ceiling_rps": ceiling["rps"], "ceiling_p99_ms": ceiling["p99_ms"],
                "ceiling_lat_ms": ceiling["lat_ms"],
                "pool": int(svc_env["JIVE_DB_POOL_SIZE"])}
    finally:
        if svc is not None:
            svc.terminate()
            svc.wait(30)
        pg.destroy()
        redis.destroy()


def markdown(r):
    rows = []
    for era, e in r["eras"].items():
        held = e["audit_rows"] == e["answered_by_server"]
        rows.append(f"| `tools/call status_get`, {era} request | {e['rps']:.0f} | {e['p50_ms']:.2f} ms / "
                    f"{e['p99_ms']:.2f} ms | **{e['ratio']:.2f}** | {e['answered_by_server']} / "
                    f"{e['audit_rows']} {'(equal)' if held else '(NOT EQUAL)'} | {e['non_2xx']} |")
    return f"""
## jive-mcp: tools/call status_get

Measured {time.strftime('%Y-%m-%d')} on {machine()}, everything on this one machine and
loopback: wrk (2 threads, {r['connections']} connections, {r['seconds']} s per row), jive-mcp
(release build, `JIVE_DB_POOL_SIZE={r['pool']}`), PostgreSQL 15 (fsync on), Redis. Each call:
HS256 JWT verification (all calls carry one agent's token, as a real agent's calls do; the
first call verifies it in full, later ones are recognised by the token's SHA-256 until it
expires), the Redis token bucket (one EVALSHA; limit set high so none is refused),
the project summary from the in-process cache (status over 200 stories; filled by one
transaction under row-level security on the first call, dropped by `project:<id>` events),
the JSON-RPC result with `structuredContent` and the same JSON as text, and one audit row
(appended to the journal file before the answer, written to Postgres in batches; counted against
the server's answered calls after SIGTERM flushed the batch).

Before the cache every call paid a Postgres transaction: about 1,200 calls/s and p99 80 ms
(ratio 0.02; measured while a test run shared the machine, so only indicative). The audit
buffer counting its rows by walking the list was the next 10 % of CPU; it now keeps the count.
jive-mcp runs one event loop, so its CPU per call sets both throughput and latency: JWT
verification was 17 % of it (libjwt parsing the claims with jansson, the HMAC), random ids 6 %
(four `RAND_bytes` per call, now a per-thread pool). The p99 tail came from audit batches
written every 200 ms: Postgres took a core in bursts. Writing them every 50 ms brought p99 from
about 10.8 ms to 8.7 ms in the same conditions, and keeping audit rows as their journal lines
(printed once, not printed again for each batch) to about 7.5 ms. A cache hit used to parse the
cached answer and print it again (twice: the tree and the escaped text); with a larger
status_get answer that cost 12 % of the calls/s (18.1k → 15.9k in one comparison), and writing
the JSON-RPC envelope around the cached text instead brought it to 20.9k.

| request | calls/s | p50 / p99 | calls/s : ceiling | answered / audit rows | non-2xx |
|---|---|---|---|---|---|
{chr(10).join(rows)}
| ceiling: the same server's `GET /livez` (no I/O) | {r['ceiling_rps']:.0f} | p99 {r['ceiling_p99_ms']:.2f} ms | 1 | | |

Reproduce: `make bench` (or `BENCH_SECONDS=10 BENCH_CONNECTIONS=64
/usr/bin/python3 tests/bench/bench_mcp.py --write docs/PERFORMANCE.md`).
"""


if __name__ == "__main__":
    res = main()
    save("mcp", res)
    print(json.dumps({k: v for k, v in res.items()}, default=str)[:4000])
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2], "a") as f:
            f.write(markdown(res))
