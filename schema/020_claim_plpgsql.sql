-- SPDX-License-Identifier: MIT
-- 020_claim_plpgsql.sql: jive_jobs_claim (019) as PL/pgSQL. A LANGUAGE sql function that
-- carries its own settings is planned again on every call, which cost as much as the update
-- itself for a batch of twenty; PL/pgSQL keeps the statement's plan for the session. What it
-- does is unchanged.
CREATE OR REPLACE FUNCTION jive_jobs_claim(ids uuid[], worker_id text, maxes integer[])
RETURNS TABLE (k bigint, attempts integer)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_mergejoin = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, started_at = now(),
        updated_at = now(), worker = worker_id, max_attempts = v.max
    FROM unnest(ids, maxes) WITH ORDINALITY AS v(id, max, k)
    WHERE jobs.id = ANY (ids) AND jobs.id = v.id AND jobs.status IN ('queued', 'running')
    RETURNING v.k, jobs.attempts;
END $$;
