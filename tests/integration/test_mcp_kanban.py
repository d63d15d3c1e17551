# SPDX-License-Identifier: MIT
"""kanban_move_story end to end: jive-mcp creates the story-move job, jive-orchestrator commits
and pushes to a fixture repository; the same idempotency key twice gives one commit."""
import time
import uuid

import jwt
import requests
import pytest

from conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET
from test_mcp import call
from test_move import orch, origin, project  # noqa: F401  (fixtures)
from test_scan import git


def token(project, scopes="kanban:write jobs:read stories:read"):
    now = int(time.time())
    return jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "cursor-1", "name": "Cursor",
                       "org_id": project["org_id"], "scope": scopes, "iat": now, "exp": now + 600},
                      JWT_SECRET, algorithm="HS256")


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool"))


def test_move_through_mcp_with_idempotency(mcp, project, origin, db):
    t = token(project)
    head = git(origin, "rev-parse", "HEAD")
    args = {"project_id": project["id"], "key": "1.2", "status": "InProgress",
            "idempotencyKey": "move-1.2-" + uuid.uuid4().hex[:6], "waitMs": 20000}
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    first = call(mcp, "kanban_move_story", args, t,
                 headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}).json()["result"]
    assert first["isError"] is False, first
    out = first["structuredContent"]
    assert out["status"] == "succeeded" and out["from"] == "Approved" and out["to"] == "InProgress"
    assert out["commit"] == git(origin, "rev-parse", "HEAD") != head
    assert git(origin, "log", "-1", "--format=%an") == "Cursor"
    again = call(mcp, "kanban.moveStory", args, t).json()["result"]
    assert again["structuredContent"]["commit"] == out["commit"]
    assert again["structuredContent"]["job_id"] == out["job_id"]
    # the caller's trace reached the job row: same trace id and flags, jive-mcp's own span id
    tp = db.execute("SELECT traceparent FROM jobs WHERE id = %s", (out["job_id"],)).fetchone()[0]
    assert tp.startswith(f"00-{trace}-") and tp.endswith("-01") and "00f067aa0ba902b7" not in tp
    assert git(origin, "rev-list", "--count", f"{head}..HEAD") == "1"  # one commit, not two
    # the same key for another move is refused, never answered with the first move's result
    jobs = db.execute("SELECT count(*) FROM jobs WHERE project_id = %s", (project["id"],)).fetchone()[0]
    for change in ({"status": "Done"}, {"key": "1.1"}):
        other = call(mcp, "kanban_move_story", dict(args, **change), t).json()["result"]
        assert other["isError"] is True, other
        assert "already used for another move" in other["content"][0]["text"]
    assert db.execute("SELECT count(*) FROM jobs WHERE project_id = %s",
                      (project["id"],)).fetchone()[0] == jobs
    assert git(origin, "rev-list", "--count", f"{head}..HEAD") == "1"
    # waitMs is not part of the move: a retry with another wait is the same move
    same = call(mcp, "kanban_move_story", dict(args, waitMs=0), t).json()["result"]
    assert same["structuredContent"]["job_id"] == out["job_id"]
    job = call(mcp, "jobs_get", {"job_id": out["job_id"]}, t).json()["result"]["structuredContent"]["job"]
    assert job["status"] == "succeeded" and job["queue"] == "story-move"
    unknown = call(mcp, "jobs_get", {"job_id": str(uuid.uuid4())}, t).json()["result"]
    assert unknown["isError"] is False and unknown["structuredContent"] == {"job": None}


def test_refusals_and_scope(mcp, project, origin):
    t = token(project)
    r = call(mcp, "kanban_move_story", {"project_id": project["id"], "path": "docs/stories/../../x.md",
                                        "status": "Done", "waitMs": 20000}, t).json()["result"]
    assert r["isError"] is True and "is not a story file" in r["content"][0]["text"]
    r = call(mcp, "kanban_move_story", {"project_id": project["id"], "key": "1.1", "status": "Shipped"}, t)
    res = r.json()["result"]
    assert res["isError"] is True and "invalid arguments for kanban_move_story" in res["content"][0]["text"]
    r = call(mcp, "kanban_move_story", {"project_id": project["id"], "key": "1.1", "status": "Done"},
             token(project, "stories:read"))
    assert r.status_code == 403


def modern(mcp, method, params, tok, tasks=True):
    """A 2026-07-28 request; tasks: the client declares the tasks extension."""
    caps = {"extensions": {"io.modelcontextprotocol/tasks": {}}} if tasks else {}
    params = dict(params, _meta={"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                 "io.modelcontextprotocol/clientCapabilities": caps})
    name = params.get("name", params.get("taskId"))
    h = {"Authorization": "Bearer " + tok, "MCP-Protocol-Version": "2026-07-28",
         "Mcp-Method": method, "Accept": "application/json, text/event-stream"}
    if name:
        h["Mcp-Name"] = name
    return requests.post(mcp.url("/mcp"), headers=h, timeout=30,
                         json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def test_move_as_a_task_polled_to_the_synchronous_result(mcp, project, origin, db):
    """With the tasks extension the move answers a task at once; tasks/get follows the job to
    completed, whose result is exactly what the synchronous call answers for the same move."""
    t = token(project)
    head = git(origin, "rev-parse", "HEAD")
    args = {"project_id": project["id"], "key": "1.2", "status": "InProgress",
            "idempotencyKey": "task-1.2-" + uuid.uuid4().hex[:6]}
    r = modern(mcp, "tools/call", {"name": "kanban_move_story", "arguments": args}, t).json()
    created = r["result"]
    assert created["resultType"] == "task" and created["status"] == "working", r
    assert created["pollIntervalMs"] > 0 and created["createdAt"].endswith("Z")
    task_id = created["taskId"]
    assert db.execute("SELECT queue FROM jobs WHERE id = %s", (task_id,)).fetchone() == ("story-move",)
    deadline, got = time.time() + 30, None
    while time.time() < deadline:
        got = modern(mcp, "tasks/get", {"taskId": task_id}, t).json()["result"]
        assert got["resultType"] == "complete" and got["taskId"] == task_id
        if got["status"] != "working":
            break
        time.sleep(created["pollIntervalMs"] / 1000)
    assert got["status"] == "completed", got
    assert got["result"]["isError"] is False
    assert got["result"]["structuredContent"]["commit"] == git(origin, "rev-parse", "HEAD") != head
    # the synchronous answer for the same move (same key): the same result
    sync = modern(mcp, "tools/call", {"name": "kanban_move_story", "arguments": dict(args, waitMs=5000)},
                  t, tasks=False).json()["result"]
    sync.pop("resultType")
    assert got["result"] == sync
    assert git(origin, "rev-list", "--count", f"{head}..HEAD") == "1"
    # cancel and update are acknowledged; without the extension, or for another org, refused
    assert modern(mcp, "tasks/cancel", {"taskId": task_id}, t).json()["result"] == {"resultType": "complete"}
    assert modern(mcp, "tasks/update", {"taskId": task_id, "inputResponses": {}},
                  t).json()["result"] == {"resultType": "complete"}
    e = modern(mcp, "tasks/get", {"taskId": task_id}, t, tasks=False).json()["error"]
    assert e["code"] == -32021
    assert e["data"]["requiredCapabilities"]["extensions"] == {"io.modelcontextprotocol/tasks": {}}
    other = dict(project, org_id=str(uuid.uuid4()))
    e = modern(mcp, "tasks/get", {"taskId": task_id}, token(other)).json()
    assert "error" in e and "unknown task" in e["error"]["message"], e
    e = modern(mcp, "tasks/get", {"taskId": str(uuid.uuid4())}, t).json()["error"]
    assert e["code"] == -32602
    # a refused move is a completed task whose result is the tool error the call would give
    r = modern(mcp, "tools/call", {"name": "kanban_move_story", "arguments": {
        "project_id": project["id"], "key": "1.1", "status": "Done", "expectedHash": "0" * 64}},
        t).json()["result"]
    while True:
        got = modern(mcp, "tasks/get", {"taskId": r["taskId"]}, t).json()["result"]
        if got["status"] != "working":
            break
        time.sleep(0.2)
    assert got["status"] == "completed" and got["result"]["isError"] is True
    assert got["result"]["content"][0]["text"].startswith("the move was refused: ")
    # the server says it speaks the extension
    d = modern(mcp, "server/discover", {}, t).json()["result"]
    assert d["capabilities"]["extensions"] == {"io.modelcontextprotocol/tasks": {}}


def test_a_listening_client_hears_its_task_end(mcp, project, origin, orch, db):
    """subscriptions/listen with taskIds (the tasks extension declared): the subscription is
    acknowledged with the task, and notifications/tasks brings the same DetailedTask as
    tasks/get once the move is committed; without the extension declared, -32021."""
    from test_events import Stream
    t = token(project)
    assert orch.stop() == 0  # the move waits until the subscription is in place
    r = modern(mcp, "tools/call", {"name": "kanban_move_story", "arguments": {
        "project_id": project["id"], "key": "1.2", "status": "InProgress"}}, t).json()["result"]
    task_id = r["taskId"]
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {
                "extensions": {"io.modelcontextprotocol/tasks": {}}}}
    body = {"jsonrpc": "2.0", "id": "tasks-1", "method": "subscriptions/listen",
            "params": {"_meta": meta, "notifications": {"taskIds": [task_id, str(uuid.uuid4())]}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}
    s = Stream(mcp, None, t, post=body, headers=headers)
    ack = s.record()["data"]
    assert ack["params"]["notifications"] == {"taskIds": [task_id]}  # not a stranger's id
    orch.start()
    note = s.record(timeout=30)["data"]
    assert note["method"] == "notifications/tasks"
    assert note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "tasks-1"
    del note["params"]["_meta"]
    got = modern(mcp, "tasks/get", {"taskId": task_id}, t).json()["result"]
    del got["resultType"]
    assert note["params"] == got and got["status"] == "completed"
    s.close()
    body["params"]["_meta"] = dict(meta, **{"io.modelcontextprotocol/clientCapabilities": {}})
    r = Stream(mcp, None, t, post=body, headers=headers)
    assert r.body()["error"]["code"] == -32021
