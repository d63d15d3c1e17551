# SPDX-License-Identifier: MIT
"""Story status history and reports: the trigger records every status change a scan stores, and
each reports_run template, run against a fixture history laid out in the past two ISO weeks,
gives the values computed here by hand. Another org's project is not found; bad input named."""
import json
import uuid

import pytest

from test_mcp import call, token

REPORTS = "reports:read"


@pytest.fixture
def mcp(spawn, tmp_path):
    return spawn("jive-mcp", JIVE_AUDIT_SPOOL=str(tmp_path / "spool.jsonl"))


@pytest.fixture
def history(db):
    """An org and a project with no stories of their own, and history placed relative to the
    Monday of the current ISO week (W0): W2 and W1 are the two whole weeks before it."""
    slug = "rep-" + uuid.uuid4().hex[:8]
    org = str(db.execute("INSERT INTO orgs (slug, name) VALUES (%s, %s) RETURNING id",
                         (slug, slug)).fetchone()[0])
    pid = str(db.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) VALUES "
                         "(%s, 'r', %s, repeat('s', 20)) RETURNING id",
                         (org, f"https://github.com/{slug}/r")).fetchone()[0])

    def at(week, days, hours=0):  # week 2 = W2, 1 = W1
        return (f"date_trunc('week', now()) - interval '{week} weeks' + interval '{days} days' "
                f"+ interval '{hours} hours'")

    def status(key, to, week, days, hours=0):
        db.execute(f"INSERT INTO story_status_history (org_id, project_id, story_key, path, "
                   f"to_status, changed_at) VALUES (%s, %s, %s, %s, %s, {at(week, days, hours)})",
                   (org, pid, key, f"docs/stories/{key}.md", to))

    status("1.1", "Approved", 2, 1)
    status("1.1", "InProgress", 2, 2)
    status("1.1", "Done", 1, 1)          # 7 days after Approved: 168 h
    status("1.2", "Approved", 1, 1)
    status("1.2", "Done", 1, 2)          # 24 h
    status("2.1", "Draft", 2, 0, 1)
    status("2.1", "Approved", 1, 3)
    status("2.1", "InProgress", 1, 4)    # still in progress
    status("2.2", "Approved", 2, 1)
    status("2.2", "InProgress", 2, 3)
    status("2.2", "Review", 1, 0, 1)
    status("2.2", "Done", 1, 5)          # 11 days: 264 h
    for decision, issues in (("PASS", [{"id": "SEC-1", "finding": "Tokens logged"}]),
                             ("FAIL", [{"finding": "Tokens logged"}, {"finding": "No tests"}]),
                             ("CONCERNS", [{"finding": "No tests"}, {"finding": "Tokens logged"}]),
                             ("WAIVED", [])):
        db.execute("INSERT INTO gates (org_id, project_id, path, story_key, decision, top_issues) "
                   "VALUES (%s, %s, %s, '1.1', %s, %s)",
                   (org, pid, f"docs/qa/gates/{decision}.yml", decision, json.dumps(issues)))
    for i, (opened, resolved, story) in enumerate(((at(2, 1), at(1, 2), "1.1"),
                                                  (at(1, 1), "NULL", "2.1"),
                                                  (at(1, 3), at(1, 4), "2.2"))):
        db.execute(f"INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, "
                   f"summary, details, opened_at, resolved_at) VALUES (%s, %s, 'file_overlap', "
                   f"%s, 'high', 'x', %s, {opened}, {resolved})",
                   (org, pid, f"fp-{i}", json.dumps({"stories": [story]})))
    for i, (agent, status_, conclusion, story) in enumerate((
            ("claude", "completed", "success", "1.1"), ("claude", "completed", "failure", "1.2"),
            ("cursor", "in_progress", None, "2.1"))):
        db.execute("INSERT INTO runs (org_id, project_id, source, external_id, kind, status, "
                   "conclusion, agent_id, story_key) VALUES (%s, %s, 'agent', %s, 'agent', %s, "
                   "%s, %s, %s)", (org, pid, f"run-{i}", status_, conclusion, agent, story))
    db.execute("INSERT INTO agent_status (org_id, project_id, agent_id, story_key, state) VALUES "
               "(%s, %s, 'cursor', '2.2', 'working')", (org, pid))
    return {"org": org, "slug": slug, "project": pid}


def run(mcp, tok, project, report, **kw):
    r = call(mcp, "reports_run", dict({"project_id": project, "report": report}, **kw), tok)
    res = r.json()["result"]
    assert res["isError"] is False, res
    return res["structuredContent"]["result"]


def test_each_report_against_hand_computed_values(mcp, history):
    tok = token(history, REPORTS)
    p = history["project"]
    ct = run(mcp, tok, p, "cycle_time")
    assert [(s["story_key"], s["hours"]) for s in ct["stories"]] == [("1.1", 168), ("1.2", 24),
                                                                     ("2.2", 264)]
    assert ct["epics"] == [{"epic": "1", "stories": 2, "median_hours": 96, "mean_hours": 96},
                           {"epic": "2", "stories": 1, "median_hours": 264, "mean_hours": 264}]
    assert ct["truncated"] is False
    assert [s["story_key"] for s in run(mcp, tok, p, "cycle_time", epic="2")["stories"]] == ["2.2"]
    assert [w["done"] for w in run(mcp, tok, p, "throughput", weeks=3)["weeks"]] == [0, 3, 0]
    assert [w["in_progress"] for w in run(mcp, tok, p, "wip", weeks=3)["weeks"]] == [2, 1, 1]
    assert [w["in_progress"] for w in run(mcp, tok, p, "wip", weeks=3, epic="2")["weeks"]] == [1, 1, 1]
    weeks = run(mcp, tok, p, "wip", weeks=3)["weeks"]
    assert weeks[-1]["week"].startswith("20") and "-W" in weeks[-1]["week"]
    g = run(mcp, tok, p, "gate_pass_rate")
    assert g["gates"] == 4 and g["by_decision"] == {"PASS": 1, "FAIL": 1, "CONCERNS": 1, "WAIVED": 1}
    assert g["pass_rate"] == 0.333
    assert g["top_issues"] == [{"issue": "Tokens logged", "gates": 3}, {"issue": "No tests", "gates": 2}]
    f = run(mcp, tok, p, "findings_trend", weeks=3)
    assert [(w["opened"], w["resolved"]) for w in f["weeks"]] == [(1, 0), (2, 2), (0, 0)]
    assert f["open_now"] == 1
    assert [(w["opened"], w["resolved"]) for w in
            run(mcp, tok, p, "findings_trend", weeks=3, epic="2")["weeks"]] == [(0, 0), (2, 1), (0, 0)]
    a = run(mcp, tok, p, "agent_activity")
    assert a["agents"] == [
        {"agent": "claude", "runs": 2, "outcomes": {"success": 1, "failure": 1}, "stories": ["1.1", "1.2"]},
        {"agent": "cursor", "runs": 1, "outcomes": {"in_progress": 1}, "stories": ["2.1", "2.2"]}]


def test_list_other_org_and_bad_input(mcp, history, db):
    tok = token(history, REPORTS)
    lst = call(mcp, "reports_list", {}, tok).json()["result"]["structuredContent"]["reports"]
    assert [r["name"] for r in lst] == ["cycle_time", "throughput", "wip", "gate_pass_rate",
                                        "findings_trend", "agent_activity"]
    assert all(r["parameters"]["required"] == ["project_id"] for r in lst)
    slug = "other-" + uuid.uuid4().hex[:6]
    other = str(db.execute("INSERT INTO orgs (slug, name) VALUES (%s, %s) RETURNING id",
                           (slug, slug)).fetchone()[0])
    r = call(mcp, "reports_run", {"project_id": history["project"], "report": "throughput"},
             token({"org": other, "slug": slug}, REPORTS)).json()["result"]
    assert r["isError"] is True and "not found" in r["content"][0]["text"]
    for args, words in (({"report": "free_sql"}, "documented values"),
                        ({"report": "wip", "weeks": 0}, "out of range"),
                        ({"report": "wip", "weeks": 105}, "out of range"),
                        ({"report": "wip", "epic": "1; DROP"}, "epic's number"),
                        ({"report": "wip", "sql": "SELECT 1"}, "unknown argument")):
        r = call(mcp, "reports_run", dict(args, project_id=history["project"]), tok).json()["result"]
        assert r["isError"] is True and words in r["content"][0]["text"], (args, r)
    assert call(mcp, "reports_run", {"project_id": history["project"], "report": "wip"},
                token(history, "status:read")).status_code == 403


def test_the_scanner_records_status_changes(db, history):
    """The trigger writes a history row for a new story and each status change, not for other
    updates, and when a deleted story comes back."""
    org, pid = history["org"], history["project"]
    db.execute("INSERT INTO artifacts (org_id, project_id, path, kind, key, title, status, "
               "content_hash, commit_sha) VALUES (%s, %s, 'docs/stories/9.1.t.md', 'story', '9.1', "
               "'t', 'Draft', %s, 'c1')", (org, pid, "a" * 64))
    db.execute("UPDATE artifacts SET title = 'renamed', content_hash = %s WHERE project_id = %s "
               "AND key = '9.1'", ("b" * 64, pid))
    db.execute("UPDATE artifacts SET status = 'Approved', commit_sha = 'c2' WHERE project_id = %s "
               "AND key = '9.1'", (pid,))
    db.execute("UPDATE artifacts SET deleted_at = now() WHERE project_id = %s AND key = '9.1'", (pid,))
    db.execute("UPDATE artifacts SET deleted_at = NULL WHERE project_id = %s AND key = '9.1'", (pid,))
    rows = db.execute("SELECT from_status, to_status, commit_sha FROM story_status_history WHERE "
                      "project_id = %s AND story_key = '9.1' ORDER BY id", (pid,)).fetchall()
    assert rows == [(None, "Draft", "c1"), ("Draft", "Approved", "c2"), (None, "Approved", "c2")]


def test_reports_as_resources_of_the_current_week(mcp, history, db):
    from test_mcp import rpc
    tok = token(history, REPORTS + " stories:read")
    p = history["project"]
    tpl = rpc(mcp, "resources/templates/list", {}, tok).json()["result"]["resourceTemplates"]
    assert "jive://reports/{project_id}/{report}" in [t["uriTemplate"] for t in tpl]
    r = rpc(mcp, "resources/read", {"uri": f"jive://reports/{p}/wip"}, tok).json()["result"]
    item = r["contents"][0]
    assert item["mimeType"] == "application/json" and item["uri"] == f"jive://reports/{p}/wip"
    weeks = json.loads(item["text"])["weeks"]
    assert len(weeks) == 1 and weeks[0]["in_progress"] == 1  # this week: 2.1 in progress
    r = rpc(mcp, "resources/read", {"uri": f"jive://reports/{p}/throughput"}, tok).json()["result"]
    assert json.loads(r["contents"][0]["text"])["weeks"][0]["done"] == 0
    for uri, code in ((f"jive://reports/{p}/free_sql", -32602),
                      (f"jive://reports/{uuid.uuid4()}/wip", -32602)):
        e = rpc(mcp, "resources/read", {"uri": uri}, tok).json()["error"]
        assert e["code"] == code and e["data"]["uri"] == uri, e
    e = rpc(mcp, "resources/read", {"uri": f"jive://reports/{p}/wip"},
            token(history, "stories:read")).json()["error"]
    assert e["code"] == -32003 and "reports:read" in e["message"]
