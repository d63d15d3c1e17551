#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make bench (orchestrator part), on the release build, everything on loopback:
- full scans of generated BMAD repositories with 100, 1,000 and 10,000 stories, against the
  same run's ceiling of reading those files with one `git cat-file --batch`;
- an incremental scan of one changed story in each (its cost must not grow with the repo);
- a signed push delivery (one changed story) to artifact.changed on the channel, 200 times;
- queue throughput: near-no-op jobs (conflict detection of an empty project) through
  reserve/claim/ack with one orchestrator.
Prints one JSON object; --write FILE appends a Markdown section to FILE."""
import hashlib
import hmac
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/integration"))
os.environ.setdefault("JIVE_BUILD", "build")

import conftest  # noqa: E402
from benchlib import finish, stop, pgbench, start_stack  # noqa: E402
import psycopg  # noqa: E402
import redis as redislib  # noqa: E402
import requests  # noqa: E402

SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "100,1000,10000").split(",")]
PUSHES = int(os.environ.get("BENCH_PUSHES", "200"))
QUEUE_JOBS = int(os.environ.get("BENCH_QUEUE_JOBS", "20000"))
# 3,000 jobs (a minute at 50 a second): the p99 rests on the 30 slowest, not on 5, so one disk
# stall more or less does not decide it
LATENCY_JOBS = int(os.environ.get("BENCH_LATENCY_JOBS", "3000"))
LATENCY_RATE = float(os.environ.get("BENCH_LATENCY_RATE", "50"))


def git(repo, *args, input=None):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          input=input).stdout


def story(key, status="InProgress"):
    return (f"# Story {key}: Generated story {key}\n\n## Status\n{status}\n\n## Tasks\n"
            f"- [x] one\n- [ ] two\n\n## Dev Agent Record\n### File List\n"
            f"- `src/mod{key.replace('.', '_')}.c` - generated\n")


def make_repo(n):
    """A repository with n stories (and a gate per 10 stories), written with fast-import."""
    d = tempfile.mkdtemp(prefix=f"jive-bench-{n}-")
    git(d, "init", "-q", "-b", "main")
    files = {"docs/prd.md": "# PRD\n", "docs/architecture.md": "# Architecture\n"}
    for i in range(n):
        key = f"{i // 100 + 1}.{i % 100 + 1}"
        files[f"docs/stories/{key}.generated-{i}.md"] = story(key)
        if i % 10 == 0:
            files[f"docs/qa/gates/{key}-generated.yml"] = f"gate: PASS\nstory: '{key}'\n"
    out = []
    for path, text in files.items():
        data = text.encode()
        out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data)
    blob = ("commit refs/heads/main\ncommitter Bench <b@x> 1700000000 +0000\ndata 5\nbench\n"
            ).encode() + b"\n".join(out) + b"\n"
    git(d, "fast-import", "--quiet", input=blob)
    git(d, "reset", "-q", "--hard", "main")
    return d, sorted(p for p in files if p.startswith("docs/stories/"))


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def main():
    pg, rd = conftest.Postgres(), conftest.Redis()
    procs = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="jive-bench-orch-"))
    res = {"sizes": {}}
    try:
        env = start_stack(pg, rd, JIVE_BIND="127.0.0.1", JIVE_LOG_LEVEL="warn",
                          JIVE_ENV="development", JIVE_WORKSPACE_DIR=str(tmp / "ws"),
                          JIVE_WORKER_CONCURRENCY="8")
        dsn = env["DATABASE_URL"]
        ports = {}
        for name in ("jive-webhook", "jive-orchestrator"):
            ports[name] = conftest.free_port()
            procs.append(subprocess.Popen([str(ROOT / "build/bin" / name)],
                                          env=dict(env, PORT=str(ports[name])),
                                          stdout=open(tmp / f"{name}.log", "w"),
                                          stderr=subprocess.STDOUT))
        hook = f"http://127.0.0.1:{ports['jive-webhook']}"

        def up():
            try:
                return all(requests.get(f"http://127.0.0.1:{p}/health", timeout=1).ok
                           for p in ports.values())
            except requests.RequestException:
                return False
        assert conftest.wait_for(up, 20), "services did not start"
        db = psycopg.connect(dsn, autocommit=True)
        org = db.execute("INSERT INTO orgs (slug, name) VALUES ('bench', 'b') RETURNING id").fetchone()[0]

        def project(url):
            return str(db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) "
                                  "VALUES (%s, %s, %s, %s) RETURNING id",
                                  (org, url, url, "bench-secret-0123456789")).fetchone()[0])

        def scan(pid, payload):
            jid = requests.post(hook + "/api/jobs/enqueue", json={
                "queue": "artifact-scan", "project_id": pid, "payload": payload}).json()["job"]
            conftest.wait_for(lambda: db.execute("SELECT status FROM jobs WHERE id = %s",
                                                 (jid,)).fetchone()[0] in ("succeeded", "dead"),
                              600, 0.05)
            st, hist, result = db.execute("SELECT status, history, result FROM jobs WHERE id = %s",
                                          (jid,)).fetchone()
            assert st == "succeeded", (st, hist)
            h = hist[-1]
            t = lambda s: time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + s[20:23])  # noqa: E731
            return t(h["finished_at"]) - t(h["started_at"]), result

        for n in SIZES:
            repo, stories = make_repo(n)
            pid = project("file://" + repo)
            full_s, r = scan(pid, {"full": True})
            assert r["files"] >= n, r
            # ceiling: the least a full scan must do with git: list the tree with blob ids,
            # read the story blobs by id
            t0 = time.time()
            tree = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "HEAD"], check=True,
                                  capture_output=True, text=True).stdout
            ids = [line.split()[2] for line in tree.splitlines() if "\tdocs/stories/" in line]
            subprocess.run(["git", "-C", repo, "cat-file", "--batch"], check=True,
                           input="".join(f"{i}\n" for i in ids).encode(), capture_output=True)
            ceiling = time.time() - t0
            # incremental: one story changes
            changed = stories[len(stories) // 2]
            with open(os.path.join(repo, changed), "a") as f:
                f.write("\n- [x] another task\n")
            git(repo, "commit", "-qam", "one story")
            after = git(repo, "rev-parse", "HEAD").decode().strip()
            inc_s, r2 = scan(pid, {"after": after, "added": [], "modified": [changed], "removed": []})
            assert r2["mode"] == "incremental" and r2["changed"] == 1, r2
            res["sizes"][n] = {"full_s": full_s, "stories_per_s": n / full_s,
                               "read_ceiling_s": ceiling, "incremental_s": inc_s}

        # push → artifact.changed, one at a time
        repo, stories = make_repo(100)
        pid = project("file://" + repo)
        scan(pid, {"full": True})
        sub = redislib.Redis(host="127.0.0.1", port=rd.port).pubsub()
        sub.subscribe(f"project:{pid}")
        sub.get_message(timeout=1)
        example = json.loads((ROOT / "tests/node_modules/@octokit/webhooks-examples/api.github.com/index.json").read_text())
        push = next(e for e in example if e["name"] == "push")["examples"]
        push = next(x for x in push if x["ref"] == "refs/heads/master" and x["commits"])
        lat, fetches = [], []
        scratch = str(tmp / "fetch-ceiling")
        subprocess.run(["git", "clone", "-q", "--bare", repo, scratch], check=True)
        before = git(repo, "rev-parse", "HEAD").decode().strip()
        for i in range(PUSHES):
            path = stories[i % len(stories)]
            with open(os.path.join(repo, path), "a") as f:
                f.write(f"\n- [ ] push {i}\n")
            git(repo, "commit", "-qam", f"push {i}")
            after = git(repo, "rev-parse", "HEAD").decode().strip()
            p = dict(push, ref="refs/heads/main", before=before, after=after, created=False,
                     forced=False)
            p["commits"] = [dict(push["commits"][0], id=after, added=[], modified=[path], removed=[])]
            body = json.dumps(p).encode()
            t0 = time.time()
            r = requests.post(f"{hook}/webhooks/github/{pid}", data=body, headers={
                "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign("bench-secret-0123456789", body)})
            assert r.status_code == 202, r.text
            while True:
                m = sub.get_message(timeout=5)
                assert m is not None, "no artifact.changed within 5 s"
                if m["type"] == "message" and json.loads(m["data"])["type"] == "artifact.changed":
                    break
            lat.append((time.time() - t0) * 1000)
            # the ceiling: the one step the job cannot skip, fetching that commit from the origin
            t0 = time.time()
            subprocess.run(["git", "-C", scratch, "fetch", "-q", repo, "+refs/heads/*:refs/heads/*"],
                           check=True, capture_output=True)
            fetches.append((time.time() - t0) * 1000)
            before = after
        lat.sort()
        res["push"] = {"count": PUSHES, "p50_ms": statistics.median(lat),
                       "p99_ms": lat[int(len(lat) * 0.99) - 1],
                       "fetch_p50_ms": statistics.median(fetches)}

        # queue throughput: conflict detection of an empty project, N jobs; then the same over
        # 1,000 empty projects (a shared state load reads one row per job either way)
        rcli = redislib.Redis(host="127.0.0.1", port=rd.port)
        orch = f"http://127.0.0.1:{ports['jive-orchestrator']}/metrics"

        def jobs_done():
            """The orchestrator's own count of succeeded jobs (jive_jobs_total): asking Postgres
            ten times a second would load the machine being measured."""
            for line in requests.get(orch, timeout=5).text.splitlines():
                if line.startswith('jive_jobs_total{outcome="succeeded"}'):
                    return int(float(line.split()[-1]))
            return 0

        def queue_run(projects):
            ids = [str(uuid.uuid4()) for _ in range(QUEUE_JOBS)]
            of = [projects[k % len(projects)] for k in range(QUEUE_JOBS)]
            with db.cursor() as c:
                c.executemany("INSERT INTO jobs (id, org_id, project_id, queue, enqueued_at) "
                              "VALUES (%s, %s, %s, 'conflict-detection', now())",
                              [(i, org, p) for i, p in zip(ids, of)])
            pipe = rcli.pipeline()
            for i, p in zip(ids, of):
                pipe.lpush("jive:q:conflict-detection", json.dumps({
                    "id": i, "queue": "conflict-detection", "project_id": p, "org_id": str(org),
                    "event_id": None, "attempt": 0, "max_attempts": 3, "payload": {}}))
            done0 = jobs_done()
            t0 = time.time()
            pipe.execute()
            conftest.wait_for(lambda: jobs_done() - done0 >= QUEUE_JOBS, 300, 0.05)
            took = time.time() - t0
            assert db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = "
                              "'succeeded'", (ids,)).fetchone()[0] == QUEUE_JOBS
            return took

        empty = project("file:///nonexistent-bench")
        took = queue_run([empty])
        spread = [project(f"file:///nonexistent-bench-{i}") for i in range(1000)]
        took_spread = queue_run(spread)
        # the ceiling: Postgres alone doing each job's two row writes (claim, then succeed with
        # its history entry), each its own transaction, from 8 clients
        db.execute("CREATE TABLE bench_jobs (id int PRIMARY KEY, status text, attempts int, "
                   "history jsonb NOT NULL DEFAULT '[]')")
        db.execute("INSERT INTO bench_jobs SELECT g, 'queued', 0 FROM generate_series(1, %s) g",
                   (QUEUE_JOBS,))
        (tmp / "job.sql").write_text(
            "\\set id random(1, %d)\n"
            "UPDATE bench_jobs SET status = 'running', attempts = attempts + 1 WHERE id = :id;\n"
            "UPDATE bench_jobs SET status = 'succeeded', history = history || "
            "'[{\"outcome\": \"succeeded\"}]'::jsonb WHERE id = :id;\n" % QUEUE_JOBS)
        tps, _ = pgbench(pg, tmp / "job.sql", 8, 5)
        res["queue"] = {"jobs": QUEUE_JOBS, "seconds": took, "jobs_per_s": QUEUE_JOBS / took,
                        "spread_jobs_per_s": QUEUE_JOBS / took_spread,
                        "db_concurrency": 256, "ceiling_jobs_per_s": tps}

        # enqueue -> start at light load: LATENCY_JOBS near-no-op jobs through the admin route at
        # LATENCY_RATE a second, each timed from its row's insert (created_at: the enqueue
        # transaction's start, so its commit is included) to its claim (started_at), both on
        # Postgres's clock
        ids, gap = [], 1.0 / LATENCY_RATE
        wal = "SELECT wal_sync, wal_sync_time FROM pg_stat_wal"  # track_wal_io_timing is on
        w0 = db.execute(wal).fetchone()
        t_next = time.time()
        for _ in range(LATENCY_JOBS):
            r = requests.post(hook + "/api/jobs/enqueue", json={
                "queue": "conflict-detection", "project_id": empty, "payload": {}})
            assert r.status_code in (200, 201, 202), r.text
            ids.append(r.json()["job"])
            t_next += gap
            time.sleep(max(0.0, t_next - time.time()))
        conftest.wait_for(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) "
                                             "AND status = 'succeeded'", (ids,)).fetchone()[0]
                          == LATENCY_JOBS, 60, 0.1)
        w1 = db.execute(wal).fetchone()
        # the same run's floor: one client committing a one-row insert at the same rate, timed
        # by the client (the durable commit alone, with no queue around it)
        db.execute("CREATE TABLE bench_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL "
                   "DEFAULT now())")
        floor, t_next = [], time.time()
        for _ in range(LATENCY_JOBS):
            t0 = time.perf_counter()
            db.execute("INSERT INTO bench_commit DEFAULT VALUES")
            floor.append((time.perf_counter() - t0) * 1000)
            t_next += gap
            time.sleep(max(0.0, t_next - time.time()))
        floor.sort()
        lat = sorted(r[0] for r in db.execute(
            "SELECT extract(epoch FROM started_at - created_at) * 1000 FROM jobs WHERE id = "
            "ANY(%s::uuid[])", (ids,)).fetchall())
        res["latency"] = {"jobs": LATENCY_JOBS, "rate": LATENCY_RATE,
                          "p50_ms": float(statistics.median(lat)),
                          "p99_ms": float(lat[int(len(lat) * 0.99) - 1]),
                          "floor_p50_ms": statistics.median(floor),
                          "floor_p99_ms": floor[int(len(floor) * 0.99) - 1],
                          "syncs_per_job": (w1[0] - w0[0]) / LATENCY_JOBS,
                          "sync_ms": (w1[1] - w0[1]) / max(w1[0] - w0[0], 1)}
        return res
    finally:
        stop(procs, pg, rd)


def markdown(r):
    rows = "\n".join(
        f"| {n:,} | {v['full_s']:.2f} s | {v['stories_per_s']:.0f} | {v['read_ceiling_s']:.3f} s | "
        f"{v['full_s'] / v['read_ceiling_s']:.1f}× | {v['incremental_s'] * 1000:.0f} ms |"
        for n, v in r["sizes"].items())
    sizes = list(r["sizes"].values())
    growth = sizes[-1]["incremental_s"] / sizes[0]["incremental_s"]
    return f"""
## jive-orchestrator: scans, push to event, queue

Same machine and run; release build; jobs timed from the job's own history (claim to commit).

| stories | full scan | stories/s | ceiling: `git ls-tree -r` + `git cat-file --batch` of those blobs | scan : ceiling | incremental scan, one story changed |
|---|---|---|---|---|---|
{rows}

Incremental scan cost, largest repository : smallest = **{growth:.2f}** (it must not grow with
the repository: only the changed path is read and parsed).

Push delivery with one changed story → `artifact.changed` on `project:<id>`, {r['push']['count']}
sequential pushes: **p50 {r['push']['p50_ms']:.0f} ms, p99 {r['push']['p99_ms']:.0f} ms** (aim:
p99 under 250 ms; the original plan asked for under 5 s). This includes the webhook commit, the
queue, `git fetch` from the origin, reading and parsing the file, the upsert and conflict
detection. Same-run ceiling: a bare `git fetch` of each pushed commit from the same origin,
p50 {r['push']['fetch_p50_ms']:.1f} ms; **push→event p50 : fetch p50 =
{r['push']['p50_ms'] / r['push']['fetch_p50_ms']:.1f}×**.

Queue throughput: {r['queue']['jobs']} near-no-op jobs (conflict detection of an empty project:
its state read in a load shared by the detections waiting together, a row per job, and no
write, nothing having changed) through reserve, lock and claim (a batch per script call and
per statement), handler, completion and ack (shared by the jobs that finish during one commit),
counted by the orchestrator's `jive_jobs_total`, with one orchestrator at its default
concurrency for database-only jobs ({r['queue']['db_concurrency']}): **{r['queue']['jobs_per_s']:.0f} jobs/s**
({r['queue']['spread_jobs_per_s']:.0f} jobs/s with the same number spread over 1,000 empty
projects: loads are shared, not merged per project). Same-run ceiling:
pgbench doing each job's two row writes (claim, then succeed with a history entry) as separate
transactions from 8 clients, {r['queue']['ceiling_jobs_per_s']:.0f} jobs/s; **ratio
{r['queue']['jobs_per_s'] / r['queue']['ceiling_jobs_per_s']:.2f}** (the flow issue aims at 10,000 jobs/s on this machine;
the ceiling does not batch, the queue does, so the queue may pass it).

Enqueue → start at light load: {r['latency']['jobs']} near-no-op jobs through the admin route at
{r['latency']['rate']:.0f} a second, each from its row's insert (its commit included) to its claim
(both on Postgres's clock): **p50 {r['latency']['p50_ms']:.1f} ms, p99 {r['latency']['p99_ms']:.1f} ms** (the flow issue
aims at p99 under 5 ms). On the way: the insert (a prepared statement) and its durable commit,
the push, the reservation with the job's lock (one script, which Redis runs as soon as the
push wakes the `BLMOVE` it waits behind), the claim. During the run Postgres flushed its WAL
{r['latency']['syncs_per_job']:.1f} times a job (the enqueue, its mark, the claim, the completion),
{r['latency']['sync_ms']:.2f} ms a flush on average on this machine's disk. Same-run floor: one client
committing a one-row insert at the same rate, timed by the client, p50
{r['latency']['floor_p50_ms']:.1f} ms, p99 {r['latency']['floor_p99_ms']:.1f} ms; **enqueue → start p99 : commit
p99 = {r['latency']['p99_ms'] / r['latency']['floor_p99_ms']:.1f}×**. The two minutes run one after the other,
and this disk's commit tail changes from minute to minute (a bare commit's p99 has measured
1.8 to 4.9 ms here), so the ratio is a rough guide; a ratio under 1 means the floor's minute
had the slower disk.

Reproduce: `make bench`, or `BENCH_SIZES=100,1000,10000 /usr/bin/python3 tests/bench/bench_orchestrator.py`.
"""


if __name__ == "__main__":
    finish("orchestrator", main(), markdown)
