# SPDX-License-Identifier: MIT
"""artifact-scan, gate-evaluation and conflict-detection against git repositories made by the
fixtures (v4 and v6 BMAD layouts), end to end from a signed push delivery."""
import json
import os
import subprocess
import tempfile
import time

import pytest

from conftest import wait_for
from test_orchestrator import FAST, enqueue, job
from test_webhook import deliver, example, examples, new_project, sign  # noqa: F401

STORY = """# Story {key}: {title}

## Status
{status}

## Tasks / Subtasks
{tasks}

## Dev Agent Record
### File List
{files}
"""


def story(key, title, status, files=(), tasks=("- [x] one", "- [ ] two")):
    return STORY.format(key=key, title=title, status=status, tasks="\n".join(tasks),
                        files="\n".join(f"- `{f}` - changed" for f in files))


def gate(key, decision, expires="2099-01-01T00:00:00Z", extra=""):
    return (f'schema: 1\nstory: "{key}"\ngate: {decision}  # decided\nstatus_reason: "why {key}"\n'
            f"reviewer: Quinn\nupdated: 2026-11-01T10:00:00Z\nexpires: {expires}\n"
            f"quality_score: 80\ntop_issues: []\n{extra}")


V4 = {
    "docs/prd.md": "# Shop PRD\n\n## Goals\n- sell\n",
    "docs/architecture.md": "# Shop Architecture\n",
    "docs/prd/epic-1-cart.md": "# Epic 1: Cart\n",
    "docs/stories/1.1.draft-story.md": story("1.1", "Draft story", "Draft"),
    "docs/stories/1.2.approved.md": story("1.2", "Approved story", "Approved"),
    "docs/stories/1.3.cart.md": story("1.3", "Cart", "InProgress", ["src/cart.ts", "src/money.ts"]),
    "docs/stories/1.4.checkout.md": story("1.4", "Checkout", "In Progress", ["src/checkout.ts", "src/money.ts"]),
    "docs/stories/1.5.review.md": story("1.5", "Review me", "Ready for Review"),
    "docs/stories/1.6.done.md": story("1.6", "Shipped", "Done ✅"),
    "docs/stories/1.7.failed-gate.md": story("1.7", "Shipped badly", "Done"),
    "docs/stories/1.8.expired-gate.md": story("1.8", "Shipped long ago", "Complete"),
    "docs/stories/1.8.duplicate.md": story("1.8", "Same key again", "Draft"),
    "docs/qa/gates/1.5-review.yml": gate("1.5", "CONCERNS"),
    "docs/qa/gates/1.6-done.yml": gate("1.6", "PASS"),
    "docs/qa/gates/1.7-failed.yml": gate("1.7", "FAIL"),
    "docs/qa/gates/1.8-expired.yml": gate("1.8", "PASS", expires="2020-01-01T00:00:00Z"),
    "docs/qa/gates/1.2-waived.yml": "decision: WAIVED\nwaiver:\n  active: true\n  reason: later\n",
    "docs/qa/gates/9.9-broken.yml": "gate: PASS\n  oops: [unclosed\n",
    "src/cart.ts": "export const cart = 1;\n",
}

V6 = {
    "_bmad-output/planning-artifacts/prd.md": "# PRD v6\n",
    "_bmad-output/planning-artifacts/architecture.md": "# Architecture v6\n",
    "_bmad-output/implementation-artifacts/1-1-setup.md": story("1.1", "Setup", "done"),
    "_bmad-output/implementation-artifacts/1-2-auth.md": story("1.2", "Auth", "review"),
    "_bmad-output/implementation-artifacts/sprint-status.yaml":
        "development_status:\n  epic-1: contexted\n  1-1-setup: done\n  1-2-auth: in-progress\n",
}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def write(repo, files):
    for path, text in files.items():
        full = os.path.join(repo, path)
        if text is None:
            os.remove(full)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)


def commit(repo, files, message):
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=Agent", "-c", "user.email=agent@example.com", "commit", "-q",
        "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo():
    d = tempfile.mkdtemp(prefix="jive-repo-")
    git(d, "init", "-q", "-b", "main")
    return d


@pytest.fixture
def orch(spawn, tmp_path):
    return spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"), **FAST)


def project_for(db, repo_url, branch="main"):
    p = new_project(db, repo_url=repo_url, branch=branch)
    return p


def live(db, pid):
    return {r[0]: r[1:] for r in db.execute(
        "SELECT path, kind, key, status, content_hash, meta FROM artifacts "
        "WHERE project_id = %s AND deleted_at IS NULL", (pid,)).fetchall()}


def open_conflicts(db, pid):
    return {r[0]: r[1:] for r in db.execute(
        "SELECT fingerprint, kind, severity, details FROM conflicts "
        "WHERE project_id = %s AND resolved_at IS NULL", (pid,)).fetchall()}


def run_scan(webhook, db, pid, payload=None, queue="artifact-scan"):
    jid = enqueue(webhook, {"queue": queue, "project_id": pid, "payload": payload or {}})
    assert wait_for(lambda: job(db, jid)[0] in ("succeeded", "dead"), 30), job(db, jid)
    assert job(db, jid)[0] == "succeeded", job(db, jid)
    return job(db, jid)[3]


def test_full_scan_of_v4_repository(orch, webhook, repo, db):
    head = commit(repo, V4, "BMAD v4 fixture")
    p = project_for(db, "file://" + repo)
    result = run_scan(webhook, db, p["id"])
    assert result["mode"] == "full" and result["commit"] == head
    arts = live(db, p["id"])
    assert "src/cart.ts" not in arts
    assert arts["docs/prd.md"][:3] == ("prd", None, None)
    assert arts["docs/architecture.md"][0] == "architecture"
    assert arts["docs/prd/epic-1-cart.md"][0] == "epic"
    statuses = {path: (key, status) for path, (kind, key, status, *_ ) in arts.items() if kind == "story"}
    assert statuses == {
        "docs/stories/1.1.draft-story.md": ("1.1", "Draft"),
        "docs/stories/1.2.approved.md": ("1.2", "Approved"),
        "docs/stories/1.3.cart.md": ("1.3", "InProgress"),
        "docs/stories/1.4.checkout.md": ("1.4", "InProgress"),
        "docs/stories/1.5.review.md": ("1.5", "Review"),
        "docs/stories/1.6.done.md": ("1.6", "Done"),
        "docs/stories/1.7.failed-gate.md": ("1.7", "Done"),
        "docs/stories/1.8.expired-gate.md": ("1.8", "Done"),
        "docs/stories/1.8.duplicate.md": ("1.8", "Draft"),
    }
    meta = arts["docs/stories/1.3.cart.md"][4]
    assert meta["files"] == ["src/cart.ts", "src/money.ts"]
    assert meta["tasks_total"] == 2 and meta["tasks_done"] == 1 and meta["raw_status"] == "InProgress"
    gates = {r[0]: r[1:] for r in db.execute(
        "SELECT story_key, decision, quality_score, expires_at < now(), waiver IS NOT NULL "
        "FROM gates WHERE project_id = %s AND deleted_at IS NULL", (p["id"],)).fetchall()}
    assert gates == {"1.5": ("CONCERNS", 80, False, False), "1.6": ("PASS", 80, False, False),
                     "1.7": ("FAIL", 80, False, False), "1.8": ("PASS", 80, True, False),
                     "1.2": ("WAIVED", None, None, True),
                     # libyaml refuses it; its top-level gate: line still decides
                     "9.9": ("PASS", None, None, False)}
    # the broken gate file is reported, not fatal, and still one gate row
    assert [e["path"] for e in result["errors"]] == ["docs/qa/gates/9.9-broken.yml"]
    assert "invalid YAML" in arts["docs/qa/gates/9.9-broken.yml"][4]["parse_error"]
    conflicts = open_conflicts(db, p["id"])
    # 1.8's gate has expired: that is no finding (gates_list marks it, status_get counts it)
    assert set(conflicts) == {"file_overlap:1.3|1.4", "duplicate_key:1.8", "gate_violation:1.7"}
    assert conflicts["file_overlap:1.3|1.4"][2]["files"] == ["src/money.ts"]
    assert conflicts["gate_violation:1.7"][1] == "critical"
    assert result["conflicts_opened"] == 3
    # the same scan again changes nothing and announces nothing
    again = run_scan(webhook, db, p["id"], {"full": True})
    assert (again["changed"], again["deleted"], again["gates_changed"],
            again["conflicts_opened"], again["conflicts_resolved"]) == (0, 0, 0, 0, 0)


def test_v6_layout_and_sprint_status_disagreement(orch, webhook, repo, db):
    commit(repo, V6, "BMAD v6 fixture")
    p = project_for(db, repo)  # a plain local path works like a URL
    run_scan(webhook, db, p["id"])
    arts = live(db, p["id"])
    assert arts["_bmad-output/implementation-artifacts/1-1-setup.md"][1:3] == ("1.1", "Done")
    assert arts["_bmad-output/implementation-artifacts/1-2-auth.md"][1:3] == ("1.2", "Review")
    assert arts["_bmad-output/planning-artifacts/prd.md"][0] == "prd"
    sprint = arts["_bmad-output/implementation-artifacts/sprint-status.yaml"][4]["sprint_status"]
    assert sprint == {"1.1": "Done", "1.2": "InProgress"}
    conflicts = open_conflicts(db, p["id"])
    assert set(conflicts) == {"status_mismatch:1.2"}
    assert conflicts["status_mismatch:1.2"][2] == {"story": "1.2", "file_status": "Review",
                                                   "sprint_status": "InProgress"}


def push_payload(examples, before, after, added=(), modified=(), removed=()):
    p = example(examples, "push", pick=lambda e: e["ref"] == "refs/heads/master" and e["commits"])
    p["ref"] = "refs/heads/main"
    p["before"], p["after"] = before, after
    p["created"] = p["forced"] = False
    c = dict(p["commits"][0], id=after, added=list(added), modified=list(modified),
             removed=list(removed))
    p["commits"] = [c]
    p["head_commit"] = c
    return p


def test_push_delivery_scans_incrementally_and_matches_full_scan(orch, webhook, repo, db, stack,
                                                                  examples):
    first = commit(repo, V4, "fixture")
    p = project_for(db, "file://" + repo)
    run_scan(webhook, db, p["id"])  # first sight: full
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{p['id']}")
    second = commit(repo, {
        "docs/stories/1.4.checkout.md": story("1.4", "Checkout", "Done", ["src/checkout.ts", "src/money.ts"]),
        "docs/stories/2.1.new.md": story("2.1", "New story", "Approved"),
        "docs/stories/1.8.duplicate.md": None,
    }, "move 1.4 to Done, add 2.1, drop the duplicate")
    payload = push_payload(examples, first, second,
                           added=["docs/stories/2.1.new.md"],
                           modified=["docs/stories/1.4.checkout.md", "README.md"],
                           removed=["docs/stories/1.8.duplicate.md"])
    t0 = time.time()
    r = deliver(webhook, p["id"], "push", payload, p["secret"])
    assert r.status_code == 202
    jid = r.json()["jobs"][0]
    events = []
    while time.time() - t0 < 20 and not any(e["type"] == "job.succeeded" for e in events):
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message":
            events.append(json.loads(m["data"]))
    sub.close()
    result = job(db, jid)[3]
    assert result["mode"] == "incremental" and result["files"] == 2 and result["commit"] == second
    changed = sorted((e["data"]["path"], e["data"]["change"]) for e in events if e["type"] == "artifact.changed")
    assert changed == [("docs/stories/1.4.checkout.md", "modified"),
                       ("docs/stories/1.8.duplicate.md", "deleted"),
                       ("docs/stories/2.1.new.md", "added")]
    types = [e["type"] for e in events]
    assert types.index("webhook.received") < types.index("artifact.changed") < types.index("job.succeeded")
    # 1.4 is no longer in progress: the overlap resolves; the duplicate key is gone too
    resolved = {e["data"]["fingerprint"] for e in events if e["type"] == "conflict.resolved"}
    assert resolved == {"file_overlap:1.3|1.4", "duplicate_key:1.8"}
    assert set(open_conflicts(db, p["id"])) == {"gate_violation:1.7"}

    # a full scan of the same commit by another project (a clone: one repository belongs to
    # one project) gives the same rows
    mirror = tempfile.mkdtemp(prefix="jive-mirror-")
    subprocess.run(["git", "clone", "-q", repo, mirror], check=True)
    q = project_for(db, mirror)
    run_scan(webhook, db, q["id"])
    strip = lambda arts: {k: v[:4] for k, v in arts.items()}  # noqa: E731 (path -> kind, key, status, hash)
    assert strip(live(db, p["id"])) == strip(live(db, q["id"]))


def test_document_text_is_kept_for_resources_within_limits(orch, webhook, repo, db):
    big = "# Notes\n\n" + "x" * (300 * 1024)
    commit(repo, {"docs/prd.md": "# PRD\n\nShip the cart.\n",
                  "docs/architecture.md": big,
                  "docs/stories/1.1.ok.md": story("1.1", "Fine", "Draft")}, "docs")
    with open(os.path.join(repo, "docs/stories/1.2.latin1.md"), "wb") as f:
        f.write(b"# Story 1.2: Caf\xe9\n\n## Status\nDraft\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "-m", "latin1")
    p = project_for(db, "file://" + repo)
    result = run_scan(webhook, db, p["id"])
    assert any(e["path"] == "docs/stories/1.2.latin1.md" and "UTF-8" in e["error"]
               for e in result["errors"]), result
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT path, content, meta->>'parse_error', kind FROM artifacts WHERE project_id = %s",
        (p["id"],)).fetchall()}
    assert rows["docs/prd.md"][0] == "# PRD\n\nShip the cart.\n"
    assert rows["docs/stories/1.1.ok.md"][0] == story("1.1", "Fine", "Draft")
    assert rows["docs/architecture.md"][0] is None and rows["docs/architecture.md"][2] == "architecture"
    # a file Postgres cannot hold as text is still listed, with its error, and no text
    assert rows["docs/stories/1.2.latin1.md"] == (None, "not UTF-8 text", "story")


def test_gate_evaluation_and_agent_overlap(orch, webhook, repo, db):
    commit(repo, V4, "fixture")
    p = project_for(db, "file://" + repo)
    result = run_scan(webhook, db, p["id"], queue="gate-evaluation")
    assert result["mode"] == "gates"
    kinds = {r[0] for r in db.execute("SELECT DISTINCT kind FROM artifacts WHERE project_id = %s",
                                      (p["id"],))}
    assert kinds == {"qa_gate"}
    # every gate file is one gate row, the broken one too
    assert db.execute("SELECT count(*) FROM gates WHERE project_id = %s AND deleted_at IS NULL",
                      (p["id"],)).fetchone()[0] == 6
    for agent in ("claude", "cursor"):
        db.execute("INSERT INTO agent_status (org_id, project_id, agent_id, agent_name, story_key, state) "
                   "VALUES (%s, %s, %s, %s, '1.3', 'working')", (p["org_id"], p["id"], agent, agent))
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert out["opened"] >= 1
    c = open_conflicts(db, p["id"])["agent_overlap:1.3"]
    assert c[0] == "agent_overlap" and c[2]["agents"] == ["claude", "cursor"]
    db.execute("UPDATE agent_status SET state = 'done' WHERE project_id = %s AND agent_id = 'cursor'", (p["id"],))
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert out["resolved"] == 1 and "agent_overlap:1.3" not in open_conflicts(db, p["id"])


def test_conflict_detection_writes_only_a_change(orch, webhook, db):
    """Detection skips its write when the findings are exactly the open conflicts; the same
    number of findings under other fingerprints is still a change (one resolved, one opened)."""
    p = project_for(db, "file:///no/repository/needed")

    def agents(story):
        db.execute("DELETE FROM agent_status WHERE project_id = %s", (p["id"],))
        for agent in ("claude", "cursor"):
            db.execute("INSERT INTO agent_status (org_id, project_id, agent_id, agent_name, "
                       "story_key, state) VALUES (%s, %s, %s, %s, %s, 'working')",
                       (p["org_id"], p["id"], agent, agent, story))

    def rows():
        return sorted(db.execute("SELECT fingerprint, opened_at, resolved_at IS NULL FROM conflicts "
                                 "WHERE project_id = %s", (p["id"],)).fetchall())

    agents("1.3")
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert (out["opened"], out["resolved"]) == (1, 0)
    before = rows()
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert (out["opened"], out["resolved"]) == (0, 0) and rows() == before
    agents("1.4")  # one finding still, another fingerprint
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert (out["opened"], out["resolved"]) == (1, 1)
    assert set(open_conflicts(db, p["id"])) == {"agent_overlap:1.4"}
    agents("1.3")  # back: the resolved one reopens
    out = run_scan(webhook, db, p["id"], queue="conflict-detection")
    assert (out["opened"], out["resolved"]) == (1, 1)
    assert set(open_conflicts(db, p["id"])) == {"agent_overlap:1.3"}


def test_unknown_repository_fails_then_dies(orch, webhook, db):
    p = project_for(db, "file:///no/such/repository")
    jid = enqueue(webhook, {"queue": "artifact-scan", "project_id": p["id"]})
    assert wait_for(lambda: job(db, jid)[0] == "dead", 20), job(db, jid)
    assert "updating the workspace" in job(db, jid)[2]


def test_jivectl_scan_queues_a_full_scan_through_the_outbox(orch, webhook, repo, db, stack):
    from conftest import run_bin
    commit(repo, V6, "fixture")
    p = project_for(db, repo)
    out = run_bin("jivectl", stack.env(), "scan", p["id"])
    assert out.returncode == 0, out.stderr
    jid = out.stdout.strip()
    assert "full artifact-scan" in out.stderr
    assert wait_for(lambda: job(db, jid)[0] == "succeeded", 20), job(db, jid)
    assert job(db, jid)[3]["mode"] == "full"
    gates = run_bin("jivectl", stack.env(), "scan", p["id"], "--gates", "yes")
    assert gates.returncode == 0
    assert wait_for(lambda: job(db, gates.stdout.strip())[3] is not None, 20)
    assert job(db, gates.stdout.strip())[3]["mode"] == "gates"
    missing = run_bin("jivectl", stack.env(), "scan", "no-such-project")
    assert missing.returncode == 1 and "no project 'no-such-project'" in missing.stderr
