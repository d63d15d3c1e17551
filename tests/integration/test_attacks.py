# SPDX-License-Identifier: MIT
"""The hostile tenant and the hostile outsider (docs/SECURITY.md): two orgs on one deployment,
org B trying every tool, resource, prompt and REST route against org A's project, and the
origins a project may name. For each attempt: the status and body, that A's rows and
repository are unchanged, and the audit row that records it."""
import json
import os
import subprocess
import time
import uuid

import pytest
import requests

from conftest import run_bin, wait_for
from test_mcp import ALL_SCOPES, audit_rows, call, rpc, seed_org, token
from test_orchestrator import FAST, job
from test_webhook import admin_token


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"),
                 JIVE_RATE_LIMIT_PER_MINUTE="100000")


def snapshot(db, org):
    """Every tenant row of org, as comparable text."""
    out = {}
    for table in ("projects", "artifacts", "conflicts", "gates", "agent_status", "runs", "jobs"):
        out[table] = sorted(json.dumps(r[0], sort_keys=True, default=str) for r in db.execute(
            f"SELECT to_jsonb(t) - 'updated_at' - 'last_seen' FROM {table} t WHERE org_id = %s",
            (org,)).fetchall())
    return out


def audited(db, rid):
    assert wait_for(lambda: len(audit_rows(db, rid)) > 0, 5), f"no audit row for {rid}"
    time.sleep(0.2)
    return audit_rows(db, rid)


def test_another_orgs_project_is_unreachable_through_every_tool(mcp, db):
    a, b = seed_org(db), seed_org(db)
    db.execute("UPDATE artifacts SET content = '# secret of A' WHERE project_id = %s", (a["project"],))
    db.execute("INSERT INTO runs (org_id, project_id, source, external_id, kind, name, status, "
               "agent_id) VALUES (%s, %s, 'agent', 'run-a', 'agent', 'build', 'failed', 'agent-1')",
               (a["org"], a["project"]))
    before = snapshot(db, a["org"])
    tb = token(b, ALL_SCOPES + " kanban:write")
    pa = a["project"]
    attempts = {
        "status_get": {"project_id": pa},
        "stories_list": {"project_id": pa},
        "story_get": {"project_id": pa, "key": "1.1"},
        "conflicts_list": {"project_id": pa, "include_resolved": True},
        "gates_list": {"project_id": pa},
        "runs_list": {"project_id": pa},
        "agent_report": {"project_id": pa, "story_key": "1.2", "state": "idle"},
        "run_report": {"project_id": pa, "run_id": "run-a", "status": "completed"},
        "kanban_move_story": {"project_id": pa, "key": "1.2", "status": "Done", "waitMs": 0},
    }
    for tool, args in attempts.items():
        rid = str(uuid.uuid4())
        r = call(mcp, tool, args, tb, rid=rid)
        assert r.status_code == 200, (tool, r.text)
        res = r.json()["result"]
        text = res["content"][0]["text"]
        # exactly what a project that does not exist answers: nothing of A in it
        assert res["isError"] is True and "not found" in text, (tool, text)
        assert "secret of A" not in text and a["slug"] not in text
        rows = audited(db, rid)
        assert len(rows) == 1 and rows[0][2] == tool and rows[0][4] == "error", (tool, rows)
        assert rows[0][7] == b["org"]  # the row is the caller's org's
        # the same through the REST route
        r = requests.post(mcp.url("/mcp/invoke"), json={"tool": tool, "arguments": args},
                          headers={"Authorization": "Bearer " + tb})
        assert "secret of A" not in r.text and (r.status_code >= 400 or "not found" in r.text), r.text
    # A's job of its own: jobs_get of it from B is {"job": null}
    jid = str(db.execute("INSERT INTO jobs (org_id, project_id, queue) VALUES (%s, %s, "
                         "'run-sync') RETURNING id", (a["org"], pa)).fetchone()[0])
    before = snapshot(db, a["org"])
    r = call(mcp, "jobs_get", {"job_id": jid}, tb).json()["result"]
    assert r["structuredContent"] == {"job": None}
    # projects_list shows B its own project only
    listed = call(mcp, "projects_list", {}, tb).json()["result"]["structuredContent"]["projects"]
    assert [p["id"] for p in listed] == [b["project"]]
    # resources, prompts and completion
    uri = f"jive://projects/{pa}/docs/stories/1.1.s0.md"
    for method, params in (("resources/read", {"uri": uri}),
                           ("prompts/get", {"name": "story_kickoff",
                                            "arguments": {"project_id": pa, "story_key": "1.1"}}),
                           ("prompts/get", {"name": "standup_summary", "arguments": {"project_id": pa}}),
                           ("completion/complete", {"ref": {"type": "ref/prompt", "name": "story_kickoff"},
                                                    "argument": {"name": "story_key", "value": "1"},
                                                    "context": {"arguments": {"project_id": pa}}})):
        rid = str(uuid.uuid4())
        r = rpc(mcp, method, params, tb, rid=rid)
        assert "secret of A" not in r.text and "Story 1.1" not in r.text, (method, r.text)
        body = r.json()
        if "result" in body and method == "completion/complete":
            assert body["result"]["completion"]["values"] == []
        else:
            assert "error" in body, (method, r.text)
        rows = audited(db, rid)
        assert rows[0][2].startswith(method) and rows[0][7] == b["org"], rows
    listed = rpc(mcp, "resources/list", {}, tb).json()["result"]["resources"]
    assert all(pa not in x["uri"] for x in listed)
    # nothing of A changed
    assert snapshot(db, a["org"]) == before


def test_admin_routes_stay_inside_the_callers_org(webhook, db):
    a, b = seed_org(db), seed_org(db)
    before = snapshot(db, a["org"])
    for queue in ("story-move", "artifact-scan", "conflict-detection"):
        r = requests.post(webhook.url("/api/jobs/enqueue"),
                          json={"queue": queue, "project_id": a["project"],
                                "payload": {"key": "1.1", "status": "Done"}},
                          headers={"Authorization": "Bearer " + admin_token("admin", b["org"])})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_project", r.text
    assert snapshot(db, a["org"]) == before


def test_repository_origins_that_reach_other_tenants_are_refused(stack, db, tmp_path):
    """jivectl project add refuses local paths, file://, ext:: and hosts off the allowlist when
    local repositories are not allowed (the deployed default), and one repository under a new
    spelling."""
    env = {"JIVE_ALLOW_LOCAL_REPOS": None}
    slug = "att-" + uuid.uuid4().hex[:6]
    other = tmp_path / "other-org-repo"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    refused = {
        str(other): "JIVE_ALLOW_LOCAL_REPOS",
        f"file://{other}": "JIVE_ALLOW_LOCAL_REPOS",
        "ext::sh -c id": "not a repository URL",
        "https://evil.example/x/y": "JIVE_REPO_HOSTS",
        "--upload-pack=id": "not a repository URL",
        "https://u:p@github.com/x/y": "credentials",
    }
    for url, why in refused.items():
        p = run_bin("jivectl", stack.env(**env), "project", "add", "--org", slug, "--name",
                    "n" + uuid.uuid4().hex[:4], "--repo", url, "--scan", "no")
        assert p.returncode == 1 and why in p.stderr, (url, p.stderr)
    assert db.execute("SELECT count(*) FROM orgs WHERE slug = %s", (slug,)).fetchone()[0] == 0
    # one repository, one org: another spelling of a registered URL is refused
    first = run_bin("jivectl", stack.env(**env), "project", "add", "--org", slug, "--name", "a",
                    "--repo", f"https://github.com/{slug}/shop", "--scan", "no")
    assert first.returncode == 0, first.stderr
    for spelling in (f"https://GitHub.com/{slug}/shop.git", f"https://github.com/{slug}/Shop/",
                     f"git@github.com:{slug}/shop.git", f"ssh://git@github.com:22/{slug}/shop"):
        p = run_bin("jivectl", stack.env(**env), "project", "add", "--org", "thief-" + slug,
                    "--name", "b", "--repo", spelling, "--scan", "no")
        assert p.returncode == 1 and "already exists" in p.stderr, (spelling, p.stderr)
    # the database holds the line too, for rows written past jivectl
    with pytest.raises(Exception, match="projects_repo_key_idx"):
        db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) SELECT org_id, "
                   "'c', %s, repeat('s', 20) FROM projects WHERE repo_url = %s",
                   (f"https://github.com/{slug.upper()}/shop.git/", f"https://github.com/{slug}/shop"))


def test_the_orchestrator_checks_the_origin_before_every_clone(spawn, webhook, db, tmp_path):
    """A project whose origin was written past jivectl (or before the rules) is neither cloned nor
    fetched by an orchestrator that does not allow local repositories."""
    from test_orchestrator import enqueue
    victim = tmp_path / "victim"
    subprocess.run(["git", "init", "-q", "-b", "main", str(victim)], check=True)
    (victim / "docs" / "stories").mkdir(parents=True)
    (victim / "docs/stories/1.1.secret.md").write_text("# Story 1.1: Secret\n\nStatus: Done\n")
    subprocess.run(["git", "-C", str(victim), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(victim), "-c", "user.name=v", "-c", "user.email=v@x",
                    "commit", "-q", "-m", "s"], check=True)
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"), JIVE_ALLOW_LOCAL_REPOS=None,
          **FAST)
    t = seed_org(db)
    db.execute("UPDATE projects SET repo_url = %s WHERE id = %s", (f"file://{victim}", t["project"]))
    jid = enqueue(webhook, {"queue": "artifact-scan", "project_id": t["project"], "payload": {"full": True}})
    assert wait_for(lambda: job(db, jid)[2] is not None, 20), job(db, jid)
    assert "JIVE_ALLOW_LOCAL_REPOS" in job(db, jid)[2]
    assert not os.path.exists(tmp_path / "ws" / t["project"])
    assert db.execute("SELECT count(*) FROM artifacts WHERE project_id = %s AND path LIKE "
                      "'%%secret%%'", (t["project"],)).fetchone()[0] == 0
