-- SPDX-License-Identifier: MIT
-- 003_index_diet.sql: every index is paid for on each delivery's insert. The outbox moved to
-- jobs (002), so the event-level outbox index has no reader; jobs by status are only listed
-- for the dead letters (jivectl jobs dead); queued ones are found through jobs_outbox_idx.
DROP INDEX webhook_events_outbox_idx;
DROP INDEX jobs_status_idx;
CREATE INDEX jobs_dead_idx ON jobs (queue, updated_at DESC) WHERE status = 'dead';
