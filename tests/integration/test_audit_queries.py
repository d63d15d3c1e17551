# SPDX-License-Identifier: MIT
"""Audit queries for operators: GET /admin/audit (scope audit:read, the caller's org only) with
its filters, keyset pagination and CSV; jivectl audit; jivectl trace from a request id through
the webhook delivery, its jobs and the MCP calls."""
import csv
import io
import time
import uuid

import pytest
import requests

from conftest import run_bin, wait_for
from test_mcp import ALL_SCOPES, call, seed_org, token

AUDIT = ALL_SCOPES + " audit:read"


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"))


def audit(mcp, tok, **params):
    return requests.get(mcp.url("/admin/audit"), params=params, timeout=10,
                        headers={"Authorization": "Bearer " + tok})


def test_filters_pagination_and_tenancy(mcp, db):
    mine, theirs = seed_org(db), seed_org(db)
    tok = token(mine, AUDIT, sub="agent-1")
    rids = []
    for i in range(7):
        rid = f"req-{uuid.uuid4()}"
        rids.append(rid)
        call(mcp, "status_get", {"project_id": mine["project"]}, tok, rid=rid)
    call(mcp, "conflicts_list", {"project_id": mine["project"]}, token(mine, "status:read",
                                                                       sub="agent-2"))
    call(mcp, "status_get", {"project_id": theirs["project"]}, token(theirs, AUDIT))
    assert wait_for(lambda: db.execute("SELECT count(*) FROM mcp_audit_logs WHERE org_id = %s",
                                       (mine["org"],)).fetchone()[0] >= 8, 5)
    r = audit(mcp, tok, tool="status_get", limit=3)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [row["request_id"] for row in page["rows"]] == rids[::-1][:3]
    seen = [row["request_id"] for row in page["rows"]]
    while page["next_cursor"]:
        page = audit(mcp, tok, tool="status_get", limit=3, cursor=page["next_cursor"]).json()
        seen += [row["request_id"] for row in page["rows"]]
    assert seen == rids[::-1]  # every row once, newest first, across pages
    denied = audit(mcp, tok, result="denied").json()["rows"]
    assert [(d["actor_id"], d["tool"]) for d in denied] == [("agent-2", "conflicts_list")]
    assert audit(mcp, tok, actor="agent-2").json()["rows"][0]["result"] == "denied"
    assert len(audit(mcp, tok, project=mine["project"], tool="status_get").json()["rows"]) == 7
    assert audit(mcp, tok, request_id=rids[0]).json()["rows"][0]["request_id"] == rids[0]
    future = audit(mcp, tok, **{"from": "2099-01-01"}).json()["rows"]
    assert future == []
    assert len(audit(mcp, tok, to="2099-01-01T00:00:00Z", tool="status_get").json()["rows"]) == 7
    # another org's rows never come back, whatever the filter
    rows = audit(mcp, tok, limit=1000).json()["rows"]
    assert rows and all(row["project_id"] in (mine["project"], None) for row in rows)
    assert audit(mcp, tok, project=theirs["project"]).json()["rows"] == []


def test_csv_is_well_formed(mcp, db):
    t = seed_org(db)
    tok = token(t, AUDIT)
    nasty = '=cmd quote " comma ,'
    call(mcp, "status_get", {"project_id": t["project"]}, tok,
         headers={"User-Agent": nasty})
    assert wait_for(lambda: db.execute("SELECT count(*) FROM mcp_audit_logs WHERE org_id = %s",
                                       (t["org"],)).fetchone()[0] >= 1, 5)
    r = audit(mcp, tok, format="csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert rows[0][:3] == ["id", "timestamp", "actor_type"]
    assert all(len(row) == len(rows[0]) for row in rows)
    ua = rows[0].index("user_agent")
    # quoted as RFC 4180 asks; a cell a spreadsheet would run as a formula starts with '
    assert "'" + nasty in [row[ua] for row in rows[1:]]
    r2 = requests.get(mcp.url("/admin/audit"), headers={"Authorization": "Bearer " + tok,
                                                        "Accept": "text/csv"})
    assert r2.text.splitlines()[0] == r.text.splitlines()[0]


def test_refusals(mcp, db):
    t = seed_org(db)
    r = audit(mcp, token(t, ALL_SCOPES))
    assert r.status_code == 403 and 'scope="audit:read"' in r.headers["WWW-Authenticate"]
    assert requests.get(mcp.url("/admin/audit")).status_code == 401
    tok = token(t, AUDIT)
    for params, words in (({"result": "maybe"}, "result must be"),
                          ({"project": "x"}, "project's UUID"),
                          ({"from": "yesterday"}, "ISO 8601"),
                          ({"to": "2026-13-45T99"}, "ISO 8601"),
                          ({"trace_id": "XYZ"}, "32 lower-case hex"),
                          ({"limit": "0"}, "limit must be"),
                          ({"limit": "5000"}, "limit must be"),
                          ({"cursor": "abc"}, "cursor must be"),
                          ({"format": "xml"}, "format must be"),
                          ({"actor": "a" * 400}, "longer than 300")):
        r = audit(mcp, tok, **params)
        assert r.status_code == 400, (params, r.text)
        assert words in r.json()["error"]["message"], (params, r.text)


def test_jivectl_audit_and_trace(mcp, spawn, db, stack, tmp_path):
    t = seed_org(db)
    tok = token(t, AUDIT + " kanban:write")
    rid = "trace-me-" + uuid.uuid4().hex[:8]
    trace = uuid.uuid4().hex
    r = call(mcp, "kanban_move_story", {"project_id": t["project"], "key": "1.1", "status": "Done",
                                        "waitMs": 0}, tok, rid=rid,
             headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    assert r.status_code == 200
    call(mcp, "status_get", {"project_id": t["project"]}, tok, rid=rid)
    assert wait_for(lambda: db.execute("SELECT count(*) FROM mcp_audit_logs WHERE request_id = %s",
                                       (rid,)).fetchone()[0] == 2, 5)
    env = stack.env()
    p = run_bin("jivectl", env, "audit", "--org", t["slug"], "--request-id", rid)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [ln.split("\t")[4] for ln in lines] == ["status_get", "kanban_move_story"]
    p = run_bin("jivectl", env, "audit", "--org", t["slug"], "--format", "csv", "--limit", "1")
    assert p.returncode == 0 and p.stdout.startswith("timestamp,actor_type")
    for key in (rid, trace):
        p = run_bin("jivectl", env, "trace", key)
        assert p.returncode == 0, p.stderr
        kinds = [ln.split()[2] for ln in p.stdout.strip().splitlines()]
        assert "job" in kinds and "mcp" in kinds, p.stdout
        assert "kanban_move_story" in p.stdout and "story-move" in p.stdout
    p = run_bin("jivectl", env, "trace", "no-such-id")
    assert p.returncode == 1 and "nothing names" in p.stderr
