-- SPDX-License-Identifier: MIT
-- 004_job_history.sql: one entry per attempt ({attempt, worker, started_at, finished_at,
-- outcome, error}), so retries and their backoff can be inspected (jivectl jobs show).
ALTER TABLE jobs ADD COLUMN history jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE jobs ADD COLUMN worker text;
