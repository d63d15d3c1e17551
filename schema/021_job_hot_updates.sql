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
--  * pages keep room for the new versions of their rows (fillfactor 50).
ALTER TABLE jobs ADD COLUMN dead_at timestamptz;
UPDATE jobs SET dead_at = updated_at WHERE status = 'dead';
DROP INDEX jobs_dead_idx;
CREATE INDEX jobs_dead_idx ON jobs (queue, dead_at DESC) WHERE dead_at IS NOT NULL;
DROP INDEX jobs_outbox_idx;
CREATE INDEX jobs_outbox_idx ON jobs (created_at) WHERE enqueued_at IS NULL;
ALTER TABLE jobs SET (fillfactor = 50);
