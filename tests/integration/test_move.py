# SPDX-License-Identifier: MIT
"""story-move: a status change committed and pushed to the origin repository with only the
Status line changed; traversal, symlinks, stale hashes and illegal statuses refused; concurrent
moves serialised."""
import hashlib
import json
import os
import tempfile

import pytest

from conftest import wait_for
from test_orchestrator import enqueue, job
from test_scan import V4, commit, git, orch, project_for, run_scan  # noqa: F401 (orch)
from test_webhook import new_project  # noqa: F401


@pytest.fixture
def origin():
    d = tempfile.mkdtemp(prefix="jive-origin-")
    git(d, "init", "-q", "-b", "main")
    git(d, "config", "receive.denyCurrentBranch", "updateInstead")
    commit(d, V4, "fixture")
    return d


@pytest.fixture
def project(db, origin, orch, webhook):
    p = project_for(db, "file://" + origin)
    run_scan(webhook, db, p["id"])
    return p


def move(webhook, db, pid, wait=True, **payload):
    jid = enqueue(webhook, {"queue": "story-move", "project_id": pid, "payload": payload})
    if wait:
        assert wait_for(lambda: job(db, jid)[0] in ("succeeded", "failed", "dead"), 30), job(db, jid)
    return jid


def changed_lines(repo, rev="HEAD"):
    diff = git(repo, "diff", "--unified=0", f"{rev}~1", rev)
    return [l for l in diff.splitlines() if l[:1] in "+-" and not l.startswith(("+++", "---"))]


def test_move_by_key_commits_only_the_status_line(project, origin, webhook, db, stack):
    sub = stack.redis.client().pubsub()
    sub.subscribe(f"project:{project['id']}")
    before = git(origin, "rev-parse", "HEAD")
    jid = move(webhook, db, project["id"], key="1.3", status="Done",
               actor={"id": "claude-7", "name": "Claude Code"})
    status, _, error, result, _, _ = job(db, jid)
    assert status == "succeeded", error
    assert result["from"] == "InProgress" and result["to"] == "Done"
    assert result["path"] == "docs/stories/1.3.cart.md"
    head = git(origin, "rev-parse", "HEAD")
    assert head == result["commit"] and git(origin, "rev-parse", "HEAD~1") == before
    assert git(origin, "diff", "--name-only", "HEAD~1", "HEAD") == "docs/stories/1.3.cart.md"
    assert changed_lines(origin) == ["-InProgress", "+Done"]
    assert git(origin, "log", "-1", "--format=%an|%s") == "Claude Code|Move story 1.3 to Done"
    text = open(os.path.join(origin, "docs/stories/1.3.cart.md"), "rb").read()
    assert result["content_hash"] == hashlib.sha256(text).hexdigest()
    row = db.execute("SELECT status, content_hash, commit_sha, content FROM artifacts "
                     "WHERE project_id = %s AND path = 'docs/stories/1.3.cart.md'",
                     (project["id"],)).fetchone()
    assert row == ("Done", result["content_hash"], head, text.decode())  # resources see the move
    got = None
    for _ in range(20):
        m = sub.get_message(timeout=0.5)
        if m and m["type"] == "message" and json.loads(m["data"])["type"] == "story.moved":
            got = json.loads(m["data"])
            break
    sub.close()
    assert got and got["data"]["commit"] == head and got["data"]["to"] == "Done"
    # moving it to where it already is changes nothing
    again = move(webhook, db, project["id"], path="docs/stories/1.3.cart.md", status="done")
    assert job(db, again)[3]["unchanged"] is True
    assert git(origin, "rev-parse", "HEAD") == head


@pytest.mark.parametrize("payload,needle", [
    ({"key": "1.1", "status": "Shipped"}, "illegal status 'Shipped'"),
    ({"path": "../../etc/passwd", "status": "Done"}, "is not a story file inside the repository"),
    ({"path": "/etc/passwd", "status": "Done"}, "is not a story file inside the repository"),
    ({"path": "docs/stories/../../src/cart.ts", "status": "Done"}, "is not a story file"),
    ({"path": "src/cart.ts", "status": "Done"}, "is not a story file"),
    ({"path": "docs/stories/7.7.nope.md", "status": "Done"}, "does not exist on main"),
    ({"key": "1.8", "status": "Done"}, "story key 1.8 is used by 2 files"),
    ({"key": "4.4", "status": "Done"}, "no story with key 4.4"),
    ({"status": "Done"}, "needs a path or a key"),
])
def test_refusals_leave_the_repository_alone(project, origin, webhook, db, payload, needle):
    head = git(origin, "rev-parse", "HEAD")
    jid = move(webhook, db, project["id"], **payload)
    status, attempts, error, _, history, _ = job(db, jid)
    assert status == "failed" and needle in error, error
    assert history[-1]["outcome"] == "rejected" and attempts == 1  # no retries
    assert git(origin, "rev-parse", "HEAD") == head


def test_symlink_story_is_refused(project, origin, webhook, db):
    os.symlink("/etc/passwd", os.path.join(origin, "docs/stories/9.9.evil.md"))
    head = commit(origin, {}, "a story that is a symlink")
    jid = move(webhook, db, project["id"], path="docs/stories/9.9.evil.md", status="Done")
    status, _, error, _, _, _ = job(db, jid)
    assert status == "failed" and "symbolic link" in error
    assert git(origin, "rev-parse", "HEAD") == head
    assert open("/etc/passwd").read().startswith("root:")


def test_stale_expected_hash_is_refused(project, origin, webhook, db):
    current = hashlib.sha256(open(os.path.join(origin, "docs/stories/1.2.approved.md"), "rb").read()).hexdigest()
    bad = move(webhook, db, project["id"], key="1.2", status="InProgress", expected_hash="0" * 64)
    assert job(db, bad)[0] == "failed" and "changed since it was read" in job(db, bad)[2]
    good = move(webhook, db, project["id"], key="1.2", status="InProgress", expected_hash=current)
    assert job(db, good)[0] == "succeeded"


def test_concurrent_moves_serialise(project, origin, webhook, db):
    head = git(origin, "rev-parse", "HEAD")
    jobs = [move(webhook, db, project["id"], wait=False, key=k, status=s)
            for k, s in (("1.1", "Approved"), ("1.2", "InProgress"), ("1.5", "Done"),
                         ("1.5", "Approved"))]
    assert wait_for(lambda: all(job(db, j)[0] == "succeeded" for j in jobs), 40), \
        [job(db, j)[:3] for j in jobs]
    commits = git(origin, "rev-list", f"{head}..HEAD").split()
    assert len(commits) == 4
    for c in commits:  # every commit changes one status line of one file
        assert len(git(origin, "diff", "--name-only", f"{c}~1", c).splitlines()) == 1
        assert len(changed_lines(origin, c)) == 2
    # the two moves of 1.5 both landed, one after the other: the newer one decides
    c_done, c_approved = job(db, jobs[2])[3]["commit"], job(db, jobs[3])[3]["commit"]
    newer = "Done" if commits.index(c_done) < commits.index(c_approved) else "Approved"
    final = open(os.path.join(origin, "docs/stories/1.5.review.md")).read()
    assert f"## Status\n{newer}\n" in final


def test_rejected_push_is_rebuilt_on_the_moved_branch_once(project, origin, webhook, db):
    # The first push meets a branch that moved (another agent pushed): the hook lands a commit
    # on main and refuses ours. The job fetches, rebuilds its one-line change on the new head,
    # and pushes again.
    hook = os.path.join(origin, ".git/hooks/pre-receive")
    marker = os.path.join(origin, ".git/jive-rejected-once")
    with open(hook, "w") as f:
        f.write(f"""#!/bin/sh
if [ ! -e {marker} ]; then
    touch {marker}
    unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    export GIT_AUTHOR_NAME=Other GIT_AUTHOR_EMAIL=other@example.com
    export GIT_COMMITTER_NAME=Other GIT_COMMITTER_EMAIL=other@example.com
    c=$(echo 'another agent' | git commit-tree 'main^{{tree}}' -p main) || exit 2
    git update-ref refs/heads/main "$c"
    echo 'the branch moved' >&2
    exit 1
fi
exit 0
""")
    os.chmod(hook, 0o755)
    head = git(origin, "rev-parse", "HEAD")
    jid = move(webhook, db, project["id"], key="1.6", status="Review")
    status, _, error, result, _, _ = job(db, jid)
    assert status == "succeeded", error
    assert os.path.exists(marker)  # the first push was refused
    log = git(origin, "log", "--format=%H %s", f"{head}..main").splitlines()
    assert len(log) == 2 and log[0].startswith(result["commit"]) and log[1].endswith("another agent")
    assert changed_lines(origin, "main") == ["-Done ✅", "+Review"]
