#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench (live events), on the release build, everything on loopback: listeners held open on
one jive-mcp process (GET /events/<project-id>, BENCH_LISTENERS of them, 10,000 by default, split
across BENCH_PROJECTS projects), signed pushes arriving one every BENCH_PUSH_GAP seconds to
projects in turn: the time from a push's 202 to its artifact.changed at the last listener of its
project, p50 and p99; jive-mcp's memory per idle listener (RSS before and after they connect);
jive-mcp's CPU per delivered notification. The same pushes with one listener per project first
give the run's own baseline, so the cost of fan-out reads as a ratio.
Prints one JSON object; --write FILE appends a Markdown section to FILE."""
import json
import os
import pathlib
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/integration"))
sys.path.insert(0, str(HERE))
os.environ.setdefault("JIVE_BUILD", "build")

import conftest  # noqa: E402
from benchlib import finish, stop, cpu_seconds, machine, start_service, start_stack  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
from bench_orchestrator import git, make_repo, sign  # noqa: E402

LISTENERS = int(os.environ.get("BENCH_LISTENERS", "10000"))
PROJECTS = int(os.environ.get("BENCH_PROJECTS", "10"))
PUSHES = int(os.environ.get("BENCH_EVENT_PUSHES", "40"))
GAP = float(os.environ.get("BENCH_PUSH_GAP", "0.5"))
SECRET = "bench-secret-0123456789"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Listener:
    __slots__ = ("sock", "project", "buf", "headers_done", "seen")

    def __init__(self, port, project, tok):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall((f"GET /events/{project} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Authorization: Bearer {tok}\r\nAccept: text/event-stream\r\n\r\n")
                          .encode())
        self.sock.setblocking(False)
        self.project, self.buf, self.headers_done, self.seen = project, b"", False, 0


def read_all(sel, timeout):
    """Reads what is there; counts artifact.changed records per listener."""
    for key, _ in sel.select(timeout):
        lst = key.data
        try:
            data = lst.sock.recv(65536)
        except BlockingIOError:
            continue
        if not data:
            raise RuntimeError("a listener's stream ended")
        lst.buf += data
        if not lst.headers_done:
            if b"\r\n\r\n" not in lst.buf:
                continue
            head, lst.buf = lst.buf.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace")[:300])
            lst.headers_done = True
        n = lst.buf.count(b"event: artifact.changed\n")
        if n:
            lst.seen += n
            lst.buf = lst.buf[lst.buf.rindex(b"event: artifact.changed\n") + 24:]
        if len(lst.buf) > 1 << 16:
            lst.buf = lst.buf[-4096:]


def run_pushes(hook, repos, listeners_by_project, sel, push_example, pushes):
    """pushes signed pushes, one per project in turn; returns the latencies (ms) from each
    push's 202 to its event at the last listener of its project."""
    lat = []
    for i in range(pushes):
        pid = list(repos)[i % len(repos)]
        repo, before, stories = repos[pid]
        path = stories[i % len(stories)]
        with open(os.path.join(repo, path), "a") as f:
            f.write(f"\n- [ ] push {i}\n")
        git(repo, "commit", "-qam", f"push {i}")
        after = git(repo, "rev-parse", "HEAD").decode().strip()
        p = dict(push_example, ref="refs/heads/main", before=before, after=after, created=False,
                 forced=False)
        p["commits"] = [dict(push_example["commits"][0], id=after, added=[], modified=[path],
                             removed=[])]
        body = json.dumps(p).encode()
        want = {id(lst): lst.seen + 1 for lst in listeners_by_project[pid]}
        r = requests.post(f"{hook}/webhooks/github/{pid}", data=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(SECRET, body)})
        t0 = time.time()
        assert r.status_code == 202, r.text
        deadline = t0 + 30
        while any(lst.seen < want[id(lst)] for lst in listeners_by_project[pid]):
            if time.time() > deadline:
                raise RuntimeError("a push did not reach every listener within 30 s")
            read_all(sel, 0.05)
        lat.append((time.time() - t0) * 1000)
        repos[pid] = (repo, after, stories)
        time.sleep(GAP)
        read_all(sel, 0)
    return lat


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(len(v) * p / 100.0)) - 1))]


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if LISTENERS + 2000 > hard:
        raise SystemExit(f"BENCH_LISTENERS={LISTENERS} needs more than {hard} open files")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-bench-events-"))
    pg, rd = conftest.Postgres(), conftest.Redis()
    procs = []
    try:
        mcp_port, hook_port, orch_port = conftest.free_port(), conftest.free_port(), conftest.free_port()
        env = start_stack(pg, rd, JIVE_JWT_SECRET=conftest.JWT_SECRET,
                          JIVE_JWT_ISSUER=conftest.JWT_ISSUER,
                          JIVE_JWT_AUDIENCE=conftest.JWT_AUDIENCE, JIVE_LOG_LEVEL="warn",
                          JIVE_ENV="development", JIVE_BIND="127.0.0.1",
                          JIVE_HTTP_MAX_CONNS_PER_ADDR="0", JIVE_SSE_MAX_PER_TOKEN="100000",
                          JIVE_RATE_LIMIT_PER_MINUTE="1000000", JIVE_SSE_HEARTBEAT_MS="60000",
                          JIVE_WORKSPACE_DIR=str(tmp / "ws"), JIVE_DB_POOL_SIZE="8")
        for name, port in (("jive-webhook", hook_port), ("jive-orchestrator", orch_port),
                           ("jive-mcp", mcp_port)):
            proc, url = start_service(name, dict(env, PORT=str(port),
                                                 JIVE_AUDIT_SPOOL=str(tmp / f"{name}.spool")), tmp)
            procs.append(proc)
        mcp_pid = procs[-1].pid
        hook = f"http://127.0.0.1:{hook_port}"
        db = psycopg.connect(env["DATABASE_URL"], autocommit=True)
        org = db.execute("INSERT INTO orgs (slug, name) VALUES ('bench', 'bench') RETURNING id").fetchone()[0]
        repos = {}
        for i in range(PROJECTS):
            repo, stories = make_repo(20)
            pid = str(db.execute(
                "INSERT INTO projects (org_id, name, repo_url, default_branch, webhook_secret) "
                "VALUES (%s, %s, %s, 'main', %s) RETURNING id",
                (org, f"p{i}", "file://" + repo, SECRET)).fetchone()[0])
            repos[pid] = (repo, git(repo, "rev-parse", "HEAD").decode().strip(), stories)
            requests.post(f"{hook}/api/jobs/enqueue", json={
                "queue": "artifact-scan", "project_id": pid, "payload": {"full": True}})
        conftest.wait_for(lambda: db.execute(
            "SELECT count(*) FROM projects WHERE last_good_scan_at IS NOT NULL").fetchone()[0]
            == PROJECTS, 120, 0.2)
        tok = conftest_token(org)
        example = json.loads((ROOT / "tests/node_modules/@octokit/webhooks-examples/api.github.com/index.json").read_text())
        push = next(e for e in example if e["name"] == "push")["examples"]
        push = next(x for x in push if x["ref"] == "refs/heads/master" and x["commits"])
        sel = selectors.DefaultSelector()

        def connect(n):
            out = {pid: [] for pid in repos}
            pids = list(repos)
            for i in range(n):
                lst = Listener(mcp_port, pids[i % len(pids)], tok)
                sel.register(lst.sock, selectors.EVENT_READ, lst)
                out[lst.project].append(lst)
                if i % 200 == 199:
                    read_all(sel, 0)
            deadline = time.time() + 120
            while not all(lst.headers_done for v in out.values() for lst in v):
                if time.time() > deadline:
                    raise RuntimeError("listeners not all connected in 120 s")
                read_all(sel, 0.05)
            return out

        # baseline: one listener per project
        one = connect(PROJECTS)
        time.sleep(0.5)
        base = run_pushes(hook, repos, one, sel, push, PUSHES)
        rss0 = rss_kib(mcp_pid)
        t_conn = time.time()
        many = connect(LISTENERS - PROJECTS)
        t_conn = time.time() - t_conn
        for pid in many:
            many[pid] += one[pid]
        time.sleep(2)
        read_all(sel, 0)
        rss1 = rss_kib(mcp_pid)
        cpu0 = cpu_seconds().get("jive-mcp", 0.0)
        lat = run_pushes(hook, repos, many, sel, push, PUSHES)
        cpu1 = cpu_seconds().get("jive-mcp", 0.0)
        delivered = sum(lst.seen for v in many.values() for lst in v)
        events_per_push = max(1, delivered // max(1, PUSHES * LISTENERS))
        res = {
            "machine": machine(), "listeners": LISTENERS, "projects": PROJECTS,
            "pushes": PUSHES, "gap_s": GAP, "connect_s": t_conn,
            "baseline_p50_ms": statistics.median(base), "baseline_p99_ms": pct(base, 99),
            "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 99), "max_ms": max(lat),
            "rss_before_kib": rss0, "rss_after_kib": rss1,
            "kib_per_listener": (rss1 - rss0) / (LISTENERS - PROJECTS),
            # every record jive-mcp wrote in the push phase costs CPU; artifact.changed is one
            # of the records each push makes (webhook.received, job events, ...)
            "mcp_cpu_s": cpu1 - cpu0,
            "artifact_changed_delivered": PUSHES * (LISTENERS // PROJECTS),
        }
        res["cpu_us_per_listener_push"] = res["mcp_cpu_s"] * 1e6 / (PUSHES * (LISTENERS // PROJECTS))
        return res
    finally:
        stop(procs, pg, rd)


def conftest_token(org):
    import jwt
    now = int(time.time())
    return jwt.encode({"iss": conftest.JWT_ISSUER, "aud": conftest.JWT_AUDIENCE, "sub": "bench",
                       "name": "bench", "org": "bench", "org_id": str(org),
                       "scope": "events:read stories:read", "iat": now, "exp": now + 3600},
                      conftest.JWT_SECRET, algorithm="HS256")


def markdown(r):
    return f"""
## jive-mcp: live events to many listeners

{r['listeners']:,} `GET /events/<project-id>` listeners held open on one jive-mcp process
({r['projects']} projects, {r['listeners'] // r['projects']:,} listeners each), release build,
{r['machine']}. {r['pushes']} signed pushes, one every {r['gap_s']} s, to the projects in turn;
each timed from its 202 to its `artifact.changed` at the last listener of its project (the
reading client is one Python process with epoll: its own time is in the figure).

| | one listener per project | {r['listeners']:,} listeners |
|---|---|---|
| push → last listener p50 | {r['baseline_p50_ms']:.0f} ms | {r['p50_ms']:.0f} ms |
| push → last listener p99 | {r['baseline_p99_ms']:.0f} ms | {r['p99_ms']:.0f} ms |

**p99 with {r['listeners']:,} listeners : p99 with one per project =
{r['p99_ms'] / r['baseline_p99_ms']:.2f}×** (target: p99 under 250 ms). Memory: jive-mcp's RSS went
from {r['rss_before_kib'] / 1024:.1f} MiB to {r['rss_after_kib'] / 1024:.1f} MiB for the
listeners, **{r['kib_per_listener']:.1f} KiB per idle listener** (target: under 16 KiB).
CPU: {r['mcp_cpu_s']:.2f} s of jive-mcp in the push phase,
**{r['cpu_us_per_listener_push']:.1f} µs per listener per push** (each push writes several
records to every listener of its project: `webhook.received`, the job's, `artifact.changed`).
Connecting the listeners took {r['connect_s']:.1f} s (each one is authenticated, metered, checked
against row-level security and audited).

Reproduce: `make bench`, or `BENCH_LISTENERS=10000 /usr/bin/python3 tests/bench/bench_events.py`.
"""


if __name__ == "__main__":
    finish("events", main(), markdown)
