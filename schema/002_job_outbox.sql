-- SPDX-License-Identifier: MIT
-- 002_job_outbox.sql: the outbox works per job. A job row is committed first; enqueued_at is set
-- once its message is in Redis. The sweeper pushes committed jobs that never were.
ALTER TABLE jobs ADD COLUMN enqueued_at timestamptz;
CREATE INDEX jobs_outbox_idx ON jobs (created_at) WHERE enqueued_at IS NULL AND status = 'queued';
