# SPDX-License-Identifier: MIT
"""The queue's guarantees when jobs are reserved, locked and claimed in batches: a poisoned,
malformed or stale message does not fail its neighbours; a batch whose claim statement fails
puts every message back; kill -9 mid-batch loses no job and applies none twice; two
orchestrators over 10,000 jobs run each exactly once."""
import json
import socket
import time
import uuid

import psycopg

from conftest import wait_for
from test_webhook import new_project

FAST = {"JIVE_RETRY_BASE_MS": "300", "JIVE_WORKER_TTL_MS": "1500"}


def make_jobs(db, project, n, queue="conflict-detection"):
    """n queued job rows, marked enqueued so the outbox leaves their messages to us."""
    return [r[0] for r in db.execute(
        "INSERT INTO jobs (org_id, project_id, queue, enqueued_at) SELECT %s, %s, %s, now() "
        "FROM generate_series(1, %s) RETURNING id::text",
        (project["org_id"], project["id"], queue, n)).fetchall()]


def message(project, job_id, queue="conflict-detection", event_id=None):
    return json.dumps({"id": job_id, "queue": queue, "project_id": project["id"],
                       "org_id": project["org_id"], "event_id": event_id, "attempt": 0,
                       "max_attempts": 3,
                       "payload": {"event": "workflow_run"} if event_id else {}})


def push(r, queue, messages):
    for i in range(0, len(messages), 1000):
        r.lpush("jive:q:" + queue, *messages[i:i + 1000])


def succeeded(db, ids):
    return db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = "
                      "'succeeded'", (ids,)).fetchone()[0]


def once_each(db, ids):
    """(jobs, jobs with exactly one succeeded attempt in their history)."""
    return db.execute(
        "SELECT count(*), count(*) FILTER (WHERE (SELECT count(*) FROM jsonb_array_elements("
        "history) h WHERE h->>'outcome' = 'succeeded') = 1) FROM jobs WHERE id = ANY(%s::uuid[])",
        (ids,)).fetchone()


def test_a_poisoned_malformed_or_stale_message_does_not_fail_its_neighbours(spawn, db, stack,
                                                                          tmp_path):
    """One batch of run-sync messages: eight good ones, one whose event does not exist (its
    handler fails: dead after its one attempt), one whose id is not a UUID (dropped), one whose
    job row does not exist (dropped). The eight run once each."""
    p = new_project(db)
    good, events = [], []
    for i in range(8):
        ev = f"batch-{uuid.uuid4()}"
        db.execute("INSERT INTO webhook_events (id, org_id, project_id, event_type, payload_hash) "
                   "VALUES (%s, %s, %s, 'workflow_run', 'h')", (ev, p["org_id"], p["id"]))
        db.execute("INSERT INTO webhook_payloads (event_id, received_at, payload) SELECT id, "
                   "received_at, %s FROM webhook_events WHERE id = %s",
                   (json.dumps({"workflow_run": {"id": 9700000 + i, "status": "completed",
                                                 "conclusion": "success", "name": "ci"}}), ev))
        jid = db.execute("INSERT INTO jobs (org_id, project_id, queue, event_id, enqueued_at) "
                         "VALUES (%s, %s, 'run-sync', %s, now()) RETURNING id::text",
                         (p["org_id"], p["id"], ev)).fetchone()[0]
        good.append(jid)
        events.append(ev)
    poisoned = db.execute("INSERT INTO jobs (org_id, project_id, queue, event_id, enqueued_at) "
                          "VALUES (%s, %s, 'run-sync', NULL, now()) RETURNING id::text",
                          (p["org_id"], p["id"])).fetchone()[0]
    msgs = [message(p, j, "run-sync", e) for j, e in zip(good[:4], events[:4])]
    msgs += [message(p, poisoned, "run-sync", "no-such-event"),
             message(p, "not-a-uuid", "run-sync", events[0]),
             message(p, str(uuid.uuid4()), "run-sync", events[0])]
    msgs += [message(p, j, "run-sync", e) for j, e in zip(good[4:], events[4:])]
    r = stack.redis.client()
    push(r, "run-sync", msgs)
    orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                 JIVE_WORKER_ID="batcher", JIVE_WORKER_CONCURRENCY="16",
                 JIVE_MAX_ATTEMPTS_RUN_SYNC="1", **FAST)
    assert wait_for(lambda: succeeded(db, good) == 8, 20), orch.log()[-2000:]
    assert wait_for(lambda: db.execute("SELECT status FROM jobs WHERE id = %s",
                                       (poisoned,)).fetchone()[0] == "dead", 10)
    rows = db.execute("SELECT attempts, worker FROM jobs WHERE id = ANY(%s::uuid[])",
                      (good,)).fetchall()
    assert rows == [(1, "batcher")] * 8
    assert once_each(db, good) == (8, 8)
    assert db.execute("SELECT count(*) FROM runs WHERE project_id = %s", (p["id"],)).fetchone()[0] == 8
    assert "dropping a malformed queue message" in orch.log()
    assert "nothing to do (done, dead or unknown)" in orch.log()
    assert wait_for(lambda: r.llen("jive:active:batcher") == 0, 5)


def test_a_job_locked_by_another_worker_waits_for_its_lock(spawn, db, stack, tmp_path):
    """The reservation takes each job's lock: a job whose lock another worker holds (it runs
    there) is not claimed while that lock lasts, and the holder's lock is left alone; its
    neighbours in the same batch run at once, and it runs once the lock is gone."""
    p = new_project(db)
    ids = make_jobs(db, p, 6)
    r = stack.redis.client()
    held = "jive:lock:job:" + ids[2]
    r.set(held, "elsewhere", px=60000)
    push(r, "conflict-detection", [message(p, j) for j in ids])
    orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                 JIVE_WORKER_ID="lock-waiter", **FAST)
    assert wait_for(lambda: succeeded(db, ids[:2] + ids[3:]) == 5, 10), orch.log()[-2000:]
    time.sleep(1.0)  # several rounds of putting it back (JIVE_RETRY_BASE_MS 300)
    assert db.execute("SELECT status, attempts FROM jobs WHERE id = %s",
                      (ids[2],)).fetchone() == ("queued", 0)
    assert r.get(held) == b"elsewhere"
    r.delete(held)
    assert wait_for(lambda: succeeded(db, ids) == 6, 10), orch.log()[-2000:]
    assert once_each(db, ids) == (6, 6)
    assert wait_for(lambda: r.llen("jive:active:lock-waiter") == 0
                    and r.exists(*["jive:lock:job:" + j for j in ids]) == 0, 5)


def test_a_malformed_message_is_dropped_with_the_lock_its_reservation_took(spawn, db, stack,
                                                                          tmp_path):
    """The reservation locks the id it reads in a message before the worker parses it. A message
    that is no job (an unknown queue; two different ids, where the script and the worker would
    read different ones) is dropped and that lock released, so the real message of the same job
    runs at once instead of waiting for the lock to expire."""
    p = new_project(db)
    ids = make_jobs(db, p, 3)
    other = str(uuid.uuid4())
    unknown_queue = json.dumps({"id": ids[1], "queue": "no-such-queue", "project_id": p["id"],
                                "org_id": p["org_id"], "attempt": 0, "payload": {}})
    two_ids = ('{"queue": "conflict-detection", "id": "%s", "project_id": "%s", "org_id": "%s", '
               '"id": "%s", "payload": {}}' % (ids[2], p["id"], p["org_id"], other))
    r = stack.redis.client()
    push(r, "conflict-detection", [message(p, ids[0]), unknown_queue, two_ids])
    orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                 JIVE_WORKER_ID="dropper", **FAST)
    assert wait_for(lambda: succeeded(db, ids[:1]) == 1
                    and orch.log().count("dropping a malformed queue message") == 2, 10), \
        orch.log()[-2000:]
    assert wait_for(lambda: r.llen("jive:active:dropper") == 0, 5)
    assert r.exists("jive:lock:job:" + ids[1], "jive:lock:job:" + ids[2],
                    "jive:lock:job:" + other) == 0
    assert db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = "
                      "'queued' AND attempts = 0", (ids[1:],)).fetchone()[0] == 2
    push(r, "conflict-detection", [message(p, j) for j in ids[1:]])
    assert wait_for(lambda: succeeded(db, ids) == 3, 5), orch.log()[-2000:]
    assert once_each(db, ids) == (3, 3)


def test_a_batch_whose_claim_fails_puts_every_message_back(spawn, db, stack, tmp_path):
    """The claim statement of this worker's batches fails (a constraint refuses its rows): every
    message of the batch goes back unspent; once the claim can succeed each job runs once, on
    its first attempt."""
    p = new_project(db)
    ids = make_jobs(db, p, 12)
    db.execute("ALTER TABLE jobs ADD CONSTRAINT test_claim_breaker "
               "CHECK (worker IS DISTINCT FROM 'claim-breaker') NOT VALID")
    try:
        r = stack.redis.client()
        push(r, "conflict-detection", [message(p, j) for j in ids])
        orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                     JIVE_WORKER_ID="claim-breaker", JIVE_WORKER_CONCURRENCY="16",
                     JIVE_RETRY_BASE_MS="1000", JIVE_WORKER_TTL_MS="1500")
        assert wait_for(lambda: "cannot claim" in orch.log(), 10)
        assert db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND status = "
                          "'queued' AND attempts = 0", (ids,)).fetchone()[0] == 12
        queued = {json.loads(m)["id"] for m in r.zrange("jive:delayed", 0, -1)} | {
            json.loads(m)["id"] for m in r.lrange("jive:q:conflict-detection", 0, -1)} | {
            json.loads(m)["id"] for m in r.lrange("jive:active:claim-breaker", 0, -1)}
        assert set(ids) <= queued
    finally:
        db.execute("ALTER TABLE jobs DROP CONSTRAINT test_claim_breaker")
    assert wait_for(lambda: succeeded(db, ids) == 12, 20), orch.log()[-2000:]
    assert db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND attempts = 1",
                      (ids,)).fetchone()[0] == 12
    assert once_each(db, ids) == (12, 12)


def test_kill_9_mid_batch_loses_no_job_and_applies_none_twice(spawn, db, stack, tmp_path):
    p = new_project(db)
    ids = make_jobs(db, p, 3000)
    r = stack.redis.client()
    push(r, "conflict-detection", [message(p, j) for j in ids])
    victim = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "a"),
                   JIVE_WORKER_ID="batch-victim", JIVE_WORKER_CONCURRENCY="16", **FAST)
    assert wait_for(lambda: succeeded(db, ids) >= 200, 30)
    victim.proc.kill()  # kill -9 with batches reserved, claimed, running
    victim.proc.wait()
    assert succeeded(db, ids) < 3000, "the victim finished before it was killed: more jobs"
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "b"),
          JIVE_WORKER_ID="batch-rescuer", **FAST)
    assert wait_for(lambda: succeeded(db, ids) == 3000, 90), succeeded(db, ids)
    assert once_each(db, ids) == (3000, 3000)
    assert r.llen("jive:active:batch-victim") == 0
    assert not r.sismember("jive:workers", "batch-victim")


def test_two_orchestrators_over_10000_jobs_run_each_exactly_once(spawn, db, stack, tmp_path):
    p = new_project(db)
    ids = make_jobs(db, p, 10000)
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "a"), JIVE_WORKER_ID="pair-one",
          **FAST)
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "b"), JIVE_WORKER_ID="pair-two",
          **FAST)
    r = stack.redis.client()
    push(r, "conflict-detection", [message(p, j) for j in ids])
    assert wait_for(lambda: succeeded(db, ids) == 10000, 180), succeeded(db, ids)
    rows = db.execute("SELECT worker, count(*), max(attempts), max(jsonb_array_length(history)) "
                      "FROM jobs WHERE id = ANY(%s::uuid[]) GROUP BY worker", (ids,)).fetchall()
    assert {w for w, *_ in rows} == {"pair-one", "pair-two"}, rows
    assert all(a == 1 and h == 1 for _, _, a, h in rows), rows
    assert once_each(db, ids) == (10000, 10000)


def test_git_bound_jobs_do_not_hold_back_database_only_ones(spawn, db, stack, tmp_path):
    """The one git-bound slot is taken by a scan whose clone hangs (the repository's server
    accepts and never answers); conflict-detection jobs still run at once, in their own
    slots."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    try:
        p = new_project(db, repo_url=f"https://127.0.0.1:{port}/stall/app.git")
        scan = make_jobs(db, p, 1, "artifact-scan")
        r = stack.redis.client()
        push(r, "artifact-scan", [message(p, j, "artifact-scan") for j in scan])
        orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                     JIVE_WORKER_CONCURRENCY="1", JIVE_REPO_HOSTS="127.0.0.1", **FAST)
        assert wait_for(lambda: db.execute("SELECT status FROM jobs WHERE id = %s",
                                           (scan[0],)).fetchone()[0] == "running", 10), orch.log()[-3000:]
        ids = make_jobs(db, p, 50)
        push(r, "conflict-detection", [message(p, j) for j in ids])
        assert wait_for(lambda: succeeded(db, ids) == 50, 10), orch.log()[-2000:]
        assert db.execute("SELECT status FROM jobs WHERE id = %s", (scan[0],)).fetchone()[0] == \
            "running"  # still stuck in its clone
    finally:
        srv.close()


def test_a_batch_publishes_each_jobs_success_to_its_own_project(spawn, db, stack, tmp_path):
    """Jobs of three projects reserved and completed together: their job.succeeded events go
    out in one script call, each on its own project's channel and in its own stream, with the
    stream entry's id first, and nowhere else."""
    projects = [new_project(db) for _ in range(3)]
    jobs = {p["id"]: make_jobs(db, p, 20) for p in projects}
    r = stack.redis.client()
    sub = r.pubsub()
    sub.subscribe(*[f"project:{p['id']}" for p in projects])
    wait_for(lambda: sub.get_message(timeout=0.1) is None, 5)  # the subscribe confirmations
    msgs = [message(p, j) for k in range(20) for p in projects for j in [jobs[p["id"]][k]]]
    push(r, "conflict-detection", msgs)  # interleaved: each batch mixes the projects
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"), **FAST)
    every = [j for ids in jobs.values() for j in ids]
    assert wait_for(lambda: succeeded(db, every) == 60, 30)
    heard = {}
    deadline = time.time() + 10
    while sum(len(v) for v in heard.values()) < 60 and time.time() < deadline:
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            ev = json.loads(m["data"])
            if ev["type"] == "job.succeeded":
                heard.setdefault(m["channel"].decode(), []).append(ev)
    sub.close()
    for p in projects:
        got = heard.get(f"project:{p['id']}", [])
        assert sorted(e["job_id"] for e in got) == sorted(jobs[p["id"]])
        assert all(e["project_id"] == p["id"] and e["data"]["queue"] == "conflict-detection"
                   for e in got)
        stream = {i.decode(): json.loads(f[b"e"]) for i, f in r.xrange(f"jive:events:{p['id']}")}
        assert all(stream[e["stream_id"]]["job_id"] == e["job_id"] for e in got)
        assert 0 < r.pttl(f"jive:events:{p['id']}") <= 604800000


def test_detections_share_a_load_and_a_bad_one_fails_alone(spawn, db, stack, tmp_path):
    """Conflict detections of several projects waiting together load their states in one
    statement, each its own: an agent overlap in one project opens there only. A message whose
    project id is not a UUID (it would fail the shared statement) fails its own job alone."""
    projects = [new_project(db) for _ in range(4)]
    busy = projects[2]
    for agent in ("claude", "cursor"):
        db.execute("INSERT INTO agent_status (org_id, project_id, agent_id, agent_name, story_key, "
                   "state) VALUES (%s, %s, %s, %s, '4.2', 'working')",
                   (busy["org_id"], busy["id"], agent, agent))
    jobs = {p["id"]: make_jobs(db, p, 25) for p in projects}
    bad = make_jobs(db, projects[0], 1)[0]
    msgs = [message(p, jobs[p["id"]][k]) for k in range(25) for p in projects]
    broken = json.loads(message(projects[0], bad))
    broken["project_id"] = "not-a-project"
    msgs.insert(50, json.dumps(broken))
    r = stack.redis.client()
    push(r, "conflict-detection", msgs)
    orch = spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
                 JIVE_MAX_ATTEMPTS_CONFLICT_DETECTION="1", **FAST)
    every = [j for ids in jobs.values() for j in ids]
    assert wait_for(lambda: succeeded(db, every) == 100, 30), orch.log()[-2000:]
    assert once_each(db, every) == (100, 100)
    assert wait_for(lambda: db.execute("SELECT status FROM jobs WHERE id = %s",
                                       (bad,)).fetchone()[0] == "dead", 10)
    assert "not a UUID" in db.execute("SELECT error FROM jobs WHERE id = %s", (bad,)).fetchone()[0]
    opened = db.execute("SELECT project_id::text, fingerprint FROM conflicts WHERE project_id = "
                        "ANY(%s::uuid[]) AND resolved_at IS NULL",
                        ([p["id"] for p in projects],)).fetchall()
    assert opened == [(busy["id"], "agent_overlap:4.2")]
    # exactly one of the busy project's 25 detections opened it; the rest found it open
    results = db.execute("SELECT result FROM jobs WHERE id = ANY(%s::uuid[])",
                         (jobs[busy["id"]],)).fetchall()
    assert sum(res["opened"] for (res,) in results) == 1
