# SPDX-License-Identifier: MIT
"""jive-orchestrator's queue: reliable fetch, run-sync, retries with backoff, dead letters,
jivectl jobs, crash recovery after kill -9, duplicates, two orchestrators, Redis restarts."""
import json
import os
import signal
import time
import uuid
from datetime import datetime

import psycopg
import pytest
import requests

from conftest import run_bin, wait_for
from test_webhook import admin_token, deliver, example, examples, new_project  # noqa: F401

FAST = {"JIVE_RETRY_BASE_MS": "300", "JIVE_WORKER_TTL_MS": "1500"}


@pytest.fixture
def project(db):
    return new_project(db)


def job(db, job_id):
    return db.execute("SELECT status, attempts, error, result, history, worker FROM jobs "
                      "WHERE id = %s", (job_id,)).fetchone()


def job_of(db, delivery):
    row = db.execute("SELECT id::text FROM jobs WHERE event_id = %s", (delivery,)).fetchone()
    return row[0] if row else None


def org_of(svc, project_id):
    with psycopg.connect(svc.env["DATABASE_URL"], autocommit=True) as c:
        row = c.execute("SELECT org_id::text FROM projects WHERE id = %s", (project_id,)).fetchone()
    return row[0] if row else None


def enqueue(svc, body):
    """The operator route with an admin token of the project's org."""
    tok = admin_token("admin", org_of(svc, body["project_id"]))
    r = requests.post(svc.url("/api/jobs/enqueue"), json=body,
                      headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 202, r.text
    return r.json()["job"]


def workflow_run(examples, run_id=None, status="completed", updated="2026-11-20T10:00:00Z"):
    p = example(examples, "workflow_run", "completed")
    if run_id is not None:
        p["workflow_run"]["id"] = run_id
    p["workflow_run"]["status"] = status
    p["workflow_run"]["conclusion"] = "success" if status == "completed" else None
    p["workflow_run"]["updated_at"] = updated
    return p


def test_run_sync_end_to_end(spawn, webhook, project, db, stack, examples):
    spawn("jive-orchestrator", JIVE_WORKER_ID="e2e", **FAST)
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{project['id']}")
    payload = workflow_run(examples, run_id=9100001)
    r = deliver(webhook, project["id"], "workflow_run", payload, project["secret"])
    assert r.status_code == 202
    job_id = r.json()["jobs"][0]
    assert wait_for(lambda: job(db, job_id)[0] == "succeeded", 10), job(db, job_id)
    status, attempts, error, result, history, worker = job(db, job_id)
    assert attempts == 1 and error is None and len(history) == 1
    assert history[0]["outcome"] == "succeeded" and worker
    run = db.execute("SELECT kind, status, conclusion, head_sha, external_id, finished_at IS NOT NULL "
                     "FROM runs WHERE project_id = %s", (project["id"],)).fetchone()
    assert run == ("workflow_run", "completed", "success", payload["workflow_run"]["head_sha"],
                   "workflow_run:9100001", True)
    assert result["run"]["external_id"] == "workflow_run:9100001"
    ev = db.execute("SELECT processed, status FROM webhook_events WHERE id = %s",
                    (r.json()["delivery"],)).fetchone()
    assert ev == (True, "processed")
    types = []
    deadline = time.time() + 5
    while time.time() < deadline and "job.succeeded" not in types:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            ev = json.loads(m["data"])
            assert set(ev) == {"stream_id", "type", "project_id", "at", "job_id", "data"}
            assert list(ev)[0] == "stream_id"  # first, then the event as stored in the stream
            types.append(ev["type"])
    sub.close()
    assert types[:3] == ["webhook.received", "run.updated", "job.succeeded"], types
    # nothing left reserved once acknowledged
    assert wait_for(lambda: stack.redis.client().llen("jive:active:e2e") == 0, 5)


def test_older_update_does_not_overwrite_newer(spawn, webhook, project, db, examples):
    spawn("jive-orchestrator", **FAST)
    newer = workflow_run(examples, 9100002, "completed", "2026-11-20T12:00:00Z")
    older = workflow_run(examples, 9100002, "in_progress", "2026-11-20T11:00:00Z")
    a = deliver(webhook, project["id"], "workflow_run", newer, project["secret"]).json()["jobs"][0]
    assert wait_for(lambda: job(db, a)[0] == "succeeded", 10)
    b = deliver(webhook, project["id"], "workflow_run", older, project["secret"]).json()["jobs"][0]
    assert wait_for(lambda: job(db, b)[0] == "succeeded", 10)
    assert job(db, b)[3] == {"unchanged": True}
    assert db.execute("SELECT status FROM runs WHERE external_id = 'workflow_run:9100002'").fetchone()[0] == "completed"


def test_failing_job_retries_with_growing_delays_then_dies(spawn, webhook, project, db, stack):
    spawn("jive-orchestrator", **FAST)
    # a run-sync job without an event cannot succeed, whatever the attempt
    job_id = enqueue(webhook, {"queue": "run-sync", "project_id": project["id"],
                               "payload": {"event": "workflow_run"}})
    assert wait_for(lambda: job(db, job_id)[0] == "dead", 15), job(db, job_id)
    status, attempts, error, _, history, _ = job(db, job_id)
    assert attempts == 3 and "needs an event_id" in error
    assert [h["outcome"] for h in history] == ["failed", "failed", "dead"]
    starts = [datetime.fromisoformat(h["started_at"].replace("Z", "+00:00")) for h in history]
    gap1 = (starts[1] - starts[0]).total_seconds()
    gap2 = (starts[2] - starts[1]).total_seconds()
    # 300 ms then 600 ms, each +/- 20 %
    assert 0.2 <= gap1 < gap2, (gap1, gap2)
    assert gap2 >= 0.45
    dead = [json.loads(m) for m in stack.redis.client().lrange("jive:dead:run-sync", 0, -1)]
    assert any(m["id"] == job_id and m["attempt"] == 3 for m in dead)
    # visible via jivectl, and retryable
    listing = run_bin("jivectl", stack.env(), "jobs", "dead", "--queue", "run-sync")
    assert listing.returncode == 0 and job_id in listing.stdout and "needs an event_id" in listing.stdout
    shown = run_bin("jivectl", stack.env(), "jobs", "show", job_id)
    assert json.loads(shown.stdout)["status"] == "dead"
    retry = run_bin("jivectl", stack.env(), "jobs", "retry", job_id)
    assert retry.returncode == 0, retry.stderr
    assert not any(json.loads(m)["id"] == job_id
                   for m in stack.redis.client().lrange("jive:dead:run-sync", 0, -1))
    # the outbox pushes it again; it fails three more times and dies again
    assert wait_for(lambda: job(db, job_id)[1] >= 1 and job(db, job_id)[0] in ("running", "queued", "dead"), 10)
    assert wait_for(lambda: job(db, job_id)[0] == "dead" and job(db, job_id)[1] == 3, 20)
    assert [h["outcome"] for h in job(db, job_id)[4]].count("retried") == 1
    again = run_bin("jivectl", stack.env(), "jobs", "retry", str(uuid.uuid4()))
    assert again.returncode == 1 and "no dead job" in again.stderr


def test_the_consuming_worker_decides_the_attempts_and_the_row_says_so(spawn, webhook, project, db):
    """A job queued under the producer's default (3) runs under the orchestrator's
    JIVE_MAX_ATTEMPTS_RUN_SYNC=2: it dies after two attempts, and its row records 2."""
    spawn("jive-orchestrator", JIVE_MAX_ATTEMPTS_RUN_SYNC="2", **FAST)
    job_id = enqueue(webhook, {"queue": "run-sync", "project_id": project["id"],
                               "payload": {"event": "workflow_run"}})
    assert wait_for(lambda: job(db, job_id)[0] == "dead", 15), job(db, job_id)
    assert job(db, job_id)[1] == 2
    assert db.execute("SELECT max_attempts FROM jobs WHERE id = %s", (job_id,)).fetchone()[0] == 2


def test_duplicate_message_has_one_set_of_effects(spawn, webhook, project, db, stack, examples):
    payload = workflow_run(examples, run_id=9100003)
    r = deliver(webhook, project["id"], "workflow_run", payload, project["secret"])
    job_id = r.json()["jobs"][0]
    raw = next(m for m in stack.redis.client().lrange("jive:q:run-sync", 0, -1)
               if json.loads(m)["id"] == job_id)
    stack.redis.client().lpush("jive:q:run-sync", raw)  # the same job delivered twice
    spawn("jive-orchestrator", **FAST)
    assert wait_for(lambda: job(db, job_id)[0] == "succeeded", 10)
    time.sleep(1.0)
    assert job(db, job_id)[1] == 1  # claimed once: the second copy found it done
    assert db.execute("SELECT count(*) FROM runs WHERE external_id = 'workflow_run:9100003'").fetchone()[0] == 1
    assert all(json.loads(m)["id"] != job_id for m in stack.redis.client().lrange("jive:q:run-sync", 0, -1))


def pg_pids(stack):
    """The postmaster of the session's cluster and all its children (backends, writers)."""
    pm = int(open(f"{stack.pg.dir}/data/postmaster.pid").readline())
    pids = [pm]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = open(f"/proc/{pid}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pm:
                pids.append(int(pid))
    return pids


def test_kill_9_mid_job_loses_nothing(spawn, webhook, project, db, stack, examples):
    payload = workflow_run(examples, run_id=9100004)
    job_id = deliver(webhook, project["id"], "workflow_run", payload, project["secret"]).json()["jobs"][0]
    # freeze the database so the worker that reserves the job cannot finish it
    pids = pg_pids(stack)
    assert pids, "postgres processes not found"
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        a = spawn("jive-orchestrator", JIVE_WORKER_ID="victim", **FAST)
        r = stack.redis.client()
        assert wait_for(lambda: any(json.loads(m)["id"] == job_id for m in r.lrange("jive:active:victim", 0, -1)), 10)
        a.proc.kill()  # kill -9 with the job reserved and unfinished
        a.proc.wait()
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    rescuer = spawn("jive-orchestrator", JIVE_WORKER_ID="rescuer", **FAST)
    r = stack.redis.client()
    assert wait_for(lambda: job(db, job_id)[0] == "succeeded", 20), (
        job(db, job_id), r.smembers("jive:workers"), r.lrange("jive:active:victim", 0, -1),
        r.keys("jive:*"), rescuer.log()[-3000:])
    assert db.execute("SELECT count(*) FROM runs WHERE external_id = 'workflow_run:9100004'").fetchone()[0] == 1
    assert stack.redis.client().llen("jive:active:victim") == 0
    assert not stack.redis.client().sismember("jive:workers", "victim")
    assert job(db, job_id)[5] == "rescuer"


def test_two_orchestrators_process_each_job_once(spawn, webhook, project, db, examples):
    spawn("jive-orchestrator", JIVE_WORKER_ID="one", **FAST)
    spawn("jive-orchestrator", JIVE_WORKER_ID="two", **FAST)
    ids = []
    for i in range(40):
        r = deliver(webhook, project["id"], "workflow_run", workflow_run(examples, 9200000 + i),
                    project["secret"])
        ids.append(r.json()["jobs"][0])
    assert wait_for(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND "
                                       "status = 'succeeded'", (ids,)).fetchone()[0] == 40, 20)
    rows = db.execute("SELECT attempts, jsonb_array_length(history), worker FROM jobs "
                      "WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
    assert all(a == 1 and h == 1 for a, h, _ in rows)
    assert {w for _, _, w in rows} <= {"one", "two"}
    assert db.execute("SELECT count(*) FROM runs WHERE project_id = %s AND external_id LIKE "
                      "'workflow_run:92%%'", (project["id"],)).fetchone()[0] == 40


def test_processing_resumes_after_redis_restart(spawn, webhook, project, db, stack, redis_up,
                                                examples):
    spawn("jive-orchestrator", **FAST)
    first = deliver(webhook, project["id"], "workflow_run", workflow_run(examples, 9100005),
                    project["secret"]).json()["jobs"][0]
    assert wait_for(lambda: job(db, first)[0] == "succeeded", 10)
    stack.redis.stop()
    time.sleep(0.5)
    stack.redis.start()
    r = deliver(webhook, project["id"], "workflow_run", workflow_run(examples, 9100006), project["secret"])
    second = r.json()["jobs"][0]
    assert wait_for(lambda: job(db, second)[0] == "succeeded", 15), job(db, second)


def test_jobs_queued_when_redis_loses_its_data_still_run(spawn, webhook, project, db, stack,
                                                         redis_up, examples):
    """The messages of 20 queued jobs are in Redis, no orchestrator has taken them, and Redis
    comes back empty: the outbox sees jive:epoch gone and pushes them again."""
    ids = [deliver(webhook, project["id"], "workflow_run", workflow_run(examples, 9400000 + i),
                   project["secret"]).json()["jobs"][0] for i in range(20)]
    assert wait_for(lambda: stack.redis.client().llen("jive:q:run-sync") >= 20, 5)
    # marked enqueued by the next delivery batch, or on their own within MARKS_WAIT_MS
    assert wait_for(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND "
                                       "enqueued_at IS NOT NULL", (ids,)).fetchone()[0] == 20, 5)
    stack.redis.stop()
    stack.redis.start()
    assert stack.redis.client().llen("jive:q:run-sync") == 0  # the messages are gone
    spawn("jive-orchestrator", **FAST)
    assert wait_for(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND "
                                       "status = 'succeeded'", (ids,)).fetchone()[0] == 20, 20)
    assert "Redis lost its data" in webhook.log()


def test_sigterm_puts_reserved_jobs_back_and_exits_zero(spawn, stack):
    orch = spawn("jive-orchestrator", JIVE_WORKER_ID="leaver", **FAST)
    assert wait_for(lambda: stack.redis.client().sismember("jive:workers", "leaver"), 5)
    assert orch.stop(signal.SIGTERM) == 0
    r = stack.redis.client()
    assert not r.sismember("jive:workers", "leaver")
    assert not r.exists("jive:worker:leaver")
