# SPDX-License-Identifier: MIT
"""Retention. Jobs: only succeeded jobs older than the retention go, by jivectl jobs prune and by
jive-orchestrator on its schedule; the outbox (queued), running, failed and dead jobs, and
everything inside the window, stay. The audit log and webhook payloads: day partitions made a
week ahead, whole days past retention dropped, nothing inside the window lost, and no payload an
unfinished job needs."""
import uuid

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


def partitions(db, table):
    return {r[0] for r in db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass", (table,)).fetchall()}


def day_name(db, table, ago):
    return db.execute("SELECT %s || '_p' || to_char((now() - %s::interval) AT TIME ZONE 'UTC', "
                      "'YYYYMMDD')", (table, ago)).fetchone()[0]


def test_partitions_are_there_a_week_ahead_from_the_migration(db):
    for table in ("mcp_audit_logs", "webhook_payloads"):
        have = partitions(db, table)
        assert table + "_default" in have
        for ahead in range(8):
            assert day_name(db, table, f"-{ahead} days") in have, (table, ahead)


def audit(db, ago, rid):
    db.execute("INSERT INTO mcp_audit_logs (entry_id, actor_type, tool, result, request_id, "
               "\"timestamp\") VALUES (gen_random_uuid(), 'agent', 'status_get', 'success', %s, "
               "now() - %s::interval)", (rid, ago))


def event(db, project, ago, delivery, job_status=None):
    db.execute("INSERT INTO webhook_events (id, org_id, project_id, event_type, payload_hash, "
               "received_at) VALUES (%s, %s, %s, 'workflow_run', 'h', now() - %s::interval)",
               (delivery, project["org_id"], project["id"], ago))
    db.execute("INSERT INTO webhook_payloads (event_id, received_at, payload) SELECT id, "
               "received_at, '{\"workflow_run\": {}}' FROM webhook_events WHERE id = %s",
               (delivery,))
    if job_status:
        db.execute("INSERT INTO jobs (org_id, project_id, queue, status, event_id) VALUES "
                   "(%s, %s, 'run-sync', %s, %s)",
                   (project["org_id"], project["id"], job_status, delivery))


def test_the_orchestrator_drops_whole_days_past_retention(spawn, db, tmp_path):
    """Ten days kept: the days before go as whole partitions (rows the default partition caught
    included), every row inside the window stays, to the hour at its edge; a payload an
    unfinished job still needs stays past retention."""
    p = new_project(db)
    tag = str(uuid.uuid4())
    ages = {"old": "12 days", "edge_out": "11 days", "edge_in": "10 days - 1 hour",
            "recent": "2 days", "now": "0 seconds"}
    for name, ago in ages.items():
        audit(db, ago, f"{tag}-{name}")
    # caught by the default partition: no partition exists that far back
    assert db.execute("SELECT tableoid::regclass::text FROM mcp_audit_logs WHERE request_id = "
                      "%s", (f"{tag}-old",)).fetchone()[0] == "mcp_audit_logs_default"
    event(db, p, "12 days", f"{tag}-dead", "dead")          # a dead letter's payload
    event(db, p, "13 days", f"{tag}-done", "succeeded")     # seen to
    event(db, p, "11 days", f"{tag}-bare")                  # no job at all
    event(db, p, "10 days - 1 hour", f"{tag}-edge")
    event(db, p, "1 day", f"{tag}-recent", "queued")

    spawn("jive-orchestrator", JIVE_WORKSPACE_DIR=str(tmp_path / "ws"),
          JIVE_AUDIT_RETENTION_DAYS="10", JIVE_EVENT_RETENTION_DAYS="10",
          JIVE_RETENTION_INTERVAL_MS="1000")

    def audit_left():
        return {r[0][len(tag) + 1:] for r in db.execute(
            "SELECT request_id FROM mcp_audit_logs WHERE request_id LIKE %s", (tag + "%",))}

    def payloads_left():
        return {r[0][len(tag) + 1:] for r in db.execute(
            "SELECT event_id FROM webhook_payloads WHERE event_id LIKE %s", (tag + "%",))}

    assert wait_for(lambda: "edge_out" not in audit_left() and "done" not in payloads_left(), 20)
    assert audit_left() == {"edge_in", "recent", "now"}
    assert payloads_left() == {"dead", "edge", "recent"}
    for table, gone in (("mcp_audit_logs", "12 days"), ("mcp_audit_logs", "11 days"),
                        ("webhook_payloads", "13 days"), ("webhook_payloads", "11 days")):
        assert day_name(db, table, gone) not in partitions(db, table), (table, gone)
    assert day_name(db, "webhook_payloads", "12 days") in partitions(db, "webhook_payloads")
    for table in ("mcp_audit_logs", "webhook_payloads"):  # the default ends the round empty
        assert db.execute(f"SELECT count(*) FROM {table}_default").fetchone()[0] == 0
    # the event rows themselves stay (the delivery ids deduplicate redeliveries)
    assert db.execute("SELECT count(*) FROM webhook_events WHERE id LIKE %s",
                      (tag + "%",)).fetchone()[0] == 5


def test_jivectl_retention(stack, db):
    env = stack.env()
    p = run_bin("jivectl", env, "retention", "--run", "yes")
    assert p.returncode == 0, p.stderr
    assert "mcp_audit_logs: created " in p.stdout and "webhook_payloads: " in p.stdout
    assert "days kept: 365" in p.stdout and "days kept: 30" in p.stdout
    p = run_bin("jivectl", env, "retention", "--run", "maybe")
    assert p.returncode == 1 and "--run is yes or no" in p.stderr
