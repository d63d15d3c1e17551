-- SPDX-License-Identifier: MIT
-- 001_init.sql: JIVE's data model (docs/ARCHITECTURE.md, "Schema and tenancy"), tenant
-- isolation by row-level security, and the runtime role jive-mcp drops to inside each
-- transaction.
-- supersedes sha256 2f78c4910f11474a3f24426499e2043f9876c52b44b0592c0038a7789057975d
-- (the same migration before this header pointed at our own docs; only comments changed)

-- The runtime role: no login, not the owner of anything, never BYPASSRLS. The migrating user
-- (Railway's single DATABASE_URL owner) is made a member so it can SET LOCAL ROLE to it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'jive_runtime') THEN
        CREATE ROLE jive_runtime NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$;
GRANT jive_runtime TO CURRENT_USER;

-- The tenant of the current transaction, set by the services with
-- SELECT set_config('jive.org_id', <uuid>, true). Unset or empty: no tenant, no rows.
CREATE FUNCTION jive_current_org() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('jive.org_id', true), '')::uuid $$;

CREATE TABLE orgs (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    repo_url        text NOT NULL UNIQUE CHECK (length(repo_url) BETWEEN 1 AND 2000),
    default_branch  text NOT NULL DEFAULT 'main' CHECK (length(default_branch) BETWEEN 1 AND 255),
    webhook_secret  text NOT NULL CHECK (length(webhook_secret) >= 16),
    config          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz,
    UNIQUE (org_id, name),
    UNIQUE (id, org_id)
);
CREATE INDEX projects_org_idx ON projects (org_id);

CREATE TABLE artifacts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        uuid NOT NULL,
    project_id    uuid NOT NULL,
    path          text NOT NULL CHECK (length(path) BETWEEN 1 AND 4096),
    kind          text NOT NULL CHECK (kind IN ('prd', 'architecture', 'epic', 'story', 'qa_gate', 'other')),
    key           text,
    title         text,
    status        text,
    content_hash  text,
    commit_sha    text,
    meta          jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    UNIQUE (project_id, path),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
-- stories_list (by status / epic) and story_get (by key) on live artifacts
CREATE INDEX artifacts_project_kind_status_idx ON artifacts (project_id, kind, status)
    WHERE deleted_at IS NULL;
CREATE INDEX artifacts_project_key_idx ON artifacts (project_id, key) WHERE deleted_at IS NULL;

CREATE TABLE webhook_events (
    id             text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200), -- X-GitHub-Delivery
    source         text NOT NULL DEFAULT 'github',
    org_id         uuid,            -- NULL when the repository is unknown (stored as ignored)
    project_id     uuid REFERENCES projects(id) ON DELETE SET NULL,
    event_type     text NOT NULL,
    action         text,
    payload        jsonb NOT NULL,
    payload_hash   text NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    enqueued_at    timestamptz,
    processed      boolean NOT NULL DEFAULT false,
    processed_at   timestamptz,
    status         text NOT NULL DEFAULT 'received'
                   CHECK (status IN ('received', 'enqueued', 'processed', 'ignored', 'failed')),
    retry_count    integer NOT NULL DEFAULT 0,
    error_message  text
);
-- the outbox sweeper: committed events that still need their jobs enqueued
CREATE INDEX webhook_events_outbox_idx ON webhook_events (received_at)
    WHERE enqueued_at IS NULL AND status = 'received';
CREATE INDEX webhook_events_project_idx ON webhook_events (project_id, received_at DESC);

CREATE TABLE jobs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid NOT NULL,
    project_id    uuid NOT NULL,
    queue         text NOT NULL CHECK (queue IN ('artifact-scan', 'gate-evaluation',
                                   'conflict-detection', 'story-move', 'run-sync')),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts  integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
    result        jsonb,
    error         text,
    event_id      text REFERENCES webhook_events(id) ON DELETE SET NULL,
    request_id    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    run_after     timestamptz,
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX jobs_project_created_idx ON jobs (project_id, created_at DESC);
CREATE INDEX jobs_status_idx ON jobs (status, queue) WHERE status IN ('queued', 'running', 'dead');
CREATE INDEX jobs_event_idx ON jobs (event_id);

CREATE TABLE agent_status (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      uuid NOT NULL,
    project_id  uuid NOT NULL,
    agent_id    text NOT NULL CHECK (length(agent_id) BETWEEN 1 AND 200),
    agent_name  text,
    story_key   text,
    state       text NOT NULL CHECK (state IN ('idle', 'planning', 'working', 'blocked',
                                                'reviewing', 'done')),
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, agent_id),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX agent_status_story_idx ON agent_status (project_id, story_key);

CREATE TABLE conflicts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid NOT NULL,
    project_id   uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('file_overlap', 'agent_overlap', 'gate_violation',
                                               'duplicate_key', 'status_mismatch')),
    fingerprint  text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    summary      text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    UNIQUE (project_id, fingerprint),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX conflicts_open_idx ON conflicts (project_id, opened_at DESC) WHERE resolved_at IS NULL;

CREATE TABLE gates (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         uuid NOT NULL,
    project_id     uuid NOT NULL,
    path           text NOT NULL,
    story_key      text,
    decision       text CHECK (decision IN ('PASS', 'CONCERNS', 'FAIL', 'WAIVED')),
    status_reason  text,
    reviewer       text,
    quality_score  integer CHECK (quality_score BETWEEN 0 AND 100),
    gate_updated   timestamptz,
    expires_at     timestamptz,
    top_issues     jsonb NOT NULL DEFAULT '[]'::jsonb,
    waiver         jsonb,
    meta           jsonb NOT NULL DEFAULT '{}'::jsonb,
    commit_sha     text,
    scanned_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    UNIQUE (project_id, path),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX gates_story_idx ON gates (project_id, story_key) WHERE deleted_at IS NULL;
CREATE INDEX gates_expiring_idx ON gates (project_id, expires_at) WHERE deleted_at IS NULL;

CREATE TABLE runs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL,
    project_id   uuid NOT NULL,
    source       text NOT NULL CHECK (source IN ('github', 'agent')),
    external_id  text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('workflow_run', 'check_run', 'check_suite', 'agent')),
    name         text,
    status       text NOT NULL,
    conclusion   text,
    head_sha     text,
    branch       text,
    url          text,
    agent_id     text,
    story_key    text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, source, external_id),
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
-- runs_list: newest first, keyset-paginated by (started_at, id)
CREATE INDEX runs_project_started_idx ON runs (project_id, started_at DESC, id DESC);

CREATE TABLE mcp_audit_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         uuid,
    actor_type     text NOT NULL CHECK (actor_type IN ('agent', 'user', 'service', 'anonymous')),
    actor_id       text,
    actor_name     text,
    tool           text NOT NULL,
    scope          text,
    args_hash      text,
    result         text NOT NULL CHECK (result IN ('success', 'error', 'denied', 'rate_limited',
                                                   'invalid')),
    error_message  text,
    "timestamp"    timestamptz NOT NULL DEFAULT now(),
    ip_address     inet,
    user_agent     text,
    request_id     text,
    duration_ms    integer CHECK (duration_ms >= 0),
    project_id     uuid
);
CREATE INDEX mcp_audit_logs_org_time_idx ON mcp_audit_logs (org_id, "timestamp" DESC);
CREATE INDEX mcp_audit_logs_request_idx ON mcp_audit_logs (request_id);

-- Row-level security: every tenant table only shows the transaction's org to jive_runtime.
-- The owner (migrations, jivectl, orchestrator) is not subject to it; FORCE is not set.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'artifacts', 'webhook_events', 'jobs', 'agent_status',
                             'conflicts', 'gates', 'runs', 'mcp_audit_logs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO jive_runtime '
                       'USING (org_id = jive_current_org()) '
                       'WITH CHECK (org_id = jive_current_org())', t);
    END LOOP;
END
$$;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orgs TO jive_runtime
    USING (id = jive_current_org()) WITH CHECK (id = jive_current_org());

GRANT USAGE ON SCHEMA public TO jive_runtime;
GRANT EXECUTE ON FUNCTION jive_current_org() TO jive_runtime;
GRANT SELECT ON orgs, projects TO jive_runtime;
GRANT SELECT ON artifacts, conflicts, gates, webhook_events TO jive_runtime;
GRANT SELECT, INSERT, UPDATE ON jobs, agent_status, runs TO jive_runtime;
GRANT SELECT, INSERT ON mcp_audit_logs TO jive_runtime;
