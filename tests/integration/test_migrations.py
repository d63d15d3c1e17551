# SPDX-License-Identifier: MIT
"""jivectl migrate: ordered, once, transactional; refuses unknown or edited migrations. The
schema isolates tenants by row-level security for the runtime role."""
import re
import uuid

import psycopg
import pytest

from conftest import ROOT, run_bin


@pytest.fixture
def fresh_db(stack):
    name = "m_" + uuid.uuid4().hex[:12]
    return stack.pg.create_db(name)


def migrate(stack, dsn, *args):
    return run_bin("jivectl", stack.env(DATABASE_URL=dsn), "migrate", *args)


def test_migrations_apply_once_and_second_run_is_noop(stack, fresh_db):
    p = migrate(stack, fresh_db)
    assert p.returncode == 0, p.stderr
    files = sorted(f.name for f in (ROOT / "schema").glob("[0-9][0-9][0-9]_*.sql"))
    assert p.stdout.splitlines() == [f"applied {f}" for f in files]
    p = migrate(stack, fresh_db)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "schema is up to date"
    with psycopg.connect(fresh_db) as c:
        rows = c.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == files


def test_refuses_database_with_unknown_migration(stack, fresh_db):
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db) as c:
        c.execute("INSERT INTO schema_migrations (version, checksum) VALUES ('999_future.sql', 'x')")
    p = migrate(stack, fresh_db)
    assert p.returncode == 1
    assert "999_future.sql" in p.stderr and "refusing" in p.stderr


def test_refuses_edited_migration(stack, fresh_db):
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '001_init.sql'")
    p = migrate(stack, fresh_db)
    assert p.returncode == 1
    assert "001_init.sql changed after it was applied" in p.stderr


def test_a_migration_edited_in_its_comments_names_the_checksum_it_supersedes(stack, fresh_db):
    """A database migrated before 001_init.sql's header comment changed records the old checksum;
    the file names it in a '-- supersedes sha256' line, so the database migrates on, and an
    unrelated checksum is still refused."""
    old = "2f78c4910f11474a3f24426499e2043f9876c52b44b0592c0038a7789057975d"
    assert f"-- supersedes sha256 {old}" in (ROOT / "schema" / "001_init.sql").read_text()
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE schema_migrations SET checksum = %s WHERE version = '001_init.sql'",
                  (old,))
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE schema_migrations SET checksum = %s WHERE version = '001_init.sql'",
                  (old[:-1] + "0",))
    p = migrate(stack, fresh_db)
    assert p.returncode == 1 and "001_init.sql changed after it was applied" in p.stderr


def test_failed_migration_rolls_back_and_names_file(stack, fresh_db, tmp_path):
    for f in (ROOT / "schema").glob("*.sql"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "900_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_function();\n")
    p = migrate(stack, fresh_db, "--dir", str(tmp_path))
    assert p.returncode == 1
    assert "900_broken.sql failed" in p.stderr
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
        versions = [r[0] for r in c.execute("SELECT version FROM schema_migrations")]
    assert "900_broken.sql" not in versions and "001_init.sql" in versions


def test_missing_database_url_for_migrate(stack):
    p = run_bin("jivectl", stack.env(DATABASE_URL=None), "migrate")
    assert p.returncode == 1
    assert "DATABASE_URL: required, not set" in p.stderr


def seed_two_orgs(dsn):
    with psycopg.connect(dsn) as c:
        a = c.execute("INSERT INTO orgs (slug, name) VALUES ('org-a', 'A') RETURNING id").fetchone()[0]
        b = c.execute("INSERT INTO orgs (slug, name) VALUES ('org-b', 'B') RETURNING id").fetchone()[0]
        for org, n in ((a, "a"), (b, "b")):
            p = c.execute("INSERT INTO projects (org_id, name, repo_url, webhook_secret) "
                          "VALUES (%s, %s, %s, repeat('s', 32)) RETURNING id",
                          (org, f"proj-{n}", f"https://github.com/x/{n}")).fetchone()[0]
            c.execute("INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, summary) "
                      "VALUES (%s, %s, 'file_overlap', %s, 'high', 'x')", (org, p, f"fp-{n}"))
    return a, b


def test_runtime_role_sees_only_its_org(stack, fresh_db):
    assert migrate(stack, fresh_db).returncode == 0
    a, b = seed_two_orgs(fresh_db)
    # autocommit: each c.transaction() below is a real transaction, so SET LOCAL ends with it
    with psycopg.connect(fresh_db, autocommit=True) as c:
        role = c.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'jive_runtime'").fetchone()
        assert role == (False, False)
        owner = c.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'projects'").fetchone()[0]
        assert owner != "jive_runtime"
        # every tenant table has RLS enabled, partitioned tables and their partitions too
        tables = c.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relnamespace = 'public'::regnamespace "
            "AND relname <> 'schema_migrations' AND NOT relrowsecurity").fetchall()
        assert tables == []
        with c.transaction():
            c.execute("SET LOCAL ROLE jive_runtime")
            c.execute("SELECT set_config('jive.org_id', %s, true)", (str(a),))
            names = [r[0] for r in c.execute("SELECT name FROM projects")]
            assert names == ["proj-a"]
            # a forgotten WHERE cannot leak the other tenant's conflicts
            fps = [r[0] for r in c.execute("SELECT fingerprint FROM conflicts")]
            assert fps == ["fp-a"]
        with c.transaction():
            c.execute("SET LOCAL ROLE jive_runtime")
            assert c.execute("SELECT count(*) FROM projects").fetchone()[0] == 0  # no tenant set
        # the partitioned audit log: through the parent, only the org's rows; a day partition
        # or a payload table read directly: refused
        c.execute("INSERT INTO mcp_audit_logs (org_id, actor_type, tool, result) VALUES "
                  "(%s, 'agent', 't', 'success'), (%s, 'agent', 't', 'success')", (a, b))
        with c.transaction():
            c.execute("SET LOCAL ROLE jive_runtime")
            c.execute("SELECT set_config('jive.org_id', %s, true)", (str(a),))
            assert c.execute("SELECT org_id FROM mcp_audit_logs").fetchall() == [(a,)]
        today = c.execute("SELECT 'mcp_audit_logs_p' || to_char(now() AT TIME ZONE 'UTC', "
                          "'YYYYMMDD')").fetchone()[0]
        for direct in (today, "mcp_audit_logs_default", "webhook_payloads"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with c.transaction():
                    c.execute("SET LOCAL ROLE jive_runtime")
                    c.execute("SELECT set_config('jive.org_id', %s, true)", (str(a),))
                    c.execute(f"SELECT count(*) FROM {direct}")
        pb = c.execute("SELECT id FROM projects WHERE org_id = %s", (b,)).fetchone()[0]
        # writing a row into another tenant is refused by the policy's WITH CHECK
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with c.transaction():
                c.execute("SET LOCAL ROLE jive_runtime")
                c.execute("SELECT set_config('jive.org_id', %s, true)", (str(a),))
                c.execute("INSERT INTO jobs (org_id, project_id, queue) VALUES (%s, %s, 'story-move')",
                          (b, pb))


def test_constraints_reject_bad_rows(stack, fresh_db):
    assert migrate(stack, fresh_db).returncode == 0
    a, _ = seed_two_orgs(fresh_db)
    with psycopg.connect(fresh_db) as c:
        pid = c.execute("SELECT id FROM projects WHERE org_id = %s", (a,)).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation):
            with c.transaction():
                c.execute("INSERT INTO jobs (org_id, project_id, queue) VALUES (%s, %s, 'nope')", (a, pid))
        with pytest.raises(psycopg.errors.UniqueViolation):
            with c.transaction():
                c.execute("INSERT INTO conflicts (org_id, project_id, kind, fingerprint, severity, summary) "
                          "VALUES (%s, %s, 'file_overlap', 'fp-a', 'high', 'dup')", (a, pid))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            with c.transaction():
                # a row whose org does not own the project
                c.execute("INSERT INTO artifacts (org_id, project_id, path, kind) "
                          "VALUES (gen_random_uuid(), %s, 'docs/prd.md', 'prd')", (pid,))


def migrate_before(stack, dsn, tmp_path, version):
    """Migrates dsn with the migrations older than version only: an installation to upgrade."""
    before = tmp_path / "schema"
    before.mkdir()
    for f in (ROOT / "schema").glob("[0-9][0-9][0-9]_*.sql"):
        if f.name < version:
            (before / f.name).write_text(f.read_text())
    p = run_bin("jivectl", stack.env(DATABASE_URL=dsn, JIVE_SCHEMA_DIR=str(before)), "migrate")
    assert p.returncode == 0, p.stderr


def test_018_moves_existing_audit_rows_and_payloads_into_day_partitions(stack, fresh_db, tmp_path):
    """An installation upgraded to the partitioned tables keeps every row: audit rows land in
    their day's partition with their ids, payloads leave webhook_events for webhook_payloads, and
    new audit ids continue after the old ones."""
    migrate_before(stack, fresh_db, tmp_path, "018")
    a, _ = seed_two_orgs(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        pid = c.execute("SELECT id FROM projects WHERE org_id = %s", (a,)).fetchone()[0]
        c.execute("INSERT INTO mcp_audit_logs (entry_id, org_id, actor_type, tool, result, "
                  "\"timestamp\") SELECT gen_random_uuid(), %s, 'agent', 'status_get', 'success', "
                  "now() - make_interval(days => g) FROM generate_series(0, 40, 20) g", (a,))
        c.execute("INSERT INTO webhook_events (id, org_id, project_id, event_type, payload, "
                  "payload_hash, received_at) VALUES ('d-1', %s, %s, 'push', '{\"n\": 1}', 'h', "
                  "now() - interval '5 days')", (a, pid))
        audit = c.execute("SELECT id, \"timestamp\" FROM mcp_audit_logs ORDER BY id").fetchall()
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db, autocommit=True) as c:
        rows = c.execute("SELECT id, \"timestamp\", tableoid::regclass::text = 'mcp_audit_logs_p' "
                         "|| to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYYMMDD') "
                         "FROM mcp_audit_logs ORDER BY id").fetchall()
        assert [(i, t) for i, t, _ in rows] == audit and all(own for _, _, own in rows)
        assert c.execute("SELECT payload, tableoid::regclass::text FROM webhook_payloads "
                         "WHERE event_id = 'd-1'").fetchone()[0] == {"n": 1}
        assert c.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                         "'webhook_events' AND column_name = 'payload'").fetchone()[0] == 0
        new = c.execute("INSERT INTO mcp_audit_logs (actor_type, tool, result) VALUES "
                        "('agent', 't', 'success') RETURNING id").fetchone()[0]
        assert new > max(i for i, _ in audit)


# what a job's claim and completion change: no index may read them, or those updates stop
# being heap-only (every index gets a new entry twice a job)
JOB_STATE = ("status", "attempts", "max_attempts", "started_at", "finished_at", "updated_at",
             "worker", "result", "error", "history", "run_after")


def test_no_index_on_jobs_reads_what_a_claim_or_completion_changes(stack, fresh_db):
    assert migrate(stack, fresh_db).returncode == 0
    with psycopg.connect(fresh_db) as c:
        defs = [r[0] for r in c.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                                        "WHERE indrelid = 'jobs'::regclass").fetchall()]
        opts = c.execute("SELECT reloptions FROM pg_class WHERE oid = 'jobs'::regclass").fetchone()[0]
    assert len(defs) >= 4, defs
    for d in defs:
        used = set(re.findall(r"[a-z_]+", d.split(" USING ", 1)[1]))
        assert not used & set(JOB_STATE), d
    assert "fillfactor=50" in (opts or [])


def test_021_gives_existing_dead_letters_their_time_of_death(stack, fresh_db, tmp_path):
    """Dead jobs from before 021 keep being listed, at the time they died (their updated_at),
    and a retry clears it; finished jobs that were never marked enqueued are marked."""
    migrate_before(stack, fresh_db, tmp_path, "021")
    a, _ = seed_two_orgs(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as c:
        pid = c.execute("SELECT id FROM projects WHERE org_id = %s", (a,)).fetchone()[0]
        dead, live = [str(r[0]) for r in c.execute(
            "INSERT INTO jobs (org_id, project_id, queue, status, error, updated_at) VALUES "
            "(%s, %s, 'run-sync', 'dead', 'gave up', '2026-01-02T03:04:05Z'), "
            "(%s, %s, 'run-sync', 'succeeded', NULL, now()) RETURNING id", (a, pid, a, pid))]
        queued = str(c.execute("INSERT INTO jobs (org_id, project_id, queue) VALUES (%s, %s, "
                               "'run-sync') RETURNING id", (a, pid)).fetchone()[0])
    assert migrate(stack, fresh_db).returncode == 0
    env = stack.env(DATABASE_URL=fresh_db)
    listing = run_bin("jivectl", env, "jobs", "dead")
    assert listing.returncode == 0, listing.stderr
    assert dead in listing.stdout and "2026-01-02T03:04:05" in listing.stdout
    assert live not in listing.stdout
    assert run_bin("jivectl", env, "jobs", "retry", dead).returncode == 0
    assert dead not in run_bin("jivectl", env, "jobs", "dead").stdout
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT dead_at FROM jobs WHERE id = %s", (dead,)).fetchone()[0] is None
        # a finished job never marked enqueued leaves the outbox's index; a queued one stays
        unmarked = {str(r[0]) for r in c.execute("SELECT id FROM jobs WHERE enqueued_at IS NULL")}
        assert live not in unmarked and queued in unmarked
