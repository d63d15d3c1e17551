-- SPDX-License-Identifier: MIT
-- 022_partition_lock_order.sql: a maintenance round (018) locks the partitioned table and all
-- its partitions in one step before it touches any of them, and only when it has work to do.
-- The round used to lock the default partition to attach a day, then the parent to drop an
-- old day; a reader of the audit log (which locks the parent, then the partitions) in between
-- closed a cycle, and Postgres ended one of the two with a deadlock error. It waits at most
-- 2 s for the lock (a long reader holds it: the next round tries again), so writers queue
-- behind it for no longer. Two rounds of one table (the orchestrator's, jivectl's) take turns.
CREATE OR REPLACE FUNCTION jive_partitions_maintain(parent regclass, ahead integer, keep_days integer,
                                         OUT created integer, OUT dropped integer,
                                         OUT kept integer)
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    today date := (now() AT TIME ZONE 'UTC')::date;
    col text;
    d date;
    r record;
    work boolean;
BEGIN
    created := 0;
    dropped := 0;
    kept := 0;
    SELECT a.attname INTO STRICT col FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = parent;
    -- one round of a table at a time (the orchestrator's and jivectl's could meet)
    PERFORM pg_advisory_xact_lock(7311975, parent::oid::int);
    -- anything to do: rows in the default, a day ahead without its partition, a day past keeping
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', base || '_default') INTO work;
    work := work OR EXISTS (
        SELECT 1 FROM generate_series(today, today + ahead, interval '1 day') g
        WHERE to_regclass(base || '_p' || to_char(g, 'YYYYMMDD')) IS NULL);
    work := work OR (keep_days > 0 AND EXISTS (
        SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent AND right(c.relname, 8) ~ '^[0-9]{8}$'
          AND ((to_date(right(c.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC')
              <= now() - make_interval(days => keep_days)));
    IF NOT work THEN
        RETURN;
    END IF;
    -- The parent and every partition at once, before any one of them: a reader locks the
    -- parent first, then its partitions; taking a partition first (the default, to attach a
    -- day) and the parent later (to drop one) could close a cycle with it.
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', parent);
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
