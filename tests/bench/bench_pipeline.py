#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench (pipeline part): jive-webhook and jive-orchestrator together. Signed pull_request
deliveries (each one conflict-detection job) from 32 connections (wrk) for BENCH_PIPELINE_SECONDS
(60) at the webhook's own saturated rate, with one orchestrator working the queue; release
builds, durable Postgres (fsync on) and Redis started for the run. Every second the webhook's
accepted deliveries and the orchestrator's succeeded jobs are read from their /metrics; the
backlog is their difference. Reports deliveries/s accepted, jobs/s completed while the senders
ran, the backlog when they stop and the time to drain it. Prints one JSON object."""
import hashlib
import hmac
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/integration"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("JIVE_BUILD", "build")

import conftest  # noqa: E402
from benchlib import finish, start_service, start_stack, stop  # noqa: E402
from bench_webhook import EXAMPLES, WRK_LUA  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SECONDS = int(os.environ.get("BENCH_PIPELINE_SECONDS", "60"))


def pull_request_payload():
    """GitHub's published pull_request example (action opened)."""
    ex = json.loads(EXAMPLES.read_text())
    prs = next(e for e in ex if e["name"] == "pull_request")["examples"]
    return json.dumps(next(x for x in prs if x.get("action") == "opened")).encode()


def metric(url, pattern):
    text = requests.get(url + "/metrics", timeout=5).text
    m = re.search(pattern, text, re.M)
    return int(float(m.group(1))) if m else 0


def accepted(url):
    return metric(url, r'^jive_webhook_deliveries_total\{event="pull_request",outcome="accepted"\} '
                       r'([\d.e+]+)$')


def succeeded(url):
    return metric(url, r'^jive_jobs_total\{outcome="succeeded"\} ([\d.e+]+)$')


def main():
    pg, redis = conftest.Postgres(), conftest.Redis()
    procs = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-bench-pipe-"))
    try:
        env = start_stack(pg, redis, JIVE_BIND="127.0.0.1", JIVE_LOG_LEVEL="warn",
                          JIVE_WORKSPACE_DIR=str(tmp / "ws"))
        secret = "bench-secret-0123456789"
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as c:
            org = c.execute("INSERT INTO orgs (slug, name) VALUES ('pipe', 'pipe') "
                            "RETURNING id").fetchone()[0]
            pid = str(c.execute("INSERT INTO projects (org_id, name, repo_url, default_branch, "
                                "webhook_secret) VALUES (%s, 'p', 'https://github.com/p/p', "
                                "'master', %s) RETURNING id", (org, secret)).fetchone()[0])
        hook, hook_url = start_service("jive-webhook", dict(env, PORT=str(conftest.free_port())),
                                       tmp)
        procs.append(hook)
        orch, orch_url = start_service("jive-orchestrator",
                                       dict(env, PORT=str(conftest.free_port())), tmp)
        procs.append(orch)

        body = pull_request_payload()
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        (tmp / "body.json").write_bytes(body)
        (tmp / "pr.lua").write_text(
            f'wrk.method = "POST"\nwrk.body = io.open("{tmp}/body.json"):read("*a")\n'
            f'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["X-GitHub-Event"] = "pull_request"\n'
            f'wrk.headers["X-Hub-Signature-256"] = "{sig}"\n'
            f'RUN = "pipe{int(time.time())}"\nPATH = "/webhooks/github/{pid}"\n' + WRK_LUA)

        samples = []  # (seconds since start, accepted, succeeded)
        running = threading.Event()
        running.set()
        a0, s0 = accepted(hook_url), succeeded(orch_url)
        t0 = time.time()

        def sample():
            while running.is_set():
                samples.append((time.time() - t0, accepted(hook_url) - a0,
                                succeeded(orch_url) - s0))
                time.sleep(1)
        th = threading.Thread(target=sample)
        th.start()
        subprocess.run(["wrk", "-t2", f"-c{CONNS}", f"-d{SECONDS}s", "-s", str(tmp / "pr.lua"),
                        hook_url], check=True, capture_output=True, text=True)
        t_stop = time.time() - t0
        acc_total = accepted(hook_url) - a0
        done_at_stop = succeeded(orch_url) - s0
        conftest.wait_for(lambda: succeeded(orch_url) - s0 >= acc_total, 600, 0.1)
        t_drained = time.time() - t0
        # a delivery in flight when the senders stopped is still committed and counted: the
        # totals are read once it has settled
        conftest.wait_for(lambda: succeeded(orch_url) - s0 >= accepted(hook_url) - a0, 30, 0.1)
        time.sleep(0.5)
        acc_final = accepted(hook_url) - a0
        running.clear()
        th.join()
        during = [s for s in samples if s[0] <= t_stop]
        backlog = [a - d for _, a, d in during]
        # the backlog's slope over the second half of the run, jobs per second
        half = [s for s in during if s[0] >= t_stop / 2]
        slope = ((half[-1][1] - half[-1][2]) - (half[0][1] - half[0][2])) / \
            max(half[-1][0] - half[0][0], 1e-9) if len(half) >= 2 else 0.0
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as c:
            jobs = c.execute("SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') "
                             "FROM jobs WHERE project_id = %s", (pid,)).fetchone()
        return {"seconds": SECONDS, "connections": CONNS, "accepted": acc_final,
                "deliveries_per_s": acc_total / t_stop, "jobs_per_s_while_sending":
                done_at_stop / t_stop, "backlog_at_stop": acc_total - done_at_stop,
                "backlog_max": max(backlog) if backlog else 0, "backlog_slope_per_s": slope,
                "drain_s": t_drained - t_stop, "job_rows": jobs[0], "succeeded_rows": jobs[1]}
    finally:
        stop(procs, pg, redis)


def markdown(r):
    flat = abs(r["backlog_slope_per_s"]) < 0.02 * r["deliveries_per_s"]
    return f"""
## The pipeline: webhook and queue together

Same machine. Signed `pull_request` deliveries (each one conflict-detection job) from
{r['connections']} connections for {r['seconds']} s at jive-webhook's own saturated rate, while
one jive-orchestrator (defaults: `JIVE_WORKER_DB_CONCURRENCY=256`) works the queue; release
builds, Postgres with fsync and synchronous commit on. The backlog is the webhook's accepted
deliveries less the orchestrator's succeeded jobs, read from their `/metrics` every second.

| figure | value |
|---|---|
| deliveries accepted/s | {r['deliveries_per_s']:.0f} |
| jobs completed/s while the senders ran | {r['jobs_per_s_while_sending']:.0f} |
| **jobs completed : deliveries accepted** | **{r['jobs_per_s_while_sending'] / r['deliveries_per_s']:.2f}** |
| backlog when the senders stopped (largest during the run) | {r['backlog_at_stop']} ({r['backlog_max']}) |
| backlog growth over the run's second half | {int(round(r['backlog_slope_per_s']))} jobs/s ({'flat' if flat else 'not flat'}) |
| time to drain it | {r['drain_s']:.1f} s |
| deliveries accepted / job rows / succeeded, once settled | {r['accepted']} / {r['job_rows']} / {r['succeeded_rows']} |

Reproduce: `make bench`, or `BENCH_PIPELINE_SECONDS=60 /usr/bin/python3 tests/bench/bench_pipeline.py`.
"""


if __name__ == "__main__":
    finish("pipeline", main(), markdown)
