-- SPDX-License-Identifier: MIT
-- 011_mark_enqueued.sql: marking a delivery's job enqueued updates its event row once, right
-- after it was inserted; no index covers the columns that changes, so with room left on the
-- page the update stays there without touching an index (HOT).
ALTER TABLE webhook_events SET (fillfactor = 80);

-- Marking pushed jobs enqueued, in one place for the webhook's delivery batches and the outbox
-- sweeper: the job rows, then their events. A job row another transaction holds (the sweeper
-- pushing it, a worker claiming it) is skipped, not waited for: whoever holds it marks it or
-- moves it on, and a delivery batch never waits on (or deadlocks with) them. The function runs
-- inside statements prepared once per connection, whose generic plan may date from when these
-- tables were empty; its own setting keeps its lookups on the primary keys whatever the
-- statistics say. Returns the number of events marked.
CREATE FUNCTION jive_mark_enqueued(ids uuid[]) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    n integer;
BEGIN
    WITH j AS (
        UPDATE jobs SET enqueued_at = now()
        WHERE id IN (SELECT id FROM jobs WHERE id = ANY(ids) AND enqueued_at IS NULL
                     FOR UPDATE SKIP LOCKED)
        RETURNING event_id)
    UPDATE webhook_events e SET enqueued_at = now(), status = 'enqueued'
    FROM j WHERE e.id = j.event_id AND e.status = 'received';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
