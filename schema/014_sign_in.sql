-- SPDX-License-Identifier: MIT
-- 014_sign_in.sql: sign-in with GitHub (docs/SIGN-IN.md): who may sign in to which org, the
-- OAuth clients, authorizations in progress, codes, refresh tokens and consents.
--
-- Secrets (codes, refresh tokens, client secrets, browser bindings) are stored only as their
-- SHA-256 hex. Rows that belong to an org are under the same row-level security as the rest;
-- jive-mcp resolves a sign-in as the owner (before there is a tenant), as jive-webhook resolves
-- a delivery's project.

-- Who may sign in to an org, with which role: one GitHub user (github_login, matched by the
-- user id once it is known) or every member of a GitHub organisation (github_org).
CREATE TABLE org_members (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    github_login  text CHECK (github_login = lower(github_login)),
    github_org    text CHECK (github_org = lower(github_org)),
    github_id     bigint,
    role          text NOT NULL CHECK (role ~ '^[a-z0-9_-]{1,40}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((github_login IS NULL) <> (github_org IS NULL)),
    UNIQUE (org_id, github_login),
    UNIQUE (org_id, github_org)
);
CREATE INDEX org_members_login_idx ON org_members (github_login) WHERE github_login IS NOT NULL;
CREATE INDEX org_members_id_idx ON org_members (github_id) WHERE github_id IS NOT NULL;

-- OAuth clients: registered by the client itself (RFC 7591), by an operator (jivectl oauth
-- client add), or known by their client ID metadata document (client_id is its URL; cached).
CREATE TABLE oauth_clients (
    client_id      text PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('registered', 'operator', 'metadata')),
    name           text NOT NULL,
    redirect_uris  text[] NOT NULL,
    secret_hash    text,
    metadata       jsonb NOT NULL DEFAULT '{}',
    fetched_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- An authorization between GET /authorize and the consent: keyed by the hash of the handle
-- sent to GitHub as state; bound to the browser that started it (browser_hash, a cookie) and,
-- once the user is known, to the consent form (csrf_hash).
CREATE TABLE oauth_requests (
    id_hash        text PRIMARY KEY,
    browser_hash   text NOT NULL,
    csrf_hash      text,
    client_id      text NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    state          text,
    code_challenge text NOT NULL,
    scope          text NOT NULL DEFAULT '',
    resource       text NOT NULL,
    org_id         uuid REFERENCES orgs(id) ON DELETE CASCADE,
    member_id      bigint REFERENCES org_members(id) ON DELETE CASCADE,
    sub            text,
    login          text,
    granted        text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX oauth_requests_expires_idx ON oauth_requests (expires_at);

CREATE TABLE oauth_codes (
    code_hash      text PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    client_id      text NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    member_id      bigint NOT NULL REFERENCES org_members(id) ON DELETE CASCADE,
    sub            text NOT NULL,
    login          text NOT NULL,
    scope          text NOT NULL,
    resource       text NOT NULL,
    family         uuid NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

-- Refresh tokens: a family starts at a code exchange; each use rotates to a new token and
-- marks the old one used. A used token presented again revokes the whole family. member_id is
-- the membership the sign-in rests on: removing it ends every refresh (ON DELETE CASCADE).
CREATE TABLE oauth_refresh_tokens (
    token_hash     text PRIMARY KEY,
    family         uuid NOT NULL,
    org_id         uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    client_id      text NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    member_id      bigint NOT NULL REFERENCES org_members(id) ON DELETE CASCADE,
    sub            text NOT NULL,
    login          text NOT NULL,
    scope          text NOT NULL,
    resource       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX oauth_refresh_tokens_family_idx ON oauth_refresh_tokens (family);

CREATE TABLE oauth_consents (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    sub            text NOT NULL,
    client_id      text NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    scope          text NOT NULL,
    granted_at     timestamptz NOT NULL DEFAULT now()
);

-- Clients belong to no org (a client registers before anyone signs in): row-level security
-- with no policy, so the runtime role sees none of them; jive-mcp reads them as the owner.
ALTER TABLE oauth_clients ENABLE ROW LEVEL SECURITY;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_members', 'oauth_requests', 'oauth_codes',
                             'oauth_refresh_tokens', 'oauth_consents']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I TO jive_runtime '
                       'USING (org_id = jive_current_org()) '
                       'WITH CHECK (org_id = jive_current_org())', t);
    END LOOP;
END
$$;

-- The OAuth client of an audited call (a sign-in token's client_id) or sign-in step.
ALTER TABLE mcp_audit_logs ADD COLUMN client_id text;
