# SPDX-License-Identifier: MIT
"""Findings on repositories shaped like real BMAD projects (docs/BMAD.md): a scan never dies on
data, keys come from file names, every active story is compared, expired gates are counted and
not reported, broken gates still count; the outcome of each scan reaches status_get and the
project's events; jivectl inspect sees what the scan stores. End to end: a signed push through
jive-webhook, the scan in jive-orchestrator, the answers through jive-mcp's tools."""
import json
import os
import time

import pytest

from conftest import run_bin, wait_for
from test_mcp import call, token
from test_orchestrator import FAST, enqueue, job
from test_scan import commit, git, live, open_conflicts, push_payload, repo  # noqa: F401
from test_webhook import deliver, examples, new_project  # noqa: F401


def story(key, title, status_block, files=(), tasks=("- [x] one", "- [ ] two")):
    lines = [f"# Story {key}: {title}", "", status_block, "",
             "## Acceptance Criteria", "- [x] criterion one", "- [ ] criterion two", "",
             "## Tasks / Subtasks", *tasks, "", "## Dev Agent Record", "### File List", *files, ""]
    return "\n".join(lines)


# Shapes found in public BMAD repositories, written afresh: a title naming another story's key,
# a Done story whose current gate fails, expired gates, status lines agents really write, File
# Lists with descriptions, links, folders, external paths and packages, gate files that are not
# valid YAML or name no exact decision.
MESSY = {
    "docs/prd.md": "# Payments PRD\n",
    "docs/stories/3.3.story.md": story("3.3", "Card payments", "## Status\nDone"),
    "docs/stories/3.8.story.md": story("3.3", "Refund edge cases", "## Status\n\nDone"),
    "docs/qa/gates/3.3-card-payments.yml":
        "schema: 1\nstory: '3.3'\ngate: FAIL\nupdated: 2026-10-01T09:00:00Z\n"
        "expires: 2026-10-15T09:00:00Z\n",
    "docs/qa/gates/3.8-refunds.yml":
        "gate: PASS\nupdated: 2026-01-01T09:00:00Z\nexpires: 2026-01-15T09:00:00Z\n",
    "docs/stories/4.1.search.md": story(
        "4.1", "Search", "**Status:** Review",
        ["- src/search/index.ts - wires the `SearchBox` component",
         "- [docs/search.md](docs/search.md)", "- docs/", "- ~/.config/search.toml",
         "- lodash@^4.17.21"]),
    "docs/stories/4.2.filters.md": story(
        "4.2", "Filters", "## Status\nReady for Review",
        ["| File | Change |", "|---|---|", "| `src/search/index.ts` | Modified |",
         "| docs/ | Modified |", "- Dockerfile"]),
    "docs/stories/4.3.ranking.md": story(
        "4.3", "Ranking", "## Status\nIn Progress",
        ["- ~/.config/search.toml", "- ./src/ranking.ts:12", "- Dockerfile"]),
    "docs/stories/4.4.quotas.md": story("4.4", "Quotas", "## Status\nBLOCKED"),
    "docs/stories/4.5.exports.md": story("4.5", "Exports", "## Status\nDeferred - after launch"),
    "docs/stories/4.6.notes.md": story("4.6", "Release notes", "Nothing about status here."),
    "docs/stories/4.7.billing.md": story("4.7", "Billing", "## Status\nReady for Done",
                                         tasks=("1. [x] numbered", "   - [x] nested", "2. [ ] open")),
    "docs/qa/gates/4.1-search.yml": "gate: CONCERNS  # see notes\nnotes: [unclosed\n",
    "docs/qa/gates/4.2-filters.yml": "gate: PASS with CONCERNS\n",
    "docs/qa/gates/4.3-ranking.yml": "reviewer: Quinn\n",
}

WANT_CONFLICTS = {
    "gate_violation:3.3",                     # Done, current gate FAIL
    "key_mismatch:docs/stories/3.8.story.md",  # its title says 3.3
    "file_overlap:4.1|4.2",                   # Review and Review share two in-repo paths
    "file_overlap:4.2|4.3",                   # Review and InProgress share the Dockerfile
}


@pytest.fixture
def orch(spawn, tmp_path):
    return spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"), **FAST)


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"),
                 JIVE_MCP_CACHE_TTL_MS="0")


def tenant_of(db, p):
    slug = db.execute("SELECT slug FROM orgs WHERE id = %s", (p["org_id"],)).fetchone()[0]
    return {"org": p["org_id"], "slug": slug, "project": p["id"]}


def tool(mcp, tenant, name, args):
    r = call(mcp, name, args, token(tenant))
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["isError"] is False, res
    return res["structuredContent"]


def scan_job(webhook, db, pid, payload=None):
    jid = enqueue(webhook, {"queue": "artifact-scan", "project_id": pid, "payload": payload or {}})
    assert wait_for(lambda: job(db, jid)[0] in ("succeeded", "failed", "dead"), 30), job(db, jid)
    return jid


def test_messy_repository_scans_and_its_findings_reach_the_tools(orch, webhook, mcp, repo, db,
                                                                   examples):
    first = commit(repo, {"README.md": "x\n"}, "start")
    head = commit(repo, MESSY, "the messy fixture")
    p = new_project(db, repo_url=repo, branch="main")
    tenant = tenant_of(db, p)
    # a push delivery, signed as GitHub signs it, is what starts the work
    payload = push_payload(examples, first, head, added=list(MESSY))
    r = deliver(webhook, p["id"], "push", payload, p["secret"])
    assert r.status_code == 202, r.text
    jid = r.json()["jobs"][0]
    assert wait_for(lambda: job(db, jid)[0] in ("succeeded", "failed", "dead"), 30), job(db, jid)
    status, attempts, error, result = job(db, jid)[:4]
    # no content of the repository may fail the job
    assert (status, attempts, error) == ("succeeded", 1, None), job(db, jid)
    assert result["mode"] == "full"  # first sight of the project
    assert set(open_conflicts(db, p["id"])) == WANT_CONFLICTS

    st = tool(mcp, tenant, "status_get", {"project_id": p["id"]})
    assert st["stories"] == {"Done": 3, "Review": 2, "InProgress": 1, "Blocked": 1, "Other": 1,
                             "Missing": 1}
    assert st["stories_total"] == 9
    assert st["findings"]["total"] == 4 and st["findings"]["truncated"] is False
    assert st["findings"]["by_kind"] == {"gate_violation": 1, "key_mismatch": 1, "file_overlap": 2}
    assert st["findings"]["top"][0]["kind"] == "gate_violation"  # the most severe first
    assert st["findings"]["top"][-1]["kind"] == "key_mismatch"
    assert st["gates"] == {"FAIL": 1, "PASS": 1, "CONCERNS": 1, "Other": 1, "Missing": 1}
    assert st["expired_gates"] == 2
    assert st["last_scan"]["ok"] is True and st["last_scan"]["error"] is None
    assert st["last_scan"]["commit"] == head and st["last_scan"]["last_good_at"]

    gates = {g["path"].rsplit("/", 1)[1]: g for g in
             tool(mcp, tenant, "gates_list", {"project_id": p["id"]})["gates"]}
    assert len(gates) == 5
    assert gates["3.8-refunds.yml"]["expired"] is True and gates["3.8-refunds.yml"]["decision"] == "PASS"
    assert gates["4.1-search.yml"]["decision"] == "CONCERNS"
    assert "invalid YAML" in gates["4.1-search.yml"]["problem"]
    assert (gates["4.2-filters.yml"]["decision"], gates["4.2-filters.yml"]["raw_decision"]) == \
        ("Other", "PASS with CONCERNS")
    assert gates["4.3-ranking.yml"]["decision"] == "Missing"

    s = tool(mcp, tenant, "story_get", {"project_id": p["id"], "key": "4.1"})["story"]
    assert s["status"] == "Review" and s["raw_status"] == "Review"
    assert s["files"] == ["src/search/index.ts", "docs/search.md", "docs"]
    assert s["external_files"] == ["~/.config/search.toml"]
    assert s["file_list"][0] == {"path": "src/search/index.ts",
                                 "note": "wires the `SearchBox` component"}
    s = tool(mcp, tenant, "story_get", {"project_id": p["id"], "key": "3.8"})["story"]
    assert (s["key"], s["title_key"], s["status"]) == ("3.8", "3.3", "Done")
    s = tool(mcp, tenant, "story_get", {"project_id": p["id"], "key": "4.7"})["story"]
    assert s["status"] == "Done" and s["raw_status"] == "Ready for Done"
    # tasks inside the Tasks section (numbered and nested); the criteria above are not tasks
    assert (s["tasks_done"], s["tasks_total"], s["checks_done"], s["checks_total"]) == (2, 3, 3, 5)
    listed = tool(mcp, tenant, "stories_list", {"project_id": p["id"], "status": "Other"})
    assert [(x["key"], x["raw_status"]) for x in listed["stories"]] == \
        [("4.5", "Deferred - after launch")]
    assert [x["key"] for x in tool(mcp, tenant, "stories_list",
                                   {"project_id": p["id"], "status": "Missing"})["stories"]] == ["4.6"]
    found = tool(mcp, tenant, "conflicts_list", {"project_id": p["id"]})["conflicts"]
    overlap = next(c for c in found if c["fingerprint"] == "file_overlap:4.1|4.2")
    assert overlap["details"]["files"] == ["docs", "src/search/index.ts"]
    assert overlap["details"]["statuses"] == ["Review", "Review"]

    # the same commit again: nothing changes, nothing dies
    again = scan_job(webhook, db, p["id"], {"full": True})
    assert job(db, again)[:3] == ("succeeded", 1, None)
    assert job(db, again)[3]["conflicts_opened"] == 0


def test_the_fixture_that_killed_scans_now_scans(orch, webhook, repo, db):
    # two Done stories whose titles both say 3.3, gates for both keys, one expired: this used to
    # build two rows with one fingerprint in one INSERT, and every scan of the project died
    commit(repo, {
        "docs/stories/3.3.story.md": story("3.3", "Payments", "## Status\nDone"),
        "docs/stories/3.8.story.md": story("3.3", "Refunds", "## Status\nDone"),
        "docs/stories/3.9.story.md": story("3.3", "Chargebacks", "## Status\nDone"),
        "docs/qa/gates/3.3-a.yml": "gate: FAIL\nexpires: 2020-01-01T00:00:00Z\n",
        "docs/qa/gates/3.3-b.yml": "gate: FAIL\nexpires: 2020-01-01T00:00:00Z\n",
        "docs/qa/gates/3.8-c.yml": "gate: PASS\nexpires: 2020-01-01T00:00:00Z\n",
    }, "the killer")
    p = new_project(db, repo_url=repo, branch="main")
    for _ in range(2):
        jid = scan_job(webhook, db, p["id"], {"full": True})
        assert job(db, jid)[:3] == ("succeeded", 1, None), job(db, jid)
    assert set(open_conflicts(db, p["id"])) == {
        "gate_violation:3.3", "key_mismatch:docs/stories/3.8.story.md",
        "key_mismatch:docs/stories/3.9.story.md"}


def test_a_failed_scan_is_told_by_status_get_and_the_events(orch, webhook, mcp, repo, db, stack):
    commit(repo, MESSY, "fixture")
    p = new_project(db, repo_url=repo, branch="main")
    tenant = tenant_of(db, p)
    jid = scan_job(webhook, db, p["id"])
    assert job(db, jid)[0] == "succeeded"
    good = tool(mcp, tenant, "status_get", {"project_id": p["id"]})["last_scan"]
    assert good["ok"] is True
    # the repository goes away: an infrastructure fault, the job fails and says why
    db.execute("UPDATE projects SET repo_url = %s WHERE id = %s", (repo + "-gone", p["id"]))
    os.rename(os.path.join(orch.env["JIVE_WORKSPACE_DIR"], p["id"]),
              os.path.join(orch.env["JIVE_WORKSPACE_DIR"], p["id"] + ".old"))
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{p['id']}")
    jid = enqueue(webhook, {"queue": "artifact-scan", "project_id": p["id"], "payload": {"full": True}})
    assert wait_for(lambda: job(db, jid)[1] >= 1 and job(db, jid)[2] is not None, 30), job(db, jid)
    events, t0 = [], time.time()
    while time.time() - t0 < 10 and not any(e["type"] == "scan.finished" for e in events):
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            events.append(json.loads(m["data"]))
    sub.close()
    finished = next(e for e in events if e["type"] == "scan.finished")["data"]
    assert finished["ok"] is False and "updating the workspace" in finished["error"]
    last = tool(mcp, tenant, "status_get", {"project_id": p["id"]})["last_scan"]
    assert last["ok"] is False and "updating the workspace" in last["error"]
    assert last["last_good_at"] == good["last_good_at"] and last["commit"] == good["commit"]
    # what was read before is still there
    assert tool(mcp, tenant, "status_get", {"project_id": p["id"]})["stories_total"] == 9


def test_status_get_bounds_its_list_and_says_so(orch, webhook, mcp, repo, db):
    files = ["- src/shared.ts"]
    stories = {f"docs/stories/5.{i}.s.md": story(f"5.{i}", f"S{i}", "## Status\nInProgress", files)
               for i in range(1, 9)}  # 8 active stories on one file: 28 pairs
    stories["docs/stories/6.1.done.md"] = story("6.1", "Done", "## Status\nDone")
    stories["docs/qa/gates/6.1-done.yml"] = "gate: FAIL\n"
    commit(repo, stories, "crowded")
    p = new_project(db, repo_url=repo, branch="main")
    jid = scan_job(webhook, db, p["id"])
    assert job(db, jid)[0] == "succeeded"
    st = tool(mcp, tenant_of(db, p), "status_get", {"project_id": p["id"]})
    f = st["findings"]
    assert f["total"] == 29 and f["by_kind"] == {"file_overlap": 28, "gate_violation": 1}
    assert f["truncated"] is True and len(f["top"]) == f["limit"] == 20
    assert f["top"][0]["kind"] == "gate_violation" and f["top"][0]["severity"] == "critical"
    assert {x["severity"] for x in f["top"][1:]} == {"high"}


def test_rows_read_by_an_older_parser_are_read_again(orch, webhook, repo, db):
    commit(repo, MESSY, "fixture")
    p = new_project(db, repo_url=repo, branch="main")
    assert job(db, scan_job(webhook, db, p["id"]))[0] == "succeeded"
    # as a database written before this parser would look
    db.execute("UPDATE projects SET scan_parser = 1 WHERE id = %s", (p["id"],))
    db.execute("UPDATE artifacts SET status = NULL, meta = meta - 'parser' WHERE project_id = %s",
               (p["id"],))
    jid = scan_job(webhook, db, p["id"], {"added": [], "modified": ["README.md"], "removed": []})
    assert job(db, jid)[0] == "succeeded"
    assert job(db, jid)[3]["mode"] == "full"
    assert db.execute("SELECT count(*) FROM artifacts WHERE project_id = %s AND kind = 'story' "
                      "AND status IS NULL", (p["id"],)).fetchone()[0] == 0
    assert db.execute("SELECT scan_parser FROM projects WHERE id = %s",
                      (p["id"],)).fetchone()[0] >= 2


def test_jivectl_inspect_sees_what_the_scan_stores(orch, webhook, repo, db, stack):
    commit(repo, MESSY, "fixture")
    p = new_project(db, repo_url=repo, branch="main")
    assert job(db, scan_job(webhook, db, p["id"]))[0] == "succeeded"
    env = {k: v for k, v in stack.env().items() if k != "DATABASE_URL"}  # needs no database
    out = run_bin("jivectl", env, "inspect", repo, "--json")
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    stories = {a["path"]: (a.get("key"), a["status"]) for a in seen["artifacts"] if a["kind"] == "story"}
    assert stories == {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT path, key, status FROM artifacts WHERE project_id = %s AND kind = 'story' "
        "AND deleted_at IS NULL", (p["id"],)).fetchall()}
    assert {f["fingerprint"] for f in seen["findings"]} == WANT_CONFLICTS
    assert seen["summary"]["expired_gates"] == 2 and seen["summary"]["findings_total"] == 4
    assert sorted(g["decision"] for g in seen["gates"]) == sorted(r[0] for r in db.execute(
        "SELECT decision FROM gates WHERE project_id = %s", (p["id"],)).fetchall())
    assert [x["path"] for x in seen["problems"]] == ["docs/qa/gates/4.1-search.yml"]
    text = run_bin("jivectl", env, "inspect", repo)
    assert text.returncode == 0
    assert "4.5      Other" in text.stdout and "status as written: Deferred - after launch" in text.stdout
    assert "external ~/.config/search.toml" in text.stdout
    assert "[critical] gate_violation: Story 3.3 is Done but its QA gate says FAIL" in text.stdout
    assert "expired gates: 2" in text.stdout
    bad = run_bin("jivectl", env, "inspect", os.path.join(repo, "no-such-dir"))
    assert bad.returncode == 1 and "is not a directory" in bad.stderr


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(orch, webhook, repo, db):
    commit(repo, {"docs/stories/1.1.fine.md": story("1.1", "Fine", "## Status\nDraft")}, "one")
    with open(os.path.join(repo.encode(), b"docs/stories/1.2.caf\xe9.md"), "wb") as f:
        f.write(story("1.2", "Latin-1 name", "## Status\nDraft").encode())
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "latin1")
    p = new_project(db, repo_url=repo, branch="main")
    jid = scan_job(webhook, db, p["id"])
    assert job(db, jid)[:3] == ("succeeded", 1, None), job(db, jid)
    assert job(db, jid)[3]["skipped_names"] == 1
    assert set(live(db, p["id"])) == {"docs/stories/1.1.fine.md"}


# The current v6 layouts, written afresh: implementation artifacts with sprint-status.yaml, a
# _bmad-output/stories/ folder, a spec folder (SPEC.md, stories.yaml, stories/<id>-<slug>.md
# with front matter), and test-architect gate decisions as JSON next to a v4-style YAML gate.
V6_NOW = {
    "_bmad-output/planning-artifacts/prd.md": "# PRD\n",
    "_bmad-output/implementation-artifacts/sprint-status.yaml":
        "development_status:\n  epic-1: in-progress\n  1-1-login: done\n  1-2-logout: review\n"
        "  epic-1-retrospective: optional\n",
    "_bmad-output/implementation-artifacts/1-1-login.md":
        story("1.1", "Login", "Status: done", ["- `src/auth/login.ts` - new"]),
    "_bmad-output/implementation-artifacts/1-2-logout.md":
        story("1.2", "Logout", "Status: in-progress", ["- `src/auth/session.ts`"]),
    "_bmad-output/implementation-artifacts/1-2-code-review-report.md":
        "# Story 1.2: Code Review Report\n\n**Status:** ✅ FIXED\n\n## Executive Summary\nok\n",
    "_bmad-output/stories/2-1-profile.md":
        "\ufeff" + story("2.1", "Profile", "Status: in-review", ["- `src/auth/session.ts`"]),
    "_bmad-output/specs/billing/SPEC.md": "---\nstatus: in-review\n---\n# Billing spec\n",
    "_bmad-output/specs/billing/stories.yaml":
        "stories:\n  - id: '01'\n    status: done\n  - id: '02'\n    status: in-progress\n",
    "_bmad-output/specs/billing/stories/01-invoices.md":
        "---\ntitle: Invoices\nstatus: done\n---\n\n## Tasks\n- [x] one\n",
    "_bmad-output/specs/billing/stories/02-refunds.md":
        "---\ntitle: Refunds\nstatus: in-review\n---\n\n## File List\n- `src/billing/refund.ts`\n",
    "_bmad-output/test-artifacts/gate-decision-1.1.json":
        '{"story_id": "1.1", "gate_status": "FAIL", "rationale": "P0 coverage 60%"}',
    "_bmad-output/test-artifacts/gates/1.2-logout.yml": "gate: CONCERNS\n",
}


def test_current_v6_layouts(orch, webhook, repo, db):
    commit(repo, V6_NOW, "v6 layouts")
    p = new_project(db, repo_url=repo, branch="main")
    jid = scan_job(webhook, db, p["id"])
    assert job(db, jid)[:3] == ("succeeded", 1, None), job(db, jid)
    stories = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT path, key, status FROM artifacts WHERE project_id = %s AND kind = 'story' "
        "AND deleted_at IS NULL", (p["id"],)).fetchall()}
    assert stories == {
        "_bmad-output/implementation-artifacts/1-1-login.md": ("1.1", "Done"),
        "_bmad-output/implementation-artifacts/1-2-logout.md": ("1.2", "InProgress"),
        "_bmad-output/stories/2-1-profile.md": ("2.1", "Review"),
        "_bmad-output/specs/billing/stories/01-invoices.md": ("billing/01", "Done"),
        "_bmad-output/specs/billing/stories/02-refunds.md": ("billing/02", "Review"),
    }
    spec = db.execute("SELECT kind, status FROM artifacts WHERE project_id = %s AND path = "
                      "'_bmad-output/specs/billing/SPEC.md'", (p["id"],)).fetchone()
    assert spec == ("other", "Review")
    gates = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT path, story_key, decision FROM gates WHERE project_id = %s", (p["id"],)).fetchall()}
    assert gates == {"_bmad-output/test-artifacts/gate-decision-1.1.json": ("1.1", "FAIL"),
                     "_bmad-output/test-artifacts/gates/1.2-logout.yml": ("1.2", "CONCERNS")}
    assert set(open_conflicts(db, p["id"])) == {
        "gate_violation:1.1",            # Done, and the test architect says FAIL
        "file_overlap:1.2|2.1",          # in-progress and in-review on one file
        "status_mismatch:1.2",           # the file says in-progress, sprint-status review
        "status_mismatch:billing/02",    # the story says in-review, stories.yaml in-progress
    }
