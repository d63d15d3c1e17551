# SPDX-License-Identifier: MIT
"""GET /events/<project-id> on jive-mcp: a project's events as Server-Sent Events, live and
resumed with Last-Event-ID from the project's stream, with the token, scope, tenant and audit
rules of every read, heartbeats, and an end at shutdown."""
import json
import select
import signal
import socket
import time
import uuid

import pytest
import requests

from conftest import wait_for
from test_mcp import ALL_SCOPES, call, seed_org, token

EVENTS = ALL_SCOPES + " events:read"


@pytest.fixture
def tenant(db):
    return seed_org(db)


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"),
                 JIVE_SSE_HEARTBEAT_MS="60000")


class Stream:
    """A raw client of GET /events/<id>: the status, the headers, then SSE records."""

    def __init__(self, svc, project, tok=None, last=None, rid=None, post=None, headers=None,
                 path=None):
        self.sock = socket.create_connection(("127.0.0.1", svc.port))
        body = json.dumps(post).encode() if post is not None else b""
        line = ("POST /mcp" if post is not None else f"GET {path}" if path
                else f"GET /events/{project}")
        head = f"{line} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "Accept: application/json, text/event-stream\r\n"
        if tok:
            head += f"Authorization: Bearer {tok}\r\n"
        if last:
            head += f"Last-Event-ID: {last}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        if post is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        head += f"X-Request-Id: {rid or uuid.uuid4()}\r\n\r\n"
        self.sock.sendall(head.encode() + body)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._fill(10)
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode().split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.text = ""
        self.ended = False
        self.headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}

    def _fill(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("nothing from the server")
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the stream")
        self.buf += chunk

    def body(self):
        """The whole (non-stream) body of an error answer."""
        n = int(self.headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill(10)
        return json.loads(self.buf[:n])

    def _dechunk(self):
        """Moves every complete chunk of self.buf into self.text (the SSE text)."""
        while b"\r\n" in self.buf:
            size, after = self.buf.split(b"\r\n", 1)
            n = int(size, 16)
            if n == 0:
                self.ended = True
                return
            if len(after) < n + 2:
                return
            self.text += after[:n].decode()
            self.buf = after[n + 2:]

    def record(self, timeout=10):
        """The next SSE record: {"id", "event", "data"} or {"comment"}."""
        deadline = time.time() + timeout
        self._dechunk()
        while "\n\n" not in self.text:
            if self.ended:
                raise EOFError("the server ended the stream")
            self._fill(max(0.1, deadline - time.time()))
            self._dechunk()
        rec, self.text = self.text.split("\n\n", 1)
        out = {}
        for line in rec.split("\n"):
            if line.startswith(":"):
                out["comment"] = line[1:].strip()
            elif ": " in line:
                k, v = line.split(": ", 1)
                out[k] = json.loads(v) if k == "data" else v
        return out

    def close(self):
        self.sock.close()


def report(mcp, tenant, tok, state):
    r = call(mcp, "agent_report", {"project_id": tenant["project"], "story_key": "1.2",
                                   "state": state}, tok)
    assert r.status_code == 200 and not r.json()["result"]["isError"], r.text


def test_live_events_then_a_resume_from_last_event_id(mcp, tenant, db):
    tok = token(tenant, EVENTS)
    rid = str(uuid.uuid4())
    s = Stream(mcp, tenant["project"], tok, rid=rid)
    assert s.status == 200 and s.headers["content-type"] == "text/event-stream"
    report(mcp, tenant, tok, "planning")
    first = s.record()
    assert first["event"] == "agent.updated" and first["data"]["stream_id"] == first["id"]
    assert first["data"]["data"]["state"] == "planning"
    s.close()
    def audited():
        return db.execute("SELECT tool, result, project_id::text FROM mcp_audit_logs "
                          "WHERE request_id = %s", (rid,)).fetchone()
    assert wait_for(audited, 5) == (f"events {tenant['project']}", "success", tenant["project"])
    # two events while nobody listens, then a reconnect from the first: those two, in order,
    # then the live ones, none twice
    report(mcp, tenant, tok, "working")
    report(mcp, tenant, tok, "reviewing")
    s = Stream(mcp, tenant["project"], tok, last=first["id"])
    got = [s.record(), s.record()]
    assert [g["data"]["data"]["state"] for g in got] == ["working", "reviewing"]
    assert got[0]["id"] < got[1]["id"] or len(got[0]["id"]) < len(got[1]["id"])
    report(mcp, tenant, tok, "done")
    live = s.record()
    assert live["data"]["data"]["state"] == "done" and live["id"] not in {g["id"] for g in got}
    s.close()


def test_refusals_name_the_problem_and_another_org_sees_nothing(mcp, tenant, db):
    other = seed_org(db)
    cases = [
        (None, tenant["project"], None, 401, "TOKEN_REQUIRED"),
        (token(tenant, ALL_SCOPES), tenant["project"], None, 403, "insufficient_scope"),
        (token(tenant, EVENTS), other["project"], None, 404, "not_found"),
        (token(tenant, EVENTS), "not-a-project", None, 404, "not_found"),
        (token(tenant, EVENTS), tenant["project"], "yesterday", 400, "invalid_argument"),
    ]
    for tok, project, last, status, code in cases:
        rid = str(uuid.uuid4())
        s = Stream(mcp, project, tok, last=last, rid=rid)
        assert s.status == status, (project, last)
        assert s.body()["error"]["code"] == code
        s.close()
        if tok is not None:
            row = wait_for(lambda: db.execute("SELECT result FROM mcp_audit_logs WHERE "
                                              "request_id = %s", (rid,)).fetchone(), 5)
            assert row is not None and row[0] in ("denied", "invalid"), (project, last)
    assert Stream(mcp, tenant["project"], None).headers["www-authenticate"].startswith("Bearer ")


def test_heartbeats_keep_an_idle_stream_open(spawn, tenant, tmp_path):
    svc = spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "hb.jsonl"), JIVE_SSE_HEARTBEAT_MS="200")
    s = Stream(svc, tenant["project"], token(tenant, EVENTS))
    assert s.status == 200
    assert s.record(timeout=5) == {"comment": "keep-alive"}
    assert s.record(timeout=5) == {"comment": "keep-alive"}
    s.close()


def test_shutdown_ends_open_streams_and_exits_zero(mcp, tenant):
    s = Stream(mcp, tenant["project"], token(tenant, EVENTS))
    assert s.status == 200
    assert mcp.stop(signal.SIGTERM, timeout=15) == 0
    with pytest.raises(EOFError):
        while True:
            s.record(timeout=10)
    s.close()


# ---- MCP 2026-07-28 subscriptions ----

def listen(svc, tok, notifications, id="sub-1"):
    body = {"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                 "io.modelcontextprotocol/clientCapabilities": {}},
                       "notifications": notifications}}
    return Stream(svc, None, tok, post=body, headers={"MCP-Protocol-Version": "2026-07-28",
                                                     "Mcp-Method": "subscriptions/listen"})


def publish(stack, project, type_, data, n=[0]):
    """An event on project:<id> as jc_events_publish writes it (the orchestrator's words)."""
    n[0] += 1
    ev = {"stream_id": f"{int(time.time() * 1000)}-{n[0]}", "type": type_, "project_id": project,
          "at": "2026-12-01T00:00:00Z", "job_id": None, "data": data}
    stack.redis.client().publish(f"project:{project}", json.dumps(ev))


def test_a_subscription_is_acknowledged_then_told_only_what_it_asked_for(mcp, tenant, db, stack):
    other = seed_org(db)
    mine = f"jive://projects/{tenant['project']}/docs/stories/1.2.s1.md"
    theirs = f"jive://projects/{other['project']}/docs/stories/1.2.s1.md"
    s = listen(mcp, token(tenant, EVENTS), {"resourcesListChanged": True,
                                            "resourceSubscriptions": [mine, theirs],
                                            "toolsListChanged": True})
    assert s.status == 200 and s.headers["content-type"] == "text/event-stream"
    ack = s.record()["data"]
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    # honoured: the list changes and the one document this token may read; no tools (they never
    # change), never another org's document
    assert ack["params"]["notifications"] == {"resourcesListChanged": True,
                                              "resourceSubscriptions": [mine]}
    time.sleep(0.3)  # the subscriber is in place before the events below
    publish(stack, other["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "added"})
    publish(stack, tenant["project"], "agent.updated", {"agent_id": "a"})
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "modified"})
    got = s.record()["data"]
    assert got["method"] == "notifications/resources/updated" and got["params"]["uri"] == mine
    assert got["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/9.9.new.md", "change": "added"})
    got = s.record()["data"]
    assert got["method"] == "notifications/resources/list_changed"
    s.close()


def test_a_subscription_ends_with_a_complete_result_at_shutdown(mcp, tenant):
    s = listen(mcp, token(tenant, EVENTS), {"resourcesListChanged": True}, id=7)
    assert s.record()["data"]["method"] == "notifications/subscriptions/acknowledged"
    assert mcp.stop(signal.SIGTERM, timeout=15) == 0
    end = s.record()["data"]
    assert end == {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete"}}
    s.close()


def test_subscription_refusals(mcp, tenant, db):
    r = listen(mcp, token(tenant, "projects:read"), {"resourcesListChanged": True})
    assert r.status == 403 and r.body()["error"]["code"] == -32003
    r = listen(mcp, token(tenant, EVENTS), "everything")
    assert r.status == 200 and r.body()["error"]["code"] == -32602


def test_a_listener_that_never_reads_is_let_go(mcp, tenant, stack):
    """A client that stops reading must not make the server keep everything for it: once about
    a megabyte waits unsent, its stream ends (and the service goes on serving)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", mcp.port))
    sock.sendall((f"GET /events/{tenant['project']} HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {token(tenant, EVENTS)}\r\n\r\n").encode())
    time.sleep(0.3)
    big = "x" * 200_000
    for i in range(60):  # 12 MB of events, none of them read
        publish(stack, tenant["project"], "agent.updated", {"note": big, "n": i})
    assert wait_for(lambda: "reads too slowly" in mcp.log(), 20), mcp.log()[-2000:]
    sock.settimeout(10)
    got, total = b"", 0
    while True:  # what was already on its way, then the end
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
        got = (got + chunk)[-16:]
    assert total < 12_000_000 and got.endswith(b"0\r\n\r\n")  # cut short, then a clean end
    sock.close()
    assert requests.get(mcp.url("/livez")).status_code == 200



# ---- the 2025 era: sessions, resources/subscribe and the GET /mcp stream ----

def legacy(svc, method, params, tok, session=None, id=1):
    h = {"Authorization": "Bearer " + tok, "MCP-Protocol-Version": "2025-11-25",
         "Accept": "application/json, text/event-stream"}
    if session:
        h["Mcp-Session-Id"] = session
    return requests.post(svc.url("/mcp"), headers=h, timeout=10,
                         json={"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def session_of(svc, tok):
    r = legacy(svc, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                   "clientInfo": {"name": "t", "version": "1"}}, tok)
    caps = r.json()["result"]["capabilities"]["resources"]
    assert caps == {"listChanged": True, "subscribe": True}
    return r.headers["Mcp-Session-Id"]


def test_a_2025_session_subscribes_and_hears_its_resources(mcp, tenant, db, stack, spawn):
    """initialize assigns a session; GET /mcp with it is the session's stream; resources/subscribe
    on any replica reaches it; another org's URI is refused; an ended session is 404."""
    tok = token(tenant, EVENTS)
    sid = session_of(mcp, tok)
    other_replica = spawn("jive-mcp")
    s = Stream(mcp, None, tok, path="/mcp", headers={"Mcp-Session-Id": sid,
                                                      "MCP-Protocol-Version": "2025-11-25"})
    assert s.status == 200 and s.headers["content-type"] == "text/event-stream"
    mine = f"jive://projects/{tenant['project']}/docs/stories/1.2.s1.md"
    other = seed_org(db)
    r = legacy(other_replica, "resources/subscribe", {"uri": mine}, tok, sid)
    assert r.status_code == 200 and r.json()["result"] == {}, r.text
    theirs = f"jive://projects/{other['project']}/docs/stories/1.2.s1.md"
    r = legacy(mcp, "resources/subscribe", {"uri": theirs}, tok, sid)
    assert r.json()["error"]["code"] == -32002
    time.sleep(0.3)  # the stream has reloaded its subscriptions
    publish(stack, other["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "modified"})
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/1.3.s2.md", "change": "modified"})  # not subscribed
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "modified"})
    got = s.record()["data"]
    assert got == {"jsonrpc": "2.0", "method": "notifications/resources/updated",
                   "params": {"uri": mine}}
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/3.1.new.md", "change": "added"})
    assert s.record()["data"]["method"] == "notifications/resources/list_changed"
    r = legacy(mcp, "resources/unsubscribe", {"uri": mine}, tok, sid)
    assert r.json()["result"] == {}
    # another caller cannot use the session; without one, subscribing is refused
    r = legacy(mcp, "tools/list", {}, token(other, EVENTS), sid)
    assert r.status_code == 404 and r.json()["error"]["data"]["code"] == "session_not_found"
    r = legacy(mcp, "resources/subscribe", {"uri": mine}, tok)
    assert r.json()["error"]["code"] == -32600 and "Mcp-Session-Id" in r.json()["error"]["message"]
    # a request without the header is served statelessly as before
    assert legacy(mcp, "tools/list", {}, tok).status_code == 200
    # the session ends: everything carrying it is 404, on every replica
    r = requests.delete(mcp.url("/mcp"), headers={"Authorization": "Bearer " + tok,
                                                   "Mcp-Session-Id": sid})
    assert r.status_code == 200
    for svc in (mcp, other_replica):
        r = legacy(svc, "tools/list", {}, tok, sid)
        assert r.status_code == 404
    r = requests.get(mcp.url("/mcp"), headers={"Authorization": "Bearer " + tok,
                                                "Mcp-Session-Id": "no-such-session"})
    assert r.status_code == 404
    assert requests.get(mcp.url("/mcp"), headers={"Authorization": "Bearer " + tok}).status_code == 405
    s.close()


def test_streams_per_token_are_capped(spawn, tenant):
    svc = spawn("jive-mcp", JIVE_SSE_MAX_PER_TOKEN="2", JIVE_SSE_HEARTBEAT_MS="60000")
    tok = token(tenant, EVENTS)
    a = Stream(svc, tenant["project"], tok)
    b = listen(svc, tok, {"resourcesListChanged": True})
    assert a.status == 200 and b.status == 200
    c = Stream(svc, tenant["project"], tok)
    assert c.status == 429 and c.body()["error"]["code"] == "too_many_streams"
    d = Stream(svc, tenant["project"], token(tenant, EVENTS, sub="agent-2"))  # another token
    assert d.status == 200
    a.close()
    time.sleep(0.3)
    e = Stream(svc, tenant["project"], tok)
    assert e.status == 200
    for x in (b, d, e):
        x.close()


def test_kill_9_ends_the_streams_and_another_replica_takes_the_subscription(spawn, tenant, stack):
    """A replica killed with listeners attached: its clients see the stream end at once (no
    graceful result: the process is gone) and subscribe again on another replica, which hears
    the project from then on (GET /events resumes with Last-Event-ID: the test above)."""
    a = spawn("jive-mcp", JIVE_SSE_HEARTBEAT_MS="60000")
    b = spawn("jive-mcp", JIVE_SSE_HEARTBEAT_MS="60000")
    tok = token(tenant, EVENTS)
    mine = f"jive://projects/{tenant['project']}/docs/stories/1.2.s1.md"
    sub = listen(a, tok, {"resourceSubscriptions": [mine]})
    assert sub.record()["data"]["method"] == "notifications/subscriptions/acknowledged"
    ev = Stream(a, tenant["project"], tok)
    time.sleep(0.3)
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "modified"})
    assert ev.record()["data"]["type"] == "artifact.changed"
    a.proc.kill()
    a.proc.wait(10)
    for s in (sub, ev):
        with pytest.raises(EOFError):
            while True:
                s.record(timeout=5)
    sub = listen(b, tok, {"resourceSubscriptions": [mine]})
    assert sub.record()["data"]["method"] == "notifications/subscriptions/acknowledged"
    time.sleep(0.3)
    publish(stack, tenant["project"], "artifact.changed",
            {"path": "docs/stories/1.2.s1.md", "change": "modified"})
    got = sub.record()["data"]
    assert got["method"] == "notifications/resources/updated" and got["params"]["uri"] == mine
    sub.close()
