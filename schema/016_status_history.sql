-- SPDX-License-Identifier: MIT
-- 016_status_history.sql: every story status change the scanner sees, with its commit and time
-- (docs/OPERATIONS.md, "Reports"): the history that cycle time, throughput and work in progress
-- are computed from. A trigger on artifacts writes it, so every path that stores a story (full
-- and incremental scans, a kanban move's rescan) records its changes, and nothing else can.
CREATE TABLE story_status_history (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL,
    project_id   uuid NOT NULL,
    story_key    text,
    path         text NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    commit_sha   text,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX story_status_history_project_idx ON story_status_history (project_id, changed_at);
CREATE INDEX story_status_history_story_idx ON story_status_history (project_id, story_key,
                                                                      changed_at);

CREATE FUNCTION jive_story_status_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'story' AND NEW.deleted_at IS NULL AND
       (TG_OP = 'INSERT' OR OLD.deleted_at IS NOT NULL OR
        OLD.status IS DISTINCT FROM NEW.status) THEN
        INSERT INTO story_status_history (org_id, project_id, story_key, path, from_status,
                                          to_status, commit_sha)
        VALUES (NEW.org_id, NEW.project_id, NEW.key, NEW.path,
                CASE WHEN TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL THEN OLD.status END,
                coalesce(NEW.status, 'Missing'), NEW.commit_sha);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER artifacts_status_history AFTER INSERT OR UPDATE OF status, deleted_at
    ON artifacts FOR EACH ROW EXECUTE FUNCTION jive_story_status_changed();

-- the stories known before this migration start their history where they stand
INSERT INTO story_status_history (org_id, project_id, story_key, path, to_status, commit_sha,
                                  changed_at)
SELECT org_id, project_id, key, path, coalesce(status, 'Missing'), commit_sha, updated_at
FROM artifacts WHERE kind = 'story' AND deleted_at IS NULL;

ALTER TABLE story_status_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON story_status_history TO jive_runtime
    USING (org_id = jive_current_org()) WITH CHECK (org_id = jive_current_org());
CREATE POLICY project_scope ON story_status_history AS RESTRICTIVE TO jive_runtime
    USING (jive_project_allowed(project_id)) WITH CHECK (jive_project_allowed(project_id));
GRANT SELECT ON story_status_history TO jive_runtime;
