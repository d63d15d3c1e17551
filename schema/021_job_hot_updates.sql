-- SPDX-License-Identifier: MIT
-- 021_job_hot_updates.sql: a job's claim and completion become heap-only (HOT) updates.
-- Each job row is updated twice on its way (claimed, then succeeded). Postgres can update a
-- row in place on its page, without a new entry in every index, only when no indexed column
-- changes (a partial index's predicate counts) and the page has room. Two indexes named status,
-- and one updated_at, so every claim and every completion wrote a new entry into each of the
-- table's indexes. Now:
--  * the outbox index keeps the rows not yet pushed (enqueued_at IS NULL) without naming the
--    status, which its one reader (the outbox sweep) still checks;
--  * the dead letters are indexed by dead_at, set only when a job dies and cleared by a retry;
--  * pages keep room for the new versions of their rows (fillfactor 50);
--  * a job that ran before its enqueue was marked (the mark skips a row a claim holds) is
--    marked when it completes, so it leaves the outbox index instead of staying there for good.
ALTER TABLE jobs ADD COLUMN dead_at timestamptz;
UPDATE jobs SET dead_at = updated_at WHERE status = 'dead';
DROP INDEX jobs_dead_idx;
CREATE INDEX jobs_dead_idx ON jobs (queue, dead_at DESC) WHERE dead_at IS NOT NULL;
UPDATE jobs SET enqueued_at = coalesce(started_at, created_at)
    WHERE enqueued_at IS NULL AND status <> 'queued';
DROP INDEX jobs_outbox_idx;
CREATE INDEX jobs_outbox_idx ON jobs (created_at) WHERE enqueued_at IS NULL;
ALTER TABLE jobs SET (fillfactor = 50);

CREATE OR REPLACE FUNCTION jive_jobs_complete(done jsonb) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off SET enable_mergejoin = off AS $$
DECLARE
    n integer;
    ids uuid[] := ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements(done) e);
BEGIN
    WITH v AS (SELECT * FROM jsonb_to_recordset(done) AS v(id uuid, result jsonb, hist jsonb)),
    j AS (
        UPDATE jobs SET status = 'succeeded', result = v.result, error = NULL,
            finished_at = now(), updated_at = now(),
            enqueued_at = coalesce(jobs.enqueued_at, now()),
            history = jobs.history || coalesce(v.hist, '[]')
        FROM v WHERE jobs.id = ANY (ids) AND jobs.id = v.id
        RETURNING jobs.event_id)
    UPDATE webhook_events SET processed = true, processed_at = now(), status = 'processed'
    WHERE id = ANY (ARRAY(SELECT event_id FROM j)) AND NOT processed;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
