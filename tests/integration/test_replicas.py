# SPDX-License-Identifier: MIT
"""Several replicas on one Postgres and one Redis, as Railway runs them: two jive-mcp and two
jive-orchestrator processes. One MCP session alternates between the MCP replicas (a real SDK
client behind a round-robin proxy, and raw requests), a write on one replica is seen at once on
the other despite both caching reads, and webhook jobs are shared by the orchestrators with each
run once and announced to both MCP replicas."""
import json
import os
import subprocess

import pytest

from conftest import McpProxy, wait_for
from test_mcp import ALL_SCOPES, call, rpc, seed_org, token
from test_orchestrator import FAST, workflow_run
from test_webhook import deliver, examples, new_project  # noqa: F401

TESTS = os.path.join(os.path.dirname(__file__), "..")
HOUR = 3600000  # cache entries outlive the test: only events can make a change visible


@pytest.fixture
def replicas(spawn, tmp_path):
    return [spawn("jive-mcp", JIVE_MCP_CACHE_TTL_MS=HOUR,
                  JIVE_AUDIT_SPOOL=str(tmp_path / f"spool-{i}.jsonl")) for i in range(2)]


def test_sdk_session_alternates_between_two_mcp_replicas(replicas, db):
    tenant = seed_org(db)
    db.execute("UPDATE artifacts SET content = '# ' || key WHERE project_id = %s", (tenant["project"],))
    with McpProxy([r.url("") for r in replicas]) as lb:
        p = subprocess.run(["node", os.path.join(TESTS, "clients", "sdk_client.mjs"), lb.url("/mcp"),
                            token(tenant, ALL_SCOPES + " kanban:write"), tenant["project"]],
                           cwd=TESTS, capture_output=True, text=True, timeout=60)
        served = list(lb.served)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert "error" not in out, out["error"]
    assert out["server"]["name"] == "jive-mcp" and out["status"]["stories"]["InProgress"] == 2
    assert out["resources"] and out["prompts"] == ["standup_summary", "story_kickoff"]
    # the session really was split: initialize on one replica, later calls on both
    by = {i: [m for j, m in served if j == i] for i in (0, 1)}
    assert served[0][1] == "initialize" and served[1][0] == 1, served
    assert len(by[0]) >= 3 and len(by[1]) >= 3, served
    assert "tools/call" in by[0] and "tools/call" in by[1], served


def test_a_write_on_one_replica_is_read_at_once_on_the_other(replicas, db):
    a, b = replicas
    tenant = seed_org(db)
    t, pid = token(tenant), tenant["project"]
    init = rpc(a, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}}, t)
    assert init.status_code == 200 and init.json()["result"]["protocolVersion"] == "2025-11-25"
    for svc in (b, a, b):  # both replicas now hold the project's status in their cache
        st = call(svc, "status_get", {"project_id": pid}, t).json()["result"]["structuredContent"]
        assert st["active_agents"] == []
    r = call(a, "agent_report", {"project_id": pid, "story_key": "1.2", "state": "working"},
             token(tenant, sub="codex-7"))
    assert r.json()["result"]["isError"] is False

    def seen_on_b():
        st = call(b, "status_get", {"project_id": pid}, t).json()["result"]["structuredContent"]
        return [x["agent_id"] for x in st["active_agents"]] == ["codex-7"]
    assert wait_for(seen_on_b, 5)
    # and the 2026 era on the other replica, same token, no session to carry over
    st = call(a, "status_get", {"project_id": pid}, t, modern=True).json()["result"]
    assert [x["agent_id"] for x in st["structuredContent"]["active_agents"]] == ["codex-7"]


def test_two_orchestrators_and_two_mcp_replicas_share_the_work(spawn, replicas, webhook, db,
                                                               examples):
    for i in range(2):
        spawn("jive-orchestrator", JIVE_WORKER_ID=f"orc-{i}", **FAST)
    project = new_project(db)
    org = str(db.execute("SELECT org_id FROM projects WHERE id = %s", (project["id"],)).fetchone()[0])
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (org,)).fetchone()[0]
    t = token({"org": org, "slug": slug, "project": project["id"]})
    for svc in replicas:  # cached empty run lists on both replicas
        r = call(svc, "runs_list", {"project_id": project["id"]}, t).json()["result"]
        assert r["structuredContent"]["runs"] == [], r
    ids = []
    for i in range(30):
        r = deliver(webhook, project["id"], "workflow_run", workflow_run(examples, 9300000 + i),
                    project["secret"])
        assert r.status_code in (200, 202), r.text
        ids.append(r.json()["jobs"][0])
    assert wait_for(lambda: db.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND "
                                       "status = 'succeeded'", (ids,)).fetchone()[0] == 30, 30)
    rows = db.execute("SELECT attempts, worker FROM jobs WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
    assert all(a == 1 for a, _ in rows), rows
    assert {w for _, w in rows} == {"orc-0", "orc-1"}, "both orchestrators took jobs"

    def runs_seen(svc):
        r = call(svc, "runs_list", {"project_id": project["id"], "limit": 100}, t).json()["result"]
        return len(r["structuredContent"]["runs"]) == 30
    for svc in replicas:
        assert wait_for(lambda: runs_seen(svc), 10), "a replica kept serving its stale cache"
