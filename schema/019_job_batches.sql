-- SPDX-License-Identifier: MIT
-- 019_job_batches.sql: jive-orchestrator claims and completes its jobs a batch at a time
-- (docs/QUEUE.md). The two statements run hundreds of times a second while the jobs table
-- grows under them, faster than its statistics follow: planned from stale statistics, a batch
-- of twenty read the whole table (a hash join over a sequential scan, or a merge join over the
-- whole primary key). Each names its rows by an array the primary key looks up (= ANY), and,
-- as for jive_mark_enqueued (011), runs inside a function whose own settings keep it from the
-- whole-table plans whatever the statistics say.

-- The jobs ids[k] whose rows are queued or running go to running, one attempt more, with this
-- worker and maxes[k] attempts at most; returns (k, attempts) for each claimed job. A job
-- that already succeeded, failed or died, or does not exist, is not returned.
CREATE FUNCTION jive_jobs_claim(ids uuid[], worker_id text, maxes integer[])
RETURNS TABLE (k bigint, attempts integer)
LANGUAGE sql SET enable_seqscan = off SET enable_mergejoin = off AS $$
    UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, started_at = now(),
        updated_at = now(), worker = worker_id, max_attempts = v.max
    FROM unnest(ids, maxes) WITH ORDINALITY AS v(id, max, k)
    WHERE jobs.id = ANY (ids) AND jobs.id = v.id AND jobs.status IN ('queued', 'running')
    RETURNING v.k, jobs.attempts
$$;

-- done: a JSON array of {"id", "result", "hist"} (hist: the attempt's history entry, an array
-- to append). Each job becomes succeeded with its result, and the webhook event that caused it
-- processed. Returns the number of events marked.
CREATE FUNCTION jive_jobs_complete(done jsonb) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off SET enable_mergejoin = off AS $$
DECLARE
    n integer;
    ids uuid[] := ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements(done) e);
BEGIN
    WITH v AS (SELECT * FROM jsonb_to_recordset(done) AS v(id uuid, result jsonb, hist jsonb)),
    j AS (
        UPDATE jobs SET status = 'succeeded', result = v.result, error = NULL,
            finished_at = now(), updated_at = now(),
            history = jobs.history || coalesce(v.hist, '[]')
        FROM v WHERE jobs.id = ANY (ids) AND jobs.id = v.id
        RETURNING jobs.event_id)
    UPDATE webhook_events SET processed = true, processed_at = now(), status = 'processed'
    WHERE id = ANY (ARRAY(SELECT event_id FROM j)) AND NOT processed;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
