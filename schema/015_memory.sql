-- SPDX-License-Identifier: MIT
-- 015_memory.sql: project memory for agents (docs/OPERATIONS.md, "Memory"): notes an agent
-- leaves for the others ("2.3 uses the v2 client; do not touch auth.ts"), with tags and an
-- optional story key, searched with Postgres full-text search. A tenant table as the rest:
-- row-level security by org, and the token's projects claim.
CREATE TABLE memory_notes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL,
    project_id   uuid NOT NULL,
    author_id    text NOT NULL,
    author_name  text,
    story_key    text CHECK (length(story_key) <= 32),
    tags         text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 10),
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 8000),
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX memory_notes_tsv_idx ON memory_notes USING gin (tsv);
CREATE INDEX memory_notes_tags_idx ON memory_notes USING gin (tags);
CREATE INDEX memory_notes_project_idx ON memory_notes (project_id, created_at DESC);

ALTER TABLE memory_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memory_notes TO jive_runtime
    USING (org_id = jive_current_org()) WITH CHECK (org_id = jive_current_org());
CREATE POLICY project_scope ON memory_notes AS RESTRICTIVE TO jive_runtime
    USING (jive_project_allowed(project_id)) WITH CHECK (jive_project_allowed(project_id));
GRANT SELECT, INSERT, DELETE ON memory_notes TO jive_runtime;
