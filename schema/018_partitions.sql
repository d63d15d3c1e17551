-- SPDX-License-Identifier: MIT
-- 018_partitions.sql: the two tables that grow with traffic, the MCP audit log and the webhook
-- payloads, are partitioned by day (UTC), so that retention drops whole partitions instead of
-- deleting rows (docs/OPERATIONS.md, "Retention"). jive-orchestrator keeps partitions a week
-- ahead and drops those past JIVE_AUDIT_RETENTION_DAYS / JIVE_EVENT_RETENTION_DAYS.
--
-- <table>_pYYYYMMDD holds [day, day + 1); <table>_default catches a row whose day has no
-- partition yet (nobody created it ahead), so an insert never fails for want of one. Each
-- maintenance round gives the default's days their partitions, moving the rows, so the default
-- ends every round empty.
--
-- Payloads move out of webhook_events into webhook_payloads: an event row stays small and keeps
-- its delivery id as primary key (the deduplication, and jobs.event_id's reference), which a
-- table partitioned by time could not keep unique.

-- The day partition of parent for day: created (and true) unless it exists. Rows the default
-- partition caught for that day move into it first, in the same transaction.
CREATE FUNCTION jive_partition_add(parent regclass, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    name text := base || '_p' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    col text;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT a.attname INTO STRICT col FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = parent;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMPRESSION)', name, base);
    EXECUTE format('WITH m AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                   'INSERT INTO %I SELECT * FROM m', base || '_default', col, col, name)
        USING lo, hi;
    -- no policy: a partition read directly (not through its parent) shows jive_runtime nothing
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   base, name, lo, hi);
    RETURN true;
END $$;

-- One maintenance round of parent: partitions for the days the default caught and for today
-- and the next ahead days; then, when keep_days > 0, every day partition whose whole day is
-- more than keep_days old is dropped — except a webhook payload partition that an unfinished
-- job (queued, running, failed or dead) still points into: the outbox and dead letters are
-- never pruned unseen; it goes in a later round, once the job has succeeded or been seen to.
-- A lock it cannot get within lock_timeout fails the round, which the next one repeats.
CREATE FUNCTION jive_partitions_maintain(parent regclass, ahead integer, keep_days integer,
                                         OUT created integer, OUT dropped integer,
                                         OUT kept integer)
LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    today date := (now() AT TIME ZONE 'UTC')::date;
    col text;
    d date;
    r record;
BEGIN
    created := 0;
    dropped := 0;
    kept := 0;
    SELECT a.attname INTO STRICT col FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = parent;
    FOR d IN EXECUTE format('SELECT DISTINCT (%I AT TIME ZONE ''UTC'')::date FROM %I',
                            col, base || '_default') LOOP
        created := created + jive_partition_add(parent, d)::int;
    END LOOP;
    FOR d IN SELECT g::date FROM generate_series(today, today + ahead, interval '1 day') g LOOP
        created := created + jive_partition_add(parent, d)::int;
    END LOOP;
    IF keep_days <= 0 THEN
        RETURN;
    END IF;
    FOR r IN SELECT c.relname, to_date(right(c.relname, 8), 'YYYYMMDD') AS day
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = parent AND c.relname = base || '_p' || right(c.relname, 8)
               AND right(c.relname, 8) ~ '^[0-9]{8}$'
             ORDER BY 2 LOOP
        CONTINUE WHEN ((r.day + 1)::timestamp AT TIME ZONE 'UTC')
                      > now() - make_interval(days => keep_days);
        IF base = 'webhook_payloads' AND EXISTS (
               SELECT 1 FROM webhook_events e JOIN jobs j ON j.event_id = e.id
               WHERE j.status <> 'succeeded'
                 AND e.received_at >= (r.day::timestamp AT TIME ZONE 'UTC')
                 AND e.received_at < ((r.day + 1)::timestamp AT TIME ZONE 'UTC')) THEN
            kept := kept + 1;
            CONTINUE;
        END IF;
        EXECUTE format('DROP TABLE %I', r.relname);
        dropped := dropped + 1;
    END LOOP;
END $$;

-- The audit log, partitioned. Its keys now carry the partition key: the journal replays a row
-- with the "timestamp" it was first written with, so (entry_id, "timestamp") still inserts a
-- replayed row once.
ALTER TABLE mcp_audit_logs RENAME TO mcp_audit_logs_unpartitioned;
CREATE TABLE mcp_audit_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    org_id         uuid,
    actor_type     text NOT NULL CHECK (actor_type IN ('agent', 'user', 'service', 'anonymous')),
    actor_id       text,
    actor_name     text,
    tool           text NOT NULL,
    scope          text,
    args_hash      text,
    result         text NOT NULL CHECK (result IN ('success', 'error', 'denied', 'rate_limited',
                                                   'invalid')),
    error_message  text,
    "timestamp"    timestamptz NOT NULL DEFAULT now(),
    ip_address     inet,
    user_agent     text,
    request_id     text,
    duration_ms    integer CHECK (duration_ms >= 0),
    project_id     uuid,
    entry_id       uuid,
    traceparent    text,
    client_id      text,
    PRIMARY KEY (id, "timestamp"),
    UNIQUE (entry_id, "timestamp")
) PARTITION BY RANGE ("timestamp");
CREATE TABLE mcp_audit_logs_default PARTITION OF mcp_audit_logs DEFAULT;
CREATE INDEX mcp_audit_logs_org_time ON mcp_audit_logs (org_id, "timestamp" DESC);
CREATE INDEX mcp_audit_logs_request ON mcp_audit_logs (request_id);

CREATE TABLE webhook_payloads (
    event_id     text NOT NULL,
    received_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    PRIMARY KEY (event_id, received_at)
) PARTITION BY RANGE (received_at);
DO $$
BEGIN
    ALTER TABLE webhook_payloads ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: webhook payloads stay compressed with pglz';
END $$;
CREATE TABLE webhook_payloads_default PARTITION OF webhook_payloads DEFAULT;

-- Partitions for the days already stored and the week ahead, then the rows.
SELECT jive_partition_add('mcp_audit_logs', d)
FROM (SELECT DISTINCT ("timestamp" AT TIME ZONE 'UTC')::date AS d
      FROM mcp_audit_logs_unpartitioned) s;
SELECT jive_partition_add('webhook_payloads', d)
FROM (SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date AS d FROM webhook_events) s;
SELECT jive_partitions_maintain('mcp_audit_logs', 7, 0);
SELECT jive_partitions_maintain('webhook_payloads', 7, 0);

INSERT INTO mcp_audit_logs (id, org_id, actor_type, actor_id, actor_name, tool, scope, args_hash,
                            result, error_message, "timestamp", ip_address, user_agent,
                            request_id, duration_ms, project_id, entry_id, traceparent, client_id)
OVERRIDING SYSTEM VALUE
SELECT id, org_id, actor_type, actor_id, actor_name, tool, scope, args_hash, result,
       error_message, "timestamp", ip_address, user_agent, request_id, duration_ms, project_id,
       entry_id, traceparent, client_id
FROM mcp_audit_logs_unpartitioned;
SELECT setval(pg_get_serial_sequence('mcp_audit_logs', 'id'),
              (SELECT coalesce(max(id), 0) + 1 FROM mcp_audit_logs), false);
DROP TABLE mcp_audit_logs_unpartitioned;

INSERT INTO webhook_payloads (event_id, received_at, payload)
SELECT id, received_at, payload FROM webhook_events;
ALTER TABLE webhook_events DROP COLUMN payload;

-- The audit log's tenant boundary, as in 001: jive_runtime sees and writes its org's rows only,
-- through the parent (a partition has no grant of its own, and row-level security without a
-- policy). Payloads are read by the orchestrator and jivectl (the owner) alone: no grant, and
-- row-level security without a policy.
ALTER TABLE mcp_audit_logs_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_payloads ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_payloads_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE mcp_audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mcp_audit_logs TO jive_runtime
    USING (org_id = jive_current_org()) WITH CHECK (org_id = jive_current_org());
GRANT SELECT, INSERT ON mcp_audit_logs TO jive_runtime;
