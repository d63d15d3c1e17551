-- SPDX-License-Identifier: MIT
-- 012_findings.sql: findings that hold on real repositories (docs/BMAD.md).
--
-- A title naming another key than the file name is its own finding.
ALTER TABLE conflicts DROP CONSTRAINT conflicts_kind_check;
ALTER TABLE conflicts ADD CONSTRAINT conflicts_kind_check
    CHECK (kind IN ('file_overlap', 'agent_overlap', 'gate_violation', 'duplicate_key',
                    'status_mismatch', 'key_mismatch'));

-- Every gate file is one gate row: a decision that is none of the four exact values is Other
-- (the value as written kept beside it), a file that names none is Missing.
ALTER TABLE gates DROP CONSTRAINT gates_decision_check;
UPDATE gates SET decision = 'Missing' WHERE decision IS NULL;
ALTER TABLE gates ALTER COLUMN decision SET DEFAULT 'Missing';
ALTER TABLE gates ALTER COLUMN decision SET NOT NULL;
ALTER TABLE gates ADD CONSTRAINT gates_decision_check
    CHECK (decision IN ('PASS', 'CONCERNS', 'FAIL', 'WAIVED', 'Other', 'Missing'));
ALTER TABLE gates ADD COLUMN raw_decision text;

-- One status vocabulary: a story without a status is Missing, not NULL.
UPDATE artifacts SET status = 'Missing' WHERE kind = 'story' AND status IS NULL;

-- The outcome of the project's last scan, so that status_get can say a scan failed:
-- scan_ok/scan_at/scan_error of the last attempt, last_good_scan_at and the commit it read.
-- scan_parser is the parser version of the last good full scan: a project read by an older
-- parser gets a full scan next time, so its rows follow the new rules.
ALTER TABLE projects ADD COLUMN scan_ok boolean;
ALTER TABLE projects ADD COLUMN scan_at timestamptz;
ALTER TABLE projects ADD COLUMN scan_error text;
ALTER TABLE projects ADD COLUMN last_good_scan_at timestamptz;
ALTER TABLE projects ADD COLUMN scan_commit text;
ALTER TABLE projects ADD COLUMN scan_parser integer NOT NULL DEFAULT 0;
