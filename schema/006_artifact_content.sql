-- SPDX-License-Identifier: MIT
-- 006_artifact_content.sql: the text of planning documents and stories (up to 256 KiB each),
-- so jive-mcp can serve them as jive:// resources without a git workspace of its own.
ALTER TABLE artifacts ADD COLUMN content text;
GRANT SELECT (content) ON artifacts TO jive_runtime;
