# SPDX-License-Identifier: MIT
"""Job retention: only succeeded jobs older than the retention go, by jivectl jobs prune and by
jive-orchestrator on its schedule; the outbox (queued), running, failed and dead jobs, and
everything inside the window, stay."""
import pytest

from conftest import run_bin, wait_for
from test_webhook import new_project


def seed(db, project, status, days_ago):
    return str(db.execute(
        "INSERT INTO jobs (org_id, project_id, queue, status, finished_at, created_at) VALUES "
        "(%s, %s, 'conflict-detection', %s, now() - make_interval(days => %s), now() - "
        "make_interval(days => %s)) RETURNING id",
        (project["org_id"], project["id"], status, days_ago, days_ago)).fetchone()[0])


def kinds(db, ids):
    return {r[0] for r in db.execute("SELECT id::text FROM jobs WHERE id = ANY(%s::uuid[])",
                                     (list(ids.values()),)).fetchall()}


@pytest.fixture
def jobs(db):
    p = new_project(db)
    ids = {"old_ok": seed(db, p, "succeeded", 40), "new_ok": seed(db, p, "succeeded", 5),
           "old_dead": seed(db, p, "dead", 40), "old_failed": seed(db, p, "failed", 40),
           "old_queued": seed(db, p, "queued", 40), "old_running": seed(db, p, "running", 40)}
    return ids


def test_jivectl_jobs_prune(stack, db, jobs):
    env = stack.env()
    p = run_bin("jivectl", env, "jobs", "prune", "--older-than", "30", "--dry-run", "yes")
    assert p.returncode == 0 and p.stdout.startswith("would prune "), p.stdout
    assert jobs["old_ok"] in kinds(db, jobs)
    p = run_bin("jivectl", env, "jobs", "prune", "--older-than", "30")
    assert p.returncode == 0 and p.stdout.startswith("pruned "), p.stderr
    left = kinds(db, jobs)
    assert jobs["old_ok"] not in left
    assert left == {v for k, v in jobs.items() if k != "old_ok"}
    p = run_bin("jivectl", env, "jobs", "prune", "--older-than", "soon")
    assert p.returncode == 1 and "number of days" in p.stderr


def test_the_orchestrator_prunes_on_schedule(spawn, db, jobs, tmp_path):
    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"), JIVE_JOB_RETENTION_DAYS="30",
          JIVE_RETENTION_INTERVAL_MS="1000")
    assert wait_for(lambda: jobs["old_ok"] not in kinds(db, jobs), 15)
    assert kinds(db, jobs) == {v for k, v in jobs.items() if k != "old_ok"}
