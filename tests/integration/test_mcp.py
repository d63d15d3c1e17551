# SPDX-License-Identifier: MIT
"""jive-mcp over Streamable HTTP, both protocol eras, with real tokens, row-level security, the
Redis rate limit and the audit log; every bad input asserts status, error body and audit row."""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import signal
import time
import uuid

import jwt
import psycopg
import pytest
import requests

from conftest import BIN, JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, free_port, wait_for

ALL_SCOPES = ("status:read projects:read stories:read conflicts:read gates:read runs:read "
              "jobs:read agents:write runs:write")
MODERN = "2026-07-28"


def seed_org(db, slug=None):
    slug = slug or "mcp-" + uuid.uuid4().hex[:8]
    org = str(db.execute("INSERT INTO orgs (slug, name) VALUES (%s, %s) RETURNING id",
                         (slug, slug)).fetchone()[0])
    pid = str(db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) VALUES "
                         "(%s, 'shop', %s, repeat('s', 20)) RETURNING id",
                         (org, f"https://github.com/{slug}/shop")).fetchone()[0])
    for i, (key, status) in enumerate([("1.1", "Done"), ("1.2", "InProgress"), ("1.3", "InProgress"),
                                        ("2.1", "Draft")]):
        db.execute("INSERT INTO artifacts (org_id, project_id, path, kind, key, title, status, "
                   "content_hash, meta) VALUES (%s, %s, %s, 'story', %s, %s, %s, %s, %s)",
                   (org, pid, f"docs/stories/{key}.s{i}.md", key, f"Story {key}", status,
                    "h" * 64, json.dumps({"files": [f"src/{i}.c"], "tasks_done": 1,
                                          "tasks_total": 2})))
    db.execute("INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, summary, "
               "details) VALUES (%s, %s, 'file_overlap', 'file_overlap:1.2|1.3', 'high', 'overlap', "
               "%s)", (org, pid, json.dumps({"stories": ["1.2", "1.3"], "files": ["src/x.c"]})))
    db.execute("INSERT INTO gates (org_id, project_id, path, story_key, decision, expires_at) "
               "VALUES (%s, %s, 'docs/qa/gates/1.1-x.yml', '1.1', 'PASS', now() + interval '3 days')",
               (org, pid))
    return {"org": org, "slug": slug, "project": pid}


@pytest.fixture
def tenant(db):
    return seed_org(db)


def token(tenant, scopes=ALL_SCOPES, **over):
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "agent-1", "name": "Claude",
              "org": tenant["slug"], "org_id": tenant["org"], "scope": scopes, "iat": now,
              "nbf": now, "exp": now + 600}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"),
                 JIVE_CORS_ORIGINS="https://app.example")


def rpc(svc, method, params=None, tok=None, modern=False, headers=None, rid=None, id=1):
    params = dict(params or {})
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "X-Request-Id": rid or str(uuid.uuid4())}
    if tok:
        h["Authorization"] = "Bearer " + tok
    if modern:
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                           "io.modelcontextprotocol/clientCapabilities": {}}
        h["MCP-Protocol-Version"] = MODERN
        h["Mcp-Method"] = method
        if "name" in params or "uri" in params:
            h["Mcp-Name"] = params.get("name", params.get("uri"))
    else:
        h["MCP-Protocol-Version"] = "2025-11-25"
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": params}
    return requests.post(svc.url("/mcp"), json=body, headers=h, timeout=10)


def call(svc, tool, args, tok, **kw):
    return rpc(svc, "tools/call", {"name": tool, "arguments": args}, tok, **kw)


def audit_rows(db, rid):
    return db.execute("SELECT actor_type, actor_id, tool, scope, result, error_message, args_hash, "
                      "org_id::text, project_id::text, duration_ms, user_agent FROM mcp_audit_logs "
                      "WHERE request_id = %s", (rid,)).fetchall()


def one_audit(db, rid):
    assert wait_for(lambda: len(audit_rows(db, rid)) > 0, 5), "no audit row"
    time.sleep(0.3)
    rows = audit_rows(db, rid)
    assert len(rows) == 1, rows
    return rows[0]


# ---- protocol ----

def test_initialize_negotiates_and_assigns_a_session_nothing_needs(mcp, tenant):
    """A 2025-era initialize assigns a session (for resource subscriptions, test_events.py);
    nothing else needs it: requests without it are served as before."""
    r = rpc(mcp, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                "clientInfo": {"name": "t", "version": "1"}}, token(tenant))
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["protocolVersion"] == "2025-06-18"
    assert res["serverInfo"]["name"] == "jive-mcp" and "tools" in res["capabilities"]
    assert len(r.headers["Mcp-Session-Id"]) >= 32
    r = rpc(mcp, "initialize", {"protocolVersion": "2024-01-01", "capabilities": {}}, token(tenant))
    assert r.json()["result"]["protocolVersion"] == "2025-11-25"
    assert rpc(mcp, "ping", {}, token(tenant)).json()["result"] == {}


def test_server_discover_and_modern_lists(mcp, tenant):
    r = rpc(mcp, "server/discover", {}, token(tenant), modern=True)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["resultType"] == "complete" and MODERN in res["supportedVersions"]
    assert "2025-11-25" in res["supportedVersions"]
    assert res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "jive-mcp"
    r = rpc(mcp, "tools/list", {}, token(tenant), modern=True)
    res = r.json()["result"]
    assert res["resultType"] == "complete" and res["ttlMs"] > 0 and res["cacheScope"] == "private"
    names = {t["name"] for t in res["tools"]}
    assert {"status_get", "projects_list", "stories_list", "story_get", "conflicts_list",
            "gates_list", "runs_list", "jobs_get", "agent_report", "run_report"} <= names
    for t in res["tools"]:
        assert len(t["name"]) <= 40 and all(ch.isalnum() or ch == "_" for ch in t["name"])
        assert t["inputSchema"]["additionalProperties"] is False and t["outputSchema"]["type"] == "object"
        assert {"readOnlyHint", "destructiveHint", "idempotentHint"} <= set(t["annotations"])
    # scopes decide what a token sees
    only = rpc(mcp, "tools/list", {}, token(tenant, "status:read")).json()["result"]["tools"]
    assert [t["name"] for t in only] == ["status_get"]


@pytest.mark.parametrize("modern", [False, True])
def test_status_get_and_aliases(mcp, tenant, db, modern):
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, token(tenant), modern=modern, rid=rid)
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["isError"] is False
    st = res["structuredContent"]
    assert st["stories"] == {"Done": 1, "InProgress": 2, "Draft": 1}
    assert st["stories_total"] == 4
    assert st["findings"]["total"] == 1 and st["findings"]["by_kind"] == {"file_overlap": 1}
    assert st["findings"]["top"][0]["kind"] == "file_overlap" and st["findings"]["truncated"] is False
    assert st["gates"] == {"PASS": 1} and st["expired_gates"] == 0
    assert st["last_scan"] is None  # never scanned
    assert json.loads(res["content"][0]["text"]) == st
    if modern:
        assert res["resultType"] == "complete"
    row = one_audit(db, rid)
    assert row[:5] == ("agent", "agent-1", "status_get", "status:read", "success")
    assert row[7] == tenant["org"] and row[8] == tenant["project"] and len(row[6]) == 64
    # the dotted name of the original plan works too
    r = call(mcp, "status.get", {"project_id": tenant["project"]}, token(tenant))
    assert r.json()["result"]["isError"] is False


def test_read_tools(mcp, tenant, db):
    t = token(tenant)
    p = tenant["project"]
    st = call(mcp, "stories_list", {"project_id": p, "status": "InProgress"}, t).json()["result"]["structuredContent"]
    assert [s["key"] for s in st["stories"]] == ["1.2", "1.3"]
    st = call(mcp, "stories_list", {"project_id": p, "epic": "2"}, t).json()["result"]["structuredContent"]
    assert [s["key"] for s in st["stories"]] == ["2.1"]
    story = call(mcp, "story_get", {"project_id": p, "key": "1.2"}, t).json()["result"]["structuredContent"]["story"]
    assert story["status"] == "InProgress" and story["files"] == ["src/1.c"] and story["tasks_total"] == 2
    conf = call(mcp, "conflicts_list", {"project_id": p}, t).json()["result"]["structuredContent"]
    assert [c["fingerprint"] for c in conf["conflicts"]] == ["file_overlap:1.2|1.3"]
    gates = call(mcp, "gates_list", {"project_id": p}, t).json()["result"]["structuredContent"]
    assert gates["expiring"] == ["1.1"] and gates["gates"][0]["decision"] == "PASS"
    projects = call(mcp, "projects_list", {}, t).json()["result"]["structuredContent"]["projects"]
    assert [x["id"] for x in projects] == [p]  # row-level security: only this org's


def test_writes_and_run_pagination(mcp, tenant, db):
    t = token(tenant)
    p = tenant["project"]
    r = call(mcp, "agent_report", {"project_id": p, "story_key": "1.2", "state": "working"}, t)
    assert r.json()["result"]["structuredContent"]["agent"]["state"] == "working"
    assert db.execute("SELECT agent_name, story_key FROM agent_status WHERE project_id = %s",
                      (p,)).fetchone() == ("Claude", "1.2")
    for i in range(5):
        r = call(mcp, "run_report", {"project_id": p, "run_id": f"r{i}", "name": f"run {i}",
                                     "status": "completed", "conclusion": "success"}, t)
        assert r.json()["result"]["isError"] is False, r.text
        time.sleep(0.01)
    page1 = call(mcp, "runs_list", {"project_id": p, "limit": 3}, t).json()["result"]["structuredContent"]
    assert [x["name"] for x in page1["runs"]] == ["run 4", "run 3", "run 2"] and page1["next_cursor"]
    page2 = call(mcp, "runs_list", {"project_id": p, "limit": 3, "cursor": page1["next_cursor"]},
                 t).json()["result"]["structuredContent"]
    assert [x["name"] for x in page2["runs"]] == ["run 1", "run 0"] and page2["next_cursor"] is None
    # a cursor runs_list never made is an invalid argument naming it, not a database error
    for bad in ("x", "2026-01-01 00:00:00+00|not-a-uuid", "'; DROP TABLE runs; --|" + str(uuid.uuid4()),
                "2026-13-45 99:99:99+00|" + str(uuid.uuid4())):
        res = call(mcp, "runs_list", {"project_id": p, "cursor": bad}, t).json()["result"]
        text = res["content"][0]["text"]
        assert res["isError"] is True, text
        assert "invalid argument 'cursor'" in text or "invalid argument" in text, text
        assert "ERROR" not in text and "uuid" not in text.lower() and "syntax" not in text, text


def test_other_org_project_is_invisible(mcp, tenant, db):
    other = seed_org(db)
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": other["project"]}, token(tenant), rid=rid)
    res = r.json()["result"]
    assert res["isError"] is True and "not visible to this token" in res["content"][0]["text"]
    assert one_audit(db, rid)[4] == "error"
    st = call(mcp, "stories_list", {"project_id": other["project"]}, token(tenant)).json()["result"]
    assert st["isError"] is True


# ---- bad input: status, error body, audit row ----

def test_no_token(mcp, tenant, db):
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, None, rid=rid)
    assert r.status_code == 401
    # no credentials: a challenge without an error code (RFC 6750 section 3.1), pointing at the
    # path-specific metadata of http://127.0.0.1/mcp
    assert r.headers["WWW-Authenticate"] == \
        'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"'
    assert r.json()["error"]["data"]["code"] == "TOKEN_REQUIRED"
    assert "jivectl token mint" in r.json()["error"]["data"]["how"]
    assert "jivectl token mint" in r.json()["error"]["message"]
    row = one_audit(db, rid)
    assert row[0] == "anonymous" and row[4] == "denied" and row[2] == "status_get"


@pytest.mark.parametrize("case,code", [
    ("alg_none", "TOKEN_INVALID"), ("expired", "TOKEN_EXPIRED"), ("not_yet", "TOKEN_INVALID"),
    ("issuer", "TOKEN_INVALID"), ("audience", "TOKEN_INVALID"), ("other_key", "TOKEN_INVALID"),
    ("garbage", "TOKEN_INVALID"),
])
def test_bad_tokens(mcp, tenant, db, case, code):
    now = int(time.time())
    tok = {
        "alg_none": jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "x", "org_id": tenant["org"],
                                "scope": ALL_SCOPES, "exp": now + 60}, None, algorithm="none"),
        "expired": token(tenant, exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "not_yet": token(tenant, nbf=now + 3600, exp=now + 7200),
        "issuer": token(tenant, iss="https://evil.example"),
        "audience": token(tenant, aud="https://other.example/mcp"),
        "other_key": jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "x", "exp": now + 60},
                                "another-secret-0123456789abcdef0123", algorithm="HS256"),
        "garbage": "not.a.jwt",
    }[case]
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, tok, rid=rid)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["data"]["code"] == code
    assert one_audit(db, rid)[4] == "denied"


def test_missing_scope(mcp, tenant, db):
    rid = str(uuid.uuid4())
    r = call(mcp, "conflicts_list", {"project_id": tenant["project"]}, token(tenant, "status:read"), rid=rid)
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert 'scope="conflicts:read"' in r.headers["WWW-Authenticate"]
    assert ('resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"'
            in r.headers["WWW-Authenticate"])  # where a client steps up from
    assert "needs the conflicts:read scope" in r.json()["error"]["message"]
    row = one_audit(db, rid)
    assert row[4] == "denied" and row[3] == "conflicts:read"


def test_protocol_faults(mcp, tenant, db):
    t = token(tenant)
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + t}
    r = requests.post(mcp.url("/mcp"), data=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    r = requests.post(mcp.url("/mcp"), json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}],
                      headers=dict(h, **{"MCP-Protocol-Version": "2025-06-18"}))
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = requests.post(mcp.url("/mcp"), json={"id": 1, "method": "ping"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = rpc(mcp, "no/such/method", {}, t)
    assert r.json()["error"]["code"] == -32601
    r = rpc(mcp, "no/such/method", {}, t, modern=True)
    assert r.status_code == 404 and r.json()["error"]["code"] == -32601
    rid = str(uuid.uuid4())
    r = call(mcp, "no_such_tool", {}, t, rid=rid)
    assert r.json()["error"]["code"] == -32602 and "unknown tool" in r.json()["error"]["message"]
    assert one_audit(db, rid)[4] == "invalid"
    rid = str(uuid.uuid4())
    r = call(mcp, "stories_list", {"project_id": tenant["project"], "status": "Shipped", "x": 1}, t, rid=rid)
    res = r.json()["result"]  # a tool execution error the model can correct (2025-11-25)
    assert res["isError"] is True and "invalid arguments for stories_list" in res["content"][0]["text"]
    assert "status" in res["content"][0]["text"] and "structuredContent" not in res
    assert one_audit(db, rid)[4] == "invalid"
    r = requests.post(mcp.url("/mcp"), data=b"{" + b" " * (2 << 20) + b"}", headers=h)
    assert r.status_code == 413
    r = rpc(mcp, "tools/list", {}, t, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert rpc(mcp, "tools/list", {}, t, headers={"Origin": "https://app.example"}).status_code == 200
    # DNS rebinding: the attacker's name in both Host and Origin is still refused...
    r = rpc(mcp, "tools/list", {}, t, headers={"Origin": "http://evil.example:80", "Host": "evil.example:80"})
    assert r.status_code == 403
    # ...a page of this very server on a loopback name is same-origin and allowed
    port = mcp.url("").rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert rpc(mcp, "tools/list", {}, t, headers={"Origin": f"http://{host}", "Host": host}).status_code == 200
    r = rpc(mcp, "tools/list", {}, t, headers={"Origin": "http://localhost:1", "Host": f"localhost:{port}"})
    assert r.status_code == 403  # another local port is another origin
    # the REST routes apply the same Origin rule as /mcp
    auth = {"Authorization": "Bearer " + t}
    for origin, want in (("https://evil.example", 403), ("https://app.example", 200)):
        r = requests.get(mcp.url("/mcp/tools"), headers=dict(auth, Origin=origin))
        assert r.status_code == want, r.text
        r = requests.post(mcp.url("/mcp/invoke"), headers=dict(auth, Origin=origin),
                          json={"tool": "projects_list", "arguments": {}})
        assert r.status_code == want, r.text
        if want == 403:
            assert r.json()["error"]["code"] == "origin_not_allowed"
    r = requests.post(mcp.url("/mcp"), json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                      headers=h)
    assert r.status_code == 202 and r.text == ""
    assert requests.get(mcp.url("/mcp"), headers=h).status_code == 405
    r = rpc(mcp, "tools/list", {}, t, headers={"MCP-Protocol-Version": "1999-01-01"})
    assert r.status_code == 400



def test_batches_on_2025_03_26(mcp, tenant, db):
    """JSON-RPC batches exist only in 2025-03-26 (whose clients send no version header): each
    member is answered in one array by id, notifications get nothing, a bad member gets its own
    error, tool calls are audited one by one; later versions and empty batches are refused."""
    t = token(tenant)
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + t,
         "X-Request-Id": str(uuid.uuid4())}
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
             {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": "two", "method": "tools/call",
              "params": {"name": "status_get", "arguments": {"project_id": tenant["project"]}}},
             {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
              "params": {"name": "agent_report", "arguments": {"project_id": tenant["project"],
                                                               "story_key": "1.2",
                                                               "state": "working"}}},
             5,
             {"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {}},
             {"jsonrpc": "2.0", "id": 6, "method": "no/such"}]
    for extra in ({}, {"MCP-Protocol-Version": "2025-03-26"}):
        rid = str(uuid.uuid4())
        r = requests.post(mcp.url("/mcp"), json=batch, headers=dict(h, **extra, **{"X-Request-Id": rid}))
        assert r.status_code == 200, r.text
        out = r.json()
        assert isinstance(out, list) and len(out) == 6, out  # the notification has no response
        by_id = {json.dumps(x["id"]): x for x in out}
        assert by_id["1"]["result"] == {}
        assert by_id['"two"']["result"]["structuredContent"]["stories"]["InProgress"] == 2
        assert by_id["3"]["result"]["isError"] is False
        assert by_id["null"]["error"]["code"] == -32600
        assert by_id["4"]["error"]["code"] == -32600 and "batch" in by_id["4"]["error"]["message"]
        assert by_id["6"]["error"]["code"] == -32601
        assert r.headers["MCP-Protocol-Version"] == "2025-03-26"
        assert wait_for(lambda: len(audit_rows(db, rid)) == 2, 5)
        time.sleep(0.3)
        assert sorted(row[2] for row in audit_rows(db, rid)) == ["agent_report", "status_get"]
    only_notes = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    r = requests.post(mcp.url("/mcp"), json=only_notes, headers=h)
    assert r.status_code == 202 and r.text == ""
    r = requests.post(mcp.url("/mcp"), json=[], headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    for v in ("2025-06-18", "2025-11-25"):
        r = requests.post(mcp.url("/mcp"), json=batch[:1], headers=dict(h, **{"MCP-Protocol-Version": v}))
        assert r.status_code == 400 and "2025-03-26" in r.json()["error"]["message"]
    r = requests.post(mcp.url("/mcp"), json=batch[:1], headers=dict(h, Authorization="Bearer x.y.z"))
    assert r.status_code == 401 and r.json()["error"]["code"] == -32001
    assert "invalid_token" in r.headers["WWW-Authenticate"]

def test_modern_era_checks(mcp, tenant):
    t = token(tenant)
    # missing _meta on a 2026-07-28 request
    r = rpc(mcp, "tools/list", {}, t, headers={"MCP-Protocol-Version": MODERN})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32602
    # header and body disagree
    r = rpc(mcp, "tools/list", {}, t, modern=True, headers={"Mcp-Method": "prompts/list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, t, modern=True,
             headers={"Mcp-Name": "stories_list"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = rpc(mcp, "tools/list", {}, t, modern=True, headers={"MCP-Protocol-Version": "2025-11-25"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # the routing headers are required, not just checked when present
    r = rpc(mcp, "tools/list", {}, t, modern=True, headers={"Mcp-Method": None})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, t, modern=True, headers={"Mcp-Name": None})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    r = rpc(mcp, "resources/read", {"uri": "jive://projects/x/y"}, t, modern=True, headers={"Mcp-Name": None})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # optional whitespace around a header value is not a mismatch
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, t, modern=True,
             headers={"Mcp-Name": "status_get  ", "Mcp-Method": "tools/call\t"})
    assert r.status_code == 200 and "result" in r.json()
    # a header/body version disagreement is a mismatch even when the body's version is unknown
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "v999", "io.modelcontextprotocol/clientCapabilities": {}}}}
    r = requests.post(mcp.url("/mcp"), json=body, headers={
        "Authorization": "Bearer " + t, "MCP-Protocol-Version": MODERN, "Mcp-Method": "server/discover"})
    assert r.status_code == 400 and r.json()["error"]["code"] == -32020
    # an unsupported modern version lists the supported ones
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}}
    r = requests.post(mcp.url("/mcp"), json=body, headers={
        "Authorization": "Bearer " + t, "MCP-Protocol-Version": "2099-01-01"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == -32022 and MODERN in err["data"]["supported"]
    assert err["data"]["requested"] == "2099-01-01"


def test_rate_limit(spawn, tenant, db, tmp_path):
    svc = spawn("jive-mcp", JIVE_RATE_LIMIT_PER_MINUTE=3, JIVE_AUDIT_SPOOL=str(tmp_path / "s"))
    t = token(tenant, sub="limited-" + uuid.uuid4().hex[:6])
    codes = [call(svc, "status_get", {"project_id": tenant["project"]}, t).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    rid = str(uuid.uuid4())
    r = call(svc, "status_get", {"project_id": tenant["project"]}, t, rid=rid)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1 and r.headers["RateLimit-Remaining"] == "0"
    assert r.json()["error"]["code"] == -32029
    assert one_audit(db, rid)[4] == "rate_limited"


def test_redis_down_calls_still_served_and_audited(mcp, tenant, db, stack, redis_up):
    stack.redis.stop()
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, token(tenant), rid=rid)
    assert r.status_code == 200 and r.json()["result"]["isError"] is False
    assert one_audit(db, rid)[4] == "success"
    assert "rate limit unchecked" in mcp.log()


def test_postgres_down_clear_error_and_audit_later(mcp, tenant, stack, pg_up):
    stack.pg.stop()
    rid = str(uuid.uuid4())
    r = call(mcp, "status_get", {"project_id": tenant["project"]}, token(tenant), rid=rid)
    res = r.json()["result"]
    text = res["content"][0]["text"]
    assert res["isError"] is True and "database is temporarily unavailable" in text
    assert rid in text  # the request id, to find the detail in the log
    # the database's own words stay in the log
    assert "connect" not in text.lower() and "server" not in text.lower()
    assert "database error" in mcp.log()
    stack.pg.start()
    with psycopg.connect(stack.pg.dsn(), autocommit=True) as c:
        assert wait_for(lambda: len(audit_rows(c, rid)) == 1, 15), "audit row not written after restart"
        assert audit_rows(c, rid)[0][4] == "error"


def test_rest_routes(mcp, tenant, db):
    t = {"Authorization": "Bearer " + token(tenant)}
    tools = requests.get(mcp.url("/mcp/tools"), headers=t).json()["tools"]
    assert any(x["name"] == "status_get" for x in tools)
    rid = str(uuid.uuid4())
    r = requests.post(mcp.url("/mcp/invoke"), json={"tool": "conflicts.list", "arguments": {
        "project_id": tenant["project"]}}, headers=dict(t, **{"X-Request-Id": rid}))
    assert r.status_code == 200 and r.json()["conflicts"][0]["kind"] == "file_overlap"
    assert one_audit(db, rid)[2] == "conflicts_list"
    r = requests.post(mcp.url("/mcp/invoke"), json={"tool": "status_get", "arguments": {}})
    assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_REQUIRED"
    rid = str(uuid.uuid4())
    r = requests.post(mcp.url("/mcp/invoke"), json={"tool": "status_get", "arguments": {}},
                      headers=dict(t, **{"X-Request-Id": rid}))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_arguments"
    assert "project_id" in r.json()["error"]["message"] and one_audit(db, rid)[4] == "invalid"
    meta = requests.get(mcp.url("/.well-known/oauth-protected-resource")).json()
    assert meta["resource"] == JWT_AUDIENCE and "status:read" in meta["scopes_supported"]
    assert requests.get(mcp.url("/mcp/health")).json()["service"] == "jive-mcp"


def test_without_sign_in_no_authorization_server_is_advertised(mcp):
    """The resource metadata names no authorization server (there is none to send a client to),
    at both its URLs; what OAuth clients try next answers an OAuth error, not our envelope; a bad
    token's challenge says invalid_token."""
    for path in ("/.well-known/oauth-protected-resource",
                 "/.well-known/oauth-protected-resource/mcp"):
        r = requests.get(mcp.url(path))
        assert r.status_code == 200
        meta = r.json()
        assert meta["resource"] == JWT_AUDIENCE and "authorization_servers" not in meta
    for method, path in (("GET", "/.well-known/oauth-authorization-server"),
                         ("GET", "/.well-known/oauth-authorization-server/mcp"),
                         ("GET", "/.well-known/openid-configuration"),
                         ("POST", "/register"), ("GET", "/authorize"), ("POST", "/token")):
        r = requests.request(method, mcp.url(path), json={} if method == "POST" else None)
        assert r.status_code == 404, path
        body = r.json()
        assert body["error"] == "invalid_request" and "jivectl token mint" in body["error_description"]
    r = requests.post(mcp.url("/mcp"), headers={"Authorization": "Bearer not.a.token",
                                                "Accept": "application/json, text/event-stream"},
                      json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert 'resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp"' in \
        r.headers["WWW-Authenticate"]


def test_sigterm_flushes_the_audit(mcp, tenant, db):
    rids = [str(uuid.uuid4()) for _ in range(5)]
    for rid in rids:
        call(mcp, "projects_list", {}, token(tenant), rid=rid)
    assert mcp.stop(signal.SIGTERM) == 0
    n = db.execute("SELECT count(*) FROM mcp_audit_logs WHERE request_id = ANY(%s)", (rids,)).fetchone()[0]
    assert n == 5




def test_trace_context_reaches_the_audit_row(mcp, tenant, db):
    """W3C traceparent: a valid one is continued (same trace id and flags, a new span id), a
    missing or invalid one (version ff, an all-zero trace id, wrong shape) starts a new trace."""
    t = token(tenant)
    trace = "0af7651916cd43dd8448eb211c80319c"
    shape = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
    cases = {f"00-{trace}-b7ad6b7169203331-01": trace,
             None: None,
             f"ff-{trace}-b7ad6b7169203331-01": None,
             "00-" + "0" * 32 + "-b7ad6b7169203331-01": None,
             f"00-{trace}-b7ad6b7169203331": None,
             f"00-{trace.upper()}-b7ad6b7169203331-01": None}
    for header, kept in cases.items():
        rid = str(uuid.uuid4())
        call(mcp, "projects_list", {}, t, rid=rid, headers={"traceparent": header})
        assert wait_for(lambda: len(audit_rows(db, rid)) == 1, 5)
        tp = db.execute("SELECT traceparent FROM mcp_audit_logs WHERE request_id = %s", (rid,)).fetchone()[0]
        m = shape.match(tp or "")
        assert m, (header, tp)
        assert m.group(2) != "0" * 16 and m.group(2) != "b7ad6b7169203331"
        if kept:
            assert m.group(1) == kept and m.group(3) == "01", (header, tp)
        else:
            assert m.group(1) != trace and m.group(1) != "0" * 32, (header, tp)


def test_projects_claim_bounds_every_read_in_postgres(spawn, tenant, db, tmp_path):
    """A token naming its projects sees only those, through row-level security (not only WHERE
    clauses), and never another token's cached answer; a malformed claim refuses the token."""
    mcp = spawn("jive-mcp", JIVE_MCP_CACHE_TTL_MS=3600000)
    p1 = tenant["project"]
    p2 = str(db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) VALUES "
                        "(%s, 'second', %s, repeat('s', 20)) RETURNING id",
                        (tenant["org"], f"https://github.com/{tenant['slug']}/second")).fetchone()[0])
    everyone, only_p1 = token(tenant), token(tenant, projects=[p1])
    # the unrestricted token fills the cache for p1 and p2 first
    for p in (p1, p2):
        assert call(mcp, "status_get", {"project_id": p}, everyone).json()["result"]["isError"] is False
    listed = call(mcp, "projects_list", {}, only_p1).json()["result"]["structuredContent"]["projects"]
    assert [x["id"] for x in listed] == [p1]
    assert len(call(mcp, "projects_list", {}, everyone).json()["result"]["structuredContent"]["projects"]) == 2
    r = call(mcp, "status_get", {"project_id": p2}, only_p1).json()["result"]
    assert r["isError"] is True, r  # not served from the other token's cache entry
    r = call(mcp, "status_get", {"project_id": p1}, only_p1).json()["result"]
    assert r["isError"] is False and r["structuredContent"]["stories"]["InProgress"] == 2
    r = call(mcp, "stories_list", {"project_id": p2}, only_p1).json()["result"]
    assert r["isError"] is True or r["structuredContent"]["stories"] == [], r
    nothing = token(tenant, projects=[])
    assert call(mcp, "projects_list", {}, nothing).json()["result"]["structuredContent"]["projects"] == []
    for bad in ("not-a-list", ["not-a-uuid"], [1, 2], [str(uuid.uuid4())] * 65):
        rid = str(uuid.uuid4())
        r = call(mcp, "status_get", {"project_id": p1}, token(tenant, projects=bad), rid=rid)
        assert r.status_code == 401 and "projects claim" in r.json()["error"]["message"], (bad, r.text)
        assert r.json()["error"]["data"]["code"] == "TOKEN_INVALID"
        assert one_audit(db, rid)[4] == "denied"


def test_projects_policy_holds_inside_postgres(db, tenant):
    """The restrictive policy itself, as the runtime role, without jive-mcp in the way."""
    p1 = tenant["project"]
    with db.transaction():
        db.execute("SELECT set_config('role', 'jive_runtime', true), set_config('jive.org_id', %s, "
                   "true), set_config('jive.projects', %s, true)", (tenant["org"], str(uuid.uuid4())))
        assert db.execute("SELECT count(*) FROM projects").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0
    with db.transaction():
        db.execute("SELECT set_config('role', 'jive_runtime', true), set_config('jive.org_id', %s, "
                   "true), set_config('jive.projects', %s, true)", (tenant["org"], p1))
        assert db.execute("SELECT count(*) FROM projects").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 4

def test_kill_9_loses_no_audit_row_of_an_answered_call(spawn, tenant, db, stack, pg_up, tmp_path):
    """Rows are journaled before the answer: a crash right after answering (here with Postgres
    down too, so every row is still waiting) loses none, and the next start writes each once."""
    journal = tmp_path / "journal.jsonl"
    mcp = spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(journal))
    stack.pg.stop()
    rids = [str(uuid.uuid4()) for _ in range(20)]
    for rid in rids:
        assert call(mcp, "projects_list", {}, token(tenant), rid=rid).status_code == 200
    mcp.proc.kill()
    mcp.proc.wait()
    assert len(journal.read_text().splitlines()) == 20
    stack.pg.start()
    again = spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(journal))
    with psycopg.connect(stack.pg.dsn(), autocommit=True) as c:
        q = "SELECT count(*), count(DISTINCT request_id) FROM mcp_audit_logs WHERE request_id = ANY(%s)"
        assert wait_for(lambda: c.execute(q, (rids,)).fetchone() == (20, 20), 15), \
            c.execute(q, (rids,)).fetchone()
        # written rows leave the journal
        assert wait_for(lambda: journal.stat().st_size == 0, 5)
    assert again.stop() == 0


def test_journal_replay_writes_each_row_once(spawn, tenant, db, tmp_path):
    """A crash between the batch's commit and the journal's trim leaves written rows in the
    journal: replaying them must not duplicate them (entry_id)."""
    done, new = str(uuid.uuid4()), str(uuid.uuid4())
    rid_done, rid_new = str(uuid.uuid4()), str(uuid.uuid4())
    # written before the crash with the time its journal line carries (the row's key is
    # entry_id and that time: the table is partitioned by it)
    db.execute("INSERT INTO mcp_audit_logs (entry_id, actor_type, tool, result, request_id, "
               "\"timestamp\") VALUES (%s, 'agent', 'status_get', 'success', %s, "
               "'2026-11-21T08:00:00Z')", (done, rid_done))
    journal = tmp_path / "journal.jsonl"
    rows = [{"entry_id": done, "actor_type": "agent", "tool": "status_get", "result": "success",
             "request_id": rid_done, "ts": "2026-11-21T08:00:00Z", "duration_ms": 1},
            {"entry_id": new, "actor_type": "agent", "tool": "projects_list", "result": "success",
             "request_id": rid_new, "ts": "2026-11-21T08:00:01Z", "duration_ms": 2}]
    journal.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"entry_id": "cut sho')
    mcp = spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(journal))
    assert wait_for(lambda: len(audit_rows(db, rid_new)) == 1, 10)
    assert len(audit_rows(db, rid_done)) == 1
    assert "2 journaled row(s)" in mcp.log()


def test_journal_directory_is_made_when_missing(spawn, tmp_path):
    journal = tmp_path / "new-dir" / "journal.jsonl"
    spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(journal))
    assert journal.parent.is_dir() and journal.exists()


def test_two_processes_cannot_share_a_journal(spawn, tmp_path, stack):
    journal = tmp_path / "shared.jsonl"
    spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(journal))
    env = stack.env(PORT=free_port(), JIVE_AUDIT_SPOOL=str(journal))
    p = subprocess.run([str(BIN / "jive-mcp")], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "JIVE_AUDIT_SPOOL" in p.stderr and "in use by another jive-mcp process" in p.stderr, p.stderr


# ---- resources and prompts ----

def test_resources_and_prompts(mcp, tenant, db):
    t = token(tenant)
    p = tenant["project"]
    db.execute("UPDATE artifacts SET content = '# Story ' || key || E'\n\n## Status\n' || status "
               "WHERE project_id = %s", (p,))
    caps = rpc(mcp, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}, t).json()["result"]["capabilities"]
    assert {"tools", "resources", "prompts", "logging"} <= set(caps)
    listed = rpc(mcp, "resources/list", {}, t).json()["result"]["resources"]
    uris = [r["uri"] for r in listed]
    uri = f"jive://projects/{p}/docs/stories/1.2.s1.md"
    assert uri in uris and all(r["mimeType"] == "text/markdown" for r in listed)
    read = rpc(mcp, "resources/read", {"uri": uri}, t).json()["result"]["contents"][0]
    assert read["uri"] == uri and read["text"] == "# Story 1.2\n\n## Status\nInProgress"
    r = rpc(mcp, "resources/read", {"uri": f"jive://projects/{p}/docs/stories/nope.md"}, t, modern=True)
    assert r.json()["error"]["code"] == -32602
    assert r.json()["error"]["data"]["uri"] == f"jive://projects/{p}/docs/stories/nope.md"
    other = seed_org(db)
    r = rpc(mcp, "resources/read", {"uri": f"jive://projects/{other['project']}/docs/stories/1.1.s0.md"}, t)
    assert r.json()["error"]["code"] == -32602  # another org's document does not exist for us
    tpl = rpc(mcp, "resources/templates/list", {}, t).json()["result"]["resourceTemplates"]
    assert tpl[0]["uriTemplate"] == "jive://projects/{project_id}/{+path}"
    prompts = {x["name"] for x in rpc(mcp, "prompts/list", {}, t).json()["result"]["prompts"]}
    assert prompts == {"standup_summary", "story_kickoff"}
    standup = rpc(mcp, "prompts/get", {"name": "standup_summary", "arguments": {"project_id": p}}, t).json()["result"]
    text = standup["messages"][0]["content"]["text"]
    assert "stand-up" in text and '"InProgress":2' in text and "overlap" in text
    kick = rpc(mcp, "prompts/get", {"name": "story_kickoff", "arguments": {"project_id": p, "story_key": "1.2"}},
               t).json()["result"]["messages"]
    assert kick[0]["content"]["type"] == "resource" and kick[0]["content"]["resource"]["uri"] == uri
    assert "agent_report" in kick[1]["content"]["text"] and "overlap" in kick[1]["content"]["text"]
    calm = rpc(mcp, "prompts/get", {"name": "story_kickoff", "arguments": {"project_id": p, "story_key": "1.1"}},
               t).json()["result"]["messages"]
    assert "overlap" not in calm[1]["content"]["text"]  # only conflicts naming the story are quoted
    r = rpc(mcp, "prompts/get", {"name": "nope", "arguments": {}}, t)
    assert r.json()["error"]["code"] == -32602
    r = rpc(mcp, "resources/list", {}, token(tenant, "status:read"))
    assert r.status_code == 403


def test_completion_of_prompt_and_template_arguments(mcp, tenant, db):
    t = token(tenant)
    p = tenant["project"]
    seed_org(db)  # another org's project never shows up

    def complete(ref, name, value, context=None, tok=t):
        params = {"ref": ref, "argument": {"name": name, "value": value}}
        if context is not None:
            params["context"] = {"arguments": context}
        return rpc(mcp, "completion/complete", params, tok).json()

    caps = rpc(mcp, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}, t).json()
    assert "completions" in caps["result"]["capabilities"]
    kick = {"type": "ref/prompt", "name": "story_kickoff"}
    got = complete(kick, "project_id", "")["result"]["completion"]
    assert got == {"values": [p], "hasMore": False}
    assert complete(kick, "project_id", p[:8])["result"]["completion"]["values"] == [p]
    assert complete(kick, "project_id", "zz")["result"]["completion"]["values"] == []
    got = complete(kick, "story_key", "1.", {"project_id": p})["result"]["completion"]
    assert got["values"] == ["1.1", "1.2", "1.3"]
    # without the project there is nothing to complete a story key from
    assert complete(kick, "story_key", "1.")["result"]["completion"]["values"] == []
    tpl = {"type": "ref/resource", "uri": "jive://projects/{project_id}/{+path}"}
    db.execute("UPDATE artifacts SET content = 'x' WHERE project_id = %s AND key = '2.1'", (p,))
    got = complete(tpl, "path", "docs/", {"project_id": p})["result"]["completion"]["values"]
    assert got == ["docs/stories/2.1.s3.md"]
    assert complete({"type": "ref/prompt", "name": "nope"}, "x", "")["error"]["code"] == -32602
    assert complete({"type": "ref/resource", "uri": "file:///etc/{x}"}, "x", "")["error"]["code"] == -32602
    assert rpc(mcp, "completion/complete", {"ref": kick}, t).json()["error"]["code"] == -32602
    r = rpc(mcp, "completion/complete", {"ref": kick, "argument": {"name": "story_key", "value": ""},
                                          "context": {"arguments": {"project_id": p}}},
            token(tenant, "status:read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == -32003


def test_official_typescript_sdk_client(mcp, tenant, db):
    """The reference client (what Claude Code and VS Code build on) completes a whole session."""
    root = os.path.join(os.path.dirname(__file__), "..")
    db.execute("UPDATE artifacts SET content = '# ' || key WHERE project_id = %s", (tenant["project"],))
    r = subprocess.run(["node", os.path.join(root, "clients", "sdk_client.mjs"), mcp.url("/mcp"),
                        token(tenant, ALL_SCOPES + " kanban:write"), tenant["project"]], cwd=root, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "error" not in out, out["error"]
    assert out["server"]["name"] == "jive-mcp"
    assert {"tools", "resources", "prompts"} <= set(out["capabilities"])
    assert {"status_get", "kanban_move_story", "agent_report"} <= set(out["tools"])
    assert out["status"]["stories"]["InProgress"] == 2 and not out["statusIsError"]
    assert out["missingStory"] == {"story": None} and out["missingProjectIsError"] is True
    assert out["resources"] and out["firstResource"]["text"].startswith("# ")
    assert out["prompts"] == ["standup_summary", "story_kickoff"] and out["promptRole"] == "user"
    assert out["unknownTool"] == -32602 and out["ping"] is True


@pytest.mark.parametrize("mode", ["auto", "2026-07-28"])
def test_official_typescript_sdk_v2_client(mcp, tenant, db, mode):
    """The v2 client negotiates the 2026-07-28 era (probing, or pinned) and runs a session."""
    root = os.path.join(os.path.dirname(__file__), "..")
    db.execute("UPDATE artifacts SET content = '# ' || key WHERE project_id = %s", (tenant["project"],))
    r = subprocess.run(["node", os.path.join(root, "clients", "sdk2_client.mjs"), mcp.url("/mcp"),
                        token(tenant), tenant["project"], mode], cwd=root, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "error" not in out, out["error"]
    assert out["server"]["name"] == "jive-mcp" and out["version"] == "2026-07-28", out
    assert {"tools", "resources", "prompts"} <= set(out["capabilities"])
    assert {"status_get", "runs_list", "agent_report"} <= set(out["tools"])
    assert out["status"]["stories"]["InProgress"] == 2 and not out["statusIsError"]
    assert out["resources"] and out["firstResource"]["text"].startswith("# ")
    assert out["prompts"] == ["standup_summary", "story_kickoff"] and out["promptRole"] == "user"
    assert out["unknownTool"] == -32602


def test_docs_curl_examples_run(mcp, tenant, db):
    """Every JSON-RPC example in docs/MCP.md is sent as written; each tool in the table has one."""
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "MCP.md")).read()
    bodies = [b.replace("'$P'", tenant["project"]) for b in re.findall(r"^rpc '(.*)'$", doc, re.M)]
    documented = set(re.findall(r"^\| `(\w+)`", doc, re.M))
    called = {json.loads(b.replace("<job id from the move>", "x").replace(
        "<note id from the store>", "0"))["params"].get("name") for b in bodies if '"tools/call"' in b}
    assert documented and documented == called, (documented, called)
    t = token(tenant, ALL_SCOPES + " kanban:write memory:read memory:write reports:read")
    job_id = note_id = None
    for body in bodies:
        if job_id is not None:
            body = body.replace("<job id from the move>", job_id)
        if note_id is not None:
            body = body.replace("<note id from the store>", str(note_id))
        msg = json.loads(body)
        if msg["method"] == "tools/call" and msg["params"]["name"] == "kanban_move_story":
            msg["params"]["arguments"]["waitMs"] = 0  # no orchestrator here: take the job id
        r = requests.post(mcp.url("/mcp"), json=msg, headers={
            "Authorization": "Bearer " + t, "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25"}, timeout=10)
        assert r.status_code == 200, (body, r.text)
        res = r.json()
        assert "error" not in res, (body, res)
        if msg["method"] == "tools/call":
            assert res["result"].get("isError") is not True, (body, res)
            if msg["params"]["name"] == "kanban_move_story":
                job_id = res["result"]["structuredContent"]["job_id"]
            if msg["params"]["name"] == "memory_store":
                note_id = res["result"]["structuredContent"]["note"]["id"]
    assert job_id is not None and note_id is not None


def cache_count(svc, outcome):
    m = re.search(r'^jive_mcp_cache_total\{outcome="%s"\} ([\d.e+]+)$' % outcome,
                  requests.get(svc.url("/metrics"), timeout=5).text, re.M)
    return int(float(m.group(1))) if m else 0


def stories(svc, tenant, t):
    r = call(svc, "status_get", {"project_id": tenant["project"]}, t)
    return r.json()["result"]["structuredContent"]["stories"]


def test_reads_are_cached_until_the_project_changes(spawn, tenant, db, stack, tmp_path):
    mcp = spawn("jive-mcp", JIVE_MCP_CACHE_TTL_MS=3600000, JIVE_AUDIT_SPOOL=str(tmp_path / "s"))
    t = token(tenant)
    p = tenant["project"]
    rids = [str(uuid.uuid4()) for _ in range(3)]
    for rid in rids:
        assert call(mcp, "status_get", {"project_id": p}, t, rid=rid).status_code == 200
    assert cache_count(mcp, "miss") == 1 and cache_count(mcp, "hit") == 2
    assert all(one_audit(db, rid)[4] == "success" for rid in rids)  # hits are audited too
    # a change nobody announced is not seen: the read did not go to Postgres
    db.execute("UPDATE artifacts SET status = 'Done' WHERE project_id = %s AND key = '2.1'", (p,))
    assert stories(mcp, tenant, t).get("Draft") == 1
    # the orchestrator's event on project:<id> drops the entry
    rc = stack.redis.client()
    rc.publish(f"project:{p}", json.dumps({"type": "artifact.changed", "project_id": p}))
    assert wait_for(lambda: stories(mcp, tenant, t).get("Draft") is None, 15)
    # an event about another project leaves this one cached
    db.execute("UPDATE artifacts SET status = 'Draft' WHERE project_id = %s AND key = '2.1'", (p,))
    rc.publish(f"project:{uuid.uuid4()}", "{}")
    time.sleep(0.3)
    assert stories(mcp, tenant, t).get("Draft") is None
    # another org asking for this project id gets its own answer, never this org's entry
    other = seed_org(db)
    r = call(mcp, "status_get", {"project_id": p}, token(other))
    assert r.json()["result"]["isError"] is True


def test_own_writes_are_seen_at_once_and_announced(mcp, tenant, db, stack):
    t = token(tenant)
    p = tenant["project"]
    call(mcp, "status_get", {"project_id": p}, t)  # cached: no agents
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{p}")
    sub.get_message(timeout=1)
    r = call(mcp, "agent_report", {"project_id": p, "story_key": "1.2", "state": "working"},
             token(tenant, sub="cursor-9"))
    assert r.json()["result"]["isError"] is False
    st = call(mcp, "status_get", {"project_id": p}, t).json()["result"]["structuredContent"]
    assert [a["agent_id"] for a in st["active_agents"]] == ["cursor-9"]
    got = None
    for _ in range(20):
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            got = json.loads(m["data"])
            break
    sub.close()
    assert got and got["type"] == "agent.updated" and got["data"]["agent_id"] == "cursor-9"


def test_cache_is_flushed_when_the_subscription_comes_back(spawn, tenant, db, stack, redis_up, tmp_path):
    # an hour of expiry: only the resubscription can make the change visible
    mcp = spawn("jive-mcp", JIVE_MCP_CACHE_TTL_MS=3600000, JIVE_AUDIT_SPOOL=str(tmp_path / "s"))
    t = token(tenant)
    p = tenant["project"]
    assert stories(mcp, tenant, t).get("Draft") == 1
    # jive-mcp subscribes after it starts listening, and the subscription's confirmation empties
    # the cache (a read that raced it is not kept): reads are served from the cache once it is in
    assert wait_for(lambda: stories(mcp, tenant, t).get("Draft") == 1 and
                    cache_count(mcp, "hit") >= 1, 10)
    stack.redis.stop()
    # while Redis is down events are lost: the cache cannot be trusted once it is back
    db.execute("UPDATE artifacts SET status = 'Done' WHERE project_id = %s AND key = '2.1'", (p,))
    stack.redis.start()
    assert wait_for(lambda: stories(mcp, tenant, t).get("Draft") is None, 15)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_public_key_tokens_and_algorithm_confusion(spawn, tenant, db, tmp_path, alg):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256"
           else ec.generate_private_key(ec.SECP256R1()))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    svc = spawn("jive-mcp", JIVE_JWT_SECRET=None, JIVE_JWT_PUBLIC_KEY=pem, JIVE_JWT_ALG=alg,
                JIVE_AUDIT_SPOOL=str(tmp_path / "s"))
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "agent-pk", "name": "pk",
              "org": tenant["slug"], "org_id": tenant["org"], "scope": ALL_SCOPES, "iat": now,
              "nbf": now, "exp": now + 600}
    good = jwt.encode(claims, key, algorithm=alg)
    r = call(svc, "status_get", {"project_id": tenant["project"]}, good)
    assert r.status_code == 200 and r.json()["result"]["isError"] is False
    # HS256 "signed" with the public key as the HMAC secret: the classic confusion attack
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    forged = signing + "." + b64(hmac.new(pem.encode(), signing.encode(), hashlib.sha256).digest())
    for bad in (forged, jwt.encode(claims, None, algorithm="none")):
        rid = str(uuid.uuid4())
        r = call(svc, "status_get", {"project_id": tenant["project"]}, bad, rid=rid)
        assert r.status_code == 401 and r.json()["error"]["data"]["code"] == "TOKEN_INVALID"
        assert one_audit(db, rid)[4] == "denied"


@pytest.mark.parametrize("bad_id", [{"a": 1}, [1], True, None, 1.5])
def test_request_ids_other_than_string_or_integer_are_refused(mcp, tenant, bad_id):
    h = {"Authorization": "Bearer " + token(tenant), "Content-Type": "application/json",
         "Accept": "application/json", "MCP-Protocol-Version": "2025-11-25"}
    r = requests.post(mcp.url("/mcp"), headers=h,
                      json={"jsonrpc": "2.0", "id": bad_id, "method": "ping"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"]["code"] == -32600 and body["id"] is None  # never echoed
    # strings and integers are answered with the same id
    for good in ("abc", 7, -3, 0):
        r = requests.post(mcp.url("/mcp"), headers=h,
                          json={"jsonrpc": "2.0", "id": good, "method": "ping"})
        assert r.status_code == 200 and r.json()["id"] == good


def test_agents_own_their_records(mcp, tenant, db):
    p = tenant["project"]
    a, b = token(tenant, sub="claude-1"), token(tenant, sub="codex-2")
    admin = token(tenant, ALL_SCOPES + " admin", sub="ops")
    assert call(mcp, "agent_report", {"project_id": p, "story_key": "1.2", "state": "working"},
                a).json()["result"]["isError"] is False
    # b cannot set a idle by naming it
    res = call(mcp, "agent_report", {"project_id": p, "agent_id": "claude-1", "state": "idle"},
               b).json()["result"]
    assert res["isError"] is True and "invalid argument 'agent_id'" in res["content"][0]["text"]
    state = lambda: db.execute("SELECT state FROM agent_status WHERE project_id = %s AND "  # noqa: E731
                               "agent_id = 'claude-1'", (p,)).fetchone()[0]
    assert state() == "working"
    # naming itself is fine; an admin may act for another
    assert call(mcp, "agent_report", {"project_id": p, "agent_id": "codex-2", "state": "planning"},
                b).json()["result"]["isError"] is False
    assert call(mcp, "agent_report", {"project_id": p, "agent_id": "claude-1", "state": "blocked"},
                admin).json()["result"]["isError"] is False
    assert state() == "blocked"
    # a run belongs to whoever reported it first
    run = {"project_id": p, "run_id": "build-42", "status": "failed", "conclusion": "failure"}
    assert call(mcp, "run_report", run, a).json()["result"]["isError"] is False
    res = call(mcp, "run_report", dict(run, status="completed", conclusion="success"), b).json()["result"]
    assert res["isError"] is True and "reported by another agent" in res["content"][0]["text"]
    row = lambda: db.execute("SELECT status, conclusion, agent_id FROM runs WHERE project_id = %s "  # noqa: E731
                             "AND external_id = 'build-42'", (p,)).fetchone()
    assert row() == ("failed", "failure", "claude-1")
    assert call(mcp, "run_report", dict(run, status="completed"), a).json()["result"]["isError"] is False
    assert row()[0] == "completed"
    assert call(mcp, "run_report", dict(run, status="cancelled"), admin).json()["result"]["isError"] is False
    assert row()[0] == "cancelled"


def test_reads_beyond_tools_are_rate_limited_and_audited(spawn, tenant, db, tmp_path):
    mcp = spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"),
                JIVE_RATE_LIMIT_PER_MINUTE="4")
    sub = "reader-" + uuid.uuid4().hex[:6]
    t = token(tenant, sub=sub)
    p = tenant["project"]
    uri = f"jive://projects/{p}/docs/stories/1.1.s0.md"
    db.execute("UPDATE artifacts SET content = '# Story 1.1: Done' WHERE project_id = %s AND "
               "path = 'docs/stories/1.1.s0.md'", (p,))
    reads = [("resources/read", {"uri": uri}, f"resources/read {uri}"),
             ("resources/list", {}, "resources/list"),
             ("prompts/get", {"name": "standup_summary", "arguments": {"project_id": p}},
              "prompts/get standup_summary"),
             ("completion/complete", {"ref": {"type": "ref/prompt", "name": "story_kickoff"},
                                      "argument": {"name": "story_key", "value": "1."},
                                      "context": {"arguments": {"project_id": p}}},
              "completion/complete story_kickoff")]
    for method, params, op in reads:
        rid = str(uuid.uuid4())
        r = rpc(mcp, method, params, t, rid=rid)
        assert r.status_code == 200 and "result" in r.json(), r.text
        row = one_audit(db, rid)
        assert (row[0], row[1], row[2], row[4]) == ("agent", sub, op, "success")
        if method in ("resources/read", "prompts/get", "completion/complete"):
            assert row[8] == p  # the project it read
    # the bucket (4 a minute) is spent: every kind of read is refused and audited as such
    for method, params, op in reads:
        rid = str(uuid.uuid4())
        r = rpc(mcp, method, params, t, rid=rid)
        assert r.status_code == 429 and r.json()["error"]["code"] == -32029, r.text
        assert one_audit(db, rid)[2:5] == (op, None, "rate_limited")
    # a bad token: refused and audited too
    rid = str(uuid.uuid4())
    r = rpc(mcp, "resources/read", {"uri": uri}, "x.y.z", rid=rid)
    assert r.status_code == 401
    assert one_audit(db, rid)[2:5] == (f"resources/read {uri}", None, "denied")


def test_a_batch_refused_for_its_token_leaves_a_row_per_operation(mcp, tenant, db):
    h = {"Authorization": "Bearer not.a.token", "Content-Type": "application/json",
         "Accept": "application/json"}
    rid = str(uuid.uuid4())
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "status_get", "arguments": {"project_id": tenant["project"]}}},
             {"jsonrpc": "2.0", "id": 2, "method": "resources/list", "params": {}},
             {"jsonrpc": "2.0", "id": 3, "method": "ping"}]
    r = requests.post(mcp.url("/mcp"), json=batch, headers=dict(h, **{"X-Request-Id": rid}))
    assert r.status_code == 401
    assert wait_for(lambda: len(audit_rows(db, rid)) == 2, 5), audit_rows(db, rid)
    time.sleep(0.3)
    rows = audit_rows(db, rid)
    assert sorted((x[0], x[2], x[4]) for x in rows) == [("anonymous", "resources/list", "denied"),
                                                      ("anonymous", "status_get", "denied")]
