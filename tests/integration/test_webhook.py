# SPDX-License-Identifier: MIT
"""jive-webhook against real Postgres and Redis, fed GitHub's published example payloads
(npm @octokit/webhooks-examples, pinned in tests/package.json) signed the way GitHub signs."""
import copy
import hashlib
import hmac
import json
import secrets
import select
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import psycopg
import pytest
import requests

from conftest import BIN, JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, ROOT, run_bin, wait_for

EXAMPLES = ROOT / "tests/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
APP_SECRET = "app-wide-secret-" + "x" * 20


def load_examples():
    """GitHub's published example payloads by event name (@octokit/webhooks-examples)."""
    assert EXAMPLES.exists(), "run `make test-deps` (npm ci in tests/)"
    return {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}


@pytest.fixture(scope="session")
def examples():
    return load_examples()


def example(examples, name, action=None, pick=None):
    for ex in examples[name]:
        if action is None or ex.get("action") == action:
            if pick is None or pick(ex):
                return copy.deepcopy(ex)
    raise LookupError(f"no {name}/{action} example")


def push_with_all_changes(examples):
    """GitHub's push example to refs/heads/master (one commit adding README.md). The published
    set has no push that modifies or removes files, so two more commits in the same shape are
    appended: one modifies, one removes."""
    ex = example(examples, "push", pick=lambda e: e["ref"] == "refs/heads/master" and e["commits"])
    first = ex["commits"][0]
    second = dict(first, id="1" * 40, added=["docs/new.md"], modified=["README.md", "src/app.c"],
                  removed=[])
    third = dict(first, id="2" * 40, added=[], modified=["docs/new.md"],
                 removed=["docs/old.md"])
    ex["commits"] = [first, second, third]
    ex["head_commit"] = third
    return ex


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def webhook(spawn):
    return spawn("jive-webhook", JIVE_GITHUB_WEBHOOK_SECRET=APP_SECRET)


def new_project(db, repo_url=None, branch="master"):
    slug = "wh-" + secrets.token_hex(4)
    secret = secrets.token_hex(20)
    org = db.execute("INSERT INTO orgs (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)).fetchone()[0]
    pid = db.execute(
        "INSERT INTO projects (org_id, name, repo_url, default_branch, webhook_secret) "
        "VALUES (%s, 'app', %s, %s, %s) RETURNING id",
        (org, repo_url or f"https://github.com/{slug}/app", branch, secret)).fetchone()[0]
    return {"id": str(pid), "org_id": str(org), "secret": secret}


@pytest.fixture
def project(db):
    return new_project(db)


def deliver(svc, project_id, event, payload, secret, delivery=None, form=False, headers=None,
            body=None):
    if body is None:
        raw = json.dumps(payload).encode()
        body = ("payload=" + urllib.parse.quote_plus(raw.decode())).encode() if form else raw
    h = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123",
        "User-Agent": "GitHub-Hookshot/abc123",
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
        "X-Hub-Signature-256": sign(secret, body),
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    }
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    path = f"/webhooks/github/{project_id}" if project_id else "/webhooks/github"
    return requests.post(svc.url(path), data=body, headers=h, timeout=30)


def stored(db, delivery):
    return db.execute("SELECT event_type, action, status, processed, e.enqueued_at IS NOT NULL, "
                      "p.payload, payload_hash, project_id::text FROM webhook_events e "
                      "LEFT JOIN webhook_payloads p ON p.event_id = e.id "
                      "AND p.received_at = e.received_at WHERE e.id = %s",
                      (delivery,)).fetchone()


def jobs_of(db, delivery):
    return db.execute("SELECT id::text, queue, payload, status, enqueued_at IS NOT NULL "
                      "FROM jobs WHERE event_id = %s", (delivery,)).fetchall()


def queued(stack, queue, job_id):
    for raw in stack.redis.client().lrange(f"jive:q:{queue}", 0, -1):
        msg = json.loads(raw)
        if msg["id"] == job_id:
            return msg
    return None


def assert_nothing_stored(db, delivery):
    assert stored(db, delivery) is None
    assert jobs_of(db, delivery) == []


# ---- real payloads ----

def test_push_to_tracked_branch_becomes_artifact_scan(webhook, project, db, stack, examples):
    payload = push_with_all_changes(examples)
    body = json.dumps(payload).encode()
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{project['id']}")
    sub.get_message(timeout=2)  # subscribe confirmation
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "push", None, project["secret"], delivery, body=body)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "accepted" and out["delivery"] == delivery and len(out["jobs"]) == 1
    job_id = out["jobs"][0]

    # the reply follows the LPUSH; marking the rows enqueued is batched right after it
    assert wait_for(lambda: stored(db, delivery)[2] == "enqueued", 5)
    ev = stored(db, delivery)
    assert ev[0] == "push" and ev[1] is None and ev[3] is False and ev[4]
    assert ev[5] == payload and ev[6] == hashlib.sha256(body).hexdigest()
    assert ev[7] == project["id"]
    # stored compressed with lz4 (migrations 010 and 018), not pglz, in the day's partition
    assert db.execute("SELECT pg_column_compression(payload), tableoid::regclass::text = "
                      "'webhook_payloads_p' || to_char(received_at AT TIME ZONE 'UTC', 'YYYYMMDD') "
                      "FROM webhook_payloads WHERE event_id = %s", (delivery,)).fetchone() == \
        ("lz4", True)
    (jid, queue, jpayload, status, enq), = jobs_of(db, delivery)
    assert (jid, queue, status, enq) == (job_id, "artifact-scan", "queued", True)
    assert jpayload["before"] == payload["before"] and jpayload["after"] == payload["after"]
    assert jpayload["branch"] == "master" and jpayload["full"] is True  # "created": true
    assert sorted(jpayload["added"]) == ["README.md", "docs/new.md"]
    assert jpayload["modified"] == ["src/app.c"] and jpayload["removed"] == ["docs/old.md"]
    msg = queued(stack, "artifact-scan", job_id)
    assert msg == {"id": job_id, "queue": "artifact-scan", "project_id": project["id"],
                   "org_id": project["org_id"], "event_id": delivery, "attempt": 0,
                   "max_attempts": 3, "payload": jpayload}
    event = None
    deadline = time.time() + 5
    while event is None and time.time() < deadline:
        m = sub.get_message(timeout=1)
        if m and m["type"] == "message":
            event = json.loads(m["data"])
    sub.close()
    assert event["type"] == "webhook.received" and event["project_id"] == project["id"]
    assert event["job_id"] == job_id and event["at"].endswith("Z")
    assert event["data"] == {"jobs": [job_id], "delivery": delivery, "event": "push"}


def test_max_attempts_come_from_the_configuration(spawn, project, db, stack, examples):
    """The job row and its message carry the queue's JIVE_MAX_ATTEMPTS_<QUEUE>, not a constant;
    another queue keeps JIVE_MAX_ATTEMPTS."""
    wh = spawn("jive-webhook", JIVE_MAX_ATTEMPTS="4", JIVE_MAX_ATTEMPTS_ARTIFACT_SCAN="7")
    payload = push_with_all_changes(examples)
    r = deliver(wh, project["id"], "push", payload, project["secret"])
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    assert db.execute("SELECT max_attempts FROM jobs WHERE id = %s", (job_id,)).fetchone()[0] == 7
    assert queued(stack, "artifact-scan", job_id)["max_attempts"] == 7
    r = deliver(wh, project["id"], "workflow_run", example(examples, "workflow_run", "completed"),
                project["secret"])
    job_id = r.json()["jobs"][0]
    assert db.execute("SELECT max_attempts FROM jobs WHERE id = %s", (job_id,)).fetchone()[0] == 4
    assert queued(stack, "run-sync", job_id)["max_attempts"] == 4


def test_events_are_kept_in_a_stream_that_jivectl_replays_and_follows(webhook, project, db, stack):
    """Each event is appended to jive:events:<project> beside the PUBLISH, and the channel's
    message carries the entry's stream_id first; jivectl events prints the same objects from the
    stream (all kept, after a stream id, the last ten), then follows new ones."""
    name = db.execute("UPDATE projects SET name = %s WHERE id = %s RETURNING name",
                     ("events-" + secrets.token_hex(3), project["id"])).fetchone()[0]
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{project['id']}")
    sub.get_message(timeout=2)

    def published(n):
        got, deadline = [], time.time() + 10
        while len(got) < n and time.time() < deadline:
            m = sub.get_message(timeout=0.5)
            if m and m["type"] == "message":
                got.append(json.loads(m["data"]))
        return got

    for _ in range(3):
        assert deliver(webhook, project["id"], "issues", {"action": "opened"},
                       project["secret"]).status_code == 202
    live = published(3)
    assert len(live) == 3 and all(list(e)[0] == "stream_id" for e in live)
    assert stack.redis.client().pttl(f"jive:events:{project['id']}") > 0  # idle streams expire

    def ctl(*args):
        p = run_bin("jivectl", stack.env(), "events", *args)
        assert p.returncode == 0, p.stderr
        return [json.loads(line) for line in p.stdout.splitlines()]
    assert ctl(project["id"], "--from", "0", "--follow", "no") == live
    assert ctl(project["id"], "--from", live[0]["stream_id"], "--follow", "no") == live[1:]
    assert ctl(name, "--follow", "no") == live  # by name; the last ten

    tail = subprocess.Popen([str(BIN / "jivectl"), "events", project["id"]], env=stack.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # the backlog first
            assert json.loads(tail.stdout.readline()) in live
        assert deliver(webhook, project["id"], "issues", {"action": "closed"},
                       project["secret"]).status_code == 202
        newest = published(1)[0]
        ready, _, _ = select.select([tail.stdout], [], [], 10)
        assert ready and json.loads(tail.stdout.readline()) == newest
    finally:
        tail.terminate()
        tail.wait(10)
    sub.close()
    bad = run_bin("jivectl", stack.env(), "events", "no-such-project", "--follow", "no")
    assert bad.returncode == 1 and "no project no-such-project" in bad.stderr


def test_delivery_trace_context_reaches_the_job(webhook, project, db, examples):
    trace = "5bf92f3577b34da6a3ce929d0e0e4736"
    p = example(examples, "workflow_run", "completed")
    r = deliver(webhook, project["id"], "workflow_run", p, project["secret"],
                headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert r.status_code == 202, r.text
    tp = db.execute("SELECT traceparent FROM jobs WHERE id = %s", (r.json()["jobs"][0],)).fetchone()[0]
    assert tp.startswith(f"00-{trace}-") and tp.endswith("-01")
    r = deliver(webhook, project["id"], "workflow_run", p, project["secret"])  # GitHub sends none
    tp = db.execute("SELECT traceparent FROM jobs WHERE id = %s", (r.json()["jobs"][0],)).fetchone()[0]
    assert tp.startswith("00-") and trace not in tp and len(tp) == 55


def test_push_folds_commits_into_net_changes(webhook, project, db, examples):
    payload = push_with_all_changes(examples)
    r = deliver(webhook, project["id"], "push", payload, project["secret"])
    (_, _, jp, _, _), = jobs_of(db, r.json()["delivery"])
    # docs/new.md: added in commit 2, modified in commit 3 -> added
    assert sorted(jp["added"]) == ["README.md", "docs/new.md"]
    assert jp["modified"] == ["src/app.c"] and jp["removed"] == ["docs/old.md"]


def test_push_to_other_ref_is_stored_without_job(webhook, project, db, examples):
    payload = example(examples, "push", pick=lambda e: e["ref"].startswith("refs/tags/"))
    r = deliver(webhook, project["id"], "push", payload, project["secret"])
    assert r.status_code == 202 and r.json()["jobs"] == []
    ev = stored(db, r.json()["delivery"])
    assert ev[2] == "processed" and ev[3] is True
    assert jobs_of(db, r.json()["delivery"]) == []


def test_ping_answers_pong_and_updates_last_seen(webhook, project, db, examples):
    r = deliver(webhook, project["id"], "ping", example(examples, "ping"), project["secret"])
    assert r.status_code == 200, r.text
    assert r.json()["pong"] is True
    assert stored(db, r.json()["delivery"])[2] == "processed"
    seen = db.execute("SELECT last_seen FROM projects WHERE id = %s", (project["id"],)).fetchone()[0]
    assert seen is not None


def test_pull_request_opened_becomes_conflict_detection(webhook, project, db, stack, examples):
    payload = example(examples, "pull_request", "opened")
    r = deliver(webhook, project["id"], "pull_request", payload, project["secret"])
    assert r.status_code == 202
    assert wait_for(lambda: jobs_of(db, r.json()["delivery"])[0][4], 5)
    (jid, queue, jp, _, enq), = jobs_of(db, r.json()["delivery"])
    assert queue == "conflict-detection"
    assert jp["action"] == "opened" and jp["number"] == payload["number"]
    assert jp["head_sha"] == payload["pull_request"]["head"]["sha"]
    assert stored(db, r.json()["delivery"])[1] == "opened"
    assert queued(stack, "conflict-detection", jid)["event_id"] == r.json()["delivery"]


def test_workflow_run_completed_becomes_run_sync(webhook, project, db, examples):
    payload = example(examples, "workflow_run", "completed")
    r = deliver(webhook, project["id"], "workflow_run", payload, project["secret"])
    assert r.status_code == 202
    (_, queue, jp, _, _), = jobs_of(db, r.json()["delivery"])
    assert queue == "run-sync"
    assert jp["event"] == "workflow_run" and jp["run_id"] == payload["workflow_run"]["id"]
    assert jp["conclusion"] == payload["workflow_run"]["conclusion"]


def test_check_run_becomes_run_sync(webhook, project, db, examples):
    r = deliver(webhook, project["id"], "check_run", example(examples, "check_run"), project["secret"])
    assert r.status_code == 202
    assert jobs_of(db, r.json()["delivery"])[0][1] == "run-sync"


def test_unrouted_event_is_stored_and_marked_processed(webhook, project, db, examples):
    r = deliver(webhook, project["id"], "star", example(examples, "star"), project["secret"])
    assert r.status_code == 202 and r.json()["jobs"] == []
    ev = stored(db, r.json()["delivery"])
    assert ev[0] == "star" and ev[1] == "created" and ev[2] == "processed" and ev[3] is True


def test_form_encoded_delivery(webhook, project, db, examples):
    payload = push_with_all_changes(examples)
    r = deliver(webhook, project["id"], "push", payload, project["secret"], form=True)
    assert r.status_code == 202, r.text
    ev = stored(db, r.json()["delivery"])
    assert ev[5] == payload
    assert jobs_of(db, r.json()["delivery"])[0][1] == "artifact-scan"


def test_app_wide_endpoint_finds_project_by_repository(webhook, db, examples):
    payload = example(examples, "pull_request", "opened")
    repo = payload["repository"]["html_url"]
    db.execute("DELETE FROM projects WHERE repo_url = %s", (repo,))
    p = new_project(db, repo_url=repo)
    try:
        r = deliver(webhook, None, "pull_request", payload, APP_SECRET)
        assert r.status_code == 202, r.text
        assert stored(db, r.json()["delivery"])[7] == p["id"]
        assert jobs_of(db, r.json()["delivery"])[0][1] == "conflict-detection"
        # the project's own secret does not open the app-wide endpoint
        r = deliver(webhook, None, "pull_request", payload, p["secret"])
        assert r.status_code == 401
    finally:
        db.execute("DELETE FROM projects WHERE id = %s", (p["id"],))


def test_app_wide_unknown_repository_is_stored_as_ignored(webhook, db, examples):
    payload = example(examples, "ping")
    payload["repository"]["html_url"] = "https://github.com/nobody/unknown-" + secrets.token_hex(4)
    payload["repository"]["full_name"] = "nobody/unknown"
    for k in ("clone_url", "ssh_url", "git_url"):
        payload["repository"].pop(k, None)
    r = deliver(webhook, None, "ping", payload, APP_SECRET)
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    ev = stored(db, r.json()["delivery"])
    assert ev[2] == "ignored" and ev[7] is None
    assert jobs_of(db, r.json()["delivery"]) == []


def test_app_wide_endpoint_absent_without_secret(spawn, examples):
    svc = spawn("jive-webhook")
    r = deliver(svc, None, "ping", example(examples, "ping"), APP_SECRET)
    assert r.status_code == 404
    assert "JIVE_GITHUB_WEBHOOK_SECRET" in r.json()["error"]["message"]


# ---- bad input: clear error, nothing stored ----

@pytest.mark.parametrize("case", ["missing", "wrong_secret", "truncated", "other_body", "sha1_only",
                                  "uppercase_prefix"])
def test_bad_signatures_are_refused(webhook, project, db, examples, case):
    payload = example(examples, "ping")
    body = json.dumps(payload).encode()
    good = sign(project["secret"], body)
    headers = {
        "missing": {"X-Hub-Signature-256": None, "X-Hub-Signature": None},
        "wrong_secret": {"X-Hub-Signature-256": sign("not-the-secret", body)},
        "truncated": {"X-Hub-Signature-256": good[:-1]},
        "other_body": {"X-Hub-Signature-256": sign(project["secret"], body + b" ")},
        "sha1_only": {"X-Hub-Signature-256": None},
        "uppercase_prefix": {"X-Hub-Signature-256": "SHA256=" + good[7:]},
    }[case]
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "ping", None, project["secret"], delivery, body=body,
                headers=headers)
    assert r.status_code == 401, r.text
    err = r.json()["error"]
    assert err["code"] == ("missing_signature" if case == "missing" else "invalid_signature")
    if case == "sha1_only":
        assert "SHA-1" in err["message"]
    if case in ("truncated", "uppercase_prefix"):
        assert "malformed" in err["message"]
    assert_nothing_stored(db, delivery)


def test_valid_signature_over_non_json_is_400(webhook, project, db):
    body = b"this is not json {"
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "push", None, project["secret"], delivery, body=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert_nothing_stored(db, delivery)
    r = deliver(webhook, project["id"], "push", None, project["secret"], body=b"[1,2,3]")
    assert r.status_code == 400


def test_signed_body_with_text_after_the_json_object_is_400(webhook, project, db, examples):
    # The payload is stored as the exact text GitHub signed; anything after the object (here an
    # attempt to add columns of the stored row) is refused, not cut off or passed along.
    good = json.dumps(example(examples, "ping")).encode()
    delivery = str(uuid.uuid4())
    for tail in (b' ,"id":"smuggled","status":"processed"', b"\n{}", b" trailing"):
        r = deliver(webhook, project["id"], "ping", None, project["secret"], delivery,
                    body=good + tail)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_json"
    assert_nothing_stored(db, delivery)
    assert stored(db, "smuggled") is None
    # white space after the object is fine (GitHub's own bodies may end with a newline)
    r = deliver(webhook, project["id"], "ping", None, project["secret"], delivery,
                body=good + b"\r\n")
    assert r.status_code == 200 and r.json() == {"pong": True, "delivery": delivery}
    assert stored(db, delivery)[5] == json.loads(good)


def test_a_bad_payload_does_not_fail_the_deliveries_committed_with_it(webhook, project, db,
                                                                       examples):
    # Concurrent deliveries share one INSERT (group commit); the one Postgres refuses (a
    # \u0000 in a string) gets its 400 and every other one is stored.
    good = json.dumps(push_with_all_changes(examples)).encode()
    bad_payload = example(examples, "ping")
    bad_payload["zen"] = "nul \u0000 inside"
    bad = json.dumps(bad_payload).encode()
    work = [(str(uuid.uuid4()), "push", good) for _ in range(60)]
    work[30:30] = [(str(uuid.uuid4()), "ping", bad) for _ in range(3)]

    def send(item):
        delivery, event, body = item
        return deliver(webhook, project["id"], event, None, project["secret"], delivery,
                       body=body).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(send, work))
    for (delivery, event, _), code in zip(work, codes):
        if event == "ping":
            assert code == 400
            assert_nothing_stored(db, delivery)
        else:
            assert code == 202
            assert stored(db, delivery)[0] == "push" and len(jobs_of(db, delivery)) == 1


def test_nul_character_in_payload_is_400(webhook, project, db, examples):
    payload = example(examples, "ping")
    payload["zen"] = "nul \u0000 inside"
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "ping", payload, project["secret"], delivery)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_payload"
    assert_nothing_stored(db, delivery)


def test_26_mib_body_is_413_and_not_read(webhook, project, db):
    delivery = str(uuid.uuid4())
    size = 26 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", webhook.port), timeout=10) as s:
        s.sendall((f"POST /webhooks/github/{project['id']} HTTP/1.1\r\nHost: x\r\n"
                   f"X-GitHub-Event: push\r\nX-GitHub-Delivery: {delivery}\r\n"
                   f"Content-Type: application/json\r\nX-Hub-Signature-256: sha256={'0' * 64}\r\n"
                   f"Content-Length: {size}\r\n\r\n").encode())
        s.sendall(b"{" * 65536)  # a little of the body; the server must answer without the rest
        reply = s.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply
    assert_nothing_stored(db, delivery)
    # a body just under the limit is read and judged on its signature
    body = b" " * (25 * 1024 * 1024 - 10) + b"{}"
    r = deliver(webhook, project["id"], "ping", None, "wrong", body=body)
    assert r.status_code == 401


def test_unknown_or_malformed_project_id_is_404(webhook, db, examples):
    body = json.dumps(example(examples, "ping")).encode()
    for pid in (str(uuid.uuid4()), "not-a-uuid", "../../etc/passwd"):
        delivery = str(uuid.uuid4())
        r = deliver(webhook, pid, "ping", None, "s", delivery, body=body)
        assert r.status_code == 404, (pid, r.text)
        assert r.json()["error"]["code"] in ("unknown_project", "not_found")
        assert_nothing_stored(db, delivery)


def test_wrong_content_type_is_415(webhook, project, db, examples):
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "ping", example(examples, "ping"), project["secret"], delivery,
                headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    assert_nothing_stored(db, delivery)


@pytest.mark.parametrize("headers", [{"X-GitHub-Event": None}, {"X-GitHub-Delivery": None},
                                     {"X-GitHub-Delivery": "bad id with spaces"},
                                     {"X-GitHub-Event": "push; drop table"}])
def test_missing_or_malformed_headers_are_400(webhook, project, db, examples, headers):
    r = deliver(webhook, project["id"], "ping", example(examples, "ping"), project["secret"],
                headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    assert db.execute("SELECT count(*) FROM webhook_events WHERE id = 'bad id with spaces'").fetchone()[0] == 0


def test_same_delivery_twice_gives_one_job(webhook, project, db, examples):
    payload = push_with_all_changes(examples)
    delivery = str(uuid.uuid4())
    first = deliver(webhook, project["id"], "push", payload, project["secret"], delivery)
    again = deliver(webhook, project["id"], "push", payload, project["secret"], delivery)
    assert first.status_code == 202
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "delivery": delivery}
    assert len(jobs_of(db, delivery)) == 1


# ---- dependencies going away ----

def test_postgres_down_is_503_and_nothing_enqueued(webhook, project, db, stack, pg_up, examples):
    payload = push_with_all_changes(examples)
    # warm the project cache, then take the database away
    assert deliver(webhook, project["id"], "ping", example(examples, "ping"), project["secret"]).status_code == 200
    before = stack.redis.client().llen("jive:q:artifact-scan")
    stack.pg.stop()
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "push", payload, project["secret"], delivery)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert stack.redis.client().llen("jive:q:artifact-scan") == before
    stack.pg.start()
    # GitHub's redelivery (same id) now works
    assert wait_for(lambda: deliver(webhook, project["id"], "push", payload, project["secret"],
                                    delivery).status_code == 202, 10, 0.5)
    with psycopg.connect(stack.pg.dsn()) as c:
        assert c.execute("SELECT count(*) FROM jobs WHERE event_id = %s", (delivery,)).fetchone()[0] == 1


def test_redis_down_still_accepts_and_outbox_enqueues_later(webhook, project, db, stack, redis_up,
                                                           examples):
    payload = push_with_all_changes(examples)
    stack.redis.stop()
    delivery = str(uuid.uuid4())
    r = deliver(webhook, project["id"], "push", payload, project["secret"], delivery)
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    ev = stored(db, delivery)
    assert ev[2] == "received" and ev[4] is False  # committed, not yet enqueued
    assert jobs_of(db, delivery)[0][4] is False
    stack.redis.start()
    assert wait_for(lambda: queued(stack, "artifact-scan", job_id), 10, 0.3), "outbox did not push"
    assert wait_for(lambda: stored(db, delivery)[2] == "enqueued", 5)
    assert jobs_of(db, delivery)[0][4] is True
    assert "outbox: pushed" in webhook.log()


def test_marking_skips_a_job_row_another_transaction_holds(project, db, stack):
    """Marks ride on delivery batches; a job row held elsewhere (the sweeper pushing it, a worker
    claiming it) is skipped at once rather than waited for, so a batch never blocks on it."""
    delivery, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    db.execute("INSERT INTO webhook_events (id, org_id, project_id, event_type, payload_hash) "
               "VALUES (%s, %s, %s, 'push', 'h')",
               (delivery, project["org_id"], project["id"]))
    db.execute("INSERT INTO jobs (id, org_id, project_id, queue, event_id) "
               "VALUES (%s, %s, %s, 'artifact-scan', %s)",
               (job_id, project["org_id"], project["id"], delivery))
    with psycopg.connect(stack.pg.dsn()) as holder:
        holder.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        db.execute("SET lock_timeout = '2s'")  # a wait would fail the statement, not hang
        assert db.execute("SELECT jive_mark_enqueued(%s::uuid[])", ([job_id],)).fetchone()[0] == 0
        assert jobs_of(db, delivery)[0][4] is False
        holder.rollback()
    assert db.execute("SELECT jive_mark_enqueued(%s::uuid[])", ([job_id],)).fetchone()[0] == 1
    assert jobs_of(db, delivery)[0][4] is True
    assert stored(db, delivery)[2:5] == ("enqueued", False, True)
    # marking twice changes nothing
    assert db.execute("SELECT jive_mark_enqueued(%s::uuid[])", ([job_id],)).fetchone()[0] == 0


# ---- concurrency ----

def test_concurrent_deliveries_with_redeliveries(webhook, project, db, examples):
    payload = push_with_all_changes(examples)
    body = json.dumps(payload).encode()
    ids = [str(uuid.uuid4()) for _ in range(200)]
    work = ids + ids[:50]
    local = threading.local()

    def send(delivery):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return local.s.post(webhook.url(f"/webhooks/github/{project['id']}"), data=body, timeout=60,
                            headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                                     "Content-Type": "application/json",
                                     "X-Hub-Signature-256": sign(project["secret"], body)}).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(send, work))
    assert set(codes) <= {200, 202}
    assert codes.count(202) == 200 and codes.count(200) == 50
    rows = db.execute("SELECT count(*) FROM webhook_events WHERE id = ANY(%s)", (ids,)).fetchone()[0]
    jobs = db.execute("SELECT count(*) FROM jobs WHERE event_id = ANY(%s)", (ids,)).fetchone()[0]
    assert (rows, jobs) == (200, 200)


# ---- operator enqueue ----

def admin_token(scopes, org_id=None):
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "ops", "iat": now, "exp": now + 600,
              "scope": scopes}
    if org_id:
        claims["org_id"] = org_id
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def test_enqueue_needs_admin_token_in_production(webhook, project, stack):
    url = webhook.url("/api/jobs/enqueue")
    req = {"queue": "artifact-scan", "project_id": project["id"], "payload": {"full": True}}
    org = project["org_id"]
    assert requests.post(url, json=req).status_code == 404
    r = requests.post(url, json=req, headers={"Authorization": "Bearer " + admin_token("status:read", org)})
    assert r.status_code == 404
    r = requests.post(url, json=req, headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 404
    # an admin token names its org: one without any has nowhere to act
    r = requests.post(url, json=req, headers={"Authorization": "Bearer " + admin_token("admin")})
    assert r.status_code == 404
    r = requests.post(url, json=req, headers={"Authorization": "Bearer " + admin_token("admin", org)})
    assert r.status_code == 202, r.text
    msg = queued(stack, "artifact-scan", r.json()["job"])
    assert msg["payload"] == {"full": True} and msg["project_id"] == project["id"]
    bad = requests.post(url, json={"queue": "nope", "project_id": project["id"]},
                        headers={"Authorization": "Bearer " + admin_token("admin", org)})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_queue"


def test_an_admin_reaches_only_its_own_orgs_projects(webhook, project, db):
    other = new_project(db)  # another org
    before = db.execute("SELECT count(*) FROM jobs WHERE project_id = %s", (other["id"],)).fetchone()[0]
    r = requests.post(webhook.url("/api/jobs/enqueue"),
                      json={"queue": "story-move", "project_id": other["id"],
                            "payload": {"key": "1.1", "status": "Done"}},
                      headers={"Authorization": "Bearer " + admin_token("admin", project["org_id"])})
    # exactly the answer for a project that does not exist
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_project", r.text
    assert db.execute("SELECT count(*) FROM jobs WHERE project_id = %s",
                      (other["id"],)).fetchone()[0] == before


def test_enqueue_open_in_development(spawn, project, stack):
    svc = spawn("jive-webhook", JIVE_ENV="development")
    url = svc.url("/api/jobs/enqueue")
    r = requests.post(url, json={"queue": "run-sync", "project_id": project["id"]})
    assert r.status_code == 202, r.text
    assert queued(stack, "run-sync", r.json()["job"])["payload"] == {}
    r = requests.post(url, json={"queue": "run-sync", "project_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_project"
    r = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_metrics_count_deliveries_by_event_and_outcome(webhook, project, examples):
    deliver(webhook, project["id"], "ping", example(examples, "ping"), project["secret"])
    deliver(webhook, project["id"], "ping", example(examples, "ping"), "wrong-secret")
    text = requests.get(webhook.url("/metrics")).text
    assert 'jive_webhook_deliveries_total{event="ping",outcome="pong"} 1' in text
    assert 'jive_webhook_deliveries_total{event="ping",outcome="invalid_signature"} 1' in text
    assert "jive_webhook_delivery_duration_seconds_count" in text


def test_unauthenticated_event_names_do_not_grow_the_metrics(webhook, project, examples):
    body = json.dumps(example(examples, "ping")).encode()
    series = set()
    for i in range(300):
        r = deliver(webhook, project["id"], None, None, "wrong-secret", body=body,
                    headers={"X-GitHub-Event": f"made_up_{i}"})
        assert r.status_code == 401
        if i == 9:  # every series these requests touch exists by now
            requests.get(webhook.url("/metrics"))
            series = {line.rsplit(" ", 1)[0] for line in
                      requests.get(webhook.url("/metrics")).text.splitlines()}
    text = requests.get(webhook.url("/metrics")).text
    assert "made_up_" not in text
    assert 'jive_webhook_deliveries_total{event="other",outcome="invalid_signature"} 300' in text
    # no new series: every line names a series that was already there
    assert {line.rsplit(" ", 1)[0] for line in text.splitlines()} <= series
